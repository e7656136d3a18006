//! The probe runner: starts the counting proxy (when a probe counts on the wire)
//! and the application, then sends each probe's request one at a time — a
//! warm-up first, then `repeat` measured requests — and attributes to the probe
//! every statement seen until the database connection has been quiet for
//! `quiet_period` after the response.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::ProbeError;
use super::app::RunningApp;
use super::counting;
use super::database::FreshDatabase;
use super::fingerprint::{self, SqlDialect, StatementClass};
use super::proxy::{
    ConnectionFault, CountingProxy, DatabaseUrl, DbKind, FaultKind, ProxyConfig, redact_password,
};
use crate::config::{DatabaseKind, LoadedConfig, Probe};
use crate::progress::Progress;
use crate::results::{CountSource, FingerprintCount, ProbeResult, ScaleCount};

/// What one request did to the database.
#[derive(Clone, Debug, Default, PartialEq)]
struct RequestCount {
    status: u16,
    /// Counted statements per strict fingerprint.
    statements: BTreeMap<String, FingerprintCount>,
    excluded: BTreeMap<String, FingerprintCount>,
    total: u64,
    rows: u64,
    round_trips: u64,
    transactions: u64,
    /// Values this response gave the probe's `capture`.
    captured: Vec<(String, String)>,
}

fn add(map: &mut BTreeMap<String, FingerprintCount>, strict: String, readable: String, count: u64) {
    map.entry(strict)
        .or_insert(FingerprintCount { readable, count: 0 })
        .count += count;
}

/// How statements are counted for one probe.
fn count_source(probe: &Probe) -> CountSource {
    if let Some(name) = probe.count.strip_prefix("header:") {
        CountSource::Header(name.trim().to_string())
    } else if probe.count == "server-timing" {
        CountSource::ServerTiming
    } else {
        CountSource::Proxy
    }
}

fn dialect(kind: DatabaseKind) -> SqlDialect {
    match kind {
        DatabaseKind::Postgres => SqlDialect::Postgres,
        DatabaseKind::Mysql => SqlDialect::Mysql,
        DatabaseKind::None => SqlDialect::Generic,
    }
}

/// `[database].url` with its host and port replaced by the proxy's address.
pub fn proxied_url(url: &str, proxy: std::net::SocketAddr) -> Result<String, ProbeError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| ProbeError::BadDatabaseUrl {
            message: format!(
                "{:?} is not a URL like postgres://user@host:5432/db",
                redact_password(url)
            ),
        })?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let credentials = authority
        .rsplit_once('@')
        .map(|(c, _)| format!("{c}@"))
        .unwrap_or_default();
    Ok(format!("{scheme}://{credentials}{proxy}{tail}"))
}

/// Run every selected probe: once against `[database].url`, or, with
/// `[database].setup`, on a fresh database per scale (one app start each).
/// `extra_env` is added to the app's environment (e.g. a worktree's own
/// `CARGO_TARGET_DIR`), before `[app].env`.
pub fn run_probes(
    loaded: &LoadedConfig,
    probes: &[&Probe],
    working_dir: &Path,
    extra_env: &[(String, String)],
    progress: &Progress,
) -> Result<BTreeMap<String, ProbeResult>, ProbeError> {
    let config = &loaded.config;
    let app_config = config.app.as_ref().ok_or(ProbeError::NoApp)?;
    let measured: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    let to_run = with_capture_sources(&config.probe, &measured);
    super::app::build(app_config, working_dir, extra_env)?;
    let database = config.database.as_ref();
    let url = database.and_then(|d| d.url.clone()).unwrap_or_default();
    let run = Run {
        loaded,
        probes: &to_run,
        measured: &measured,
        working_dir,
        extra_env,
        progress,
    };
    let Some(setup) = database.and_then(|d| d.setup.as_deref()) else {
        return run.once(&url);
    };
    let kind = match database.map(|d| d.kind) {
        Some(DatabaseKind::Mysql) => DbKind::Mysql,
        _ => DbKind::Postgres,
    };
    let scales: Vec<Option<u64>> = if config.probes.scales.is_empty() {
        vec![None]
    } else {
        config.probes.scales.iter().copied().map(Some).collect()
    };
    let mut by_scale = Vec::new();
    for scale in scales {
        let at = scale.map(|s| format!(" at scale {s}")).unwrap_or_default();
        progress.status(&format!("setting up a fresh database{at}: {setup}"));
        let fresh = FreshDatabase::create(kind, &url, setup, scale, working_dir, extra_env)?;
        let results = run.once(&fresh.url)?;
        drop(fresh); // after the app has stopped
        by_scale.push((scale, results));
    }
    Ok(merge_scales(by_scale))
}

/// The largest scale's results, each probe carrying its counts at every scale.
fn merge_scales(
    by_scale: Vec<(Option<u64>, BTreeMap<String, ProbeResult>)>,
) -> BTreeMap<String, ProbeResult> {
    let mut scales_of: BTreeMap<String, Vec<ScaleCount>> = BTreeMap::new();
    for (scale, results) in &by_scale {
        let Some(scale) = scale else { continue };
        for (name, result) in results {
            scales_of.entry(name.clone()).or_default().push(ScaleCount {
                scale: *scale,
                total: result.total_statements,
                statements: result
                    .statements
                    .iter()
                    .map(|(k, c)| (k.clone(), c.count))
                    .collect(),
            });
        }
    }
    let mut largest = by_scale
        .into_iter()
        .next_back()
        .map(|(_, results)| results)
        .unwrap_or_default();
    for (name, result) in &mut largest {
        if let Some(scales) = scales_of.remove(name).filter(|s| s.len() > 1) {
            result.scales = scales;
        }
    }
    largest
}

/// One probe run: what it measures and where.
struct Run<'a> {
    loaded: &'a LoadedConfig,
    /// The probes to send, in file order (measured ones and capture sources).
    probes: &'a [&'a Probe],
    measured: &'a [&'a str],
    working_dir: &'a Path,
    extra_env: &'a [(String, String)],
    progress: &'a Progress,
}

impl Run<'_> {
    /// Start the proxy and the app on the database at `url`, and probe.
    fn once(&self, url: &str) -> Result<BTreeMap<String, ProbeResult>, ProbeError> {
        let Run {
            loaded,
            probes,
            measured,
            working_dir,
            extra_env,
            progress,
        } = *self;
        let url = url.to_string();
        let config = &loaded.config;
        let app_config = config.app.as_ref().ok_or(ProbeError::NoApp)?;
        let kind = config
            .database
            .as_ref()
            .map(|d| d.kind)
            .unwrap_or(DatabaseKind::None);
        let uses_proxy = probes.iter().any(|p| count_source(p) == CountSource::Proxy);
        super::app::build(app_config, working_dir, extra_env)?;

        let proxy = if uses_proxy {
            Some(start_proxy(kind, &url, progress)?)
        } else {
            None
        };
        let app_database_url = match &proxy {
            Some(proxy) => proxied_url(&url, proxy.local_addr())?,
            None => url.clone(),
        };
        progress.status(&format!("starting the application: {}", app_config.command));
        let mut app = match RunningApp::start(app_config, working_dir, extra_env, &app_database_url)
        {
            Ok(app) => app,
            Err(error) => {
                // An app that cannot reach its database usually dies while starting:
                // say that the database is the cause, and still show the app's log.
                if let Some(proxy) = &proxy {
                    check_faults(&proxy.drain().faults, &url).map_err(|fault| match fault {
                        ProbeError::Database { url, message } => ProbeError::Database {
                            url,
                            message: format!("{message}\n(the application then failed: {error})"),
                        },
                        other => other,
                    })?;
                }
                return Err(error);
            }
        };
        if let Some(proxy) = &proxy {
            // Statements the app ran while starting (migrations, seeding) are not a probe's.
            wait_quiet(proxy, config.probes.quiet_period.0, Instant::now());
            check_faults(&proxy.drain().faults, &url)?;
        }

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.probes.request_timeout.0))
            .http_status_as_error(false)
            .build()
            .into();
        let mut results = BTreeMap::new();
        let mut captured = BTreeMap::new();
        for probe in probes {
            let source = count_source(probe);
            let endpoint = format!("{} {}", probe.method.to_uppercase(), probe.path);
            let session = Session {
                agent: &agent,
                proxy: proxy.as_ref(),
                loaded,
                kind,
                database_url: &url,
            };
            let mut run_one = |app: &mut RunningApp| {
                let count = request(&session, app, probe, &source, &captured)?;
                captured.extend(count.captured.iter().cloned());
                Ok::<_, ProbeError>(count)
            };
            progress.status(&format!("probing {endpoint}"));
            run_one(&mut app)?; // warm-up: caches, prepared statements, lazy pools
            let repeats = config.probes.repeat.max(1);
            let mut counts = Vec::new();
            for _ in 0..repeats {
                counts.push(run_one(&mut app)?);
            }
            if !measured.contains(&probe.name.as_str()) {
                continue; // run only for what it captures
            }
            results.insert(
                probe.name.clone(),
                summarize(probe, &endpoint, source, &counts),
            );
            progress.status(&format!(
                "probed {endpoint}: {} statements",
                counts.last().map_or(0, |c| c.total)
            ));
        }
        // Close the keep-alive connections first: a server that drains its
        // connections on SIGTERM would otherwise wait for perfguard's.
        drop(agent);
        let stopping = Instant::now();
        drop(app);
        progress.status(&format!(
            "application stopped in {:.2} s",
            stopping.elapsed().as_secs_f64()
        ));
        Ok(results)
    }
}

/// Start the counting proxy in front of the server of `url`, which must be
/// of `kind` (postgres or mysql).
pub(crate) fn start_proxy(
    kind: DatabaseKind,
    url: &str,
    progress: &Progress,
) -> Result<CountingProxy, ProbeError> {
    let parsed = DatabaseUrl::parse(url).map_err(|e| ProbeError::BadDatabaseUrl {
        message: e.to_string(),
    })?;
    let db_kind = match kind {
        DatabaseKind::Mysql => DbKind::Mysql,
        _ => DbKind::Postgres,
    };
    if parsed.kind != db_kind {
        return Err(ProbeError::BadDatabaseUrl {
            message: format!(
                "{:?} is a {:?} URL but [database] kind says {:?}; make them agree",
                redact_password(url),
                parsed.kind,
                db_kind
            ),
        });
    }
    let upstream = parsed.host_port;
    let proxy = CountingProxy::start(ProxyConfig::new(db_kind, upstream.clone())).map_err(|e| {
        ProbeError::Proxy {
            message: e.to_string(),
        }
    })?;
    progress.status(&format!(
        "counting proxy on {} -> {upstream}",
        proxy.local_addr()
    ));
    Ok(proxy)
}

/// The probes to run, in file order: the measured ones and every earlier probe
/// whose captures they (or a probe they need) use.
fn with_capture_sources<'a>(all: &'a [Probe], measured: &[&str]) -> Vec<&'a Probe> {
    let mut needed: Vec<bool> = all
        .iter()
        .map(|p| measured.contains(&p.name.as_str()))
        .collect();
    for index in (0..all.len()).rev() {
        if !needed[index] {
            continue;
        }
        for text in all[index].templates() {
            for reference in super::template::references(text) {
                let super::template::Reference::Captured(name) = reference else {
                    continue;
                };
                if let Some(source) = (0..index)
                    .rev()
                    .find(|i| all[*i].capture.contains_key(&name))
                {
                    needed[source] = true;
                }
            }
        }
    }
    all.iter()
        .zip(needed)
        .filter_map(|(probe, needed)| needed.then_some(probe))
        .collect()
}

fn summarize(
    probe: &Probe,
    endpoint: &str,
    source: CountSource,
    counts: &[RequestCount],
) -> ProbeResult {
    let last = counts.last().cloned().unwrap_or_default();
    let mut unstable: Vec<String> = Vec::new();
    for count in counts {
        let keys = count.statements.keys().chain(last.statements.keys());
        for key in keys {
            let a = count.statements.get(key).map_or(0, |c| c.count);
            let b = last.statements.get(key).map_or(0, |c| c.count);
            if a != b && !unstable.contains(key) {
                unstable.push(key.clone());
            }
        }
        if count.total != last.total && unstable.is_empty() {
            unstable.push("(total)".to_string());
        }
    }
    unstable.sort();
    ProbeResult {
        endpoint: endpoint.to_string(),
        status: last.status,
        count_source: source,
        total_statements: last.total,
        statements: last.statements,
        excluded: last.excluded,
        rows: last.rows,
        round_trips: last.round_trips,
        transactions: last.transactions,
        repeat_totals: counts.iter().map(|c| c.total).collect(),
        unstable,
        max_queries: probe.max_queries,
        allow: probe.allow,
        scales: Vec::new(),
    }
}

pub(crate) fn check_faults(faults: &[ConnectionFault], url: &str) -> Result<(), ProbeError> {
    // A client closing its own connection is the app's business; the database
    // being unreachable, refusing the login or closing mid-query is a fault.
    match faults.iter().find(|f| f.kind != FaultKind::ClientProtocol) {
        Some(fault) => Err(ProbeError::Database {
            url: redact_password(url),
            message: fault.message.clone(),
        }),
        None => Ok(()),
    }
}

/// Wait until the database connections have been silent for `quiet` (counted
/// from `since` at the earliest) with no statement awaiting its completion.
fn wait_quiet(proxy: &CountingProxy, quiet: Duration, since: Instant) {
    let deadline = since + Duration::from_secs(30);
    loop {
        let last = proxy.last_activity_at().map_or(since, |t| t.max(since));
        let silent_for = last.elapsed();
        if (silent_for >= quiet && proxy.in_flight() == 0) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(
            quiet
                .saturating_sub(silent_for)
                .max(Duration::from_millis(5)),
        );
    }
}

/// What every request of a probe run shares.
struct Session<'a> {
    agent: &'a ureq::Agent,
    proxy: Option<&'a CountingProxy>,
    loaded: &'a LoadedConfig,
    kind: DatabaseKind,
    database_url: &'a str,
}

/// A probe's request, sent and answered with the status it expects.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    /// The body as text (at most 1 MiB).
    pub body: String,
    pub finished: Instant,
}

/// Fill a probe's templates, send its request and check the status.
pub(crate) fn send(
    agent: &ureq::Agent,
    app: &mut RunningApp,
    probe: &Probe,
    captured: &BTreeMap<String, String>,
) -> Result<Answer, ProbeError> {
    let fill = |text: &str| super::template::fill(text, captured, &probe.name);
    let url = format!("{}{}", app.base_url, fill(&probe.path)?);
    let endpoint = format!("{} {}", probe.method.to_uppercase(), probe.path);
    let mut builder = ureq::http::Request::builder()
        .method(probe.method.to_uppercase().as_str())
        .uri(&url);
    let has_content_type = probe
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"));
    for (name, value) in &probe.headers {
        builder = builder.header(name, fill(value)?);
    }
    if probe.body.is_some() && !has_content_type {
        builder = builder.header("content-type", "application/json");
    }
    let body = probe.body.as_deref().map(fill).transpose()?;
    let request = builder
        .body(body.unwrap_or_default())
        .map_err(|e| ProbeError::BadRequest {
            probe: probe.name.clone(),
            message: e.to_string(),
        })?;
    let response = agent.run(request);
    let mut response = match response {
        Ok(response) => response,
        Err(error) => {
            app.check_alive(&format!("during {endpoint}"))?;
            return Err(ProbeError::Request {
                endpoint,
                message: error.to_string(),
                tail: app.log_tail(),
            });
        }
    };
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    let finished = Instant::now();
    let expected = match probe.expect_status {
        Some(expected) => status == expected,
        None => (200..300).contains(&status),
    };
    if !expected {
        let hint = if matches!(status, 401 | 403) {
            "; the endpoint wants credentials: log in with an earlier probe that has `capture = { token = \"/token\" }` and send `headers = { authorization = \"Bearer {token}\" }`, or take a token from the environment with {env:NAME}"
        } else {
            ""
        };
        let start: String = body.chars().take(300).collect();
        return Err(ProbeError::UnexpectedStatus {
            probe: probe.name.clone(),
            endpoint,
            status,
            expected: probe
                .expect_status
                .map_or("2xx".to_string(), |s| s.to_string()),
            hint,
            body_start: super::template::redact(&start, captured),
        });
    }
    Ok(Answer {
        status,
        headers,
        body,
        finished,
    })
}

/// The values later requests need from `[[probe]]` captures: the probes whose
/// captures `templates` use (and the ones those need), sent once each in file
/// order against `app`.
pub(crate) fn captures_for<'a>(
    all: &[Probe],
    templates: impl Iterator<Item = &'a str>,
    app: &mut RunningApp,
    request_timeout: Duration,
) -> Result<BTreeMap<String, String>, ProbeError> {
    let mut wanted: Vec<String> = Vec::new();
    for text in templates {
        for reference in super::template::references(text) {
            if let super::template::Reference::Captured(name) = reference {
                wanted.push(name);
            }
        }
    }
    let sources: Vec<&str> = all
        .iter()
        .filter(|p| p.capture.keys().any(|k| wanted.contains(k)))
        .map(|p| p.name.as_str())
        .collect();
    let mut captured = BTreeMap::new();
    if sources.is_empty() {
        return Ok(captured);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(request_timeout))
        .http_status_as_error(false)
        .build()
        .into();
    for probe in with_capture_sources(all, &sources) {
        let answer = send(&agent, app, probe, &captured)?;
        captured.extend(super::template::capture(
            &probe.name,
            &probe.capture,
            &answer.body,
        )?);
    }
    Ok(captured)
}

fn request(
    session: &Session<'_>,
    app: &mut RunningApp,
    probe: &Probe,
    source: &CountSource,
    captured: &BTreeMap<String, String>,
) -> Result<RequestCount, ProbeError> {
    let Session {
        agent,
        proxy,
        loaded,
        kind,
        database_url,
    } = *session;
    let endpoint = format!("{} {}", probe.method.to_uppercase(), probe.path);
    if let Some(proxy) = proxy {
        check_faults(&proxy.drain().faults, database_url)?; // nothing before the request belongs to it
    }
    let Answer {
        status,
        headers,
        body,
        finished,
    } = send(agent, app, probe, captured)?;
    let header_values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    let count_header = match source {
        CountSource::Header(name) => Some((name.clone(), header_values(name))),
        _ => None,
    };
    let server_timing = header_values("server-timing");
    let statement_lines = header_values(counting::STATEMENT_HEADER);
    let excluded_classes = &loaded.config.probes.exclude;
    let is_excluded = |class: StatementClass| excluded_classes.iter().any(|c| c == class.as_str());
    let sql_dialect = dialect(kind);
    let mut count = RequestCount {
        status,
        captured: super::template::capture(&probe.name, &probe.capture, &body)?,
        ..RequestCount::default()
    };
    match source {
        CountSource::Proxy => {
            let proxy = proxy.expect("proxy counting starts the proxy");
            wait_quiet(proxy, loaded.config.probes.quiet_period.0, finished);
            let activity = proxy.drain();
            check_faults(&activity.faults, database_url)?;
            count.round_trips = activity.round_trips();
            count.transactions = activity.transactions();
            for event in &activity.statements {
                let print = fingerprint::fingerprint(&event.sql, sql_dialect);
                count.rows += event.rows.unwrap_or(0);
                if is_excluded(print.class) {
                    add(&mut count.excluded, print.strict, print.readable, 1);
                } else {
                    count.total += 1;
                    add(&mut count.statements, print.strict, print.readable, 1);
                }
            }
        }
        CountSource::Header(name) => {
            let values = count_header.map(|(_, v)| v).unwrap_or_default();
            let value = values
                .first()
                .ok_or_else(|| ProbeError::MissingCountHeader {
                    endpoint: endpoint.clone(),
                    header: name.clone(),
                })?;
            count.total =
                counting::parse_count_header(value).ok_or_else(|| ProbeError::BadCountHeader {
                    endpoint: endpoint.clone(),
                    header: name.clone(),
                    value: value.clone(),
                })?;
        }
        CountSource::ServerTiming => {
            count.total = counting::parse_server_timing(server_timing.iter().map(String::as_str))
                .ok_or_else(|| ProbeError::MissingCountHeader {
                endpoint: endpoint.clone(),
                header: "Server-Timing (db)".into(),
            })?;
        }
    }
    if *source != CountSource::Proxy {
        for line in &statement_lines {
            if let Some((n, sql)) = counting::parse_statement_header(line) {
                let print = fingerprint::fingerprint(sql, sql_dialect);
                if is_excluded(print.class) {
                    add(&mut count.excluded, print.strict, print.readable, n);
                } else {
                    add(&mut count.statements, print.strict, print.readable, n);
                }
            }
        }
    }
    app.check_alive(&format!("after {}", probe.name))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_url_keeps_credentials_path_and_query() {
        let proxy: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        assert_eq!(
            proxied_url(
                "postgres://postgres:secret@db.example:5432/shop?sslmode=disable",
                proxy
            )
            .unwrap(),
            "postgres://postgres:secret@127.0.0.1:40000/shop?sslmode=disable"
        );
        assert_eq!(
            proxied_url("mysql://root@localhost/app", proxy).unwrap(),
            "mysql://root@127.0.0.1:40000/app"
        );
    }
}
