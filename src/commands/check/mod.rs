//! `perfguard compare` and `perfguard check`: the gate itself. `check`
//! resolves a [`plan::Plan`] first (where the baselines come from, which
//! checkouts are measured, which suites and probes, stored or paired timing)
//! and then runs it step by step ([`run`]); every verdict rule it applies
//! lives in [`crate::compare`].

mod one_folder;
mod plan;
mod run;

use std::path::{Path, PathBuf};

use super::{CheckOptions, CompareFiles, Error, Global, compare_options, emit, exit_code};
use crate::baselines;
use crate::compare::{self, CompareOptions};
use crate::config::{self, ConfigError};
use crate::results::Results;

/// Where `check` reads the baselines from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselinesFrom {
    /// The files on disk (the default outside git).
    Worktree,
    /// The tree of the merge-base of HEAD and the base ref (the default in git).
    Base,
}

/// The git side of `check`.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// Compare against the merge-base with this revision instead of `[gate].base_ref`.
    pub against: Option<String>,
    /// `None`: the merge-base in a git repository, the working tree outside.
    pub baselines_from: Option<BaselinesFrom>,
    /// Timing by alternating base and head runs rather than against stored timings.
    pub paired: bool,
    /// Rounds of a paired run or a confirmation before the first look
    /// (`None`: [`crate::bench::paired::DEFAULT_DIRECT_ROUNDS`] for direct
    /// runs, [`crate::bench::paired::DEFAULT_ROUNDS`] otherwise).
    pub rounds: Option<u32>,
    /// Rounds at most for benchmarks the first `rounds` leave unsettled
    /// (`None`: twice `rounds`).
    pub max_rounds: Option<u32>,
    /// Re-run apparent regressions paired before failing.
    pub confirm: bool,
    /// Gate on this results file instead of measuring.
    pub results: Option<PathBuf>,
    /// Measure this revision in a temporary worktree.
    pub rev: Option<String>,
    /// Wall time the whole check may take (`None`: `[gate].budget`, else no limit).
    pub budget: Option<std::time::Duration>,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            against: None,
            baselines_from: None,
            paired: false,
            rounds: None,
            max_rounds: None,
            confirm: true,
            results: None,
            rev: None,
            budget: None,
        }
    }
}

/// Read a baseline given as a folder, a baseline file or a results file.
fn read_baseline_input(path: &Path) -> Result<Results, Error> {
    if path.is_dir() {
        return Ok(baselines::read_dir(path)?.results);
    }
    let text = crate::results::read_text(path)?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
    if schema.as_deref() == Some(crate::results::BASELINE_SCHEMA) {
        let name = path.display().to_string();
        return Ok(baselines::from_files(&name, &[(name.clone(), text)])?.results);
    }
    Ok(Results::read(path)?)
}

pub fn compare_files(global: &Global, options: CompareFiles) -> Result<i32, Error> {
    let baseline = read_baseline_input(&options.baseline)?;
    let current = super::read_complete_results(&options.results)?;
    // The config is optional for `compare`: thresholds come from it when present.
    let compare_options = match config::load(&global.config) {
        Ok(loaded) => compare_options(&loaded),
        Err(ConfigError::Read { .. }) => CompareOptions::default(),
        Err(e) => return Err(e.into()),
    };
    let mut comparison = compare::compare(
        &baseline,
        &options.baseline.display().to_string(),
        &current,
        &compare_options,
    );
    comparison.current.source = options.results.display().to_string();
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}

/// The gate: resolve the plan, run it, report, exit 0/1/2.
pub fn check(global: &Global, options: CheckOptions) -> Result<i32, Error> {
    let plan = plan::resolve(global, &options)?;
    let comparison = run::execute(plan, global, &options)?;
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}
