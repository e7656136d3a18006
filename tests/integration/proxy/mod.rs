//! The counting proxy against the real PostgreSQL and MariaDB on this machine,
//! with real drivers (tokio-postgres, mysql_async), psql and pgbench. This file
//! holds the shared helpers: servers from the environment, throwaway databases.

mod faults;
mod mysql;
mod postgres;
mod standalone;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use perfguard::probe::fingerprint::{SqlDialect, fingerprint};
use perfguard::probe::proxy::{
    Activity, CountingProxy, DatabaseUrl, DbKind, ProxyConfig, StatementEvent,
};

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

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

pub async fn connect(config: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls)
        .await
        .expect("connection through the proxy");
    tokio::spawn(connection);
    client
}

pub fn strict(event: &StatementEvent) -> String {
    fingerprint(&event.sql, SqlDialect::Postgres).strict
}

pub fn count_of(activity: &Activity, strict_fingerprint: &str) -> usize {
    activity
        .statements
        .iter()
        .filter(|event| strict(event) == strict_fingerprint)
        .count()
}
