//! A fresh database per probe run: created on the server of `[database].url`
//! under a name derived from it (`shop_perfguard_<pid>_<n>`), filled by
//! `[database].setup`, handed to the app through the proxy, and dropped on every
//! exit path: when dropped, by Ctrl-C's clean-up, and, for a run that was
//! killed, by the next run, which removes leftovers whose process is gone.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::ProbeError;
use super::app::{LOG_TAIL_LINES, log_tail, run_logged, temporary_log};
use super::proxy::{DbKind, redact_password};

/// Fresh databases alive now, for Ctrl-C: (kind, server URL, name).
static LIVE: Mutex<Vec<(DbKind, String, String)>> = Mutex::new(Vec::new());
/// Databases this process created so far (the `<n>` in their names).
static CREATED: AtomicU32 = AtomicU32::new(0);
/// Marks a name as perfguard's; everything after it is `<pid>_<n>`.
const MARK: &str = "_perfguard_";

/// A database created for one probe run; dropped with it.
pub struct FreshDatabase {
    kind: DbKind,
    server_url: String,
    pub name: String,
    /// Straight to the server (what `setup` gets as `{database_url}`).
    pub url: String,
}

/// The database name of a URL's path, if any.
pub fn database_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let path = &rest[rest.find('/')? + 1..];
    let name = path.split(['?', '#']).next().unwrap_or_default();
    (!name.is_empty()).then_some(name)
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{name}{query}")
}

/// The prefix of fresh names for a URL: its database name, made safe for an
/// unquoted identifier and short enough for PostgreSQL's 63 bytes.
fn prefix(url: &str) -> String {
    let base: String = database_of(url)
        .unwrap_or("perfguard")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if base.starts_with(|c: char| c.is_ascii_digit()) {
        format!("db_{base}")
    } else {
        base
    }
}

/// The pid a fresh name was created by, when `name` is one of `prefix`'s.
fn creator(name: &str, prefix: &str) -> Option<i32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix(MARK)?;
    let (pid, n) = rest.split_once('_')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists under another user.
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

/// Run administrative statements on the server of `url` (not in its
/// database); returns the first column of the last statement's rows.
fn admin(kind: DbKind, url: &str, statements: &[String]) -> Result<Vec<String>, String> {
    let runtime = runtime()?;
    match kind {
        DbKind::Postgres => runtime.block_on(async {
            let mut config: tokio_postgres::Config = url
                .parse()
                .map_err(|e| format!("cannot read the URL: {e}"))?;
            let mut last_error = String::new();
            for maintenance in ["postgres", "template1"] {
                config.dbname(maintenance);
                match config.connect(tokio_postgres::NoTls).await {
                    Ok((client, connection)) => {
                        tokio::spawn(connection);
                        let mut rows = Vec::new();
                        for statement in statements {
                            rows = client
                                .simple_query(statement)
                                .await
                                .map_err(|e| format!("`{statement}` failed: {e}"))?
                                .into_iter()
                                .filter_map(|m| match m {
                                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                                        row.get(0).map(str::to_string)
                                    }
                                    _ => None,
                                })
                                .collect();
                        }
                        return Ok(rows);
                    }
                    Err(error) => last_error = error.to_string(),
                }
            }
            Err(format!("cannot connect: {last_error}"))
        }),
        DbKind::Mysql => runtime.block_on(async {
            use mysql_async::prelude::Queryable;
            let opts = mysql_async::Opts::from_url(url)
                .map_err(|e| format!("cannot read the URL: {e}"))?;
            let opts = mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>);
            let mut connection = mysql_async::Conn::new(opts)
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let mut rows = Vec::new();
            for statement in statements {
                rows = connection
                    .query::<String, _>(statement.as_str())
                    .await
                    .map_err(|e| format!("`{statement}` failed: {e}"))?;
            }
            let _ = connection.disconnect().await;
            Ok(rows)
        }),
    }
}

fn drop_statement(kind: DbKind, name: &str) -> String {
    match kind {
        // FORCE: an app killed mid-request may leave a session behind.
        DbKind::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        DbKind::Mysql => format!("DROP DATABASE IF EXISTS `{name}`"),
    }
}

/// Drop the fresh databases of runs whose process is gone.
fn remove_leftovers(kind: DbKind, url: &str, prefix: &str) -> Result<Vec<String>, String> {
    let pattern = format!("{prefix}{MARK}%").replace('_', "\\_");
    let list = match kind {
        DbKind::Postgres => {
            format!("SELECT datname FROM pg_database WHERE datname LIKE '{pattern}'")
        }
        DbKind::Mysql => format!("SHOW DATABASES LIKE '{pattern}'"),
    };
    let stale: Vec<String> = admin(kind, url, &[list])?
        .into_iter()
        .filter(|name| creator(name, prefix).is_some_and(|pid| !process_alive(pid)))
        .collect();
    if !stale.is_empty() {
        let drops: Vec<String> = stale.iter().map(|n| drop_statement(kind, n)).collect();
        admin(kind, url, &drops)?;
    }
    Ok(stale)
}

impl FreshDatabase {
    /// Create a fresh database beside `[database].url`'s and run `setup` on it
    /// (`{database_url}` and `{scale}` filled in; `DATABASE_URL` set too).
    pub fn create(
        kind: DbKind,
        server_url: &str,
        setup: &str,
        scale: Option<u64>,
        working_dir: &Path,
        extra_env: &[(String, String)],
    ) -> Result<FreshDatabase, ProbeError> {
        let failed = |message: String| ProbeError::Database {
            url: redact_password(server_url),
            message,
        };
        let prefix = prefix(server_url);
        remove_leftovers(kind, server_url, &prefix).map_err(|e| {
            failed(format!(
                "cannot look for leftover fresh databases: {e}; [database].url must let perfguard create and drop databases on that server when [database].setup is set"
            ))
        })?;
        let name = format!(
            "{prefix}{MARK}{}_{}",
            std::process::id(),
            CREATED.fetch_add(1, Ordering::SeqCst)
        );
        let create = match kind {
            DbKind::Postgres => format!("CREATE DATABASE {name}"),
            DbKind::Mysql => format!("CREATE DATABASE `{name}`"),
        };
        if let Ok(mut live) = LIVE.lock() {
            live.push((kind, server_url.to_string(), name.clone()));
        }
        let database = FreshDatabase {
            kind,
            server_url: server_url.to_string(),
            url: with_database(server_url, &name),
            name,
        };
        admin(kind, server_url, &[create]).map_err(|e| {
            failed(format!(
                "cannot create a fresh database: {e}; the user of [database].url needs the right to create databases"
            ))
        })?;
        let scale_text = scale.map(|s| s.to_string()).unwrap_or_default();
        let command = setup
            .replace("{database_url}", &database.url)
            .replace("{scale}", &scale_text);
        let (_log_dir, log_path) = temporary_log("perfguard-setup-", "setup.log")?;
        let env = [
            ("DATABASE_URL".to_string(), database.url.clone()),
            ("PERFGUARD_SCALE".to_string(), scale_text.clone()),
        ];
        let status = run_logged(&command, working_dir, extra_env, &env, &log_path)?;
        if !status.success() {
            let at_scale = scale.map(|s| format!(" at scale {s}")).unwrap_or_default();
            return Err(ProbeError::SetupFailed {
                command: setup.to_string(),
                at_scale,
                status: status.to_string(),
                tail: log_tail(&log_path, LOG_TAIL_LINES),
            });
        }
        Ok(database)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(error) = admin(
            self.kind,
            &self.server_url,
            &[drop_statement(self.kind, &self.name)],
        ) {
            eprintln!(
                "perfguard: could not drop the fresh database {} ({error}); the next run removes it",
                self.name
            );
        }
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|(_, _, name)| *name != self.name);
        }
    }
}

/// Drop every fresh database still alive (Ctrl-C); the apps are stopped first.
pub(crate) fn drop_live() {
    let live: Vec<(DbKind, String, String)> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for (kind, url, name) in live {
        let _ = admin(kind, &url, &[drop_statement(kind, &name)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_derive_from_the_url() {
        assert_eq!(
            database_of("postgres://u:p@h:5432/shop_perfguard?sslmode=disable"),
            Some("shop_perfguard")
        );
        assert_eq!(database_of("mysql://root@h:3306"), None);
        assert_eq!(prefix("postgres://h/Shop-Dev"), "shop_dev");
        assert_eq!(prefix("mysql://root@h:3306"), "perfguard");
        assert_eq!(prefix("postgres://h/2024"), "db_2024");
        assert_eq!(
            with_database(
                "postgres://u:p@h:5432/shop?sslmode=disable",
                "shop_perfguard_1_0"
            ),
            "postgres://u:p@h:5432/shop_perfguard_1_0?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@h:3306", "x"),
            "mysql://root@h:3306/x"
        );
        assert_eq!(creator("shop_perfguard_1234_0", "shop"), Some(1234));
        assert_eq!(creator("shop_perfguard_1234", "shop"), None);
        assert_eq!(creator("shopping_perfguard_1_0", "shop"), None);
        assert_eq!(creator("shop_other", "shop"), None);
    }
}
