//! Paired mode: base and head measured alternately in one job, so the
//! machine's drift hits both sides alike and cancels in their ratio. Each
//! round gives one log ratio per benchmark; rounds whose ratio is far from the
//! others are left out as disturbed ([`stats::undisturbed_rounds`]);
//! [`stats::compare_paired`] tests the mean of the rest, and Holm's method
//! controls false alarms across the benchmarks measured.

use std::collections::BTreeMap;

use super::CompareOptions;
use super::timing::needs_more_rounds;
use crate::comparison::{Entry, TimingSource};
use crate::results::{BenchResult, BenchRun, PairedRuns};
use crate::stats;

/// One benchmark measured at both sides, and its change.
struct Measured {
    id: String,
    suite: String,
    base: BenchResult,
    head: BenchResult,
    change: stats::Change,
    p_adjusted: f64,
    /// Rounds left out because a run in them was disturbed.
    disturbed: usize,
}

/// Per benchmark measured at both sides: the mean of its per-round log
/// ratios, with p-values Holm-adjusted across those benchmarks.
fn changes(runs: &PairedRuns, options: &CompareOptions) -> Vec<Measured> {
    let mut measured = Vec::new();
    for (id, suite) in &runs.suites {
        let pairs: Vec<(&BenchRun, &BenchRun)> = runs
            .rounds
            .iter()
            .filter_map(|(base, head)| Some((base.get(id)?, head.get(id)?)))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let all_rounds: Vec<stats::PairedRound> = pairs
            .iter()
            .map(|(base, head)| stats::PairedRound {
                base: stats::summarize_run(&base.per_iteration_ns).log_location,
                head: stats::summarize_run(&head.per_iteration_ns).log_location,
            })
            .collect();
        let all_ratios: Vec<f64> = all_rounds.iter().map(|r| r.log_ratio()).collect();
        let keep = stats::undisturbed_rounds(&all_ratios);
        let kept_rounds: Vec<stats::PairedRound> = all_rounds
            .iter()
            .zip(&keep)
            .filter_map(|(round, keep)| keep.then_some(*round))
            .collect();
        let change = stats::compare_paired(&kept_rounds, options.noise, options.confidence);
        let as_result = |side: Vec<BenchRun>| BenchResult {
            suite: suite.clone(),
            runs: side,
        };
        measured.push(Measured {
            id: id.clone(),
            suite: suite.clone(),
            base: as_result(pairs.iter().map(|(b, _)| (*b).clone()).collect()),
            head: as_result(pairs.iter().map(|(_, h)| (*h).clone()).collect()),
            change,
            p_adjusted: f64::NAN,
            disturbed: keep.iter().filter(|k| !**k).count(),
        });
    }
    let adjusted = stats::holm_adjust(
        &measured
            .iter()
            .map(|m| m.change.p_value)
            .collect::<Vec<_>>(),
    );
    for (m, p) in measured.iter_mut().zip(adjusted) {
        m.p_adjusted = p;
    }
    measured
}

/// The benchmarks more rounds could still decide, by suite
/// ([`needs_more_rounds`]): not regressed, with an interval that still
/// reaches the threshold.
pub fn unsettled(runs: &PairedRuns, options: &CompareOptions) -> BTreeMap<String, Vec<String>> {
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for measured in changes(runs, options) {
        let threshold = options.threshold(&measured.suite);
        if needs_more_rounds(
            &measured.change,
            measured.p_adjusted,
            threshold,
            options.alpha,
        ) {
            by_suite
                .entry(measured.suite)
                .or_default()
                .push(measured.id);
        }
    }
    by_suite
}

/// Bench entries (mode `paired`) from paired runs: per benchmark the mean of
/// its per-round log ratios, Holm-adjusted across the benchmarks measured; a
/// benchmark measured at one side only is `missing` or `new`.
pub fn entries(runs: &PairedRuns, options: &CompareOptions, base_label: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (id, suite) in &runs.suites {
        let at_base = runs.rounds.iter().any(|(base, _)| base.contains_key(id));
        let at_head = runs.rounds.iter().any(|(_, head)| head.contains_key(id));
        if at_base && at_head {
            continue;
        }
        entries.push(if at_base {
            super::stored::missing_bench(id, suite, Some(base_label))
        } else {
            super::stored::new_bench(id, suite, Some(base_label))
        });
    }
    for measured in changes(runs, options) {
        let Measured {
            id,
            suite,
            base,
            head,
            change,
            p_adjusted,
            disturbed,
        } = measured;
        let rounds = base.runs.len();
        entries.push(super::measured_bench(
            id,
            suite,
            &base,
            &head,
            &change,
            p_adjusted,
            options,
            TimingSource::Paired {
                base_label: base_label.to_string(),
                rounds,
                disturbed,
            },
        ));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::{TimingMode, Verdict};

    fn run(ns: f64) -> BenchRun {
        BenchRun {
            per_iteration_ns: (0..20)
                .map(|i| ns * (1.0 + 0.001 * f64::from(i % 5)))
                .collect(),
        }
    }

    fn runs(base_ns: f64, head_ns: f64, rounds: usize) -> PairedRuns {
        let mut paired = PairedRuns::default();
        paired.suites.insert("a".into(), "core".into());
        for _ in 0..rounds {
            paired.rounds.push((
                [("a".to_string(), run(base_ns))].into(),
                [("a".to_string(), run(head_ns))].into(),
            ));
        }
        paired
    }

    #[test]
    fn only_an_unconfirmed_slowdown_gets_more_rounds() {
        let options = CompareOptions::default();
        let mut paired = PairedRuns::default();
        // Per round: "clear" is 30% slower, "same" equal, "noisy" +4% on
        // average but swinging by 10% from round to round.
        let swings = [1.14, 0.94, 1.12, 0.96, 1.04];
        for swing in swings {
            let mut base = BTreeMap::new();
            let mut head = BTreeMap::new();
            for (id, factor) in [("clear", 1.3), ("same", 1.0), ("noisy", swing)] {
                paired.suites.insert(id.into(), "core".into());
                base.insert(id.to_string(), run(100.0));
                head.insert(id.to_string(), run(100.0 * factor));
            }
            paired.rounds.push((base, head));
        }
        let unsettled = unsettled(&paired, &options);
        assert_eq!(
            unsettled,
            BTreeMap::from([("core".to_string(), vec!["noisy".to_string()])])
        );
        let verdicts: BTreeMap<String, Verdict> = entries(&paired, &options, "merge-base")
            .into_iter()
            .map(|e| (e.id.clone(), e.verdict()))
            .collect();
        assert_eq!(verdicts["clear"], Verdict::Regressed);
        assert_eq!(verdicts["same"], Verdict::Unchanged);
        assert_eq!(verdicts["noisy"], Verdict::Unchanged);
    }

    #[test]
    fn doubled_work_is_a_paired_regression_and_equal_work_is_not() {
        let options = CompareOptions::default();
        let doubled = entries(&runs(100.0, 200.0, 3), &options, "merge-base");
        assert_eq!(doubled[0].verdict(), Verdict::Regressed);
        assert_eq!(doubled[0].bench().unwrap().mode, TimingMode::Paired);
        let rule = doubled[0].rule();
        assert!(
            rule.starts_with("paired against the merge-base over 3 rounds: slower by"),
            "{rule}"
        );
        let same = entries(&runs(100.0, 100.0, 3), &options, "merge-base");
        assert_eq!(same[0].verdict(), Verdict::Unchanged);
    }
}
