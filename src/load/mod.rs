//! Load probes (`[[load]]`): each endpoint under concurrent clients or a fixed
//! request rate, the base build against the head build of the app, started
//! alternately (an app with a fixed `[app].url` cannot run twice at once)
//! round after round, A B then B A. Both builds run against one database
//! (filled once by `[database].setup`, at the largest `[probes].scales`)
//! through one counting proxy, which adds up statements, database time and
//! rows per request. The verdict rules are in [`crate::compare::load`].

pub mod generate;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use hyper::body::Bytes;

use crate::compare::load::{LoadRounds, RoundSide};
use crate::config::{DatabaseKind, Load, LoadedConfig};
use crate::probe::ProbeError;
use crate::probe::app::RunningApp;
use crate::probe::database::FreshDatabase;
use crate::probe::proxy::{CountingProxy, DbKind};
use crate::progress::Progress;

/// One build of the app: where to start it, with what environment.
pub struct Side<'a> {
    /// `merge-base 1a2b3c4d of HEAD and main`, `HEAD 5e6f7a8b`.
    pub label: String,
    pub dir: &'a Path,
    pub env: &'a [(String, String)],
}

/// The base or the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Base = 0,
    Head = 1,
}

impl Which {
    /// `base` or `head`.
    pub fn name(self) -> &'static str {
        match self {
            Which::Base => "base",
            Which::Head => "head",
        }
    }
}

/// The app's two builds, made before the first round.
pub trait Builds {
    /// Put `which`'s build in place to be started: where, with what environment.
    fn enter(&mut self, which: Which) -> Result<Side<'_>, ProbeError>;
}

/// How many rounds: looks from `first` to `max`, each stopping what is settled.
#[derive(Clone, Copy, Debug)]
pub struct Design {
    pub first: u32,
    pub max: u32,
    pub alpha: f64,
    pub confidence: f64,
}

/// What the rounds measured.
pub struct Measured {
    pub loads: Vec<LoadRounds>,
    /// The level each load probe was decided at.
    pub levels: BTreeMap<String, f64>,
    /// Load probes the budget stopped before they were settled.
    pub out_of_budget: Vec<String>,
}

/// The warm-up before each measured window: a fifth of it, at most 2 s.
fn warm_up(duration: Duration) -> Duration {
    (duration / 5).min(Duration::from_secs(2))
}

/// The load probes' thresholds: their own, else the gate's.
pub fn rounds_for(loads: &[&Load], gate_threshold: f64) -> Vec<LoadRounds> {
    loads
        .iter()
        .map(|load| LoadRounds {
            name: load.name.clone(),
            endpoint: load.endpoint(),
            quantile: load.quantile.fraction(),
            quantile_label: load.quantile.as_str().to_string(),
            traffic: load.describe_traffic(),
            duration: load.duration.0,
            threshold: load.threshold.map_or(gate_threshold, |t| t.0),
            rounds: Vec::new(),
        })
        .collect()
}

/// Measure `loads` paired, base build against head build, until each is
/// settled, `design.max` rounds are done, or `deadline` would pass.
pub fn measure_paired(
    loaded: &LoadedConfig,
    loads: &[&Load],
    builds: &mut dyn Builds,
    design: Design,
    deadline: Option<Instant>,
    progress: &Progress,
) -> Result<Measured, ProbeError> {
    let config = &loaded.config;
    let database = config.database.as_ref();
    let kind = database.map_or(DatabaseKind::None, |d| d.kind);
    let url = database.and_then(|d| d.url.clone());
    let fresh = match (database.and_then(|d| d.setup.as_deref()), &url) {
        (Some(setup), Some(url)) if kind != DatabaseKind::None => {
            let scale = config.probes.scales.last().copied();
            let db_kind = if kind == DatabaseKind::Mysql {
                DbKind::Mysql
            } else {
                DbKind::Postgres
            };
            progress.status(&format!(
                "setting up a fresh database for the load probes: {setup}"
            ));
            let head = builds.enter(Which::Head)?;
            Some(FreshDatabase::create(
                db_kind, url, setup, scale, head.dir, head.env,
            )?)
        }
        _ => None,
    };
    let database_url = fresh.as_ref().map(|f| f.url.clone()).or(url);
    let proxy = match &database_url {
        Some(url) if kind != DatabaseKind::None => {
            let proxy = crate::probe::runner::start_proxy(kind, url, progress)?;
            proxy.keep_statements(false);
            Some(proxy)
        }
        _ => None,
    };
    let app_database_url = match (&proxy, &database_url) {
        (Some(proxy), Some(url)) => crate::probe::runner::proxied_url(url, proxy.local_addr())?,
        (None, Some(url)) => url.clone(),
        _ => String::new(),
    };
    let mut all = rounds_for(loads, config.gate.threshold.0);
    let mut sequential = Sequential::new(design);
    let mut open: BTreeSet<String> = all.iter().map(|l| l.name.clone()).collect();
    let mut out_of_budget = Vec::new();
    let mut round_cost: Option<Duration> = None;
    for round in 1..=design.max.max(1) {
        if let (Some(deadline), Some(cost)) = (deadline, round_cost)
            && Instant::now() + cost > deadline
        {
            out_of_budget.extend(open.iter().cloned());
            break;
        }
        let started = Instant::now();
        let order = if round % 2 == 1 {
            [Which::Base, Which::Head]
        } else {
            [Which::Head, Which::Base]
        };
        let mut measured: BTreeMap<String, [Option<RoundSide>; 2]> = BTreeMap::new();
        for which in order {
            let selected: Vec<&Load> = loads
                .iter()
                .copied()
                .filter(|l| open.contains(&l.name))
                .collect();
            let side = builds.enter(which)?;
            let windows = one_start(
                loaded,
                &selected,
                &side,
                &app_database_url,
                proxy.as_ref(),
                progress,
            )?;
            for (name, window) in windows {
                measured.entry(name).or_default()[which as usize] = Some(window);
            }
        }
        for load in &mut all {
            if let Some([Some(base), Some(head)]) = measured.remove(&load.name) {
                progress.status(&format!(
                    "round {round}: {} {} {:.2} ms at the base, {:.2} ms at head",
                    load.name,
                    load.quantile_label,
                    base.quantile_ms(load.quantile),
                    head.quantile_ms(load.quantile)
                ));
                load.rounds.push((base, head));
            }
        }
        round_cost = Some(started.elapsed());
        if !crate::compare::load::failing_everywhere(&all).is_empty() {
            break; // a probe that cannot work: more rounds would not help
        }
        if round >= design.first {
            open = sequential.look(&all, round);
        }
        if open.is_empty() {
            break;
        }
    }
    sequential.stop_all(&all);
    drop(proxy);
    drop(fresh);
    Ok(Measured {
        loads: all,
        levels: sequential.stopped,
        out_of_budget,
    })
}

/// Start one build, take the captures the load probes need, run each load
/// probe's window, stop the build.
fn one_start(
    loaded: &LoadedConfig,
    loads: &[&Load],
    side: &Side<'_>,
    database_url: &str,
    proxy: Option<&CountingProxy>,
    progress: &Progress,
) -> Result<Vec<(String, RoundSide)>, ProbeError> {
    let config = &loaded.config;
    let app_config = config.app.as_ref().ok_or(ProbeError::NoApp)?;
    progress.status(&format!("starting the application at the {}", side.label));
    let mut app = RunningApp::start(app_config, side.dir, side.env, database_url)?;
    let timeout = config.probes.request_timeout.0;
    let captured = crate::probe::runner::captures_for(
        &config.probe,
        loads.iter().flat_map(|l| l.templates()),
        &mut app,
        timeout,
    )?;
    let address = address_of(&app.base_url)?;
    let mut windows = Vec::new();
    for load in loads {
        let request = request_for(load, address, &captured)?;
        let traffic = match load.rate {
            Some(rate) => generate::Traffic::Open { rate },
            None => generate::Traffic::Closed {
                clients: load.clients.unwrap_or(crate::config::DEFAULT_LOAD_CLIENTS),
            },
        };
        let schedule = generate::Schedule {
            warm_up: warm_up(load.duration.0),
            length: load.duration.0,
            timeout,
        };
        progress.status(&format!(
            "load {}: {} for {} at the {}",
            load.endpoint(),
            load.describe_traffic(),
            humantime::format_duration(load.duration.0),
            side.label
        ));
        // The proxy's totals restart when the window opens (the warm-up's
        // statements are not the window's) and are taken when it is over.
        let window = generate::run(&request, traffic, &schedule, || {
            if let Some(proxy) = proxy {
                proxy.take_totals();
            }
        })
        .map_err(|source| ProbeError::Io {
            what: "start the load generator".into(),
            source,
        })?;
        let totals = proxy.map(CountingProxy::take_totals);
        app.check_alive(&format!("under load on {}", load.endpoint()))?;
        windows.push((
            load.name.clone(),
            RoundSide {
                latency: window.latency,
                requests: window.requests,
                errors: window.errors,
                ended: window.ended,
                error_kinds: window.error_kinds,
                length: window.length,
                statements: totals.map(|t| t.statements),
                database_time: totals.map(|t| t.database_time),
                rows: totals.map(|t| t.rows),
            },
        ));
    }
    drop(app);
    Ok(windows)
}

/// The socket address of the app's base URL (`http://127.0.0.1:8080`).
fn address_of(base_url: &str) -> Result<SocketAddr, ProbeError> {
    let bad = |why: &str| ProbeError::BadCommand {
        command: format!("[app] url {base_url:?}: {why}"),
    };
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| bad("load probes speak plain HTTP/1.1: use an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| bad("its host does not resolve"))
}

/// The load probe's request with its templates filled.
fn request_for(
    load: &Load,
    address: SocketAddr,
    captured: &BTreeMap<String, String>,
) -> Result<generate::Request, ProbeError> {
    let fill = |text: &str| crate::probe::template::fill(text, captured, &load.name);
    let bad = |message: String| ProbeError::BadRequest {
        probe: load.name.clone(),
        message,
    };
    let method = hyper::Method::from_bytes(load.method.to_uppercase().as_bytes())
        .map_err(|_| bad(format!("method {:?} is not an HTTP method", load.method)))?;
    let target = fill(&load.path)?;
    target.parse::<hyper::Uri>().map_err(|e| {
        bad(format!(
            "path {target:?} is not a valid request target: {e}"
        ))
    })?;
    let mut headers = Vec::new();
    for (name, value) in &load.headers {
        let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(format!("header name {name:?} is not valid")))?;
        let value = hyper::header::HeaderValue::from_str(&fill(value)?).map_err(|_| {
            bad(format!(
                "header {name} has a value that is not valid in HTTP"
            ))
        })?;
        headers.push((name, value));
    }
    let has_content_type = headers
        .iter()
        .any(|(name, _)| name == hyper::header::CONTENT_TYPE);
    let body = load.body.as_deref().map(fill).transpose()?;
    if body.is_some() && !has_content_type {
        headers.push((
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        ));
    }
    Ok(generate::Request {
        address,
        method,
        target,
        headers,
        body: Bytes::from(body.unwrap_or_default()),
        expect_status: load.expect_status,
    })
}

/// The sequential design over the load probes: after `first` rounds and
/// every round after, each open probe stops once settled at that look's level
/// ([`crate::stats::sequential_levels`], O'Brien-Fleming spending).
struct Sequential {
    first: u32,
    levels: Vec<f64>,
    last_level: f64,
    confidence: f64,
    stopped: BTreeMap<String, f64>,
}

impl Sequential {
    fn new(design: Design) -> Sequential {
        let max = design.max.max(1);
        let first = design.first.clamp(1, max);
        let looks: Vec<u32> = (first..=max).collect();
        let levels = crate::stats::sequential_levels(&looks, max, design.alpha);
        Sequential {
            first,
            last_level: levels.first().copied().unwrap_or(design.alpha),
            levels,
            confidence: design.confidence,
            stopped: BTreeMap::new(),
        }
    }

    /// Look after `rounds` rounds; the probes still open.
    fn look(&mut self, loads: &[LoadRounds], rounds: u32) -> BTreeSet<String> {
        let index = (rounds.saturating_sub(self.first) as usize).min(self.levels.len() - 1);
        let level = self.levels[index];
        self.last_level = level;
        let last = index == self.levels.len() - 1;
        let changes = crate::compare::load::changes(loads, self.confidence);
        let mut open = BTreeSet::new();
        for load in loads {
            if self.stopped.contains_key(&load.name) {
                continue;
            }
            if last || crate::compare::load::settled(load, changes.get(&load.name), level) {
                self.stopped.insert(load.name.clone(), level);
            } else {
                open.insert(load.name.clone());
            }
        }
        open
    }

    fn stop_all(&mut self, loads: &[LoadRounds]) {
        for load in loads {
            self.stopped
                .entry(load.name.clone())
                .or_insert(self.last_level);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_app_urls() {
        assert_eq!(
            address_of("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            address_of("http://127.0.0.1:9000/api").unwrap(),
            "127.0.0.1:9000".parse().unwrap()
        );
        assert!(address_of("https://127.0.0.1:8443").is_err());
    }

    #[test]
    fn warm_up_is_a_fifth_up_to_two_seconds() {
        assert_eq!(warm_up(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(warm_up(Duration::from_secs(60)), Duration::from_secs(2));
    }
}
