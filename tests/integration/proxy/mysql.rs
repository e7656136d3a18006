//! MariaDB through the proxy with mysql_async: text and binary-protocol
//! prepared statements, and a refused login.

use perfguard::probe::fingerprint::{SqlDialect, fingerprint};
use perfguard::probe::proxy::{CountingProxy, DbKind, FaultKind, ProxyConfig, StatementEvent};

use super::{MYSQL_DEFAULT_URL, Server, runtime, server, unique_name};

/// A uniquely named MariaDB database, dropped at the end of the test.
struct MyDatabase {
    url: String,
    name: String,
}

impl MyDatabase {
    fn create(server: &Server, prefix: &str) -> MyDatabase {
        let database = MyDatabase {
            url: format!("mysql://{}@{}", server.user, server.host_port),
            name: unique_name(prefix),
        };
        database.admin(&format!("CREATE DATABASE {}", database.name));
        database
    }

    fn admin(&self, sql: &str) {
        use mysql_async::prelude::Queryable;
        runtime().block_on(async {
            let mut connection = mysql_async::Conn::from_url(&self.url)
                .await
                .expect("direct MariaDB");
            connection.query_drop(sql).await.expect("admin statement");
            connection.disconnect().await.expect("disconnect");
        });
    }
}

impl Drop for MyDatabase {
    fn drop(&mut self) {
        self.admin(&format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

#[test]
fn mariadb_text_and_prepared_statements_are_counted() {
    use mysql_async::prelude::Queryable;
    let Some(server) = server("PERFGUARD_TEST_MYSQL_URL", MYSQL_DEFAULT_URL) else {
        return;
    };
    let database = MyDatabase::create(&server, "my_proxy");
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Mysql, server.host_port.clone()))
        .expect("proxy starts");
    let url = format!(
        "mysql://{}@127.0.0.1:{}/{}?stmt_cache_size=16&prefer_socket=false",
        server.user,
        proxy.local_addr().port(),
        database.name
    );
    let names: Vec<String> = runtime().block_on(async {
        let mut connection = mysql_async::Conn::from_url(url.as_str())
            .await
            .expect("connect through proxy");
        connection
            .query_drop("CREATE TABLE items (id INT PRIMARY KEY, name TEXT)")
            .await
            .expect("create");
        connection
            .query_drop("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')")
            .await
            .expect("insert");
        let _ = proxy.drain();
        let mut names = Vec::new();
        for id in 1..=3 {
            // Cached by the driver: prepared once, executed three times.
            let name: Option<String> = connection
                .exec_first("SELECT name FROM items WHERE id = ?", (id,))
                .await
                .expect("execute");
            names.extend(name);
        }
        let all: Vec<(i32, String)> = connection
            .query("SELECT id, name FROM items ORDER BY id")
            .await
            .expect("text query");
        assert_eq!(all.len(), 3);
        connection
            .exec_drop("UPDATE items SET name = ? WHERE id > ?", ("z", 1))
            .await
            .expect("update");
        connection
            .query_drop("START TRANSACTION")
            .await
            .expect("begin");
        connection
            .query_drop("DELETE FROM items WHERE id = 3")
            .await
            .expect("delete");
        connection.query_drop("COMMIT").await.expect("commit");
        connection.disconnect().await.expect("disconnect");
        names
    });
    assert_eq!(names, ["a", "b", "c"]);
    let activity = proxy.drain();
    let my_strict = |event: &StatementEvent| fingerprint(&event.sql, SqlDialect::Mysql).strict;
    let shapes: Vec<(String, Option<u64>)> = activity
        .statements
        .iter()
        .map(|event| (my_strict(event), event.rows))
        .collect();
    let select = "SELECT name FROM items WHERE id = ?".to_owned();
    assert_eq!(
        shapes,
        [
            (select.clone(), Some(1)),
            (select.clone(), Some(1)),
            (select, Some(1)),
            ("SELECT id, name FROM items ORDER BY id".to_owned(), Some(3)),
            ("UPDATE items SET name = ? WHERE id > ?".to_owned(), Some(2)),
            ("START TRANSACTION".to_owned(), Some(0)),
            ("DELETE FROM items WHERE id = ?".to_owned(), Some(1)),
            ("COMMIT".to_owned(), Some(0)),
        ]
    );
    assert!(activity.statements.iter().all(|e| e.confirmed));
    assert!(activity.statements[6].in_transaction);
    assert_eq!(activity.transactions(), 1);
    assert!(activity.faults.is_empty(), "{:?}", activity.faults);
}

#[test]
fn mariadb_refused_login_is_reported() {
    let Some(server) = server("PERFGUARD_TEST_MYSQL_URL", MYSQL_DEFAULT_URL) else {
        return;
    };
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Mysql, server.host_port.clone()))
        .expect("proxy starts");
    let url = format!(
        "mysql://perfguard_no_such_user:wrong@127.0.0.1:{}",
        proxy.local_addr().port()
    );
    let result = runtime().block_on(mysql_async::Conn::from_url(url.as_str()));
    assert!(result.is_err(), "login fails");
    let activity = proxy.drain();
    assert_eq!(activity.faults.len(), 1, "{:?}", activity.faults);
    assert_eq!(activity.faults[0].kind, FaultKind::LoginRefused);
    assert!(
        activity.faults[0].message.contains("refused the login"),
        "{}",
        activity.faults[0].message
    );
    assert!(
        !activity.faults[0].message.contains("wrong"),
        "no password in the message"
    );
}

#[test]
fn mariadb_multi_statement_query_counts_each_statement() {
    use mysql_async::prelude::Queryable;
    let Some(server) = server("PERFGUARD_TEST_MYSQL_URL", MYSQL_DEFAULT_URL) else {
        return;
    };
    let database = MyDatabase::create(&server, "my_proxy_multi");
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Mysql, server.host_port.clone()))
        .expect("proxy starts");
    let url = format!(
        "mysql://{}@127.0.0.1:{}/{}?prefer_socket=false",
        server.user,
        proxy.local_addr().port(),
        database.name
    );
    runtime().block_on(async {
        let mut connection = mysql_async::Conn::from_url(url.as_str())
            .await
            .expect("connect through proxy");
        connection
            .query_drop("CREATE TABLE t (id INT); INSERT INTO t VALUES (1), (2); SELECT * FROM t; DELETE FROM t WHERE id = 1")
            .await
            .expect("multi-statement query");
        connection.disconnect().await.expect("disconnect");
    });
    let activity = proxy.drain();
    let shapes: Vec<(String, Option<u64>, bool)> = activity
        .statements
        .iter()
        .filter(|event| !event.sql.starts_with("SELECT @@"))
        .map(|event| {
            (
                fingerprint(&event.sql, SqlDialect::Mysql).strict,
                event.rows,
                event.round_trip == activity.statements.last().map_or(0, |last| last.round_trip),
            )
        })
        .collect();
    assert_eq!(
        shapes,
        [
            ("CREATE TABLE t (id INT)".to_owned(), Some(0), true),
            ("INSERT INTO t VALUES (?)".to_owned(), Some(2), true),
            ("SELECT * FROM t".to_owned(), Some(2), true),
            ("DELETE FROM t WHERE id = ?".to_owned(), Some(1), true),
        ]
    );
}

#[test]
fn mariadb_unreachable_upstream_is_reported() {
    let proxy =
        CountingProxy::start(ProxyConfig::new(DbKind::Mysql, "127.0.0.1:1")).expect("proxy starts");
    let url = format!("mysql://root@127.0.0.1:{}", proxy.local_addr().port());
    let result = runtime().block_on(mysql_async::Conn::from_url(url.as_str()));
    assert!(result.is_err(), "connection fails");
    let faults = proxy.drain_faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].kind, FaultKind::UpstreamUnreachable);
    assert!(
        faults[0].message.contains("127.0.0.1:1 is unreachable"),
        "{}",
        faults[0].message
    );
}
