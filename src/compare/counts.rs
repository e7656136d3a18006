//! Benchmarks measured by instructions ([`crate::bench::callgrind`]): the
//! current run's counts per iteration against the median of the baseline's
//! runs. Counts are deterministic up to a small jitter (allocator state, hash
//! seeds, how criterion split the iterations), which the baseline's own runs
//! show; so there is no t-test and no confirmation: a change beyond the
//! threshold is a change, unless the baseline's runs spread as far.

use crate::comparison::{BenchChange, CountChange, CountReason, CountRule, Entry, Reason, Subject};
use crate::results::{BenchResult, InstructionCounts, Measure};

/// The default threshold of a suite measured by instructions that sets none:
/// counts do not move with the machine, so far smaller changes than the
/// timing threshold are real.
pub const DEFAULT_THRESHOLD: f64 = 0.005;

/// The counts of every run that has them.
fn counts(bench: &BenchResult) -> Vec<InstructionCounts> {
    bench.runs.iter().filter_map(|run| run.counts).collect()
}

/// The median of a non-empty list of counts.
fn median(mut values: Vec<f64>) -> f64 {
    crate::stats::median_in_place(&mut values)
}

/// `(max - min) / median` of a figure across runs (0 for one run).
fn spread(values: &[f64]) -> f64 {
    let median = median(values.to_vec());
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.len() < 2 || median <= 0.0 {
        0.0
    } else {
        (max - min) / median
    }
}

/// The median counts of a benchmark's runs, and their spread (the larger of
/// the two figures').
pub fn summarize(bench: &BenchResult) -> Option<(InstructionCounts, f64)> {
    let runs = counts(bench);
    if runs.is_empty() {
        return None;
    }
    let instructions: Vec<f64> = runs.iter().map(|c| c.instructions).collect();
    let cycles: Vec<f64> = runs.iter().map(|c| c.estimated_cycles).collect();
    Some((
        InstructionCounts {
            instructions: median(instructions.clone()),
            estimated_cycles: median(cycles.clone()),
        },
        spread(&instructions).max(spread(&cycles)),
    ))
}

/// The rule for a pair of ratios: a figure beyond the threshold either way
/// decides, growth first; a baseline whose runs spread as far as the
/// threshold cannot decide anything.
pub fn classify(instructions: f64, cycles: f64, jitter: f64, threshold: f64) -> CountRule {
    let beyond = |ratio: f64| (ratio - 1.0).abs() > threshold;
    if !beyond(instructions) && !beyond(cycles) {
        CountRule::Same
    } else if jitter >= threshold {
        CountRule::TooJittery
    } else if (beyond(instructions) && instructions > 1.0) || (beyond(cycles) && cycles > 1.0) {
        CountRule::More
    } else {
        CountRule::Fewer
    }
}

/// The entry of a benchmark measured by instructions at both sides; `None`
/// when either side holds no counts.
pub fn compare_bench(
    id: &str,
    base: &BenchResult,
    head: &BenchResult,
    threshold: f64,
) -> Option<Entry> {
    let (baseline, jitter) = summarize(base)?;
    let (current, _) = summarize(head)?;
    let ratio = |now: f64, before: f64| {
        if before > 0.0 {
            now / before
        } else if now > 0.0 {
            f64::INFINITY
        } else {
            1.0
        }
    };
    let instructions = ratio(current.instructions, baseline.instructions);
    let estimated_cycles = ratio(current.estimated_cycles, baseline.estimated_cycles);
    let reason = CountReason {
        rule: classify(instructions, estimated_cycles, jitter, threshold),
        instructions,
        estimated_cycles,
        jitter,
        threshold,
    };
    Some(Entry {
        id: id.to_string(),
        subject: Subject::Bench {
            suite: head.suite.clone(),
            change: Some(BenchChange {
                mode: crate::comparison::TimingMode::Stored,
                baseline_ns: 0.0,
                current_ns: 0.0,
                ratio: instructions,
                ratio_low: instructions,
                ratio_high: instructions,
                confidence: 1.0,
                p_value: 1.0,
                p_adjusted: 1.0,
                threshold,
                baseline_runs: base.runs.len(),
                current_runs: head.runs.len(),
                baseline_samples_ns: Vec::new(),
                current_samples_ns: Vec::new(),
                confirmed: None,
                measure: Measure::Instructions,
                counts: Some(CountChange {
                    baseline,
                    current,
                    jitter,
                }),
            }),
        },
        reason: Reason::Counts(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::Verdict;
    use crate::results::BenchRun;

    fn bench(runs: &[(f64, f64)]) -> BenchResult {
        BenchResult {
            suite: "core".into(),
            measure: Measure::Instructions,
            runs: runs
                .iter()
                .map(|(instructions, estimated_cycles)| BenchRun {
                    per_iteration_ns: vec![],
                    counts: Some(InstructionCounts {
                        instructions: *instructions,
                        estimated_cycles: *estimated_cycles,
                    }),
                })
                .collect(),
        }
    }

    fn verdict(base: &BenchResult, head: &BenchResult, threshold: f64) -> Verdict {
        compare_bench("b", base, head, threshold)
            .expect("both have counts")
            .verdict()
    }

    #[test]
    fn a_change_beyond_the_threshold_decides_without_a_test() {
        let base = bench(&[(1000.0, 1100.0), (1000.2, 1100.1), (999.9, 1100.0)]);
        assert_eq!(
            verdict(&base, &bench(&[(1011.0, 1111.0)]), 0.01),
            Verdict::Regressed
        );
        assert_eq!(
            verdict(&base, &bench(&[(1009.0, 1109.0)]), 0.01),
            Verdict::Unchanged
        );
        assert_eq!(
            verdict(&base, &bench(&[(980.0, 1080.0)]), 0.01),
            Verdict::Improved
        );
        assert_eq!(
            verdict(&base, &bench(&[(1000.0, 1100.0)]), 0.01),
            Verdict::Unchanged
        );
    }

    #[test]
    fn a_memory_bound_change_fails_on_estimated_cycles() {
        let base = bench(&[(1000.0, 5000.0)]);
        // The same instructions, but more of them miss the cache.
        let entry = compare_bench("b", &base, &bench(&[(1000.0, 6000.0)]), 0.01).unwrap();
        assert_eq!(entry.verdict(), Verdict::Regressed);
        assert!(
            entry
                .reason
                .describe()
                .starts_with("instructions +0.00%, estimated cycles +20.00%"),
            "{}",
            entry.reason.describe()
        );
        // Fewer instructions cannot hide more cycles.
        assert_eq!(
            verdict(&base, &bench(&[(900.0, 6000.0)]), 0.01),
            Verdict::Regressed
        );
    }

    #[test]
    fn a_baseline_that_spreads_as_far_as_the_threshold_cannot_decide() {
        let base = bench(&[(1000.0, 1000.0), (1030.0, 1030.0)]);
        let entry = compare_bench("b", &base, &bench(&[(1100.0, 1100.0)]), 0.02).unwrap();
        assert_eq!(entry.verdict(), Verdict::Inconclusive);
        assert!(
            entry.reason.describe().contains("spread by 2.956%"),
            "{}",
            entry.reason.describe()
        );
        // Within the threshold it is unchanged however the baseline spread.
        assert_eq!(
            verdict(&base, &bench(&[(1010.0, 1010.0)]), 0.02),
            Verdict::Unchanged
        );
    }

    #[test]
    fn the_baseline_is_the_median_of_its_runs() {
        let (median, jitter) =
            summarize(&bench(&[(10.0, 20.0), (30.0, 20.0), (11.0, 22.0)])).unwrap();
        assert_eq!(median.instructions, 11.0);
        assert_eq!(median.estimated_cycles, 20.0);
        assert!((jitter - 20.0 / 11.0).abs() < 1e-12);
        assert_eq!(summarize(&bench(&[])), None);
    }
}
