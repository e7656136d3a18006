//! The comparison model (`perfguard.comparison.v1`): one entry per benchmark or
//! probe, with the reason (as data) that decided its verdict. Every reporter
//! reads this model; none recomputes a statistic. Counts and the outcome are
//! derived from the entries, never stored beside them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::{FileError, Machine, Revision};

mod reason;
mod wire;

pub use reason::{
    Confirmation, CountReason, CountRule, ErrorRise, LOAD_ERROR_RATE, LoadReason, QueryReason,
    Reason, TimingReason, TimingRule, TimingSource, describe_diff,
};
pub(crate) use reason::{level, percent, percent_fine};

/// The commit trailer that accepts a regression: `Perf-Accepted: <id-glob>: <reason>`.
pub const ACCEPT_TRAILER: &str = "Perf-Accepted";

pub const COMPARISON_SCHEMA: &str = "perfguard.comparison.v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
    Inconclusive,
    New,
    Missing,
    Accepted,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::Regressed,
        Verdict::Improved,
        Verdict::Unchanged,
        Verdict::Inconclusive,
        Verdict::New,
        Verdict::Missing,
        Verdict::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::New => "new",
            Verdict::Missing => "missing",
            Verdict::Accepted => "accepted",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Bench,
    Probe,
    Load,
}

/// How a timing was measured against its baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingMode {
    /// Current runs against runs stored in the baseline.
    Stored,
    /// Base and head alternated in one job; statistics on per-round ratios.
    Paired,
}

/// The timing change of one benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchChange {
    pub mode: TimingMode,
    /// Per-iteration time of the baseline: geometric mean of its runs' locations (fastest sample), ns.
    pub baseline_ns: f64,
    /// Per-iteration time of the current measurement, same location, ns.
    pub current_ns: f64,
    /// current / baseline.
    pub ratio: f64,
    pub ratio_low: f64,
    pub ratio_high: f64,
    /// Confidence level of `ratio_low..ratio_high`, e.g. 0.95.
    pub confidence: f64,
    pub p_value: f64,
    /// Holm-adjusted across the compared benchmarks.
    pub p_adjusted: f64,
    /// The practical threshold that applied, e.g. 0.05 for 5%.
    pub threshold: f64,
    pub baseline_runs: usize,
    pub current_runs: usize,
    /// Per-iteration samples of the baseline's first run and the current first run,
    /// for plots (ns).
    #[serde(default)]
    pub baseline_samples_ns: Vec<f64>,
    #[serde(default)]
    pub current_samples_ns: Vec<f64>,
    /// Whether a second, paired pass confirmed a regression (`None` when none ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    /// What was compared: `time`, or `instructions` (then `counts` holds the
    /// figures, the times are 0 and the interval is the ratio itself).
    #[serde(default)]
    pub measure: crate::results::Measure,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<CountChange>,
}

/// The counts of a benchmark measured by instructions, before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountChange {
    /// Per iteration: the median of the baseline's runs.
    pub baseline: crate::results::InstructionCounts,
    pub current: crate::results::InstructionCounts,
    /// How far the baseline's runs of this benchmark spread, as a fraction of
    /// their median (the larger of the two figures; 0 with one run).
    pub jitter: f64,
}

impl BenchChange {
    /// What `baseline_ns` or `current_ns` is, for a label: `fastest sample`
    /// for one run, `fastest sample, geometric mean of 3 runs` for more (the
    /// location the statistics compare, [`crate::stats::summarize_run`]).
    pub fn location_label(runs: usize) -> String {
        if runs <= 1 {
            "fastest sample".to_string()
        } else {
            format!("fastest sample, geometric mean of {runs} runs")
        }
    }
}

/// One fingerprint's count before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintDiff {
    pub fingerprint: String,
    pub readable: String,
    pub before: u64,
    pub after: u64,
    /// Runs 5 or more times in one request: the shape of an N+1.
    pub n_plus_one: bool,
}

/// The statement-count change of one probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeChange {
    pub endpoint: String,
    pub baseline_total: Option<u64>,
    pub current_total: Option<u64>,
    pub max_queries: Option<u64>,
    pub allow: u64,
    /// Fingerprints whose counts changed, largest growth first.
    pub changed: Vec<FingerprintDiff>,
    /// Fingerprints that differed between repeats of the current run.
    #[serde(default)]
    pub unstable: Vec<String>,
    #[serde(default)]
    pub excluded_before: u64,
    #[serde(default)]
    pub excluded_after: u64,
    /// Full per-fingerprint counts (all fingerprints), for plots.
    #[serde(default)]
    pub fingerprints: Vec<FingerprintDiff>,
    /// Fingerprints whose count per request grows with `[probes] scales`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub growth: Vec<Growth>,
}

/// A fingerprint whose count per request grew with the data: an N+1 by evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Growth {
    pub fingerprint: String,
    pub readable: String,
    /// The scales measured, smallest first, and the count at each.
    pub scales: Vec<u64>,
    pub counts: Vec<u64>,
    /// It grew in the baseline too (or the baseline has no scales to tell):
    /// a known N+1, listed but not failing.
    pub known: bool,
}

impl Growth {
    /// `` `SELECT ... FROM products WHERE id = ?` grows with data: 9 -> 29 at scale 10 -> 30 ``
    pub fn describe(&self) -> String {
        let join = |values: &[u64]| {
            values
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" -> ")
        };
        format!(
            "`{}` grows with data: {} at scale {}",
            self.readable,
            join(&self.counts),
            join(&self.scales)
        )
    }
}

/// One side (base or head build) of a load probe, over its rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSide {
    /// The verdict's quantile in each round, ms (NaN where no request succeeded).
    pub quantile_ms: Vec<f64>,
    /// The verdict's quantile over every round's requests together, ms.
    pub quantile_all_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Answered requests per second, mean over the rounds.
    pub throughput: f64,
    /// Requests sent in the measured windows.
    pub requests: u64,
    /// Of those, failed (another status, timeout, reset).
    pub errors: u64,
    /// Failures by kind, e.g. `HTTP 500`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_kinds: BTreeMap<String, u64>,
    /// From the counting proxy, per request; `None` without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements_per_request: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ms_per_request: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_request: Option<f64>,
    /// The latency distribution over every round: `[percentile, ms]` points,
    /// for plots.
    #[serde(default)]
    pub distribution: Vec<[f64; 2]>,
}

impl LoadSide {
    /// Failed requests as a fraction of those sent.
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// A load probe: one endpoint under load, base build against head build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadChange {
    /// `GET /products/42/recommendations`.
    pub endpoint: String,
    /// `p95`.
    pub quantile: String,
    /// `8 clients` or `200 requests/s`.
    pub traffic: String,
    /// Measured seconds per round and side.
    pub duration_s: f64,
    pub base: LoadSide,
    pub head: LoadSide,
}

/// Why a regression is accepted: a `Perf-Accepted` commit trailer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub pattern: String,
    pub reason: String,
    pub commit: String,
    pub author: String,
}

/// The thing an entry is about: a benchmark (whose timing change is known
/// when it was measured at both sides) or a probe (whose counts are always
/// known: a missing probe keeps its baseline counts).
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Bench {
        suite: String,
        change: Option<BenchChange>,
    },
    Probe(ProbeChange),
    Load(Box<LoadChange>),
}

/// One benchmark or probe of the comparison: what it is, and why it got its
/// verdict. The verdict is derived from the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::EntryWire", try_from = "wire::EntryWire")]
pub struct Entry {
    pub id: String,
    pub subject: Subject,
    pub reason: Reason,
}

impl Entry {
    pub fn verdict(&self) -> Verdict {
        self.reason.verdict()
    }

    pub fn kind(&self) -> EntryKind {
        match self.subject {
            Subject::Bench { .. } => EntryKind::Bench,
            Subject::Probe(_) => EntryKind::Probe,
            Subject::Load(_) => EntryKind::Load,
        }
    }

    /// The suite of a benchmark, `probes` for a probe.
    pub fn suite(&self) -> &str {
        match &self.subject {
            Subject::Bench { suite, .. } => suite,
            Subject::Probe(_) => "probes",
            Subject::Load(_) => "loads",
        }
    }

    pub fn bench(&self) -> Option<&BenchChange> {
        match &self.subject {
            Subject::Bench { change, .. } => change.as_ref(),
            Subject::Probe(_) | Subject::Load(_) => None,
        }
    }

    pub fn probe(&self) -> Option<&ProbeChange> {
        match &self.subject {
            Subject::Probe(change) => Some(change),
            Subject::Bench { .. } | Subject::Load(_) => None,
        }
    }

    pub fn load(&self) -> Option<&LoadChange> {
        match &self.subject {
            Subject::Load(change) => Some(change),
            Subject::Bench { .. } | Subject::Probe(_) => None,
        }
    }

    pub fn accepted(&self) -> Option<&Acceptance> {
        self.reason.acceptance()
    }

    /// The rule that decided the verdict, in the standard words.
    pub fn rule(&self) -> String {
        self.reason.describe()
    }
}

/// One side of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub revision: Revision,
    pub machine: Machine,
    /// Where it was read from: a file, `baselines/` at a commit, or `measured`.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::ComparisonWire", try_from = "wire::ComparisonWire")]
pub struct Comparison {
    pub baseline: Side,
    pub current: Side,
    /// The base ref the gate compared against, when git was involved.
    pub base_ref: Option<String>,
    /// The command that reproduces this comparison locally.
    pub reproduce: Option<String>,
    pub alpha: f64,
    /// In report order ([`Comparison::entries`]).
    entries: Vec<Entry>,
    /// Things a reviewer must see first (a pull request editing its own baselines,
    /// a baseline from another machine...).
    pub warnings: Vec<String>,
}

/// What the gate concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Nothing regressed, nothing is missing, everything measured decided.
    Pass,
    /// Something regressed, or something in the baseline was not measured.
    Fail,
    /// Nothing failed, but a measurement could not decide (a probe whose
    /// counts differed between repeats): perfguard cannot say it passes.
    Undecided,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Undecided => "undecided",
        }
    }
}

/// Report order: what fails the gate first (regressions, then missing), then
/// accepted ones, improvements, the undecided, new, and the unchanged last;
/// each by id.
fn report_rank(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Regressed => 0,
        Verdict::Missing => 1,
        Verdict::Accepted => 2,
        Verdict::Improved => 3,
        Verdict::Inconclusive => 4,
        Verdict::New => 5,
        Verdict::Unchanged => 6,
    }
}

fn sort_for_report(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        report_rank(a.verdict())
            .cmp(&report_rank(b.verdict()))
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// An N+1 the baseline already had, listed at the top of every report so it
/// is not forgotten; it does not fail the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownNPlusOne {
    /// The probe.
    pub id: String,
    /// What it does, e.g. `` `SELECT ... FROM tags WHERE post_id = ?` runs 12 times per request ``.
    pub description: String,
}

impl Comparison {
    /// N+1s in the baseline too: fingerprints that grow with data there as
    /// here, and ones that already ran [`crate::compare::N_PLUS_ONE_COUNT`]
    /// times or more per request in the baseline.
    pub fn known_n_plus_ones(&self) -> Vec<KnownNPlusOne> {
        let mut known = Vec::new();
        for entry in self.entries() {
            let Some(probe) = entry.probe() else { continue };
            for growth in probe.growth.iter().filter(|g| g.known) {
                known.push(KnownNPlusOne {
                    id: entry.id.clone(),
                    description: growth.describe(),
                });
            }
            for diff in &probe.fingerprints {
                let grows = probe
                    .growth
                    .iter()
                    .any(|g| g.fingerprint == diff.fingerprint);
                if diff.n_plus_one && diff.before >= crate::compare::N_PLUS_ONE_COUNT && !grows {
                    known.push(KnownNPlusOne {
                        id: entry.id.clone(),
                        description: format!(
                            "`{}` runs {} times per request (the baseline: {})",
                            diff.readable, diff.after, diff.before
                        ),
                    });
                }
            }
        }
        known
    }

    pub fn new(baseline: Side, current: Side, alpha: f64, mut entries: Vec<Entry>) -> Comparison {
        sort_for_report(&mut entries);
        Comparison {
            baseline,
            current,
            base_ref: None,
            reproduce: None,
            alpha,
            entries,
            warnings: Vec::new(),
        }
    }

    /// The entries in report order: regressions first, then missing ones,
    /// accepted ones, improvements, the undecided, new, unchanged; each by id.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Change the entries (add, replace, re-decide); the report order is restored after.
    pub fn update_entries(&mut self, change: impl FnOnce(&mut Vec<Entry>)) {
        change(&mut self.entries);
        sort_for_report(&mut self.entries);
    }

    /// Count of entries per verdict, every verdict present.
    pub fn counts(&self) -> BTreeMap<Verdict, usize> {
        let mut counts: BTreeMap<Verdict, usize> = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for entry in &self.entries {
            *counts.entry(entry.verdict()).or_default() += 1;
        }
        counts
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.entries
            .iter()
            .filter(|e| e.verdict() == verdict)
            .count()
    }

    /// `fail` when an entry regressed or is missing (evidence the baseline
    /// holds that this run did not produce); else `undecided` when a probe's
    /// counts differed between repeats; else `pass`.
    pub fn outcome(&self) -> Outcome {
        if self.count(Verdict::Regressed) > 0 || self.count(Verdict::Missing) > 0 {
            Outcome::Fail
        } else if self.undecided().next().is_some() {
            Outcome::Undecided
        } else {
            Outcome::Pass
        }
    }

    /// The entries no verdict could be reached for: probes whose statement
    /// counts differed between the repeats of one run.
    pub fn undecided(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.reason, Reason::Queries(QueryReason::Unstable { .. })))
    }

    /// Timing changes the noise could not settle: they pass, but a reviewer
    /// should see them first.
    pub fn inconclusive_timings(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| e.bench().is_some() && e.verdict() == Verdict::Inconclusive)
    }

    pub fn read(path: &Path) -> Result<Comparison, FileError> {
        let text = crate::results::read_text(path)?;
        crate::results::parse_versioned(path, &text, COMPARISON_SCHEMA)
    }

    pub fn to_json(&self) -> String {
        crate::results::to_pretty_json(self)
    }
}
