//! Every rule that turns measurements into a verdict, in one place. Where to
//! change what:
//!
//! - [`timing`]: when a timing change is `regressed`, `improved`,
//!   `inconclusive` or `unchanged` (the interval rule), and when a paired run
//!   measures a benchmark again;
//! - [`stored`]: current runs against the runs stored in the baseline, and
//!   the warning when a whole suite moved together;
//! - [`paired`]: base and head alternated in one job, round by round;
//! - [`confirm`]: which stored-mode benchmarks are re-run paired, and how
//!   that re-run settles them;
//! - [`load`]: a load probe's latency quantile, base build against head
//!   build round by round, and its error rate;
//! - [`queries`]: a probe's statement counts against its baseline, `allow`
//!   and `max_queries`; what counts as an N+1;
//! - [`accept`]: `Perf-Accepted` trailers turning regressions into `accepted`.
//!
//! Each builds entries of the typed model in [`crate::comparison`], whose
//! reason is data; the verdict is derived from it.

pub mod accept;
pub mod confirm;
pub mod counts;
pub mod load;
pub mod paired;
pub mod queries;
pub mod stored;
pub mod timing;

use std::collections::BTreeMap;

use crate::comparison::{
    BenchChange, Comparison, Entry, Reason, Side, Subject, TimingMode, TimingSource,
};
use crate::results::{BenchResult, Results};
use crate::stats::{self, NoiseModel, RunSummary};

pub use queries::N_PLUS_ONE_COUNT;

/// Settings of one comparison.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Practical threshold per suite (fraction); suites not listed use `default_threshold`.
    pub suite_thresholds: BTreeMap<String, f64>,
    pub default_threshold: f64,
    /// Family-wise false-alarm rate across the compared benchmarks.
    pub alpha: f64,
    pub noise: NoiseModel,
    /// Confidence level of the reported intervals.
    pub confidence: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            suite_thresholds: BTreeMap::new(),
            default_threshold: 0.05,
            alpha: 0.05,
            noise: NoiseModel::default(),
            confidence: 0.95,
        }
    }
}

impl CompareOptions {
    pub fn threshold(&self, suite: &str) -> f64 {
        self.suite_thresholds
            .get(suite)
            .copied()
            .unwrap_or(self.default_threshold)
    }

    /// The threshold of a suite measured by instructions: its own, else
    /// [`counts::DEFAULT_THRESHOLD`] (the gate's is for timings).
    pub fn count_threshold(&self, suite: &str) -> f64 {
        self.suite_thresholds
            .get(suite)
            .copied()
            .unwrap_or(counts::DEFAULT_THRESHOLD)
    }
}

/// Compare `current` against the runs stored in `baseline`: timings through
/// [`stored`], query counts through [`queries`].
pub fn compare(
    baseline: &Results,
    baseline_source: &str,
    current: &Results,
    options: &CompareOptions,
) -> Comparison {
    let mut entries = stored::compare_benches(&baseline.benches, &current.benches, options);
    entries.extend(queries::compare_probes(&baseline.probes, &current.probes));
    let mut warnings = Vec::new();
    if !current.probes.is_empty()
        && !baseline.probes.is_empty()
        && baseline.fingerprint_version != current.fingerprint_version
    {
        warnings.push(format!(
            "the baseline's query fingerprints are version {} and these are version {}: per-fingerprint counts may not match; re-record the baseline",
            baseline.fingerprint_version, current.fingerprint_version
        ));
    }
    if let Some(warning) = stored::machine_shift(&entries) {
        warnings.push(warning);
    }
    warnings.extend(stored::measure_changes(&baseline.benches, &current.benches));
    let mut comparison = Comparison::new(
        Side {
            revision: baseline.revision.clone(),
            machine: baseline.machine.clone(),
            source: baseline_source.to_string(),
        },
        Side {
            revision: current.revision.clone(),
            machine: current.machine.clone(),
            source: "measured".into(),
        },
        options.alpha,
        entries,
    );
    comparison.warnings = warnings;
    comparison
}

/// The entry of a benchmark measured at both sides (stored or paired): its
/// timing change and the reason [`timing::timing_reason`] gives it.
#[expect(
    clippy::too_many_arguments,
    reason = "one constructor for both timing modes"
)]
fn measured_bench(
    id: String,
    suite: String,
    base: &BenchResult,
    head: &BenchResult,
    change: &stats::Change,
    p_adjusted: f64,
    options: &CompareOptions,
    source: TimingSource,
) -> Entry {
    let threshold = options.threshold(&suite);
    let mode = match source {
        TimingSource::Stored => TimingMode::Stored,
        TimingSource::Paired { .. } => TimingMode::Paired,
    };
    let reason = timing::timing_reason(change, p_adjusted, threshold, options.alpha, source);
    Entry {
        id,
        subject: Subject::Bench {
            suite,
            change: Some(BenchChange {
                mode,
                baseline_ns: typical_ns(base),
                current_ns: typical_ns(head),
                ratio: change.ratio,
                ratio_low: change.ratio_low,
                ratio_high: change.ratio_high,
                confidence: options.confidence,
                p_value: change.p_value,
                p_adjusted,
                threshold,
                baseline_runs: base.runs.len(),
                current_runs: head.runs.len(),
                baseline_samples_ns: base.runs[0].per_iteration_ns.clone(),
                current_samples_ns: head.runs[0].per_iteration_ns.clone(),
                confirmed: None,
                measure: Default::default(),
                counts: None,
            }),
        },
        reason: Reason::Timing(reason),
    }
}

fn summaries(bench: &BenchResult) -> Vec<RunSummary> {
    bench
        .runs
        .iter()
        .map(|run| stats::summarize_run(&run.per_iteration_ns))
        .collect()
}

/// The per-iteration time shown for a benchmark: the geometric mean of its
/// runs' locations ([`stats::summarize_run`]), the same location the change is
/// computed from, so the shown times and the shown change agree.
pub fn typical_ns(bench: &BenchResult) -> f64 {
    let runs = summaries(bench);
    (runs.iter().map(|r| r.log_location).sum::<f64>() / runs.len() as f64).exp()
}
