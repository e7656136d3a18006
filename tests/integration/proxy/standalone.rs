//! The standalone proxy (`perfguard proxy`): what it prints.

use std::io::Write;
use std::time::Duration;

use super::{POSTGRES_DEFAULT_URL, PgDatabase, runtime, server};

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
    // The first line holds the (random) listen port; the statements follow.
    let statements = printed.split_once('\n').map_or("", |(_, rest)| rest);
    for literal in ["17", "23", "99", "secret_"] {
        assert!(
            !statements.contains(literal),
            "literal values never printed ({literal}): {printed}"
        );
    }
}
