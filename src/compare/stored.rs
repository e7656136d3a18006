//! Stored mode: the current runs of each benchmark against the runs stored in
//! the baseline ([`stats::compare_runs`]), Holm-adjusted across the suite; and
//! the warning when most of a suite moved together (a machine in another state
//! than when the baselines were recorded, which only a paired run tells apart
//! from a change that affects everything).

use std::collections::{BTreeMap, BTreeSet};

use super::{CompareOptions, measured_bench, summaries};
use crate::comparison::{BenchChange, Entry, Reason, Subject, TimingMode, TimingSource, percent};
use crate::results::{BenchResult, Measure};
use crate::stats;

/// A benchmark in the baseline that is not measured now.
pub fn missing_bench(id: &str, suite: &str, paired_base: Option<&str>) -> Entry {
    Entry {
        id: id.to_string(),
        subject: Subject::Bench {
            suite: suite.to_string(),
            change: None,
        },
        reason: Reason::Missing {
            probe: false,
            paired_base: paired_base.map(str::to_string),
        },
    }
}

/// A benchmark measured now that the baseline does not hold.
pub fn new_bench(id: &str, suite: &str, paired_base: Option<&str>) -> Entry {
    Entry {
        id: id.to_string(),
        subject: Subject::Bench {
            suite: suite.to_string(),
            change: None,
        },
        reason: Reason::NewBench {
            paired_base: paired_base.map(str::to_string),
        },
    }
}

pub(super) fn compare_benches(
    baseline: &BTreeMap<String, BenchResult>,
    current: &BTreeMap<String, BenchResult>,
    options: &CompareOptions,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut measured = Vec::new();
    let ids: BTreeSet<&String> = baseline.keys().chain(current.keys()).collect();
    for id in ids {
        match (baseline.get(id), current.get(id)) {
            (Some(base), None) => entries.push(missing_bench(id, &base.suite, None)),
            (None, Some(now)) => entries.push(new_bench(id, &now.suite, None)),
            // Runs of the two measures never mix: a suite that switched
            // measure has no baseline yet ([`measure_changes`] says so).
            (Some(base), Some(now)) if base.measure != now.measure => {
                entries.push(new_bench(id, &now.suite, None));
            }
            (Some(base), Some(now)) if now.measure == Measure::Instructions => {
                let threshold = options.count_threshold(&now.suite);
                match super::counts::compare_bench(id, base, now, threshold) {
                    Some(entry) => entries.push(entry),
                    None => entries.push(new_bench(id, &now.suite, None)),
                }
            }
            (Some(base), Some(now)) => {
                let change = stats::compare_runs(
                    &summaries(base),
                    &summaries(now),
                    options.noise,
                    options.confidence,
                );
                measured.push((id.clone(), base, now, change));
            }
            (None, None) => unreachable!("the id came from one of the maps"),
        }
    }
    let adjusted = stats::holm_adjust(&measured.iter().map(|m| m.3.p_value).collect::<Vec<_>>());
    for ((id, base, now, change), p_adjusted) in measured.into_iter().zip(adjusted) {
        entries.push(measured_bench(
            id,
            now.suite.clone(),
            base,
            now,
            &change,
            p_adjusted,
            options,
            TimingSource::Stored,
        ));
    }
    entries
}

/// A warning per suite whose baseline holds the other measure than this run:
/// its benchmarks are `new` until a baseline of this measure is recorded.
pub(super) fn measure_changes(
    baseline: &BTreeMap<String, BenchResult>,
    current: &BTreeMap<String, BenchResult>,
) -> Vec<String> {
    let mut changed: BTreeMap<(&str, Measure, Measure), usize> = BTreeMap::new();
    for (id, now) in current {
        if let Some(base) = baseline.get(id).filter(|base| base.measure != now.measure) {
            *changed
                .entry((now.suite.as_str(), base.measure, now.measure))
                .or_default() += 1;
        }
    }
    changed
        .into_iter()
        .map(|((suite, before, now), count)| {
            format!(
                "[[bench]] {suite:?}: the baseline measured {} and this run measured {} ({count} benchmark(s)); the two never mix, so they are `new` until `perfguard baseline record` records {} on the base branch",
                before.as_str(),
                now.as_str(),
                now.as_str()
            )
        })
        .collect()
}

/// Benchmarks a suite-wide shift needs before it is called one.
const SHIFT_MIN_BENCHMARKS: usize = 5;

/// A warning when the stored-mode benchmarks moved together: most of them in
/// the same direction, by a median at least the smallest threshold. A machine
/// in another state than when the baselines were recorded (other load, CPU
/// frequency, another runner type) moves a whole suite alike, and hides or
/// fakes changes of that size; so can a change to something every benchmark
/// uses. Paired runs tell the two apart.
pub(super) fn machine_shift(entries: &[Entry]) -> Option<String> {
    let stored: Vec<&BenchChange> = entries
        .iter()
        .filter_map(Entry::bench)
        .filter(|b| b.mode == TimingMode::Stored && b.measure == Measure::Time)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, ratio: f64) -> Entry {
        Entry {
            id: id.into(),
            subject: Subject::Bench {
                suite: "core".into(),
                change: Some(BenchChange {
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
                    measure: Default::default(),
                    counts: None,
                }),
            },
            reason: Reason::NewBench { paired_base: None },
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
