//! Database servers for the tests: found from `PERFGUARD_TEST_POSTGRES_URL` /
//! `PERFGUARD_TEST_MYSQL_URL` (else the local defaults); unreachable means the
//! test skips with a printed reason, except under `CI=true` where it fails.
//! Each test gets its own uniquely named database, dropped at the end.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use perfguard::probe::proxy::{CountingProxy, DatabaseUrl, DbKind, ProxyConfig};

pub const POSTGRES_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306";

/// A database server from the environment, or `None` (with a skip reason) when
/// it is unreachable outside CI.
pub struct Server {
    pub host_port: String,
    pub user: String,
}

pub fn server(variable: &str, default_url: &str) -> Option<Server> {
    let url = std::env::var(variable).unwrap_or_else(|_| default_url.to_owned());
    let parsed = DatabaseUrl::parse(&url).expect("test database URL parses");
    let user = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(userinfo, _)| userinfo.split(':').next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| "postgres".to_owned());
    let reachable = parsed
        .host_port
        .parse::<SocketAddr>()
        .ok()
        .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .is_some();
    if !reachable {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{variable}: database at {} is unreachable in CI",
                parsed.host_port
            );
        }
        eprintln!("skipped: no database at {} ({variable})", parsed.host_port);
        return None;
    }
    Some(Server {
        host_port: parsed.host_port,
        user,
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}

pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A uniquely named PostgreSQL database, dropped at the end of the test.
pub struct PgDatabase {
    pub server_host_port: String,
    pub user: String,
    pub name: String,
}

impl PgDatabase {
    pub fn create(server: &Server, prefix: &str) -> PgDatabase {
        let database = PgDatabase {
            server_host_port: server.host_port.clone(),
            user: server.user.clone(),
            name: unique_name(prefix),
        };
        database.admin(&format!("CREATE DATABASE {}", database.name));
        database
    }

    pub fn admin(&self, sql: &str) {
        let (host, port) = self.server_host_port.rsplit_once(':').expect("host:port");
        let config = format!("host={host} port={port} user={} dbname=postgres", self.user);
        runtime().block_on(async {
            let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
                .await
                .expect("direct connection to PostgreSQL");
            tokio::spawn(connection);
            client.batch_execute(sql).await.expect("admin statement");
        });
    }

    pub fn proxy(&self) -> CountingProxy {
        CountingProxy::start(ProxyConfig::new(
            DbKind::Postgres,
            self.server_host_port.clone(),
        ))
        .expect("proxy starts")
    }

    pub fn config_through(&self, proxy: &CountingProxy) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={}",
            proxy.local_addr().port(),
            self.user,
            self.name
        )
    }
}

impl PgDatabase {
    /// A `postgres://` URL of this database, straight to the server.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}@{}/{}",
            self.user, self.server_host_port, self.name
        )
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
