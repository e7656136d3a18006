//! `perfguard proxy`: the counting proxy alone, printing each statement's
//! readable fingerprint with a running count per client connection, for a
//! developer hunting a query storm by hand.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Activity, CountingProxy, DbKind, ProxyConfig, ProxyError};
use crate::probe::fingerprint::{StatementClass, fingerprint};

/// How often the proxy's records are printed.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A database URL reduced to what the proxy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub kind: DbKind,
    /// `host:port`, the port defaulted from the kind.
    pub host_port: String,
}

impl DatabaseUrl {
    /// Parses `postgres://`, `postgresql://`, `mysql://` or `mariadb://` URLs
    /// (user, password, path and query are ignored).
    pub fn parse(url: &str) -> Result<DatabaseUrl, ProxyError> {
        let invalid = |reason: &str| ProxyError::Url {
            url: redact_password(url),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            invalid("expected scheme://host[:port], e.g. postgres://127.0.0.1:5432/app")
        })?;
        let kind = match scheme {
            "postgres" | "postgresql" => DbKind::Postgres,
            "mysql" | "mariadb" => DbKind::Mysql,
            _ => {
                return Err(invalid(
                    "the scheme must be postgres, postgresql, mysql or mariadb",
                ));
            }
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host_port.is_empty() {
            return Err(invalid("the URL names no host"));
        }
        let has_port = match host_port.strip_prefix('[') {
            Some(bracketed) => bracketed
                .split_once(']')
                .is_some_and(|(_, after)| after.starts_with(':')),
            None => host_port.contains(':'),
        };
        let host_port = if has_port {
            host_port.to_owned()
        } else {
            format!("{host_port}:{}", kind.default_port())
        };
        Ok(DatabaseUrl { kind, host_port })
    }
}

/// The URL with any password replaced by `***`, for error messages.
pub fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Runs the proxy in front of `upstream_url` until Ctrl-C, printing to `out`.
pub fn run_standalone(
    upstream_url: &str,
    listen: Option<SocketAddr>,
    out: impl Write,
) -> Result<(), ProxyError> {
    let stop = Arc::new(AtomicBool::new(false));
    let _graceful = crate::interrupt::stop_gracefully(Arc::clone(&stop));
    run_standalone_until(upstream_url, listen, out, &stop)
}

/// [`run_standalone`] that stops when `stop` becomes true instead of on Ctrl-C.
pub fn run_standalone_until(
    upstream_url: &str,
    listen: Option<SocketAddr>,
    mut out: impl Write,
    stop: &AtomicBool,
) -> Result<(), ProxyError> {
    let url = DatabaseUrl::parse(upstream_url)?;
    let mut config = ProxyConfig::new(url.kind, url.host_port.clone());
    config.listen = listen;
    let proxy = CountingProxy::start(config)?;
    let mut printer = Printer::default();
    let result = (|| {
        printer.line(
            &mut out,
            format_args!(
                "perfguard proxy listening on {} -> {} ({:?}); point the application here, Ctrl-C to stop",
                proxy.local_addr(),
                url.host_port,
                url.kind
            ),
        )?;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL_INTERVAL);
            printer.print(&mut out, proxy.drain(), url.kind)?;
        }
        printer.print(&mut out, proxy.drain(), url.kind)?;
        printer.summary(&mut out)
    })();
    proxy.shutdown();
    match result {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(ProxyError::Output),
    }
}

#[derive(Debug, Default)]
struct ConnectionCounts {
    counted: u64,
    excluded: u64,
    round_trips: u64,
    transactions: u64,
}

#[derive(Debug, Default)]
struct Printer {
    connections: BTreeMap<u64, ConnectionCounts>,
}

impl Printer {
    fn line(&self, out: &mut impl Write, text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
        writeln!(out, "{text}")?;
        out.flush()
    }

    fn print(
        &mut self,
        out: &mut impl Write,
        activity: Activity,
        kind: DbKind,
    ) -> std::io::Result<()> {
        for statement in &activity.statements {
            let fingerprint = fingerprint(&statement.sql, kind.dialect());
            let counts = self.connections.entry(statement.connection_id).or_default();
            let status = match (statement.failed, statement.confirmed, statement.rows) {
                (true, _, _) => "failed".to_owned(),
                (false, false, _) => "unanswered".to_owned(),
                (false, true, Some(1)) => "1 row".to_owned(),
                (false, true, Some(rows)) => format!("{rows} rows"),
                (false, true, None) => "ok".to_owned(),
            };
            let readable = if fingerprint.readable.is_empty() {
                "(empty statement)"
            } else {
                fingerprint.readable.as_str()
            };
            if fingerprint.class == StatementClass::Statement {
                counts.counted += 1;
                writeln!(
                    out,
                    "[conn {}] #{:<4} {readable}  ({status})",
                    statement.connection_id, counts.counted
                )?;
            } else {
                counts.excluded += 1;
                writeln!(
                    out,
                    "[conn {}]  -    {readable}  ({status}; {}, not counted)",
                    statement.connection_id,
                    fingerprint.class.as_str()
                )?;
            }
        }
        for (connection_id, totals) in &activity.connections {
            let counts = self.connections.entry(*connection_id).or_default();
            counts.round_trips += totals.round_trips;
            counts.transactions += totals.transactions;
        }
        for fault in &activity.faults {
            writeln!(
                out,
                "[conn {}] fault: {}",
                fault.connection_id, fault.message
            )?;
        }
        out.flush()
    }

    fn summary(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (connection_id, counts) in &self.connections {
            writeln!(
                out,
                "connection {connection_id}: {} statements counted, {} excluded, {} round trips, {} transactions",
                counts.counted, counts.excluded, counts.round_trips, counts.transactions
            )?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_reduce_to_kind_and_host_port() {
        let parse = |url| DatabaseUrl::parse(url).expect("valid URL");
        assert_eq!(
            parse("postgres://app:pw@db.local/shop?sslmode=disable"),
            DatabaseUrl {
                kind: DbKind::Postgres,
                host_port: "db.local:5432".to_owned()
            }
        );
        assert_eq!(
            parse("mysql://root@127.0.0.1:3307").host_port,
            "127.0.0.1:3307"
        );
        assert_eq!(parse("mariadb://[::1]").host_port, "[::1]:3306");
        assert_eq!(parse("postgresql://[::1]:6000/x").host_port, "[::1]:6000");
    }

    #[test]
    fn bad_urls_name_the_problem_without_the_password() {
        let error = DatabaseUrl::parse("redis://u:hunter2@h:1").expect_err("unsupported scheme");
        let message = error.to_string();
        assert!(message.contains("scheme"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(DatabaseUrl::parse("127.0.0.1:5432").is_err());
    }
}
