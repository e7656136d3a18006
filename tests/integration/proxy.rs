//! The counting proxy against the real PostgreSQL and MariaDB on this machine:
//! real drivers (tokio-postgres, mysql_async), pgbench, and the faults the proxy
//! must report (garbage, oversized messages, unreachable or refusing upstreams,
//! an upstream closing mid-query).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use perfguard::probe::fingerprint::{SqlDialect, fingerprint};
use perfguard::probe::proxy::{
    Activity, CountingProxy, DbKind, FaultKind, ProxyConfig, StatementEvent,
};

use crate::db::{
    MYSQL_DEFAULT_URL, POSTGRES_DEFAULT_URL, PgDatabase, Server, runtime, server, unique_name,
};

async fn connect(config: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls)
        .await
        .expect("connection through the proxy");
    tokio::spawn(connection);
    client
}

fn strict(event: &StatementEvent) -> String {
    fingerprint(&event.sql, SqlDialect::Postgres).strict
}

fn count_of(activity: &Activity, strict_fingerprint: &str) -> usize {
    activity
        .statements
        .iter()
        .filter(|event| strict(event) == strict_fingerprint)
        .count()
}

#[test]
fn postgres_simple_protocol_counts_each_statement_of_a_query_string() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_simple");
    let proxy = database.proxy();
    runtime().block_on(async {
        let client = connect(&database.config_through(&proxy)).await;
        client
            .simple_query("CREATE TABLE items (id int PRIMARY KEY, name text)")
            .await
            .expect("create");
        client
            .simple_query(
                "INSERT INTO items VALUES (1, 'a'), (2, 'b;c'), (3, 'd'); SELECT * FROM items; UPDATE items SET name = 'x' WHERE id > 1",
            )
            .await
            .expect("multi-statement query");
    });
    let activity = proxy.drain();
    let shapes: Vec<(String, Option<u64>, bool)> = activity
        .statements
        .iter()
        .map(|event| (strict(event), event.rows, event.confirmed))
        .collect();
    assert_eq!(
        shapes,
        [
            (
                "CREATE TABLE items (id INT PRIMARY KEY, name TEXT)".to_owned(),
                None,
                true
            ),
            ("INSERT INTO items VALUES (?)".to_owned(), Some(3), true),
            ("SELECT * FROM items".to_owned(), Some(3), true),
            (
                "UPDATE items SET name = ? WHERE id > ?".to_owned(),
                Some(2),
                true
            ),
        ]
    );
    assert_eq!(activity.round_trips(), 2);
    assert_eq!(activity.transactions(), 0);
    assert!(activity.faults.is_empty(), "{:?}", activity.faults);
}

#[test]
fn postgres_prepared_statements_reused_are_counted_per_execute() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_prepared");
    let proxy = database.proxy();
    runtime().block_on(async {
        let client = connect(&database.config_through(&proxy)).await;
        client
            .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 5) g")
            .await
            .expect("setup");
        let _ = proxy.drain();
        // Prepared once: later executions send only Bind/Execute/Sync.
        let statement = client
            .prepare("SELECT name FROM items WHERE id = $1")
            .await
            .expect("prepare");
        for id in 1..=7i32 {
            client.query(&statement, &[&id]).await.expect("execute");
        }
        // An unnamed statement per call, as drivers without a cache do.
        client
            .query("SELECT count(*) FROM items WHERE id < $1", &[&3i32])
            .await
            .expect("one-off query");
    });
    let activity = proxy.drain();
    assert_eq!(
        count_of(&activity, "SELECT name FROM items WHERE id = ?"),
        7
    );
    assert_eq!(
        count_of(&activity, "SELECT count(*) FROM items WHERE id < ?"),
        1
    );
    assert_eq!(activity.statements.len(), 8);
    let rows: Vec<Option<u64>> = activity.statements.iter().map(|e| e.rows).collect();
    assert_eq!(
        rows,
        [
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(1)
        ]
    );
    assert!(activity.statements.iter().all(|e| e.confirmed && !e.failed));
    // prepare (Parse/Describe/Sync) + 7 executes + 1 one-off (prepare + execute).
    assert_eq!(activity.round_trips(), 10);
}

#[test]
fn postgres_portal_fetches_are_not_counted_twice() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_portal");
    let proxy = database.proxy();
    let fetched = runtime().block_on(async {
        let mut client = connect(&database.config_through(&proxy)).await;
        client
            .batch_execute(
                "CREATE TABLE items (id int); INSERT INTO items SELECT generate_series(1, 5)",
            )
            .await
            .expect("setup");
        let _ = proxy.drain();
        let transaction = client.transaction().await.expect("begin");
        let statement = transaction
            .prepare("SELECT id FROM items ORDER BY id")
            .await
            .expect("prepare");
        let portal = transaction.bind(&statement, &[]).await.expect("bind");
        let mut fetched = 0;
        loop {
            let rows = transaction.query_portal(&portal, 2).await.expect("fetch");
            if rows.is_empty() {
                break;
            }
            fetched += rows.len();
        }
        transaction.commit().await.expect("commit");
        fetched
    });
    assert_eq!(fetched, 5);
    let activity = proxy.drain();
    let names: Vec<String> = activity.statements.iter().map(strict).collect();
    assert_eq!(
        names,
        [
            "START TRANSACTION",
            "SELECT id FROM items ORDER BY id",
            "COMMIT"
        ]
    );
    let select = &activity.statements[1];
    assert!(select.in_transaction && select.confirmed);
    assert_eq!(select.rows, Some(2), "the first Execute returned 2 rows");
    assert_eq!(activity.rows(), 5, "later fetches add the other 3");
    assert_eq!(activity.transactions(), 1);
}

#[test]
fn postgres_copy_counts_once_with_its_rows() {
    use futures_util::SinkExt;
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_copy");
    let proxy = database.proxy();
    let copied = runtime().block_on(async {
        let client = connect(&database.config_through(&proxy)).await;
        client
            .batch_execute("CREATE TABLE items (id int, name text)")
            .await
            .expect("create");
        let _ = proxy.drain();
        let sink = client
            .copy_in::<_, bytes::Bytes>("COPY items FROM STDIN")
            .await
            .expect("copy in");
        let mut sink = std::pin::pin!(sink);
        for chunk in ["1\tone\n2\ttwo\n", "3\tthree\n"] {
            sink.send(bytes::Bytes::from(chunk))
                .await
                .expect("copy data");
        }
        sink.as_mut().finish().await.expect("copy done")
    });
    assert_eq!(copied, 3);
    let activity = proxy.drain();
    assert_eq!(activity.statements.len(), 1);
    assert_eq!(strict(&activity.statements[0]), "COPY items FROM STDIN");
    assert_eq!(activity.statements[0].rows, Some(3));
}

/// Runs pgbench (through `proxy` when given) and returns its processed transactions.
fn pgbench(database: &PgDatabase, port: u16, arguments: &[&str]) -> u64 {
    let output = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            &database.user,
        ])
        .args(arguments)
        .arg(&database.name)
        .output()
        .expect("pgbench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench {arguments:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("number of transactions actually processed: "))
        .and_then(|rest| rest.split('/').next())
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn pgbench_statement_counts_match_its_transaction_totals() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_pgbench");
    let proxy = database.proxy();
    let port = proxy.local_addr().port();
    pgbench(&database, port, &["-i", "-s", "1", "-q"]);
    let init = proxy.drain();
    assert!(init.faults.is_empty(), "{:?}", init.faults);
    assert!(
        init.statements
            .iter()
            .any(|e| strict(e).starts_with("COPY pgbench_accounts"))
    );

    let select = "SELECT abalance FROM pgbench_accounts WHERE aid = ?";
    for mode in ["simple", "extended", "prepared"] {
        let transactions = pgbench(
            &database,
            port,
            &["-n", "-S", "-M", mode, "-c", "2", "-t", "40"],
        );
        assert_eq!(transactions, 80, "pgbench -S -M {mode}");
        let activity = proxy.drain();
        assert_eq!(
            count_of(&activity, select) as u64,
            transactions,
            "-S -M {mode}"
        );
        assert!(activity.faults.is_empty(), "{:?}", activity.faults);
    }

    let transactions = pgbench(
        &database,
        port,
        &["-n", "-M", "prepared", "-c", "2", "-t", "30"],
    );
    let activity = proxy.drain();
    for statement in [
        "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?",
        select,
        "UPDATE pgbench_tellers SET tbalance = tbalance + ? WHERE tid = ?",
        "UPDATE pgbench_branches SET bbalance = bbalance + ? WHERE bid = ?",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP)",
        "BEGIN",
        "END",
    ] {
        assert_eq!(
            count_of(&activity, statement) as u64,
            transactions,
            "{statement}"
        );
    }
    assert_eq!(activity.transactions(), transactions);
}

/// Reads from a raw socket until the proxy closes it (or 5 s pass).
fn closed_by_proxy(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Logs in over a raw socket (trust authentication) and waits for ReadyForQuery.
fn raw_login(proxy: &CountingProxy, database: &PgDatabase) -> TcpStream {
    let mut stream = TcpStream::connect(proxy.local_addr()).expect("connect");
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (key, value) in [
        ("user", database.user.as_str()),
        ("database", database.name.as_str()),
    ] {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    stream.write_all(&packet).expect("startup");
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).expect("server message");
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let mut body = vec![0u8; length - 4];
        stream.read_exact(&mut body).expect("server message body");
        assert_ne!(header[0], b'E', "login failed");
        if header[0] == b'Z' {
            return stream;
        }
    }
}

fn assert_still_serves(proxy: &CountingProxy, database: &PgDatabase) {
    runtime().block_on(async {
        let client = connect(&database.config_through(proxy)).await;
        let rows = client.simple_query("SELECT 41 + 1").await.expect("query");
        assert!(!rows.is_empty());
    });
}

#[test]
fn postgres_garbage_and_oversized_messages_close_only_that_connection() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_garbage");
    let proxy = database.proxy();
    let bystander = raw_login(&proxy, &database);

    let mut garbage = TcpStream::connect(proxy.local_addr()).expect("connect");
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: perfguard\r\n\r\n")
        .expect("write garbage");
    assert!(closed_by_proxy(&mut garbage), "garbage connection closed");

    let mut oversized = raw_login(&proxy, &database);
    let mut message = vec![b'Q'];
    message.extend_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    message.extend_from_slice(b"SELECT 1");
    oversized.write_all(&message).expect("write oversized");
    assert!(
        closed_by_proxy(&mut oversized),
        "oversized connection closed"
    );

    assert_still_serves(&proxy, &database);
    drop(bystander);
    let activity = proxy.drain();
    let faults: Vec<(FaultKind, &str)> = activity
        .faults
        .iter()
        .map(|fault| (fault.kind, fault.message.as_str()))
        .collect();
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert!(
        faults
            .iter()
            .all(|(kind, _)| *kind == FaultKind::ClientProtocol)
    );
    assert!(
        faults[0].1.contains("not the PostgreSQL protocol"),
        "{}",
        faults[0].1
    );
    assert!(faults[1].1.contains("2147483632 bytes"), "{}", faults[1].1);
}

#[test]
fn postgres_unreachable_upstream_is_reported_as_such() {
    // Port 1 on loopback: nothing listens there, the connection is refused.
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Postgres, "127.0.0.1:1"))
        .expect("proxy starts");
    let config = format!(
        "host=127.0.0.1 port={} user=app dbname=shop",
        proxy.local_addr().port()
    );
    let error = runtime()
        .block_on(tokio_postgres::connect(&config, tokio_postgres::NoTls))
        .err()
        .expect("connection fails");
    assert!(format!("{error:?}").contains("unreachable"), "{error:?}");
    let activity = proxy.drain();
    assert_eq!(activity.faults.len(), 1);
    assert_eq!(activity.faults[0].kind, FaultKind::UpstreamUnreachable);
    assert!(
        activity.faults[0]
            .message
            .contains("127.0.0.1:1 is unreachable")
    );
}

#[test]
fn postgres_refused_login_names_the_role() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let proxy = CountingProxy::start(ProxyConfig::new(DbKind::Postgres, server.host_port.clone()))
        .expect("proxy starts");
    let config = format!(
        "host=127.0.0.1 port={} user=perfguard_no_such_role dbname=postgres",
        proxy.local_addr().port()
    );
    let result = runtime().block_on(tokio_postgres::connect(&config, tokio_postgres::NoTls));
    assert!(result.is_err(), "login with an unknown role fails");
    let activity = proxy.drain();
    assert_eq!(activity.faults.len(), 1, "{:?}", activity.faults);
    let fault = &activity.faults[0];
    assert_eq!(fault.kind, FaultKind::LoginRefused);
    assert!(
        fault.message.contains("refused the login"),
        "{}",
        fault.message
    );
    assert!(
        fault.message.contains("perfguard_no_such_role"),
        "{}",
        fault.message
    );
}

#[test]
fn postgres_upstream_closing_mid_query_is_reported() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_midquery");
    let proxy = database.proxy();
    let direct = {
        let (host, port) = server.host_port.rsplit_once(':').expect("host:port");
        format!(
            "host={host} port={port} user={} dbname=postgres",
            server.user
        )
    };
    runtime().block_on(async {
        let client = connect(&database.config_through(&proxy)).await;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .expect("pid")
            .get(0);
        let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
        let admin = connect(&direct).await;
        loop {
            let active = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                    &[&pid],
                )
                .await
                .expect("activity")
                .get::<_, i64>(0);
            if active == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .expect("terminate");
        let result = sleeper.await.expect("sleeper task");
        assert!(
            result.is_err(),
            "the query fails when its backend is terminated"
        );
    });
    // The fault is recorded when the relay sees the close, just after the client's error.
    let mut faults = Vec::new();
    for _ in 0..250 {
        faults.extend(proxy.drain().faults);
        if !faults.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].kind, FaultKind::UpstreamClosed);
    assert!(
        faults[0].message.contains("mid-query"),
        "{}",
        faults[0].message
    );
    assert!(
        faults[0].message.contains("SELECT pg_sleep(?)"),
        "{}",
        faults[0].message
    );
}

#[test]
fn standalone_proxy_prints_fingerprints_and_running_counts() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_standalone");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port");

    #[derive(Clone, Default)]
    struct SharedOutput(Arc<Mutex<Vec<u8>>>);
    impl Write for SharedOutput {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("output lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let output = SharedOutput::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("postgres://{}@{}/postgres", server.user, server.host_port);
    let runner = {
        let (output, stop) = (output.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            perfguard::probe::proxy::run_standalone_until(&url, Some(listen), output, &stop)
        })
    };
    let config = format!(
        "host=127.0.0.1 port={} user={} dbname={}",
        listen.port(),
        database.user,
        database.name
    );
    runtime().block_on(async {
        let mut connected = None;
        for _ in 0..100 {
            if let Ok((client, connection)) =
                tokio_postgres::connect(&config, tokio_postgres::NoTls).await
            {
                tokio::spawn(connection);
                connected = Some(client);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = connected.expect("standalone proxy accepts connections");
        for id in [17, 23, 99] {
            client
                .simple_query(&format!(
                    "SELECT {id} AS secret_{id} FROM pg_class WHERE oid = {id}"
                ))
                .await
                .expect("query");
        }
        client
            .simple_query("BEGIN; COMMIT")
            .await
            .expect("transaction");
    });
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    runner
        .join()
        .expect("runner thread")
        .expect("standalone proxy ran");
    let printed = String::from_utf8(output.0.lock().expect("output").clone()).expect("UTF-8");
    assert!(
        printed.contains(&format!("listening on {listen}")),
        "{printed}"
    );
    assert!(
        printed.contains("#3    SELECT ... FROM pg_class WHERE oid = ?"),
        "{printed}"
    );
    assert!(
        printed.contains("BEGIN  (ok; transaction, not counted)"),
        "{printed}"
    );
    assert!(
        printed.contains("3 statements counted, 2 excluded"),
        "{printed}"
    );
    assert!(
        !printed.contains("99"),
        "literal values never printed: {printed}"
    );
}

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
