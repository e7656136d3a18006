//! Confirmation: a stored comparison's suspects are re-run paired against the
//! merge-base, and the paired verdict decides. Suspects are its regressions,
//! its improvements (claimed only when the re-run shows them too), and every
//! benchmark that looks slower at the unadjusted level while its
//! interval reaches the threshold: one run against stored runs has a wide
//! interval (the machine's run-to-run noise is in it twice), so a real +5% or
//! +10% often misses the Holm-adjusted bar; the re-run is fresh data and
//! decides with its own Holm adjustment. An unchanged suite screens about
//! `alpha` of its benchmarks, so the re-run stays short.

use std::collections::{BTreeMap, BTreeSet};

use crate::comparison::{Comparison, Confirmation, Entry, Reason, Subject, TimingMode, Verdict};

/// The benchmarks of a stored-mode comparison to re-run paired, by suite.
pub fn suspected(comparison: &Comparison) -> BTreeMap<String, Vec<String>> {
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in comparison.entries() {
        let Some(bench) = entry.bench() else {
            continue;
        };
        // Counts are settled by one run: nothing to re-run paired.
        if bench.mode != TimingMode::Stored || bench.measure != crate::results::Measure::Time {
            continue;
        }
        let screened = bench.p_value < comparison.alpha
            && bench.ratio > 1.0
            && bench.ratio_high >= 1.0 + bench.threshold;
        // An improvement is claimed only after the same confirmation as a
        // regression: a stored baseline recorded on a busier machine makes
        // unchanged code look faster.
        if matches!(entry.verdict(), Verdict::Regressed | Verdict::Improved) || screened {
            by_suite
                .entry(entry.suite().to_string())
                .or_default()
                .push(entry.id.clone());
        }
    }
    by_suite
}

/// Settle the `suspected` benchmarks of `comparison` with the entries of a
/// paired re-run: a regression in both passes stays `regressed` (`confirmed:
/// true`), as does a screened benchmark the re-run shows regressed; the others
/// become `unchanged` or `inconclusive` (`confirmed: false`). A regression the
/// re-run could not measure at both revisions stands.
pub fn apply_confirmation(
    comparison: &mut Comparison,
    suspected: &BTreeMap<String, Vec<String>>,
    rerun: &[Entry],
) {
    let suspected: BTreeSet<&String> = suspected.values().flatten().collect();
    comparison.update_entries(|entries| {
        for entry in entries.iter_mut() {
            if suspected.contains(&entry.id) {
                confirm(entry, rerun.iter().find(|p| p.id == entry.id));
            }
        }
    });
}

fn confirm(entry: &mut Entry, paired: Option<&Entry>) {
    let Reason::Timing(stored) = &entry.reason else {
        return;
    };
    let stored_verdict = entry.verdict();
    let was_regressed = stored_verdict == Verdict::Regressed;
    let was_improved = stored_verdict == Verdict::Improved;
    let paired_verdict = paired.map(Entry::verdict);
    let (outcome, confirmed) = match paired_verdict {
        Some(Verdict::Regressed) if was_regressed => (Confirmation::Confirmed, Some(true)),
        Some(Verdict::Improved) if was_improved => (Confirmation::Confirmed, Some(true)),
        Some(Verdict::Regressed) => (Confirmation::Revealed, Some(true)),
        Some(Verdict::Unchanged | Verdict::Improved | Verdict::Inconclusive) => {
            (Confirmation::Dismissed, Some(false))
        }
        _ if was_regressed || was_improved => (Confirmation::Unmeasured, None),
        _ => return,
    };
    let paired = match outcome {
        Confirmation::Unmeasured => None,
        _ => paired.map(|p| Box::new(p.reason.clone())),
    };
    entry.reason = Reason::Confirmation {
        outcome,
        stored: stored.clone(),
        paired,
    };
    if let Subject::Bench {
        change: Some(change),
        ..
    } = &mut entry.subject
    {
        change.confirmed = confirmed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::{BenchChange, Side, TimingReason, TimingRule, TimingSource};

    /// A stored-mode entry slower by `ratio` with the interval `ratio +- 0.03`.
    fn stored(id: &str, ratio: f64, p_value: f64, rule: TimingRule) -> Entry {
        let (low, high) = (ratio - 0.03, ratio + 0.03);
        Entry {
            id: id.to_string(),
            subject: Subject::Bench {
                suite: "core".to_string(),
                change: Some(BenchChange {
                    mode: TimingMode::Stored,
                    baseline_ns: 100.0,
                    current_ns: 100.0 * ratio,
                    ratio,
                    ratio_low: low,
                    ratio_high: high,
                    confidence: 0.95,
                    p_value,
                    p_adjusted: p_value * 4.0,
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
            reason: Reason::Timing(TimingReason {
                rule,
                source: TimingSource::Stored,
                ratio,
                ratio_low: low,
                ratio_high: high,
                p_adjusted: p_value * 4.0,
                alpha: 0.05,
                threshold: 0.05,
            }),
        }
    }

    fn paired(id: &str, rule: TimingRule) -> Entry {
        let mut entry = stored(id, 1.1, 0.001, rule);
        if let Reason::Timing(timing) = &mut entry.reason {
            timing.source = TimingSource::Paired {
                base_label: "merge-base 1a2b3c4d of HEAD and `main`".into(),
                rounds: 5,
                disturbed: 0,
            };
        }
        entry
    }

    #[test]
    fn stored_suspects_include_screened_slowdowns_and_the_paired_rerun_decides() {
        let side = Side {
            revision: Default::default(),
            machine: Default::default(),
            source: "test".into(),
        };
        let mut comparison = Comparison::new(
            side.clone(),
            side,
            0.05,
            vec![
                stored("core/parse", 1.18, 0.001, TimingRule::Slower),
                stored("core/noisy", 1.06, 0.01, TimingRule::NoChange),
                stored("core/steady", 1.01, 0.001, TimingRule::SmallChange),
                stored("core/lost", 1.3, 0.0001, TimingRule::Slower),
                stored("core/faster", 0.8, 0.0001, TimingRule::Faster),
                stored("core/quicker", 0.8, 0.0001, TimingRule::Faster),
            ],
        );
        let suspected = suspected(&comparison);
        let ids: BTreeSet<&str> = suspected.values().flatten().map(String::as_str).collect();
        // Regressed or improved; and slower at p < alpha with an interval
        // reaching the threshold. Not core/steady: +1% [.., +4%] cannot be a
        // 5% slowdown.
        assert_eq!(
            ids,
            BTreeSet::from([
                "core/parse",
                "core/noisy",
                "core/lost",
                "core/faster",
                "core/quicker"
            ])
        );
        let rerun = vec![
            paired("core/noisy", TimingRule::Slower),
            paired("core/parse", TimingRule::NoChange),
            paired("core/faster", TimingRule::NoChange),
            paired("core/quicker", TimingRule::Faster),
        ];
        apply_confirmation(&mut comparison, &suspected, &rerun);
        let find = |id: &str| comparison.entries().iter().find(|e| e.id == id).unwrap();

        let noisy = find("core/noisy");
        assert_eq!(noisy.verdict(), Verdict::Regressed);
        assert_eq!(noisy.bench().unwrap().confirmed, Some(true));
        assert!(
            noisy.rule().starts_with(
                "slower than the stored baseline (+6.0% [+3.0%, +9.0%]: no change beyond the 5.0% threshold), so re-run paired, which shows the regression: paired against the merge-base"
            ),
            "{}",
            noisy.rule()
        );
        let parse = find("core/parse");
        assert_eq!(parse.verdict(), Verdict::Unchanged);
        assert_eq!(parse.bench().unwrap().confirmed, Some(false));
        assert!(
            parse
                .rule()
                .starts_with("dismissed as noise by a paired re-run: paired against"),
            "{}",
            parse.rule()
        );
        // Not measured by the re-run: the stored regression stands, and says so.
        let lost = find("core/lost");
        assert_eq!(lost.verdict(), Verdict::Regressed);
        assert_eq!(lost.bench().unwrap().confirmed, None);
        assert!(
            lost.rule()
                .ends_with("could not measure it at both revisions, so this verdict stands"),
            "{}",
            lost.rule()
        );
        // An improvement is claimed only when the re-run shows it too.
        assert_eq!(find("core/faster").verdict(), Verdict::Unchanged);
        assert_eq!(find("core/faster").bench().unwrap().confirmed, Some(false));
        assert_eq!(find("core/quicker").verdict(), Verdict::Improved);
        assert_eq!(find("core/quicker").bench().unwrap().confirmed, Some(true));
        // Regressions first: the report order follows the new verdicts.
        let order: Vec<&str> = comparison.entries().iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            order,
            [
                "core/lost",
                "core/noisy",
                "core/quicker",
                "core/faster",
                "core/parse",
                "core/steady"
            ]
        );
    }
}
