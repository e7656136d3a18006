//! `perfguard.toml`: the gate's configuration, loaded with serde and toml.
//! Unknown keys, wrong types, bad durations and bad percentages are errors that
//! name the file, line, column and key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

pub mod tighten;

/// A practical threshold such as `"5%"`, stored as a fraction (0.05).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percent(pub f64);

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_percent(&text)
            .map(Percent)
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", (self.0 * 1000.0).round() / 10.0)
    }
}

/// Parse `"5%"` or `"2.5%"` into 0.05 / 0.025.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').ok_or_else(|| {
        format!("invalid percentage {text:?}: write it with a % sign, e.g. \"5%\"")
    })?;
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("invalid percentage {text:?}: expected a number before %, e.g. \"5%\"")
    })?;
    if !value.is_finite() || !(0.0..1000.0).contains(&value) {
        return Err(format!(
            "invalid percentage {text:?}: must be between 0% and 1000%"
        ));
    }
    Ok(value / 100.0)
}

/// A duration such as `"90s"` or `"250ms"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "invalid duration {text:?} ({e}); write e.g. \"90s\" or \"250ms\""
                ))
            })
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub gate: Gate,
    #[serde(default)]
    pub bench: Vec<BenchSuite>,
    pub app: Option<App>,
    pub database: Option<Database>,
    #[serde(default)]
    pub probes: ProbeSettings,
    #[serde(default)]
    pub probe: Vec<Probe>,
    /// Load probes: one endpoint's latency under concurrent clients, base
    /// build against head build (see `crate::load`).
    #[serde(default)]
    pub load: Vec<Load>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Gate {
    /// Baselines folder, relative to the directory of perfguard.toml.
    pub baselines: PathBuf,
    /// The ref baselines and paired runs come from.
    pub base_ref: String,
    /// Smallest slowdown the gate must catch (see `compare::timing::classify`).
    pub threshold: Percent,
    /// Family-wise false-alarm rate across the compared benchmarks.
    pub alpha: f64,
    /// Expected run-to-run noise of a benchmark on this machine, used when the
    /// baseline holds few runs (see docs/statistics.md).
    pub noise: Percent,
    /// Wall time a check may take; paired rounds stop when it runs out.
    pub budget: Option<HumanDuration>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            baselines: PathBuf::from("baselines"),
            base_ref: "origin/main".to_string(),
            threshold: Percent(0.05),
            alpha: 0.05,
            noise: Percent(0.02),
            budget: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BenchSuite {
    pub name: String,
    pub command: String,
    pub threshold: Option<Percent>,
    /// Let criterion draw its plots (off by default: they cost a third of the run).
    #[serde(default)]
    pub plots: bool,
    /// Extra environment for the bench command.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `time` (criterion's samples) or `instructions` (counted under callgrind).
    #[serde(default)]
    pub measure: crate::results::Measure,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Runs before the app starts, not counted against `startup_timeout`.
    pub build: Option<String>,
    pub command: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Base URL of the app; `{port}` picks a free port per start.
    #[serde(default = "default_app_url")]
    pub url: String,
    /// A URL, or a path under `url`, that answers 2xx once the app is ready.
    pub ready: String,
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: HumanDuration,
}

fn default_app_url() -> String {
    "http://127.0.0.1:{port}".to_string()
}

fn default_startup_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(90))
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    Postgres,
    Mysql,
    None,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub kind: DatabaseKind,
    pub url: Option<String>,
    /// Fills a fresh database per check (and per scale): `{database_url}`, `{scale}`.
    pub setup: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSettings {
    /// Measured repeats after the warm-up request.
    pub repeat: u32,
    /// How long the database connection must be silent before a request is over.
    pub quiet_period: HumanDuration,
    /// Statement classes left out of the count (still reported): `transaction`, `set`, `ping`.
    pub exclude: Vec<String>,
    /// Timeout of one HTTP request.
    pub request_timeout: HumanDuration,
    /// Data scales `[database].setup` runs at; every probe is measured at each.
    pub scales: Vec<u64>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            repeat: 3,
            quiet_period: HumanDuration(Duration::from_millis(100)),
            exclude: vec!["transaction".into(), "set".into(), "ping".into()],
            request_timeout: HumanDuration(Duration::from_secs(30)),
            scales: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    /// Request body (sent as JSON unless a content-type header says otherwise).
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub max_queries: Option<u64>,
    /// Statements a probe may grow by before it counts as a regression.
    #[serde(default)]
    pub allow: u64,
    #[serde(default = "default_count")]
    pub count: String,
    /// Expected HTTP status; default: any 2xx.
    pub expect_status: Option<u16>,
    /// Values read from this probe's JSON response (name -> JSON pointer),
    /// usable as `{name}` in later probes.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
}

impl Probe {
    /// The texts a probe's templates may appear in: path, header values, body.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str())
            .chain(self.headers.values().map(String::as_str))
            .chain(self.body.as_deref())
    }
}

/// The latency quantile a load probe's verdict is on.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Quantile {
    P50,
    P90,
    P95,
    P99,
}

impl Quantile {
    /// As a fraction: 0.95 for p95.
    pub fn fraction(self) -> f64 {
        match self {
            Quantile::P50 => 0.50,
            Quantile::P90 => 0.90,
            Quantile::P95 => 0.95,
            Quantile::P99 => 0.99,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Quantile::P50 => "p50",
            Quantile::P90 => "p90",
            Quantile::P95 => "p95",
            Quantile::P99 => "p99",
        }
    }
}

/// A load probe: one request sent by concurrent clients (closed loop) or at a
/// fixed rate (open loop) for `duration` per round, base build against head
/// build, decided on a latency quantile.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Closed loop: this many clients, each sending its next request on reply.
    pub clients: Option<u32>,
    /// Open loop: requests per second, latency from each request's intended send time.
    pub rate: Option<f64>,
    /// Measured time per round and side (after a warm-up of a fifth of it, at most 2 s).
    #[serde(default = "default_load_duration")]
    pub duration: HumanDuration,
    /// Default: the gate's threshold.
    pub threshold: Option<Percent>,
    #[serde(default = "default_quantile")]
    pub quantile: Quantile,
    /// Expected HTTP status; default: any 2xx. Any other answer is an error.
    pub expect_status: Option<u16>,
}

/// Clients of a load probe that sets neither `clients` nor `rate`.
pub const DEFAULT_LOAD_CLIENTS: u32 = 8;

impl Load {
    /// The texts a load probe's templates may appear in: path, header values, body.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str())
            .chain(self.headers.values().map(String::as_str))
            .chain(self.body.as_deref())
    }

    /// `GET /products/42/recommendations`
    pub fn endpoint(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// `8 clients` or `200 requests/s`.
    pub fn describe_traffic(&self) -> String {
        match self.rate {
            Some(rate) => format!("{rate} requests/s"),
            None => format!("{} clients", self.clients.unwrap_or(DEFAULT_LOAD_CLIENTS)),
        }
    }
}

fn default_load_duration() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_quantile() -> Quantile {
    Quantile::P95
}

fn default_method() -> String {
    "GET".to_string()
}

fn default_count() -> String {
    "proxy".to_string()
}

/// A loaded configuration and where it came from.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    /// Directory of the config file: commands run here, `baselines` is relative to it.
    pub root: PathBuf,
}

impl LoadedConfig {
    pub fn baselines_dir(&self) -> PathBuf {
        self.root.join(&self.config.gate.baselines)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: cannot read the configuration: {source}; create one with `perfguard init` or pass --config PATH"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Line and column (1-based) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, column)
}

/// Parse configuration text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .unwrap_or((1, 1));
        let key = e
            .span()
            .map(|s| text[s].trim().to_string())
            .unwrap_or_default();
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: describe_toml_error(e.message(), &key),
        }
    })?;
    validate(path, &config)?;
    Ok(config)
}

/// Turn toml's message into one that names the key and suggests a fix.
fn describe_toml_error(message: &str, key: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest
            .split("expected")
            .nth(1)
            .unwrap_or("")
            .split('`')
            .skip(1)
            .step_by(2)
            .collect();
        let suggestion = expected
            .iter()
            .map(|candidate| (strsim::levenshtein(field, candidate), *candidate))
            .filter(|(distance, _)| *distance <= 2)
            .min()
            .map(|(_, candidate)| format!(" (did you mean {candidate:?}?)"))
            .unwrap_or_default();
        return format!(
            "unknown key {field:?}{suggestion}; valid keys here: {}",
            if expected.is_empty() {
                "none".to_string()
            } else {
                expected.join(", ")
            }
        );
    }
    if key.is_empty() {
        message.to_string()
    } else {
        format!("{message} (at `{key}`)")
    }
}

fn validate(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut seen = std::collections::BTreeSet::new();
    for suite in &config.bench {
        if suite.name.is_empty() || suite.name.contains(['/', '\\']) || suite.name == "probes" {
            return Err(invalid(format!(
                "[[bench]] name {:?} cannot be a file name under baselines/; use letters, digits, - and _",
                suite.name
            )));
        }
        if !seen.insert(suite.name.clone()) {
            return Err(invalid(format!(
                "[[bench]] name {:?} is used twice; suite names must be unique",
                suite.name
            )));
        }
        if shell_words::split(&suite.command)
            .map(|w| w.is_empty())
            .unwrap_or(true)
        {
            return Err(invalid(format!(
                "[[bench]] {:?}: command {:?} is empty or has unbalanced quotes",
                suite.name, suite.command
            )));
        }
    }
    if !(config.gate.alpha > 0.0 && config.gate.alpha < 1.0) {
        return Err(invalid(format!(
            "[gate] alpha = {} must be between 0 and 1 (e.g. 0.05)",
            config.gate.alpha
        )));
    }
    let mut probe_names = std::collections::BTreeSet::new();
    let mut captured = std::collections::BTreeSet::new();
    for probe in &config.probe {
        if !probe_names.insert(probe.name.clone()) {
            return Err(invalid(format!(
                "[[probe]] name {:?} is used twice; probe names must be unique",
                probe.name
            )));
        }
        if !probe.path.starts_with('/') {
            return Err(invalid(format!(
                "[[probe]] {:?}: path {:?} must start with /",
                probe.name, probe.path
            )));
        }
        for (name, pointer) in &probe.capture {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(invalid(format!(
                    "[[probe]] {:?}: capture {name} = {pointer:?} is not a JSON pointer; write it like \"/token\" or \"/data/0/id\"",
                    probe.name
                )));
            }
        }
        for text in probe.templates() {
            for reference in crate::probe::template::references(text) {
                if let crate::probe::template::Reference::Captured(name) = reference
                    && !captured.contains(&name)
                {
                    return Err(invalid(format!(
                        "[[probe]] {:?}: {{{name}}} is not captured by an earlier probe; add `capture = {{ {name} = \"/json/pointer\" }}` to a probe above it (probes run in file order), or use {{env:NAME}} for an environment variable",
                        probe.name
                    )));
                }
            }
        }
        captured.extend(probe.capture.keys().cloned());
        if probe.count != "proxy"
            && probe.count != "server-timing"
            && !probe.count.starts_with("header:")
        {
            return Err(invalid(format!(
                "[[probe]] {:?}: count = {:?} is not one of \"proxy\", \"header:NAME\", \"server-timing\"",
                probe.name, probe.count
            )));
        }
    }
    validate_loads(config).map_err(invalid)?;
    if let Some(app) = &config.app
        && let Err(message) = app_url_port(&app.url)
    {
        return Err(invalid(format!("[app] url = {:?}: {message}", app.url)));
    }
    if !config.probe.is_empty() && config.app.is_none() {
        return Err(invalid(
            "[[probe]] entries need an [app] section saying how to start the application"
                .to_string(),
        ));
    }
    let needs_proxy = config.probe.iter().any(|p| p.count == "proxy");
    let kind = config
        .database
        .as_ref()
        .map(|d| d.kind)
        .unwrap_or(DatabaseKind::None);
    let has_server = kind != DatabaseKind::None
        && config
            .database
            .as_ref()
            .and_then(|d| d.url.as_ref())
            .is_some();
    if needs_proxy && !has_server {
        return Err(invalid(
            "probes with count = \"proxy\" need [database] kind = \"postgres\" or \"mysql\" and a url; use count = \"header:NAME\" when there is no database to watch".to_string(),
        ));
    }
    let setup = config.database.as_ref().and_then(|d| d.setup.as_ref());
    if setup.is_some() && !has_server {
        return Err(invalid(
            "[database] setup needs kind = \"postgres\" or \"mysql\" and a url: fresh databases are created on that server".to_string(),
        ));
    }
    let scales = &config.probes.scales;
    if !scales.is_empty() {
        if setup.is_none() {
            return Err(invalid(
                "[probes] scales need [database] setup: it is what fills a fresh database at each scale (use {scale} in it)".to_string(),
            ));
        }
        if scales.len() < 2 || scales.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "[probes] scales = {scales:?}: give at least two scales, smallest first, e.g. [10, 40]"
            )));
        }
    }
    for class in &config.probes.exclude {
        if !["transaction", "set", "ping"].contains(&class.as_str()) {
            return Err(invalid(format!(
                "[probes] exclude: unknown class {class:?}; use \"transaction\", \"set\" or \"ping\""
            )));
        }
    }
    Ok(())
}

/// The port of `[app].url`: `None` when it is `{port}` (a free port per start),
/// else the fixed port (80 when the URL names none).
pub fn app_url_port(url: &str) -> Result<Option<u16>, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        "must be an http:// URL such as \"http://127.0.0.1:8080\" (perfguard talks plain HTTP to the app)"
            .to_string()
    })?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("names no host; write e.g. \"http://127.0.0.1:8080\"".to_string());
    }
    match authority.rsplit_once(':') {
        Some((_, "{port}")) => Ok(None),
        Some((_, port)) if !port.ends_with(']') => port.parse().map(Some).map_err(|_| {
            format!("port {port:?} is not a number; write a number or {{port}} for a free port")
        }),
        _ => Ok(Some(80)),
    }
}

/// `[[load]]` entries: unique names (apart from probes too: both are ids in
/// one report), a path, clients or rate, sane numbers, templates that an
/// earlier `[[probe]]` captures.
fn validate_loads(config: &Config) -> Result<(), String> {
    if !config.load.is_empty() && config.app.is_none() {
        return Err(
            "[[load]] entries need an [app] section saying how to start the application".into(),
        );
    }
    let captured: std::collections::BTreeSet<&String> =
        config.probe.iter().flat_map(|p| p.capture.keys()).collect();
    let mut names = std::collections::BTreeSet::new();
    for load in &config.load {
        let name = &load.name;
        if !names.insert(name.clone()) || config.probe.iter().any(|p| &p.name == name) {
            return Err(format!(
                "[[load]] name {name:?} is used twice (probe and load names share one report); give it a name of its own"
            ));
        }
        if !load.path.starts_with('/') {
            return Err(format!(
                "[[load]] {name:?}: path {:?} must start with /",
                load.path
            ));
        }
        match (load.clients, load.rate) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "[[load]] {name:?}: set clients (closed loop) or rate (open loop), not both"
                ));
            }
            (Some(clients), None) if !(1..=1024).contains(&clients) => {
                return Err(format!(
                    "[[load]] {name:?}: clients = {clients} must be between 1 and 1024"
                ));
            }
            (None, Some(rate)) if !(rate.is_finite() && rate > 0.0 && rate <= 100_000.0) => {
                return Err(format!(
                    "[[load]] {name:?}: rate = {rate} must be a number of requests per second between 0 and 100000"
                ));
            }
            _ => {}
        }
        if load.duration.0 < Duration::from_millis(500) {
            return Err(format!(
                "[[load]] {name:?}: duration = {:?} is too short to measure a latency quantile; use at least \"1s\" (\"10s\" is the default)",
                humantime::format_duration(load.duration.0).to_string()
            ));
        }
        if load.threshold.is_some_and(|t| t.0 <= 0.0) {
            return Err(format!(
                "[[load]] {name:?}: threshold must be above 0%, e.g. \"10%\""
            ));
        }
        for text in load.templates() {
            for reference in crate::probe::template::references(text) {
                if let crate::probe::template::Reference::Captured(var) = reference
                    && !captured.contains(&var)
                {
                    return Err(format!(
                        "[[load]] {name:?}: {{{var}}} is not captured by any [[probe]]; add `capture = {{ {var} = \"/json/pointer\" }}` to the probe whose response holds it, or use {{env:NAME}} for an environment variable"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Load `perfguard.toml` from a path.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let config = parse(path, &text)?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let root = absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(LoadedConfig {
        config,
        path: path.to_path_buf(),
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse(Path::new("perfguard.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_apply() {
        let config = parse(
            Path::new("p.toml"),
            "[[bench]]\nname = \"core\"\ncommand = \"cargo bench\"\n",
        )
        .unwrap();
        assert_eq!(config.gate.threshold, Percent(0.05));
        assert_eq!(config.gate.base_ref, "origin/main");
        assert_eq!(config.bench[0].name, "core");
    }

    #[test]
    fn load_probes_are_checked() {
        const APP: &str = "[app]\ncommand = \"shop\"\nready = \"/health\"\n";
        let load = |body: &str| format!("{APP}[[load]]\nname = \"l\"\npath = \"/x\"\n{body}");
        let config = parse(Path::new("perfguard.toml"), &load("")).unwrap();
        let only = &config.load[0];
        assert_eq!(only.quantile, Quantile::P95);
        assert_eq!(only.duration.0, Duration::from_secs(10));
        assert_eq!(only.describe_traffic(), "8 clients");
        assert!(parse_err(&load("clients = 8\nrate = 100.0")).contains("not both"));
        assert!(parse_err(&load("clients = 0")).contains("between 1 and 1024"));
        assert!(parse_err(&load("rate = -1.0")).contains("requests per second"));
        assert!(parse_err(&load("duration = \"100ms\"")).contains("too short"));
        assert!(parse_err(&load("quantile = \"p42\"")).contains("p42"));
        assert!(
            parse_err(&load("headers = { authorization = \"Bearer {token}\" }"))
                .contains("{token} is not captured")
        );
        let twice = format!(
            "{APP}[[probe]]\nname = \"l\"\npath = \"/\"\ncount = \"header:X\"\n[[load]]\nname = \"l\"\npath = \"/x\"\n"
        );
        assert!(parse_err(&twice).contains("used twice"));
        assert!(
            parse_err("[[load]]\nname = \"l\"\npath = \"/x\"\n").contains("need an [app] section")
        );
    }

    #[test]
    fn unknown_key_names_line_column_and_suggests() {
        let message = parse_err("[gate]\ntreshold = \"5%\"\n");
        assert!(
            message.starts_with("perfguard.toml:2:1: unknown key \"treshold\""),
            "{message}"
        );
        assert!(message.contains("did you mean \"threshold\""), "{message}");
    }

    #[test]
    fn bad_percentage_names_the_value() {
        let message = parse_err("[gate]\nthreshold = \"five\"\n");
        assert!(message.starts_with("perfguard.toml:2:13:"), "{message}");
        assert!(message.contains("invalid percentage \"five\""), "{message}");
    }

    #[test]
    fn bad_duration_names_the_value() {
        let message =
            parse_err("[app]\ncommand = \"x\"\nready = \"http://x\"\nstartup_timeout = \"soon\"\n");
        assert!(message.contains(":4:"), "{message}");
        assert!(message.contains("invalid duration \"soon\""), "{message}");
    }

    #[test]
    fn wrong_type_is_reported() {
        let message = parse_err("[[bench]]\nname = 3\ncommand = \"x\"\n");
        assert!(message.starts_with("perfguard.toml:2:8:"), "{message}");
    }

    #[test]
    fn app_urls() {
        assert_eq!(app_url_port("http://127.0.0.1:{port}"), Ok(None));
        assert_eq!(app_url_port("http://127.0.0.1:8080/api"), Ok(Some(8080)));
        assert_eq!(app_url_port("http://localhost"), Ok(Some(80)));
        assert!(app_url_port("https://x:1").is_err());
        let message = parse_err(
            "[app]\ncommand = \"x\"\nurl = \"http://127.0.0.1:eighty\"\nready = \"/health\"\n",
        );
        assert!(message.contains("[app] url"), "{message}");
        assert!(message.contains("\"eighty\" is not a number"), "{message}");
    }

    #[test]
    fn percent_parsing() {
        assert_eq!(parse_percent("5%").unwrap(), 0.05);
        assert_eq!(parse_percent(" 2.5 %").unwrap(), 0.025);
        assert!(parse_percent("5").is_err());
        assert!(parse_percent("-1%").is_err());
    }
}
