//! The counting proxy against the real PostgreSQL and MariaDB on this machine,
//! with real drivers (tokio-postgres, mysql_async), psql and pgbench. This file
//! holds the shared helpers: servers from the environment, throwaway databases.

mod faults;
mod mysql;
mod postgres;
mod standalone;

use perfguard::probe::fingerprint::{SqlDialect, fingerprint};
use perfguard::probe::proxy::{Activity, StatementEvent};

pub use crate::db::{
    MYSQL_DEFAULT_URL, POSTGRES_DEFAULT_URL, PgDatabase, Server, runtime, server, unique_name,
};

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
