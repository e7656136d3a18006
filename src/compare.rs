//! Compares a baseline with current results and produces the [`Comparison`]:
//! timings through the statistics in [`crate::stats`], query counts exactly.

use std::collections::{BTreeMap, BTreeSet};

use crate::comparison::{
    BenchChange, COMPARISON_SCHEMA, Comparison, Entry, EntryKind, FingerprintDiff, Outcome,
    ProbeChange, Side, TimingMode, Verdict,
};
use crate::results::{BenchResult, ProbeResult, Results};
use crate::stats::{self, NoiseModel, RunSummary, TimingVerdict};

/// A fingerprint that runs this many times in one request is marked N+1.
pub const N_PLUS_ONE_COUNT: u64 = 5;

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
}

fn percent(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}

/// Compare `current` against `baseline`.
pub fn compare(
    baseline: &Results,
    baseline_source: &str,
    current: &Results,
    options: &CompareOptions,
) -> Comparison {
    let mut entries = compare_benches(&baseline.benches, &current.benches, options);
    entries.extend(compare_probes(&baseline.probes, &current.probes));
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
    if let Some(warning) = machine_shift(&entries) {
        warnings.push(warning);
    }
    let mut comparison = Comparison {
        schema: COMPARISON_SCHEMA.to_string(),
        baseline: Side {
            revision: baseline.revision.clone(),
            machine: baseline.machine.clone(),
            source: baseline_source.to_string(),
        },
        current: Side {
            revision: current.revision.clone(),
            machine: current.machine.clone(),
            source: "measured".into(),
        },
        base_ref: None,
        reproduce: None,
        alpha: options.alpha,
        entries,
        warnings,
        counts: BTreeMap::new(),
        outcome: Outcome::Pass,
    };
    comparison.finish();
    comparison
}

/// Benchmarks a suite-wide shift needs before it is called one.
const SHIFT_MIN_BENCHMARKS: usize = 5;

/// A warning when the stored-mode benchmarks moved together: most of them in
/// the same direction, by a median at least the smallest threshold. A machine
/// in another state than when the baselines were recorded (other load, CPU
/// frequency, another runner type) moves a whole suite alike, and hides or
/// fakes changes of that size; so can a change to something every benchmark
/// uses. Paired runs tell the two apart.
fn machine_shift(entries: &[Entry]) -> Option<String> {
    let stored: Vec<&BenchChange> = entries
        .iter()
        .filter_map(|e| e.bench.as_ref())
        .filter(|b| b.mode == TimingMode::Stored)
        .collect();
    if stored.len() < SHIFT_MIN_BENCHMARKS {
        return None;
    }
    let mut logs: Vec<f64> = stored.iter().map(|b| b.ratio.ln()).collect();
    logs.sort_by(f64::total_cmp);
    let median = logs[logs.len() / 2];
    let same_direction = logs
        .iter()
        .filter(|l| l.signum() == median.signum())
        .count();
    let smallest_threshold = stored
        .iter()
        .map(|b| b.threshold)
        .fold(f64::INFINITY, f64::min);
    if median.abs() < (1.0 + smallest_threshold).ln() || same_direction * 4 < stored.len() * 3 {
        return None;
    }
    Some(format!(
        "{same_direction} of {} benchmarks moved together against the stored baseline, by a median of {}: either a change that affects every benchmark alike, or a machine in another state than when the baselines were recorded (other load, CPU frequency, another runner), which hides or fakes changes of that size; `check --paired` tells the two apart",
        stored.len(),
        percent(median.exp())
    ))
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

fn compare_benches(
    baseline: &BTreeMap<String, BenchResult>,
    current: &BTreeMap<String, BenchResult>,
    options: &CompareOptions,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut measured = Vec::new();
    let ids: BTreeSet<&String> = baseline.keys().chain(current.keys()).collect();
    for id in ids {
        match (baseline.get(id), current.get(id)) {
            (Some(base), None) => entries.push(Entry {
                id: id.clone(),
                kind: EntryKind::Bench,
                suite: base.suite.clone(),
                verdict: Verdict::Missing,
                rule: "in the baseline but not measured now (renamed or removed?); re-record the baselines if that is intended".into(),
                bench: None,
                probe: None,
                accepted: None,
            }),
            (None, Some(now)) => entries.push(Entry {
                id: id.clone(),
                kind: EntryKind::Bench,
                suite: now.suite.clone(),
                verdict: Verdict::New,
                rule: "measured now but not in the baseline; it is gated once a baseline holds it".into(),
                bench: None,
                probe: None,
                accepted: None,
            }),
            (Some(base), Some(now)) => {
                let change = stats::compare_runs(&summaries(base), &summaries(now), options.noise, options.confidence);
                measured.push((id.clone(), now.suite.clone(), base, now, change));
            }
            (None, None) => unreachable!("the id came from one of the maps"),
        }
    }
    let adjusted = stats::holm_adjust(&measured.iter().map(|m| m.4.p_value).collect::<Vec<_>>());
    for ((id, suite, base, now, change), p_adjusted) in measured.into_iter().zip(adjusted) {
        let threshold = options.threshold(&suite);
        let (verdict, rule) = timing_verdict(
            &change,
            p_adjusted,
            threshold,
            options.alpha,
            "record more baseline runs or use --paired",
        );
        entries.push(Entry {
            id,
            kind: EntryKind::Bench,
            suite,
            verdict,
            rule,
            bench: Some(BenchChange {
                mode: TimingMode::Stored,
                baseline_ns: typical_ns(base),
                current_ns: typical_ns(now),
                ratio: change.ratio,
                ratio_low: change.ratio_low,
                ratio_high: change.ratio_high,
                confidence: options.confidence,
                p_value: change.p_value,
                p_adjusted,
                threshold,
                baseline_runs: base.runs.len(),
                current_runs: now.runs.len(),
                baseline_samples_ns: base.runs[0].per_iteration_ns.clone(),
                current_samples_ns: now.runs[0].per_iteration_ns.clone(),
                confirmed: None,
            }),
            probe: None,
            accepted: None,
        });
    }
    entries
}

/// The verdict of one timing change and the rule that decided it, in words.
/// `noisy_hint` tells the user how to sharpen an inconclusive result.
pub fn timing_verdict(
    change: &stats::Change,
    p_adjusted: f64,
    threshold: f64,
    alpha: f64,
    noisy_hint: &str,
) -> (Verdict, String) {
    let interval = format!(
        "{} [{}, {}]",
        percent(change.ratio),
        percent(change.ratio_low),
        percent(change.ratio_high)
    );
    let limit = format!("{:.1}%", threshold * 100.0);
    match stats::classify(change, p_adjusted, threshold, alpha) {
        TimingVerdict::Regressed => (
            Verdict::Regressed,
            format!(
                "slower by {interval}: significant (Holm-adjusted p = {p_adjusted:.2e} < {alpha}) and the interval reaches the {limit} threshold"
            ),
        ),
        TimingVerdict::Improved => (
            Verdict::Improved,
            format!(
                "faster by {interval}: significant (Holm-adjusted p = {p_adjusted:.2e}) and the interval reaches the {limit} threshold"
            ),
        ),
        TimingVerdict::Inconclusive => (
            Verdict::Inconclusive,
            format!(
                "{interval}: the interval holds both no change and a {limit} change; too noisy to tell ({noisy_hint})"
            ),
        ),
        TimingVerdict::Unchanged => (
            Verdict::Unchanged,
            if p_adjusted < alpha {
                format!(
                    "{interval}: a real but small change; the interval stays within the {limit} threshold"
                )
            } else {
                format!("{interval}: no change beyond the {limit} threshold")
            },
        ),
    }
}

/// Per-fingerprint counts before and after, every fingerprint of either side.
fn fingerprint_diffs(base: Option<&ProbeResult>, now: &ProbeResult) -> Vec<FingerprintDiff> {
    let empty = BTreeMap::new();
    let before = base.map(|b| &b.statements).unwrap_or(&empty);
    let keys: BTreeSet<&String> = before.keys().chain(now.statements.keys()).collect();
    let mut diffs: Vec<FingerprintDiff> = keys
        .into_iter()
        .map(|key| {
            let old = before.get(key);
            let new = now.statements.get(key);
            let after = new.map_or(0, |c| c.count);
            FingerprintDiff {
                fingerprint: key.clone(),
                readable: new.or(old).map(|c| c.readable.clone()).unwrap_or_default(),
                before: old.map_or(0, |c| c.count),
                after,
                n_plus_one: after >= N_PLUS_ONE_COUNT,
            }
        })
        .collect();
    diffs.sort_by(|a, b| {
        let growth = |d: &FingerprintDiff| d.after as i64 - d.before as i64;
        growth(b)
            .cmp(&growth(a))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    diffs
}

fn excluded_total(probe: &ProbeResult) -> u64 {
    probe.excluded.values().map(|c| c.count).sum()
}

fn describe(diff: &FingerprintDiff) -> String {
    let marker = if diff.n_plus_one { " (N+1)" } else { "" };
    format!(
        "`{}` {} -> {}{marker}",
        diff.readable, diff.before, diff.after
    )
}

fn compare_probes(
    baseline: &BTreeMap<String, ProbeResult>,
    current: &BTreeMap<String, ProbeResult>,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let ids: BTreeSet<&String> = baseline.keys().chain(current.keys()).collect();
    for id in ids {
        let base = baseline.get(id);
        let Some(now) = current.get(id) else {
            let base = base.expect("the id came from one of the maps");
            entries.push(Entry {
                id: id.clone(),
                kind: EntryKind::Probe,
                suite: "probes".into(),
                verdict: Verdict::Missing,
                rule: "in the baseline but not probed now (renamed or removed?); re-record the baselines if that is intended".into(),
                bench: None,
                probe: Some(ProbeChange {
                    endpoint: base.endpoint.clone(),
                    baseline_total: Some(base.total_statements),
                    current_total: None,
                    max_queries: base.max_queries,
                    allow: base.allow,
                    changed: Vec::new(),
                    unstable: Vec::new(),
                    excluded_before: excluded_total(base),
                    excluded_after: 0,
                    fingerprints: Vec::new(),
                }),
                accepted: None,
            });
            continue;
        };
        let fingerprints = fingerprint_diffs(base, now);
        let changed: Vec<FingerprintDiff> = fingerprints
            .iter()
            .filter(|d| d.before != d.after)
            .cloned()
            .collect();
        let allow = now.allow;
        let (verdict, rule) = probe_verdict(base, now, &changed, allow);
        entries.push(Entry {
            id: id.clone(),
            kind: EntryKind::Probe,
            suite: "probes".into(),
            verdict,
            rule,
            bench: None,
            probe: Some(ProbeChange {
                endpoint: now.endpoint.clone(),
                baseline_total: base.map(|b| b.total_statements),
                current_total: Some(now.total_statements),
                max_queries: now.max_queries,
                allow,
                changed,
                unstable: now.unstable.clone(),
                excluded_before: base.map_or(0, excluded_total),
                excluded_after: excluded_total(now),
                fingerprints,
            }),
            accepted: None,
        });
    }
    entries
}

fn probe_verdict(
    base: Option<&ProbeResult>,
    now: &ProbeResult,
    changed: &[FingerprintDiff],
    allow: u64,
) -> (Verdict, String) {
    let total = now.total_statements;
    if let Some(budget) = now.max_queries.filter(|budget| total > *budget) {
        let over_budget = format!("{total} statements exceed the budget max_queries = {budget}");
        // Say what grew too, when the baseline knows: that is what the reviewer fixes.
        let growth = base
            .map(|base| {
                let grown: Vec<String> = changed
                    .iter()
                    .filter(|d| d.after > d.before + allow)
                    .map(describe)
                    .collect();
                let mut text = format!("statements {} -> {total}", base.total_statements);
                if !grown.is_empty() {
                    text.push_str(&format!(": {}", grown.join(", ")));
                }
                text
            })
            .filter(|_| base.is_some_and(|b| total > b.total_statements));
        let rule = match growth {
            Some(growth) => format!("{growth}; {over_budget}"),
            None => over_budget,
        };
        return (Verdict::Regressed, rule);
    }
    if !now.unstable.is_empty() {
        return (
            Verdict::Inconclusive,
            format!(
                "statement counts differed between repeats ({:?}) for {}; the endpoint is not deterministic",
                now.repeat_totals,
                now.unstable.join(", ")
            ),
        );
    }
    let Some(base) = base else {
        return (
            Verdict::New,
            format!("{total} statements; not in the baseline yet"),
        );
    };
    let before = base.total_statements;
    let grown: Vec<&FingerprintDiff> = changed
        .iter()
        .filter(|d| d.after > d.before + allow)
        .collect();
    let allowance = if allow > 0 {
        format!(" (allow = {allow})")
    } else {
        String::new()
    };
    if total > before + allow || !grown.is_empty() {
        let details: Vec<String> = grown.iter().map(|d| describe(d)).collect();
        let mut rule = format!("statements {before} -> {total}{allowance}");
        if !details.is_empty() {
            rule.push_str(&format!(": {}", details.join(", ")));
        }
        return (Verdict::Regressed, rule);
    }
    if total < before {
        return (Verdict::Improved, format!("statements {before} -> {total}"));
    }
    if changed.is_empty() {
        (
            Verdict::Unchanged,
            format!("statements {before} -> {total}, every fingerprint the same"),
        )
    } else {
        (
            Verdict::Unchanged,
            format!("statements {before} -> {total} within allow = {allow}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, ratio: f64) -> Entry {
        Entry {
            id: id.into(),
            kind: EntryKind::Bench,
            suite: "core".into(),
            verdict: Verdict::Unchanged,
            rule: String::new(),
            bench: Some(BenchChange {
                mode: TimingMode::Stored,
                baseline_ns: 100.0,
                current_ns: 100.0 * ratio,
                ratio,
                ratio_low: ratio * 0.95,
                ratio_high: ratio * 1.05,
                confidence: 0.95,
                p_value: 0.5,
                p_adjusted: 1.0,
                threshold: 0.05,
                baseline_runs: 3,
                current_runs: 1,
                baseline_samples_ns: vec![],
                current_samples_ns: vec![],
                confirmed: None,
            }),
            probe: None,
            accepted: None,
        }
    }

    #[test]
    fn a_suite_that_moved_together_is_called_a_machine_shift() {
        let faster: Vec<Entry> = [0.91, 0.90, 0.92, 0.89, 0.93, 1.01]
            .iter()
            .enumerate()
            .map(|(i, r)| stored(&format!("b{i}"), *r))
            .collect();
        let warning = machine_shift(&faster).expect("a shift");
        assert!(
            warning.starts_with("5 of 6 benchmarks moved together"),
            "{warning}"
        );
        assert!(
            warning.contains("-8.0%") && warning.contains("--paired"),
            "{warning}"
        );
        // One benchmark slower by 30%, the rest steady: a code change.
        let one: Vec<Entry> = [1.3, 1.0, 1.01, 0.99, 1.0, 1.0]
            .iter()
            .enumerate()
            .map(|(i, r)| stored(&format!("b{i}"), *r))
            .collect();
        assert_eq!(machine_shift(&one), None);
        // Too few benchmarks to tell a shift from a change.
        assert_eq!(machine_shift(&faster[..4]), None);
    }
}
