//! The commands: `run`, `baseline record`, `baseline show`, `compare`, `check`
//! `init` and `hook`, each taking domain options (never clap types) and returning the
//! exit code the gate should end with.

mod check;
mod checkout;
mod hook;
mod init;
mod merge;
mod show;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use check::{BaselinesFrom, GateOptions, check, compare_files};
pub use hook::Hook;
pub use init::Init;
pub use merge::{MergeOptions, merge};

use crate::baselines::{self, BaselineError};
use crate::bench::{self, BenchError};
use crate::compare::CompareOptions;
use crate::comparison::{Comparison, Outcome};
use crate::config::{self, ConfigError, LoadedConfig};
use crate::exit_codes;
use crate::progress::{Progress, Verbosity};
use crate::report::{self, Format, ReportOptions};
use crate::results::{BenchResult, FileError, Measure, Results};
use crate::stats::NoiseModel;

/// Options shared by every command.
#[derive(Clone, Debug)]
pub struct Global {
    pub config: PathBuf,
    pub color: bool,
    pub verbosity: Verbosity,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct MeasureOptions {
    pub runs: u32,
    pub only: Option<String>,
    pub benches: bool,
    pub probes: bool,
    /// `--shard K/N`: measure only shard K of N of the suites and probes.
    pub shard: Option<(usize, usize)>,
    /// Extra environment for the bench commands (e.g. a worktree's target dir).
    pub env: Vec<(String, String)>,
    /// `--measure`: every suite measured this way, whatever its config says.
    pub measure: Option<Measure>,
    /// Leave out the suites measured by time (a paired check times them itself).
    pub skip_timed: bool,
}

impl MeasureOptions {
    /// How `suite` is measured: `--measure`, else its `measure` key.
    pub fn measure_of(&self, suite: &crate::config::BenchSuite) -> Measure {
        self.measure.unwrap_or(suite.measure)
    }
}

/// A report written besides stdout.
#[derive(Clone, Debug)]
pub struct ReportTarget {
    pub format: Format,
    /// `-` is stdout.
    pub path: PathBuf,
}

pub struct RunOptions {
    pub measure: MeasureOptions,
    pub out: PathBuf,
    /// Measure this revision in a temporary worktree instead of the working tree.
    pub rev: Option<String>,
}

pub struct BaselineRecord {
    pub measure: MeasureOptions,
    pub append: bool,
}

pub struct CompareFiles {
    pub baseline: PathBuf,
    pub results: PathBuf,
    pub format: Format,
    pub reports: Vec<ReportTarget>,
}

pub struct RenderReport {
    pub comparison: PathBuf,
    pub format: Format,
    pub reports: Vec<ReportTarget>,
}

pub struct CheckOptions {
    pub measure: MeasureOptions,
    pub format: Format,
    pub reports: Vec<ReportTarget>,
    pub gate: GateOptions,
}

/// Everything that makes perfguard unable to decide (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Merge(#[from] crate::shard::MergeError),
    /// Boxed: the largest variant, and rare.
    #[error(transparent)]
    Paired(#[from] Box<crate::bench::paired::PairedError>),
    #[error(
        "{flag} needs a git repository ({why}), but {path} is not inside one; run perfguard in a clone of the project, or drop {flag}"
    )]
    GitRequired {
        flag: &'static str,
        why: &'static str,
        path: PathBuf,
    },
    #[error(
        "{dir} does not exist at {commit} (the merge-base of HEAD and `{base_ref}`), so there is nothing to gate against; merge the recorded baselines into `{base_ref}` first, or gate against this branch's own baselines with `--baselines-from worktree`"
    )]
    NoBaselinesAtBase {
        dir: String,
        commit: String,
        base_ref: String,
    },
    #[error(
        "benchmark {id:?} is measured by both suites {first:?} and {second:?}; give it a unique name"
    )]
    DuplicateBenchmark {
        id: String,
        first: String,
        second: String,
    },
    #[error("--only {pattern:?} is not a valid glob: {message}")]
    BadGlob { pattern: String, message: String },
    #[error(
        "--only {pattern:?} matches no [[bench]] suite, [[probe]] or [[load]] in {config} (their names: {names}); --only selects those names, not the benchmarks inside a suite"
    )]
    NothingSelected {
        pattern: String,
        config: String,
        names: String,
    },
    #[error("{path}: cannot write the report: {source}")]
    Report {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} holds only shard {index}/{count} of the suites and probes (shards {missing} are not in it); gating it alone would pass what the other shards measure as `missing`: join every shard with `perfguard merge shard-*.json --out results.json` and gate that"
    )]
    PartialResults {
        path: PathBuf,
        index: usize,
        count: usize,
        missing: String,
    },
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    #[error(
        "machine too noisy to resolve {threshold}: {evidence}. This says nothing about the code: re-run on a quieter runner, give the check more time (--budget, --max-rounds), or raise the suite's threshold"
    )]
    TooNoisy { threshold: String, evidence: String },
    #[error(
        "[[load]] {name:?}: every request failed at both the base and head ({kinds}); the load probe itself is wrong: check its path, headers and expect_status against the application"
    )]
    LoadFailing { name: String, kinds: String },
    #[error(transparent)]
    Proxy(#[from] crate::probe::proxy::ProxyError),
    #[error("{0}")]
    Usage(String),
}

fn selector(pattern: &Option<String>) -> Result<Option<globset::GlobMatcher>, Error> {
    pattern
        .as_ref()
        .map(|p| {
            globset::Glob::new(p)
                .map(|g| g.compile_matcher())
                .map_err(|e| Error::BadGlob {
                    pattern: p.clone(),
                    message: e.to_string(),
                })
        })
        .transpose()
}

/// Which suites and probes `--only` and `--shard` select, by name.
pub(crate) struct Selection {
    only: Option<globset::GlobMatcher>,
    /// The names in this shard; `None` without `--shard`.
    shard: Option<std::collections::BTreeSet<String>>,
    /// Every suite and probe name of the configuration, in order.
    names: Vec<String>,
}

impl Selection {
    pub(crate) fn new(loaded: &LoadedConfig, options: &MeasureOptions) -> Result<Selection, Error> {
        let names: Vec<String> = loaded
            .config
            .bench
            .iter()
            .map(|s| s.name.clone())
            .chain(loaded.config.probe.iter().map(|p| p.name.clone()))
            .chain(loaded.config.load.iter().map(|l| l.name.clone()))
            .collect();
        Ok(Selection {
            only: selector(&options.only)?,
            shard: options.shard.map(|shard| {
                crate::shard::shard_select(&names, shard)
                    .into_iter()
                    .collect()
            }),
            names,
        })
        .and_then(|selection| selection.selects_something(loaded, options))
    }

    /// `--only` that matches no name at all is a mistake (a benchmark id, a
    /// typo): measuring nothing and passing would hide it.
    fn selects_something(
        self,
        loaded: &LoadedConfig,
        options: &MeasureOptions,
    ) -> Result<Selection, Error> {
        match (&self.only, &options.only) {
            (Some(matcher), Some(pattern)) if !self.names.iter().any(|n| matcher.is_match(n)) => {
                Err(Error::NothingSelected {
                    pattern: pattern.clone(),
                    config: loaded.path.display().to_string(),
                    names: self.names.join(", "),
                })
            }
            _ => Ok(self),
        }
    }

    /// The shard a measurement with these options holds: `--shard K/N` and
    /// every name `--only`, `--no-benches` and `--no-probes` select across
    /// all shards.
    pub(crate) fn shard_of(
        &self,
        loaded: &LoadedConfig,
        options: &MeasureOptions,
    ) -> Option<crate::results::ShardOf> {
        let (index, count) = options.shard?;
        let is_bench = |name: &str| loaded.config.bench.iter().any(|s| s.name == name);
        let selected = self
            .names
            .iter()
            .filter(|name| self.only.as_ref().is_none_or(|m| m.is_match(name)))
            .filter(|name| {
                if is_bench(name) {
                    options.benches
                } else {
                    options.probes
                }
            })
            .cloned()
            .collect();
        Some(crate::results::ShardOf {
            index,
            count,
            selected,
        })
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.only.as_ref().is_none_or(|m| m.is_match(name))
            && self.shard.as_ref().is_none_or(|s| s.contains(name))
    }
}

/// The `[[load]]` probes `--only`, `--shard` and `--no-probes` select.
pub(crate) fn selected_loads<'a>(
    loaded: &'a LoadedConfig,
    options: &MeasureOptions,
) -> Result<Vec<&'a crate::config::Load>, Error> {
    if !options.probes || loaded.config.load.is_empty() {
        return Ok(Vec::new());
    }
    let selection = Selection::new(loaded, options)?;
    Ok(loaded
        .config
        .load
        .iter()
        .filter(|l| selection.contains(&l.name))
        .collect())
}

/// A results file to gate on: refused when it holds one shard of a set.
pub(crate) fn read_complete_results(path: &Path) -> Result<Results, Error> {
    let results = Results::read(path)?;
    if let Some(shard) = results.shard.as_ref().filter(|shard| shard.count > 1) {
        let missing: Vec<String> = (1..=shard.count)
            .filter(|k| *k != shard.index)
            .map(|k| format!("{k}/{}", shard.count))
            .collect();
        return Err(Error::PartialResults {
            path: path.to_path_buf(),
            index: shard.index,
            count: shard.count,
            missing: missing.join(", "),
        });
    }
    Ok(results)
}

/// Measure the configured suites (and probes) in `working_dir`.
pub fn measure(
    loaded: &LoadedConfig,
    working_dir: &Path,
    options: &MeasureOptions,
    progress: &Progress,
) -> Result<Results, Error> {
    measure_allowing(loaded, working_dir, options, progress, &BTreeSet::new()).map(|(r, _)| r)
}

/// [`measure`], where a suite named in `may_fail` that fails is left out
/// (its benchmarks come out `missing`) instead of ending the run; returns a
/// line per such failure.
pub(crate) fn measure_allowing(
    loaded: &LoadedConfig,
    working_dir: &Path,
    options: &MeasureOptions,
    progress: &Progress,
    may_fail: &BTreeSet<String>,
) -> Result<(Results, Vec<String>), Error> {
    let revision = crate::revision::current(working_dir);
    let mut results = Results::new(revision, crate::machine::current());
    let selection = Selection::new(loaded, options)?;
    results.shard = selection.shard_of(loaded, options);
    let selected = |name: &str| selection.contains(name);
    let suites: Vec<_> = loaded
        .config
        .bench
        .iter()
        .filter(|s| options.benches && selected(&s.name))
        .filter(|s| !(options.skip_timed && options.measure_of(s) == Measure::Time))
        .collect();
    if let Some(pattern) = &options.only {
        // Load probes are measured by `check` (both builds), not here, but
        // a pattern naming one selects something.
        let probes_selected = options.probes
            && (loaded.config.probe.iter().any(|p| selected(&p.name))
                || loaded.config.load.iter().any(|l| selected(&l.name)));
        if suites.is_empty() && !probes_selected {
            return Err(Error::NothingSelected {
                pattern: pattern.clone(),
                config: loaded.path.display().to_string(),
                names: selection.names.join(", "),
            });
        }
    }
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for round in 0..options.runs {
        for suite in &suites {
            if failed.contains(&suite.name) {
                continue;
            }
            if options.runs > 1 {
                progress.status(&format!("run {} of {}", round + 1, options.runs));
            }
            let measured = match options.measure_of(suite) {
                Measure::Time => bench::run_suite(suite, working_dir, &options.env, progress),
                Measure::Instructions => {
                    bench::callgrind::run_suite(suite, working_dir, &options.env, progress)
                }
            };
            let runs = match measured {
                Ok(runs) => runs,
                Err(error) if may_fail.contains(&suite.name) => {
                    failures.push(format!(
                        "the merge-base's `[[bench]] {:?}` no longer runs on this branch, so its benchmarks are missing (accept them with a Perf-Accepted trailer if that is intended): {error}",
                        suite.name
                    ));
                    failed.push(suite.name.clone());
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            for (id, run) in runs {
                if let Some(first) = owner.get(&id).filter(|first| **first != suite.name) {
                    return Err(Error::DuplicateBenchmark {
                        id,
                        first: first.clone(),
                        second: suite.name.clone(),
                    });
                }
                owner.insert(id.clone(), suite.name.clone());
                results
                    .benches
                    .entry(id)
                    .or_insert_with(|| BenchResult {
                        suite: suite.name.clone(),
                        measure: options.measure_of(suite),
                        runs: Vec::new(),
                    })
                    .runs
                    .push(run);
            }
        }
    }
    let probes: Vec<_> = loaded
        .config
        .probe
        .iter()
        .filter(|p| options.probes && selected(&p.name))
        .collect();
    if !probes.is_empty() {
        results.probes =
            crate::probe::runner::run_probes(loaded, &probes, working_dir, &options.env, progress)?;
    }
    Ok((results, failures))
}

/// Compare options from the configuration.
pub fn compare_options(loaded: &LoadedConfig) -> CompareOptions {
    let gate = &loaded.config.gate;
    CompareOptions {
        suite_thresholds: loaded
            .config
            .bench
            .iter()
            .filter_map(|b| b.threshold.map(|t| (b.name.clone(), t.0)))
            .collect(),
        default_threshold: gate.threshold.0,
        alpha: gate.alpha,
        noise: NoiseModel {
            run_sd_log: gate.noise.0,
            ..NoiseModel::default()
        },
        confidence: 0.95,
    }
}

fn report_options(global: &Global) -> ReportOptions {
    ReportOptions {
        color: global.color,
        ..ReportOptions::default()
    }
    .with_github_env()
}

/// Write `bytes` to stdout. A closed pipe (`perfguard ... | head`) is not an
/// error: the reader has what it wanted. Any other failure (a full disk behind
/// a redirect) is, naming stdout and the OS error.
pub(crate) fn print(bytes: &[u8]) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Report {
            path: "stdout".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Write a report to stdout (a broken pipe is not an error).
fn to_stdout(
    format: Format,
    comparison: &Comparison,
    options: &ReportOptions,
) -> Result<(), Error> {
    let mut buffer = Vec::new();
    report::render(format, comparison, options, &mut buffer).map_err(|source| Error::Report {
        path: "stdout".into(),
        source,
    })?;
    print(&buffer)
}

/// Print the main report and write every `--report` target.
pub fn emit(
    comparison: &Comparison,
    format: Format,
    reports: &[ReportTarget],
    global: &Global,
) -> Result<(), Error> {
    let options = report_options(global);
    if global.verbosity == Verbosity::Quiet && format == Format::Text {
        print(format!("{}\n", report::verdict_line(comparison)).as_bytes())?;
    } else {
        to_stdout(format, comparison, &options)?;
    }
    for target in reports {
        if target.path.as_os_str() == "-" {
            to_stdout(target.format, comparison, &options)?;
            continue;
        }
        let file_options = ReportOptions {
            color: false,
            ..options.clone()
        };
        let mut buffer = Vec::new();
        report::render(target.format, comparison, &file_options, &mut buffer).map_err(
            |source| Error::Report {
                path: target.path.clone(),
                source,
            },
        )?;
        let text = String::from_utf8_lossy(&buffer);
        crate::results::write_atomic(&target.path, &text)?;
    }
    Ok(())
}

pub(crate) fn exit_code(comparison: &Comparison) -> i32 {
    match comparison.outcome() {
        Outcome::Pass => exit_codes::NO_REGRESSION,
        Outcome::Fail => exit_codes::REGRESSION,
        Outcome::Undecided => {
            for entry in comparison.undecided() {
                eprintln!(
                    "perfguard: error: probe {:?}: {}; make the endpoint's queries the same on every request (warm caches in the warm-up, fixed data) or raise [probes].repeat to see the pattern",
                    entry.id,
                    entry.rule()
                );
            }
            exit_codes::COULD_NOT_DECIDE
        }
    }
}

pub(crate) fn load(global: &Global) -> Result<LoadedConfig, Error> {
    Ok(config::load(&global.config)?)
}

pub fn run(global: &Global, options: RunOptions) -> Result<i32, Error> {
    let loaded = load(global)?;
    let mut measure_options = options.measure.clone();
    // Keeps the temporary worktree of `--rev` alive while measuring.
    let rev_checkout = checkout::for_rev(&loaded, options.rev.as_deref(), &mut measure_options)?;
    let working_dir = rev_checkout
        .as_ref()
        .map_or(loaded.root.clone(), |c| c.project_dir.clone());
    let progress = Progress::new(global.verbosity);
    let results = measure(&loaded, &working_dir, &measure_options, &progress)?;
    drop(rev_checkout);
    drop(progress);
    if options.out.as_os_str() == "-" {
        print(crate::results::to_pretty_json(&results).as_bytes())?;
    } else {
        results.write(&options.out)?;
        if global.verbosity != Verbosity::Quiet {
            eprintln!("perfguard: wrote {}", options.out.display());
        }
    }
    Ok(exit_codes::NO_REGRESSION)
}

pub fn record(global: &Global, options: BaselineRecord) -> Result<i32, Error> {
    let loaded = load(global)?;
    let dir = loaded.baselines_dir();
    // Read what is there first: a corrupt baseline is an error, not silently replaced.
    let existing = if options.append {
        Some(baselines::read_dir(&dir)?.results)
    } else {
        None
    };
    let progress = Progress::new(global.verbosity);
    let mut results = measure(&loaded, &loaded.root, &options.measure, &progress)?;
    drop(progress);
    if let Some(existing) = existing {
        for (id, bench) in existing.benches {
            if let Some(now) = results.benches.get_mut(&id) {
                let mut runs = bench.runs;
                runs.append(&mut now.runs);
                now.runs = runs;
            }
        }
    }
    let written = baselines::write(&dir, &results)?;
    if global.verbosity != Verbosity::Quiet {
        for path in written {
            eprintln!("perfguard: wrote {}", path.display());
        }
    }
    Ok(exit_codes::NO_REGRESSION)
}

pub fn show(global: &Global) -> Result<i32, Error> {
    let loaded = load(global)?;
    let set = baselines::read_dir(&loaded.baselines_dir())?;
    let mut text = Vec::new();
    show::print(&set, &mut text).map_err(|source| Error::Report {
        path: "stdout".into(),
        source,
    })?;
    print(&text).map(|()| exit_codes::NO_REGRESSION)
}

/// `perfguard report`: render a stored comparison; exits as the gate did.
pub fn render_report(global: &Global, options: RenderReport) -> Result<i32, Error> {
    let comparison = Comparison::read(&options.comparison)?;
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}

/// `perfguard proxy`: the counting proxy alone, printing each statement.
pub fn proxy(upstream: &str, listen: Option<std::net::SocketAddr>) -> Result<i32, Error> {
    crate::probe::proxy::run_standalone(upstream, listen, std::io::stdout().lock())?;
    Ok(exit_codes::NO_REGRESSION)
}

pub fn init(global: &Global, options: Init) -> Result<i32, Error> {
    init::run(global, options)
}

pub fn hook(global: &Global, action: Hook) -> Result<i32, Error> {
    hook::run(global, action)
}
