//! Statement counts through the proxy for each PostgreSQL protocol path:
//! simple queries, prepared statements reused, portals fetched in parts, COPY,
//! and pgbench's own transaction totals.

use std::process::Command;

use super::{POSTGRES_DEFAULT_URL, PgDatabase, connect, count_of, runtime, server, strict};

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
    assert_eq!(proxy.in_flight(), 0, "every statement was answered");
    assert!(proxy.last_statement_at().is_some());
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
    assert_eq!(proxy.in_flight(), 0, "fetches were answered too");
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

#[test]
fn postgres_pipelined_statements_pair_with_their_own_completions() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_pipeline");
    let proxy = database.proxy();
    runtime().block_on(async {
        let client = connect(&database.config_through(&proxy)).await;
        let statement = client
            .prepare("SELECT 10 / $1::int")
            .await
            .expect("prepare");
        let _ = proxy.drain();
        // tokio-postgres pipelines concurrent queries on one connection: the
        // second fails (division by zero) while the others complete.
        let (first, second, third) = futures_util::join!(
            client.query(&statement, &[&5i32]),
            client.query(&statement, &[&0i32]),
            client.query(&statement, &[&2i32]),
        );
        assert!(first.is_ok() && second.is_err() && third.is_ok());
    });
    let activity = proxy.drain();
    let outcomes: Vec<(bool, bool, Option<u64>)> = activity
        .statements
        .iter()
        .map(|event| (event.confirmed, event.failed, event.rows))
        .collect();
    assert_eq!(
        outcomes,
        [
            (true, false, Some(1)),
            (false, true, None),
            (true, false, Some(1))
        ]
    );
    assert_eq!(activity.round_trips(), 3);
    assert_eq!(proxy.in_flight(), 0);
}

#[test]
fn postgres_large_values_and_many_connections_pass_intact() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_large");
    let proxy = database.proxy();
    let config = database.config_through(&proxy);
    let relayed = async {
        // A 6 MiB parameter out and a 22 MiB row back: both far larger than
        // the relay's buffer and the sockets' buffers, so its writes block.
        let client = connect(&config).await;
        let sent: String = (0..6 * 1024 * 1024)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let row = client
            .query_one("SELECT $1::text || repeat('z', 16 * 1024 * 1024)", &[&sent])
            .await
            .expect("large round trip");
        let back: &str = row.get(0);
        assert_eq!(back.len(), sent.len() + 16 * 1024 * 1024);
        assert!(back.starts_with(&sent), "the parameter came back changed");
        assert!(back[sent.len()..].bytes().all(|b| b == b'z'));

        // Sixteen connections at once, each with its own queries in flight.
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let config = config.clone();
                tokio::spawn(async move {
                    let client = connect(&config).await;
                    for n in 0..50i32 {
                        let row = client
                            .query_one("SELECT $1::int + 1", &[&(task * 1000 + n)])
                            .await
                            .expect("query on one of many connections");
                        assert_eq!(row.get::<_, i32>(0), task * 1000 + n + 1);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("connection task");
        }
    };
    // A relay that loses or reorders bytes leaves the client waiting for the rest.
    runtime().block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(120), relayed)
            .await
            .expect("the relay stalled: the client is still waiting after 120 s")
    });
    let activity = proxy.drain();
    let many = activity
        .statements
        .iter()
        .filter(|event| event.sql == "SELECT $1::int + 1")
        .count();
    assert_eq!(many, 16 * 50);
    assert_eq!(proxy.in_flight(), 0);
    assert!(activity.faults.is_empty(), "{:?}", activity.faults);
}
