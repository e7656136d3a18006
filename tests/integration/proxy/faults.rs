//! Faults the proxy must survive and report: garbage and oversized messages,
//! an unreachable or login-refusing upstream, an upstream closing mid-query;
//! and the startup requests it answers itself (TLS, GSS, cancel).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use perfguard::probe::proxy::{CountingProxy, DbKind, FaultKind, ProxyConfig};

use super::{POSTGRES_DEFAULT_URL, PgDatabase, connect, count_of, runtime, server, strict};

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

/// Logs in over a raw socket (trust authentication) and waits for ReadyForQuery,
/// after asking for GSS and TLS encryption (the proxy declines both with `N`).
fn raw_login(proxy: &CountingProxy, database: &PgDatabase) -> TcpStream {
    let mut stream = TcpStream::connect(proxy.local_addr()).expect("connect");
    for request_code in [80_877_104u32, 80_877_103] {
        let mut request = 8u32.to_be_bytes().to_vec();
        request.extend_from_slice(&request_code.to_be_bytes());
        stream.write_all(&request).expect("encryption request");
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).expect("answer");
        assert_eq!(&answer, b"N", "encryption declined");
    }
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
fn postgres_cancel_request_reaches_the_server_through_the_proxy() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_cancel");
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
        let cancel_token = client.cancel_token();
        let sleeper = tokio::spawn(async move {
            let result = client.simple_query("SELECT pg_sleep(30)").await;
            (result, client)
        });
        let admin = connect(&direct).await;
        while admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                &[&pid],
            )
            .await
            .expect("activity")
            .get::<_, i64>(0)
            == 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The token connects to the proxy's address: the proxy forwards the CancelRequest.
        cancel_token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .expect("cancel request sent");
        let (result, client) = sleeper.await.expect("sleeper task");
        let error = result.expect_err("the sleep is cancelled");
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
        );
        // The session survives a cancelled query.
        client
            .simple_query("SELECT 1")
            .await
            .expect("still connected");
    });
    let activity = proxy.drain();
    let sleep = activity
        .statements
        .iter()
        .find(|event| strict(event) == "SELECT pg_sleep(?)")
        .expect("the sleep was recorded");
    assert!(sleep.failed && !sleep.confirmed);
    assert!(activity.faults.is_empty(), "{:?}", activity.faults);
}

#[test]
fn postgres_tls_requests_are_declined_and_psql_continues_in_plaintext() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_tls");
    let proxy = database.proxy();
    let psql = |sslmode: &str| {
        Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user={} dbname={} sslmode={sslmode}",
                proxy.local_addr().port(),
                database.user,
                database.name
            ))
            .args([
                "-Atc",
                "SELECT relname FROM pg_class WHERE relname = 'pg_class'",
            ])
            .output()
            .expect("psql runs")
    };
    let preferred = psql("prefer");
    assert!(
        preferred.status.success(),
        "{}",
        String::from_utf8_lossy(&preferred.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&preferred.stdout).trim(),
        "pg_class"
    );
    let required = psql("require");
    assert!(!required.status.success());
    assert!(
        String::from_utf8_lossy(&required.stderr).contains("does not support SSL"),
        "{}",
        String::from_utf8_lossy(&required.stderr)
    );
    let activity = proxy.drain();
    assert_eq!(
        count_of(&activity, "SELECT relname FROM pg_class WHERE relname = ?"),
        1
    );
}

#[test]
fn postgres_a_close_that_arrives_with_the_last_query_still_reaches_the_server() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "pg_proxy_half_close");
    let proxy = database.proxy();
    let mut query = vec![b'Q'];
    let sql = b"SELECT 1\0";
    query.extend_from_slice(&((sql.len() + 4) as u32).to_be_bytes());
    query.extend_from_slice(sql);
    // A query and the client's close, back to back: they often reach the proxy
    // in one read, and the close must still be passed on, or the server waits
    // for a next query forever and the client never sees the connection end.
    for attempt in 0..20 {
        let mut stream = raw_login(&proxy, &database);
        stream.write_all(&query).expect("query");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        assert!(
            read.is_ok(),
            "attempt {attempt}: the connection did not end after the client's close ({read:?}, {} bytes of answer)",
            answer.len()
        );
        assert_eq!(
            answer.last(),
            Some(&b'I'),
            "attempt {attempt}: the answer ends with ReadyForQuery (idle)"
        );
    }
    assert_eq!(count_of(&proxy.drain(), "SELECT ?"), 20);
}
