//! The measurement model: what one run of perfguard measured (`perfguard.results.v1`)
//! and what a baseline file holds (`perfguard.baseline.v1`). Every stage reads and
//! writes these plain types; they serialize to pretty, key-sorted JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const RESULTS_SCHEMA: &str = "perfguard.results.v1";
pub const BASELINE_SCHEMA: &str = "perfguard.baseline.v1";

/// Version of the SQL fingerprint algorithm ([`crate::probe::fingerprint`])
/// that grouped a file's probe counts; stored in every results and baseline
/// file so counts grouped differently are never compared silently.
pub const FINGERPRINT_VERSION: u32 = 1;

/// The commit a measurement was taken at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// Full commit id, `None` outside a git repository.
    pub commit: Option<String>,
    /// Branch name, `None` on a detached HEAD or outside git.
    pub branch: Option<String>,
    /// Whether the working tree had uncommitted changes.
    pub dirty: bool,
}

/// The machine a measurement was taken on, so timings from different kinds of
/// machines are never silently compared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub os: String,
    pub rustc: String,
}

impl Machine {
    /// Same kind of machine: CPU model, core count and OS agree.
    pub fn same_kind(&self, other: &Machine) -> bool {
        self.cpu_model == other.cpu_model && self.cores == other.cores && self.os == other.os
    }
}

/// What a `[[bench]]` suite measures: wall time (criterion's samples) or
/// instructions counted under callgrind ([`crate::bench::callgrind`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    #[default]
    Time,
    Instructions,
}

impl Measure {
    pub fn is_time(&self) -> bool {
        *self == Measure::Time
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Time => "time",
            Measure::Instructions => "instructions",
        }
    }
}

/// One benchmark's counts per iteration of its measured routine, from one
/// instrumented run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstructionCounts {
    /// Instructions executed per iteration.
    pub instructions: f64,
    /// Estimated cycles per iteration: L1 hits + 5 x last-level hits + 35 x
    /// memory accesses, from callgrind's cache simulation.
    pub estimated_cycles: f64,
}

/// One criterion run of one benchmark: its per-iteration sample times, or,
/// measured by instructions, its counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRun {
    /// `times[i] / iters[i]` for every criterion sample, in nanoseconds
    /// (empty for a run measured by instructions: its times are valgrind's).
    pub per_iteration_ns: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<InstructionCounts>,
}

impl BenchRun {
    pub fn timed(per_iteration_ns: Vec<f64>) -> BenchRun {
        BenchRun {
            per_iteration_ns,
            counts: None,
        }
    }
}

/// A benchmark's measurements: one or more runs (a baseline may hold several
/// recorded runs so that run-to-run variance is known).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The `[[bench]]` suite that produced it.
    pub suite: String,
    /// Absent in files of timings; runs of the two measures never mix.
    #[serde(default, skip_serializing_if = "Measure::is_time")]
    pub measure: Measure,
    pub runs: Vec<BenchRun>,
}

/// How a probe's statements were counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountSource {
    Proxy,
    Header(String),
    ServerTiming,
}

/// Statements of one fingerprint seen during a probe request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintCount {
    /// The short form for reports, e.g. `SELECT ... FROM products WHERE id = ?`.
    pub readable: String,
    pub count: u64,
}

/// What one probe (one HTTP endpoint) did to the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// `METHOD /path` as configured, e.g. `GET /products/42/recommendations`.
    pub endpoint: String,
    pub status: u16,
    pub count_source: CountSource,
    /// Counted statements (exclusions not included).
    pub total_statements: u64,
    /// Counted statements per strict fingerprint.
    #[serde(default)]
    pub statements: BTreeMap<String, FingerprintCount>,
    /// Excluded statements (transaction control, SET/SHOW, pool pings) per strict fingerprint.
    #[serde(default)]
    pub excluded: BTreeMap<String, FingerprintCount>,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub round_trips: u64,
    #[serde(default)]
    pub transactions: u64,
    /// Total counted statements of each repeat, in order.
    #[serde(default)]
    pub repeat_totals: Vec<u64>,
    /// Strict fingerprints whose count differed between repeats (empty when stable).
    #[serde(default)]
    pub unstable: Vec<String>,
    /// The probe's absolute budget (`max_queries`) when it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_queries: Option<u64>,
    /// Statements the probe may grow by (`allow`) when it was measured.
    #[serde(default)]
    pub allow: u64,
    /// Counts at each `[probes] scales` entry, smallest first (empty without
    /// scales); the fields above are the largest scale's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scales: Vec<ScaleCount>,
}

/// A probe's counts on a fresh database set up at one scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleCount {
    pub scale: u64,
    pub total: u64,
    /// Counted statements per strict fingerprint.
    pub statements: BTreeMap<String, u64>,
}

/// Everything one `perfguard run` measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub schema: String,
    pub revision: Revision,
    pub machine: Machine,
    /// Version of the SQL fingerprint algorithm the probe counts were grouped with.
    pub fingerprint_version: u32,
    #[serde(default)]
    pub benches: BTreeMap<String, BenchResult>,
    #[serde(default)]
    pub probes: BTreeMap<String, ProbeResult>,
    /// The `--shard K/N` this file measured; absent when it measured
    /// everything it selected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOf>,
}

/// Which shard a results file holds, and what the whole set must cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardOf {
    /// `K` of `--shard K/N` (1-based).
    pub index: usize,
    /// `N` of `--shard K/N`.
    pub count: usize,
    /// Every suite and probe the configuration selects across all shards,
    /// by name: a merged set must hold every shard of them.
    pub selected: Vec<String>,
}

impl Results {
    pub fn new(revision: Revision, machine: Machine) -> Results {
        Results {
            schema: RESULTS_SCHEMA.to_string(),
            revision,
            machine,
            fingerprint_version: FINGERPRINT_VERSION,
            benches: BTreeMap::new(),
            probes: BTreeMap::new(),
            shard: None,
        }
    }
}

/// The runs of a paired measurement (base and head alternated in one job),
/// round by round.
#[derive(Clone, Debug, Default)]
pub struct PairedRuns {
    /// `(base, head)` runs of every benchmark, one pair of maps per round.
    pub rounds: Vec<(BTreeMap<String, BenchRun>, BTreeMap<String, BenchRun>)>,
    /// The suite of each benchmark id.
    pub suites: BTreeMap<String, String>,
}

/// Whether a baseline file holds a bench suite or the probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineKind {
    Bench,
    Probes,
}

/// One file under `baselines/`: `<suite>.json` or `probes.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFile {
    pub schema: String,
    pub kind: BaselineKind,
    /// The suite name for `kind = "bench"`, `probes` otherwise.
    pub suite: String,
    pub revision: Revision,
    pub machine: Machine,
    pub fingerprint_version: u32,
    #[serde(default)]
    pub benches: BTreeMap<String, BenchResult>,
    #[serde(default)]
    pub probes: BTreeMap<String, ProbeResult>,
}

/// Errors reading or writing results and baselines.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}:{column}: not a valid perfguard file: {message}; re-record it with `perfguard baseline record` or `perfguard run`"
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{path}: schema {found:?} is not supported by this perfguard (it reads {expected:?}); upgrade perfguard or re-record the file"
    )]
    Schema {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Serialize to pretty JSON with sorted keys (maps are BTreeMaps, structs have a
/// fixed field order) and a trailing newline, so diffs of baselines read well.
pub fn to_pretty_json<T: Serialize>(value: &T) -> String {
    let value = serde_json::to_value(value).expect("perfguard types always serialize");
    let mut text =
        serde_json::to_string_pretty(&sort_keys(value)).expect("a JSON value always serializes");
    text.push('\n');
    text
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

/// Write a file atomically: a temporary file in the same directory, then rename,
/// so a reader never sees a half-written baseline.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), FileError> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let write_err = |source| FileError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    tmp.write_all(contents.as_bytes()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// Parse a JSON document carrying `schema`, checking the schema before the body
/// so a newer file gives a clear error rather than a confusing field error.
pub fn parse_versioned<T: for<'de> Deserialize<'de>>(
    path: &Path,
    text: &str,
    expected: &str,
) -> Result<T, FileError> {
    let malformed = |e: serde_json::Error| FileError::Malformed {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(found) if found == expected => {}
        Some(found) => {
            return Err(FileError::Schema {
                path: path.to_path_buf(),
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        None => {
            return Err(FileError::Invalid {
                path: path.to_path_buf(),
                message: format!("no \"schema\" field; expected a {expected} document"),
            });
        }
    }
    // Re-parse from text so errors carry line and column.
    serde_json::from_str(text).map_err(malformed)
}

pub fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Check the measurements are usable: finite, positive times, enough samples.
pub fn validate_benches(
    path: &Path,
    benches: &BTreeMap<String, BenchResult>,
) -> Result<(), FileError> {
    for (id, bench) in benches {
        if bench.runs.is_empty() {
            return Err(FileError::Invalid {
                path: path.to_path_buf(),
                message: format!("benchmark {id:?} has no runs; re-record it"),
            });
        }
        if bench.measure == Measure::Instructions {
            for run in &bench.runs {
                let valid = |v: f64| v.is_finite() && v >= 0.0;
                match run.counts {
                    Some(c) if valid(c.instructions) && valid(c.estimated_cycles) => {}
                    Some(c) => {
                        return Err(FileError::Invalid {
                            path: path.to_path_buf(),
                            message: format!(
                                "benchmark {id:?} has invalid counts ({} instructions, {} estimated cycles; counts must be finite and not negative); re-record it",
                                c.instructions, c.estimated_cycles
                            ),
                        });
                    }
                    None => {
                        return Err(FileError::Invalid {
                            path: path.to_path_buf(),
                            message: format!(
                                "benchmark {id:?} is measured by instructions but a run holds no `counts`; re-record it"
                            ),
                        });
                    }
                }
            }
            continue;
        }
        for run in &bench.runs {
            if run.per_iteration_ns.len() < 2 {
                return Err(FileError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "benchmark {id:?} has {} sample(s); at least 2 are needed to judge noise (criterion's default is 100); re-record it",
                        run.per_iteration_ns.len()
                    ),
                });
            }
            if let Some(bad) = run
                .per_iteration_ns
                .iter()
                .find(|t| !t.is_finite() || **t <= 0.0)
            {
                return Err(FileError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "benchmark {id:?} has an invalid time {bad} ns (times must be finite and positive); re-record it"
                    ),
                });
            }
        }
    }
    Ok(())
}

impl Results {
    pub fn read(path: &Path) -> Result<Results, FileError> {
        let text = read_text(path)?;
        let results: Results = parse_versioned(path, &text, RESULTS_SCHEMA)?;
        validate_benches(path, &results.benches)?;
        Ok(results)
    }

    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        write_atomic(path, &to_pretty_json(self))
    }
}

impl BaselineFile {
    pub fn parse(path: &Path, text: &str) -> Result<BaselineFile, FileError> {
        let file: BaselineFile = parse_versioned(path, text, BASELINE_SCHEMA)?;
        validate_benches(path, &file.benches)?;
        Ok(file)
    }
}

/// Round a time to a fixed precision so stored files stay readable and stable.
pub fn round_ns(ns: f64) -> f64 {
    if ns >= 1000.0 {
        (ns * 10.0).round() / 10.0
    } else {
        (ns * 1000.0).round() / 1000.0
    }
}
