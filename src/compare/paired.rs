//! Paired mode: base and head measured alternately in one job, so the
//! machine's drift hits both sides alike and cancels in their ratio. Each
//! round gives one log ratio per benchmark; rounds whose ratio is far from the
//! others are left out as disturbed ([`stats::undisturbed_rounds`]);
//! [`stats::compare_paired`] tests the mean of the rest, and Holm's method
//! controls false alarms across the benchmarks measured.

use std::collections::{BTreeMap, BTreeSet};

use super::CompareOptions;
use super::timing::{TimingVerdict, classify, needs_more_rounds};
use crate::comparison::{Entry, Reason, Subject, TimingSource};
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
            measure: crate::results::Measure::Time,
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

/// A sequential design for paired rounds: after `first` rounds, and after
/// every round from then on up to `max`, each benchmark still measured is
/// looked at; it stops as soon as it is settled. Settled means significant at
/// that look's level ([`stats::sequential_levels`]: alpha spent O'Brien-
/// Fleming-style, so the false-alarm rate over all looks stays alpha) and
/// beyond the threshold (`regressed` or `improved`), or an interval wholly
/// inside the threshold both ways (`unchanged`: stopping for that cannot raise
/// a false alarm). A benchmark still unsettled at the last look (or when the
/// budget runs out) is classified at that look's level.
#[derive(Clone, Debug)]
pub struct Sequential {
    first: u32,
    levels: Vec<f64>,
    /// The level each benchmark was decided at, once stopped.
    stopped: BTreeMap<String, f64>,
    /// The level of the last look made.
    last_level: f64,
}

impl Sequential {
    pub fn new(first: u32, max: u32, alpha: f64) -> Sequential {
        let first = first.clamp(1, max.max(1));
        let looks: Vec<u32> = (first..=max.max(first)).collect();
        let levels = stats::sequential_levels(&looks, max.max(first), alpha);
        Sequential {
            first,
            last_level: levels.first().copied().unwrap_or(alpha),
            levels,
            stopped: BTreeMap::new(),
        }
    }

    /// The level of the look after `rounds` rounds.
    fn level_at(&self, rounds: u32) -> f64 {
        let index = rounds.saturating_sub(self.first) as usize;
        self.levels[index.min(self.levels.len() - 1)]
    }

    /// Look after `rounds` rounds: stop what is settled; returns the
    /// benchmarks to measure in the next round. At the last look, everything stops.
    pub fn look(
        &mut self,
        runs: &PairedRuns,
        options: &CompareOptions,
        rounds: u32,
    ) -> BTreeSet<String> {
        let level = self.level_at(rounds);
        self.last_level = level;
        let last = rounds as usize >= self.first as usize + self.levels.len() - 1;
        let mut open = BTreeSet::new();
        for measured in changes(runs, options) {
            if self.stopped.contains_key(&measured.id) {
                continue;
            }
            let threshold = options.threshold(&measured.suite);
            let decided = matches!(
                classify(&measured.change, measured.p_adjusted, threshold, level),
                TimingVerdict::Regressed | TimingVerdict::Improved
            );
            let inside = measured.change.ratio_high < 1.0 + threshold
                && measured.change.ratio_low > 1.0 / (1.0 + threshold);
            if decided || inside || last {
                self.stopped.insert(measured.id, level);
            } else {
                open.insert(measured.id);
            }
        }
        open
    }

    /// Stop what is still open (the budget ran out) at the last look's level.
    pub fn stop_all(&mut self, runs: &PairedRuns) {
        for id in runs.suites.keys() {
            self.stopped.entry(id.clone()).or_insert(self.last_level);
        }
    }

    /// The levels benchmarks were decided at, for [`entries`].
    pub fn levels(&self) -> &BTreeMap<String, f64> {
        &self.stopped
    }
}

/// An entry for a benchmark whose executable is the same at both sides.
pub fn identical_bench(id: &str, suite: &str, base_label: &str, target: &str) -> Entry {
    Entry {
        id: id.to_string(),
        subject: Subject::Bench {
            suite: suite.to_string(),
            change: None,
        },
        reason: Reason::Identical {
            base_label: base_label.to_string(),
            target: target.to_string(),
        },
    }
}

/// An entry for a benchmark not re-run because the head's source is the base's.
pub fn same_source_bench(id: &str, suite: &str, base_label: &str) -> Entry {
    Entry {
        id: id.to_string(),
        subject: Subject::Bench {
            suite: suite.to_string(),
            change: None,
        },
        reason: Reason::SameSource {
            base_label: base_label.to_string(),
        },
    }
}

/// How disturbed the machine was, from the rounds: how far each benchmark's
/// per-round log ratios scatter. The ratio, not each side's runs: the
/// machine's drift from round to round moves both runs of a pair alike and
/// is not noise for the comparison, while what the ratio keeps is exactly
/// what the interval has to beat.
#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// Benchmarks measured at least three rounds.
    pub benchmarks: usize,
    /// Of those, the ones whose ratios scatter beyond `limit`.
    pub beyond: usize,
    /// Their ids.
    pub beyond_ids: BTreeSet<String>,
    /// The scatter (sd of the log ratio) beyond which `max` rounds cannot
    /// give an unchanged benchmark an interval inside half the threshold.
    pub limit: f64,
    /// Median over the benchmarks of their ratio scatter.
    pub median: f64,
}

/// [`Scatter`] of the benchmarks measured at least three rounds, against
/// what `max_rounds` rounds can resolve: an interval's half-width is about
/// `2 sd / sqrt(n)`, so `sd > threshold sqrt(max) / 4` leaves even an
/// unchanged benchmark's interval reaching past half the threshold after
/// every round the design allows.
pub fn scatter(runs: &PairedRuns, options: &CompareOptions, max_rounds: u32) -> Scatter {
    let limit = options.default_threshold * f64::from(max_rounds).sqrt() / 4.0;
    let mut result = Scatter {
        benchmarks: 0,
        beyond: 0,
        beyond_ids: BTreeSet::new(),
        limit,
        median: 0.0,
    };
    let mut scatters = Vec::new();
    for (id, suite) in &runs.suites {
        let ratios: Vec<f64> = runs
            .rounds
            .iter()
            .filter_map(|(b, h)| {
                let (b, h) = (b.get(id)?, h.get(id)?);
                Some(
                    stats::summarize_run(&h.per_iteration_ns).log_location
                        - stats::summarize_run(&b.per_iteration_ns).log_location,
                )
            })
            .collect();
        if ratios.len() < 3 {
            continue;
        }
        // Judged on the rounds the comparison keeps: one disturbed round is
        // left out of the verdict, so it is not the machine's steady noise.
        let keep = stats::undisturbed_rounds(&ratios);
        let ratios: Vec<f64> = ratios
            .iter()
            .zip(&keep)
            .filter_map(|(r, keep)| keep.then_some(*r))
            .collect();
        let n = ratios.len() as f64;
        let mean = ratios.iter().sum::<f64>() / n;
        let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let limit = options.threshold(suite) * f64::from(max_rounds).sqrt() / 4.0;
        result.benchmarks += 1;
        if sd > limit {
            result.beyond += 1;
            result.beyond_ids.insert(id.clone());
        }
        scatters.push(sd);
    }
    if !scatters.is_empty() {
        scatters.sort_by(f64::total_cmp);
        result.median = scatters[scatters.len() / 2];
    }
    result
}

/// Bench entries (mode `paired`) from paired runs: per benchmark the mean of
/// its per-round log ratios, Holm-adjusted across the benchmarks measured; a
/// benchmark measured at one side only is `missing` or `new`, one measured at
/// neither (the budget ran out first) `inconclusive`. `levels` holds
/// the level each benchmark was decided at by a [`Sequential`] design (the
/// comparison's alpha for benchmarks not in it).
pub fn entries(
    runs: &PairedRuns,
    options: &CompareOptions,
    base_label: &str,
    levels: Option<&BTreeMap<String, f64>>,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (id, suite) in &runs.suites {
        let at_base = runs.rounds.iter().any(|(base, _)| base.contains_key(id));
        let at_head = runs.rounds.iter().any(|(_, head)| head.contains_key(id));
        if at_base && at_head {
            continue;
        }
        entries.push(if !at_base && !at_head {
            Entry {
                id: id.clone(),
                subject: Subject::Bench {
                    suite: suite.clone(),
                    change: None,
                },
                reason: Reason::OutOfBudget {
                    base_label: base_label.to_string(),
                },
            }
        } else if at_base {
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
        let level = levels
            .and_then(|levels| levels.get(&id))
            .copied()
            .unwrap_or(options.alpha);
        let options = CompareOptions {
            alpha: level,
            ..options.clone()
        };
        entries.push(super::measured_bench(
            id,
            suite,
            &base,
            &head,
            &change,
            p_adjusted,
            &options,
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
        BenchRun::timed(
            (0..20)
                .map(|i| ns * (1.0 + 0.001 * f64::from(i % 5)))
                .collect(),
        )
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
        let verdicts: BTreeMap<String, Verdict> = entries(&paired, &options, "merge-base", None)
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
        let doubled = entries(&runs(100.0, 200.0, 3), &options, "merge-base", None);
        assert_eq!(doubled[0].verdict(), Verdict::Regressed);
        assert_eq!(doubled[0].bench().unwrap().mode, TimingMode::Paired);
        let rule = doubled[0].rule();
        assert!(
            rule.starts_with("paired against the merge-base over 3 rounds: slower by"),
            "{rule}"
        );
        let same = entries(&runs(100.0, 100.0, 3), &options, "merge-base", None);
        assert_eq!(same[0].verdict(), Verdict::Unchanged);
    }

    #[test]
    fn ratio_scatter_beyond_what_the_rounds_resolve_is_counted_and_one_disturbed_round_is_not() {
        let options = CompareOptions::default();
        let mut paired = PairedRuns::default();
        // "swinging": head/base moves by 20% from round to round; "steady":
        // equal at every round but one disturbed round (+60%); "drifting":
        // both sides slow down together, the ratio stays put.
        let swings = [1.2, 0.85, 1.15, 0.8, 1.25, 0.9];
        for (round, swing) in swings.iter().enumerate() {
            let mut base = BTreeMap::new();
            let mut head = BTreeMap::new();
            let drift = 100.0 * (1.0 + 0.1 * round as f64);
            let disturbed = if round == 2 { 1.6 } else { 1.0 };
            for (id, b, h) in [
                ("swinging", 100.0, 100.0 * swing),
                ("steady", 100.0, 100.0 * disturbed),
                ("drifting", drift, drift),
            ] {
                paired.suites.insert(id.into(), "core".into());
                base.insert(id.to_string(), run(b));
                head.insert(id.to_string(), run(h));
            }
            paired.rounds.push((base, head));
        }
        let scatter = scatter(&paired, &options, 10);
        assert_eq!(scatter.benchmarks, 3);
        assert_eq!(scatter.beyond, 1, "{scatter:?}");
        assert_eq!(scatter.beyond_ids, BTreeSet::from(["swinging".to_string()]));
        assert!((scatter.limit - 0.05 * 10f64.sqrt() / 4.0).abs() < 1e-12);
    }
}
