//! Why an entry got its verdict, as data: the rule that decided it and the
//! figures it decided on. The verdict is derived from the reason (so the two
//! cannot disagree); [`Reason::describe`] is the standard wording, which the
//! comparison file stores as `rule` and reporters may use or phrase their own.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::{ACCEPT_TRAILER, Acceptance, FingerprintDiff, Verdict};

/// Which rule of [`crate::compare::timing::classify`] decided a timing change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingRule {
    /// Significant after Holm's adjustment and the interval reaches the threshold, slower.
    Slower,
    /// Significant and the interval reaches the threshold, faster.
    Faster,
    /// The interval holds both no change and a change of the threshold.
    TooNoisy,
    /// Significant, but the interval stays within the threshold.
    SmallChange,
    /// Not significant and within the threshold.
    NoChange,
}

/// Where a timing was compared: against stored runs, or paired in this job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "against", rename_all = "snake_case")]
pub enum TimingSource {
    /// Against the runs stored in the baseline.
    Stored,
    /// Base and head alternated over `rounds` rounds, `disturbed` of them left out.
    Paired {
        base_label: String,
        rounds: usize,
        disturbed: usize,
    },
}

/// A timing change and the rule that classified it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimingReason {
    pub rule: TimingRule,
    pub source: TimingSource,
    pub ratio: f64,
    pub ratio_low: f64,
    pub ratio_high: f64,
    pub p_adjusted: f64,
    pub alpha: f64,
    /// The practical threshold that applied, as a fraction.
    pub threshold: f64,
}

/// Which rule of [`crate::compare::counts`] decided an instruction count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountRule {
    /// Instructions or estimated cycles grew beyond the threshold.
    More,
    /// Fewer beyond the threshold, and neither figure grew beyond it.
    Fewer,
    /// The baseline's own runs spread as far as the threshold: counts cannot decide.
    TooJittery,
    /// Both figures within the threshold.
    Same,
}

/// An instruction count and the rule that classified it: counts are
/// deterministic up to the jitter the baseline's runs show, so no t-test;
/// a change beyond the threshold is a change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountReason {
    pub rule: CountRule,
    /// current / baseline instructions per iteration.
    pub instructions: f64,
    /// current / baseline estimated cycles per iteration.
    pub estimated_cycles: f64,
    /// The baseline runs' spread, as a fraction of their median.
    pub jitter: f64,
    /// The practical threshold that applied, as a fraction.
    pub threshold: f64,
}

impl CountReason {
    pub fn verdict(&self) -> Verdict {
        match self.rule {
            CountRule::More => Verdict::Regressed,
            CountRule::Fewer => Verdict::Improved,
            CountRule::TooJittery => Verdict::Inconclusive,
            CountRule::Same => Verdict::Unchanged,
        }
    }

    /// `instructions +3.1%, estimated cycles +2.9%`
    pub fn figures(&self) -> String {
        format!(
            "instructions {}, estimated cycles {}",
            percent_fine(self.instructions),
            percent_fine(self.estimated_cycles)
        )
    }

    /// The rule in words, without the figures.
    pub fn words(&self) -> String {
        let limit = format!("{:.1}%", self.threshold * 100.0);
        let jitter = format!("{:.3}%", self.jitter * 100.0);
        match self.rule {
            CountRule::More => format!(
                "more work than the baseline, beyond the {limit} threshold (its runs agree within {jitter})"
            ),
            CountRule::Fewer => format!(
                "less work than the baseline, beyond the {limit} threshold (its runs agree within {jitter})"
            ),
            CountRule::TooJittery => format!(
                "the baseline's runs of it spread by {jitter}, as far as the {limit} threshold: counts cannot tell; raise its threshold, or measure it by time"
            ),
            CountRule::Same => format!("within the {limit} threshold"),
        }
    }

    pub fn describe(&self) -> String {
        format!("{}: {}", self.figures(), self.words())
    }
}

/// A ratio as a signed percentage with two decimals: `1.0312` -> `+3.12%`.
pub(crate) fn percent_fine(ratio: f64) -> String {
    format!("{:+.2}%", (ratio - 1.0) * 100.0)
}

/// What a paired re-run made of a benchmark a stored comparison suspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Regressed (or improved) against the stored baseline and so again in the paired re-run.
    Confirmed,
    /// Only screened as slower against the stored baseline; the re-run shows the regression.
    Revealed,
    /// The re-run does not show the stored change: it was noise, or the machine.
    Dismissed,
    /// The re-run could not measure it at both revisions; the stored verdict stands.
    Unmeasured,
}

/// A probe's statement counts and the rule that decided them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum QueryReason {
    /// More statements than `max_queries`; `grown` says what grew against the
    /// baseline when it had fewer (`before`).
    OverBudget {
        total: u64,
        budget: u64,
        before: Option<u64>,
        grown: Vec<FingerprintDiff>,
    },
    /// Counts differed between the repeats of the current run.
    Unstable {
        repeat_totals: Vec<u64>,
        fingerprints: Vec<String>,
    },
    /// Fingerprints whose count per request grows with the data scale, where
    /// the probe is new or they did not grow in the baseline: N+1s by evidence.
    GrowsWithData {
        total: u64,
        /// Statements in the baseline, when it has the probe.
        before: Option<u64>,
        growing: Vec<super::Growth>,
    },
    /// Not in the baseline.
    New { total: u64 },
    /// More statements than the baseline plus `allow`, or a fingerprint grew beyond it.
    Grew {
        before: u64,
        total: u64,
        allow: u64,
        grown: Vec<FingerprintDiff>,
    },
    /// Fewer statements than the baseline.
    Fewer { before: u64, total: u64 },
    /// The same statements as the baseline.
    Same { before: u64, total: u64 },
    /// Grew, but within `allow`.
    WithinAllow { before: u64, total: u64, allow: u64 },
}

/// A head whose requests failed where the base's did not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRise {
    pub base_rate: f64,
    pub head_rate: f64,
    /// The head's failures by kind, most frequent first: `HTTP 500 x 12`.
    pub kinds: Vec<String>,
}

/// Error rate above which a head fails where the base had no error.
pub const LOAD_ERROR_RATE: f64 = 0.01;

/// A load probe's latency quantile, paired round by round, and its errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReason {
    /// `p95`.
    pub quantile: String,
    /// The quantile over every round, base and head, ms.
    pub base_ms: f64,
    pub head_ms: f64,
    /// The rounds' ratios and the timing rule that classified them.
    pub latency: TimingReason,
    /// Set when the head failed more than 1% of its requests where the base
    /// failed none: `regressed`, whatever the latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorRise>,
}

impl LoadReason {
    pub fn verdict(&self) -> Verdict {
        if self.errors.is_some() {
            Verdict::Regressed
        } else {
            self.latency.verdict()
        }
    }

    pub fn describe(&self) -> String {
        let latency = format!(
            "{} {:.1} ms -> {:.1} ms; {}",
            self.quantile,
            self.base_ms,
            self.head_ms,
            self.latency.describe()
        );
        match &self.errors {
            Some(errors) => format!(
                "{:.1}% of requests failed at head ({}), none at the base (more than {:.0}% fails the gate); {latency}",
                errors.head_rate * 100.0,
                errors.kinds.join(", "),
                LOAD_ERROR_RATE * 100.0
            ),
            None => latency,
        }
    }
}

/// Why an entry of the comparison got its verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// A benchmark measured at both sides, decided by the statistics.
    Timing(TimingReason),
    /// A benchmark measured by instructions at both sides.
    Counts(CountReason),
    /// A stored-mode suspect settled by a paired re-run.
    Confirmation {
        outcome: Confirmation,
        stored: TimingReason,
        /// The paired re-run's reason; `None` when it could not measure.
        paired: Option<Box<Reason>>,
    },
    /// A probe measured now (with or without a baseline).
    Queries(QueryReason),
    /// A load probe, base build against head build.
    Load(LoadReason),
    /// A benchmark measured now that the baseline does not hold.
    NewBench {
        /// Set when compared by a paired run: the base it had no counterpart at.
        paired_base: Option<String>,
    },
    /// In the baseline, not measured now.
    Missing {
        /// `bench` or `probe`.
        probe: bool,
        /// Set when found by a paired run: the base it was measured at.
        paired_base: Option<String>,
    },
    /// Not measured: the head's bench executable is byte for byte the one
    /// built from the base (a change to comments, docs or code the executable
    /// does not contain), so its timings cannot differ.
    Identical {
        /// The base it was built from, e.g. `merge-base 1a2b3c4d of HEAD and `main``.
        base_label: String,
        /// The bench target whose executables were compared.
        target: String,
    },
    /// Not measured paired: the head's source tree is the base's, with no
    /// uncommitted change, so there is nothing to compare; a difference from a
    /// stored baseline is the machine's, not the code's.
    SameSource {
        /// The base whose tree the head's equals.
        base_label: String,
    },
    /// Not measured: the check's time budget ran out before the benchmark's
    /// first paired round.
    OutOfBudget {
        /// The base it was to be paired with.
        base_label: String,
    },
    /// A regression turned `accepted` by a `Perf-Accepted` commit trailer.
    Accepted {
        regression: Box<Reason>,
        acceptance: Acceptance,
    },
    /// Read from a comparison file written before reasons were stored as data:
    /// its verdict and its words.
    Described {
        verdict: Verdict,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accepted: Option<Acceptance>,
    },
}

/// A significance level with at most three decimals and no trailing zeros:
/// `0.05` -> `0.05`, `0.0277210535` (a sequential look's level) -> `0.028`.
pub(crate) fn level(alpha: f64) -> String {
    let text = format!("{alpha:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "0" || text.is_empty() {
        format!("{alpha:.1e}")
    } else {
        text.to_string()
    }
}

/// A ratio as a signed percentage: `1.3` -> `+30.0%`.
pub(crate) fn percent(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}

impl TimingReason {
    pub fn verdict(&self) -> Verdict {
        match self.rule {
            TimingRule::Slower => Verdict::Regressed,
            TimingRule::Faster => Verdict::Improved,
            TimingRule::TooNoisy => Verdict::Inconclusive,
            TimingRule::SmallChange | TimingRule::NoChange => Verdict::Unchanged,
        }
    }

    /// The standard wording, e.g. `slower by +30.0% [+24.1%, +36.1%]: significant ...`.
    pub fn describe(&self) -> String {
        let interval = format!(
            "{} [{}, {}]",
            percent(self.ratio),
            percent(self.ratio_low),
            percent(self.ratio_high)
        );
        let limit = format!("{:.1}%", self.threshold * 100.0);
        let (p_adjusted, alpha) = (self.p_adjusted, level(self.alpha));
        let rule = match self.rule {
            TimingRule::Slower => format!(
                "slower by {interval}: significant (Holm-adjusted p = {p_adjusted:.2e} < {alpha}) and the interval reaches the {limit} threshold"
            ),
            TimingRule::Faster => format!(
                "faster by {interval}: significant (Holm-adjusted p = {p_adjusted:.2e}) and the interval reaches the {limit} threshold"
            ),
            TimingRule::TooNoisy => {
                let hint = match self.source {
                    TimingSource::Stored => "record more baseline runs or use --paired",
                    TimingSource::Paired { .. } => "raise --max-rounds",
                };
                format!(
                    "{interval}: the interval holds both no change and a {limit} change; too noisy to tell ({hint})"
                )
            }
            TimingRule::SmallChange => format!(
                "{interval}: a real but small change; the interval stays within the {limit} threshold"
            ),
            TimingRule::NoChange => format!("{interval}: no change beyond the {limit} threshold"),
        };
        match &self.source {
            TimingSource::Stored => rule,
            TimingSource::Paired {
                base_label,
                rounds,
                disturbed,
            } => {
                let dropped = match disturbed {
                    0 => String::new(),
                    1 => {
                        " (1 left out as disturbed: its ratio was far from the others)".to_string()
                    }
                    n => format!(
                        " ({n} left out as disturbed: their ratios were far from the others)"
                    ),
                };
                format!("paired against the {base_label} over {rounds} rounds{dropped}: {rule}")
            }
        }
    }
}

/// `` `SELECT ... FROM products WHERE id = ?` 1 -> 49 (N+1) ``.
pub fn describe_diff(diff: &FingerprintDiff) -> String {
    let marker = if diff.n_plus_one { " (N+1)" } else { "" };
    format!(
        "`{}` {} -> {}{marker}",
        diff.readable, diff.before, diff.after
    )
}

fn describe_growth(text: &mut String, grown: &[FingerprintDiff]) {
    if !grown.is_empty() {
        let details: Vec<String> = grown.iter().map(describe_diff).collect();
        let _ = write!(text, ": {}", details.join(", "));
    }
}

impl QueryReason {
    pub fn verdict(&self) -> Verdict {
        match self {
            QueryReason::OverBudget { .. }
            | QueryReason::Grew { .. }
            | QueryReason::GrowsWithData { .. } => Verdict::Regressed,
            QueryReason::Unstable { .. } => Verdict::Inconclusive,
            QueryReason::New { .. } => Verdict::New,
            QueryReason::Fewer { .. } => Verdict::Improved,
            QueryReason::Same { .. } | QueryReason::WithinAllow { .. } => Verdict::Unchanged,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            QueryReason::OverBudget {
                total,
                budget,
                before,
                grown,
            } => {
                let over = format!("{total} statements exceed the budget max_queries = {budget}");
                match before.filter(|before| total > before) {
                    Some(before) => {
                        let mut text = format!("statements {before} -> {total}");
                        describe_growth(&mut text, grown);
                        format!("{text}; {over}")
                    }
                    None => over,
                }
            }
            QueryReason::Unstable {
                repeat_totals,
                fingerprints,
            } => format!(
                "statement counts differed between repeats ({repeat_totals:?}) for {}; the endpoint is not deterministic",
                fingerprints.join(", ")
            ),
            QueryReason::GrowsWithData {
                total,
                before,
                growing,
            } => {
                let details: Vec<String> = growing.iter().map(super::Growth::describe).collect();
                let start = match before {
                    Some(before) => format!("statements {before} -> {total}"),
                    None => format!("{total} statements, not in the baseline yet"),
                };
                format!("{start}; N+1 by evidence: {}", details.join(", "))
            }
            QueryReason::New { total } => format!("{total} statements; not in the baseline yet"),
            QueryReason::Grew {
                before,
                total,
                allow,
                grown,
            } => {
                let mut text = format!("statements {before} -> {total}");
                if *allow > 0 {
                    let _ = write!(text, " (allow = {allow})");
                }
                describe_growth(&mut text, grown);
                text
            }
            QueryReason::Fewer { before, total } => format!("statements {before} -> {total}"),
            QueryReason::Same { before, total } => {
                format!("statements {before} -> {total}, every fingerprint the same")
            }
            QueryReason::WithinAllow {
                before,
                total,
                allow,
            } => format!("statements {before} -> {total} within allow = {allow}"),
        }
    }
}

impl Reason {
    /// The verdict this reason gives.
    pub fn verdict(&self) -> Verdict {
        match self {
            Reason::Timing(timing) => timing.verdict(),
            Reason::Counts(counts) => counts.verdict(),
            Reason::Confirmation {
                outcome,
                stored,
                paired,
            } => match outcome {
                // What the stored comparison said, regressed or improved.
                Confirmation::Confirmed | Confirmation::Unmeasured => stored.verdict(),
                Confirmation::Revealed => Verdict::Regressed,
                Confirmation::Dismissed => {
                    if paired
                        .as_ref()
                        .is_some_and(|p| p.verdict() == Verdict::Inconclusive)
                    {
                        Verdict::Inconclusive
                    } else {
                        Verdict::Unchanged
                    }
                }
            },
            Reason::Queries(queries) => queries.verdict(),
            Reason::Load(load) => load.verdict(),
            Reason::NewBench { .. } => Verdict::New,
            Reason::Identical { .. } | Reason::SameSource { .. } => Verdict::Unchanged,
            Reason::OutOfBudget { .. } => Verdict::Inconclusive,
            Reason::Missing { .. } => Verdict::Missing,
            Reason::Accepted { .. } => Verdict::Accepted,
            Reason::Described { verdict, .. } => *verdict,
        }
    }

    /// The `Perf-Accepted` trailer that accepted this regression, if one did.
    pub fn acceptance(&self) -> Option<&Acceptance> {
        match self {
            Reason::Accepted { acceptance, .. } => Some(acceptance),
            Reason::Described { accepted, .. } => accepted.as_ref(),
            _ => None,
        }
    }

    /// The standard wording of the rule (the comparison file's `rule`).
    pub fn describe(&self) -> String {
        match self {
            Reason::Timing(timing) => timing.describe(),
            Reason::Counts(counts) => counts.describe(),
            Reason::Confirmation {
                outcome,
                stored,
                paired,
            } => {
                let not_rerun = matches!(paired.as_deref(), Some(Reason::SameSource { .. }));
                let stored = stored.describe();
                let paired = paired.as_ref().map(|p| p.describe()).unwrap_or_default();
                match outcome {
                    Confirmation::Dismissed if not_rerun => format!(
                        "dismissed without a re-run: {paired}; against the stored baseline it looked {stored}"
                    ),
                    Confirmation::Confirmed => {
                        format!("{stored}; confirmed by a paired re-run: {paired}")
                    }
                    Confirmation::Revealed => format!(
                        "slower than the stored baseline ({stored}), so re-run paired, which shows the regression: {paired}"
                    ),
                    Confirmation::Dismissed => format!(
                        "dismissed as noise by a paired re-run: {paired}; against the stored baseline it looked {stored}"
                    ),
                    Confirmation::Unmeasured => format!(
                        "{stored}; a paired re-run could not measure it at both revisions, so this verdict stands"
                    ),
                }
            }
            Reason::Queries(queries) => queries.describe(),
            Reason::Load(load) => load.describe(),
            Reason::NewBench { paired_base: None } => {
                "measured now but not in the baseline; it is gated once a baseline holds it".into()
            }
            Reason::NewBench {
                paired_base: Some(base),
            } => format!("measured at head but not at the {base}; nothing to pair it with"),
            Reason::Identical { base_label, target } => format!(
                "bench target `{target}` builds to the same executable as at the {base_label}, byte for byte: unchanged without measuring"
            ),
            Reason::SameSource { base_label } => format!(
                "the head's source is the {base_label}'s (same tree, nothing uncommitted): unchanged without measuring; a difference from the stored baseline is the machine's"
            ),
            Reason::OutOfBudget { base_label } => format!(
                "not measured paired against the {base_label}: the time budget ran out before its first round; a longer --budget (or [gate].budget) would measure it"
            ),
            Reason::Missing {
                probe,
                paired_base: None,
            } => format!(
                "in the baseline but not {} now (renamed or removed?), which fails the gate: if that is intended, accept it with a `{ACCEPT_TRAILER}: <id-glob>: <reason>` commit trailer",
                if *probe { "probed" } else { "measured" }
            ),
            Reason::Missing {
                paired_base: Some(base),
                ..
            } => format!(
                "measured at the {base} but not at head (renamed or removed?), which fails the gate: if that is intended, accept it with a `{ACCEPT_TRAILER}: <id-glob>: <reason>` commit trailer"
            ),
            Reason::Accepted {
                regression,
                acceptance,
            } => format!(
                "{}; accepted by `{}: {}` in commit {} by {}: {}",
                regression.describe(),
                ACCEPT_TRAILER,
                acceptance.pattern,
                crate::revision::short_id(&acceptance.commit),
                acceptance.author,
                acceptance.reason
            ),
            Reason::Described { text, .. } => text.clone(),
        }
    }
}
