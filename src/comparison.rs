//! The comparison model (`perfguard.comparison.v1`): one entry per benchmark or
//! probe with its verdict and the rule that decided it. Every reporter reads this
//! model; none recomputes a statistic.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::results::{FileError, Machine, Revision};

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
}

/// Why a regression is accepted: a `Perf-Accepted` commit trailer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub pattern: String,
    pub reason: String,
    pub commit: String,
    pub author: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub kind: EntryKind,
    /// Suite for benchmarks, `probes` for probes.
    pub suite: String,
    pub verdict: Verdict,
    /// The rule that decided the verdict, in words.
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
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
pub struct Comparison {
    pub schema: String,
    pub baseline: Side,
    pub current: Side,
    /// The base ref the gate compared against, when git was involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// The command that reproduces this comparison locally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    pub alpha: f64,
    pub entries: Vec<Entry>,
    /// Things a reviewer must see first (a pull request editing its own baselines,
    /// a baseline from another machine...).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Count of entries per verdict.
    pub counts: BTreeMap<Verdict, usize>,
    /// `fail` when any entry regressed, else `pass`.
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
}

impl Comparison {
    /// Recompute `counts` and `outcome` from the entries and order the entries:
    /// regressions first, then improvements, then the rest, each by id.
    pub fn finish(&mut self) {
        let rank = |v: Verdict| match v {
            Verdict::Regressed => 0,
            Verdict::Accepted => 1,
            Verdict::Improved => 2,
            Verdict::Inconclusive => 3,
            Verdict::New => 4,
            Verdict::Missing => 5,
            Verdict::Unchanged => 6,
        };
        self.entries.sort_by(|a, b| {
            rank(a.verdict)
                .cmp(&rank(b.verdict))
                .then_with(|| a.id.cmp(&b.id))
        });
        self.counts = Verdict::ALL.iter().map(|v| (*v, 0)).collect();
        for entry in &self.entries {
            *self.counts.entry(entry.verdict).or_default() += 1;
        }
        self.outcome = if self.count(Verdict::Regressed) > 0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.counts.get(&verdict).copied().unwrap_or(0)
    }

    pub fn read(path: &Path) -> Result<Comparison, FileError> {
        let text = crate::results::read_text(path)?;
        crate::results::parse_versioned(path, &text, COMPARISON_SCHEMA)
    }

    pub fn to_json(&self) -> String {
        crate::results::to_pretty_json(self)
    }
}
