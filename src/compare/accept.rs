//! Accepted regressions: every `regressed` or `missing` entry whose id
//! matches a `Perf-Accepted: <id-glob>: <reason>` trailer between the
//! merge-base and HEAD becomes `accepted`, keeping the audit trail (reason,
//! commit, author). A rename is one accepted `missing` plus one `new`.
//! The trailers are read by [`crate::git`]; globs use `globset` syntax, where
//! `*` also crosses `/` (`core/*` matches `core/parse/large`).

use globset::{Glob, GlobMatcher};

use crate::comparison::{ACCEPT_TRAILER, Acceptance, Comparison, Reason, Verdict};
use crate::revision::short_id;

/// Compile an acceptance's id glob.
pub fn compile(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(pattern)?.compile_matcher())
}

/// Turn every `regressed` or `missing` entry whose id matches an acceptance into
/// `accepted`; when several match, the last in `acceptances` wins (the newest
/// commit, as [`crate::git::Repository::accepted_trailers`] lists oldest
/// first). An acceptance that matches no regression adds a warning (a typo in
/// the glob would otherwise go unnoticed).
pub fn apply_acceptances(comparison: &mut Comparison, acceptances: &[Acceptance]) {
    // Patterns were validated when parsed; one that does not compile here came
    // from elsewhere and matches nothing, which the warning below reports.
    let matchers: Vec<Option<GlobMatcher>> = acceptances
        .iter()
        .map(|a| compile(&a.pattern).ok())
        .collect();
    let mut used = vec![false; acceptances.len()];
    comparison.update_entries(|entries| {
        for entry in entries.iter_mut() {
            if !matches!(entry.verdict(), Verdict::Regressed | Verdict::Missing) {
                continue;
            }
            let matching: Vec<usize> = (0..acceptances.len())
                .filter(|&i| matchers[i].as_ref().is_some_and(|m| m.is_match(&entry.id)))
                .collect();
            for &i in &matching {
                used[i] = true;
            }
            if let Some(&newest) = matching.last() {
                entry.reason = Reason::Accepted {
                    regression: Box::new(entry.reason.clone()),
                    acceptance: acceptances[newest].clone(),
                };
            }
        }
    });
    for (acceptance, used) in acceptances.iter().zip(used) {
        if !used {
            comparison.warnings.push(format!(
                "`{ACCEPT_TRAILER}: {}` in commit {} matched no regression or missing entry (check the id glob)",
                acceptance.pattern,
                short_id(&acceptance.commit)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::comparison::{
        Entry, Outcome, Side, Subject, TimingReason, TimingRule, TimingSource,
    };

    fn entry(id: &str, rule: TimingRule) -> Entry {
        Entry {
            id: id.to_string(),
            subject: Subject::Bench {
                suite: "core".to_string(),
                change: None,
            },
            reason: Reason::Timing(TimingReason {
                rule,
                source: TimingSource::Stored,
                ratio: 1.08,
                ratio_low: 1.06,
                ratio_high: 1.1,
                p_adjusted: 0.001,
                alpha: 0.05,
                threshold: 0.05,
            }),
        }
    }

    fn comparison(entries: Vec<Entry>) -> Comparison {
        let side = Side {
            revision: Default::default(),
            machine: Default::default(),
            source: "test".to_string(),
        };
        Comparison::new(side.clone(), side, 0.05, entries)
    }

    fn acceptance(pattern: &str, commit: &str) -> Acceptance {
        Acceptance {
            pattern: pattern.to_string(),
            reason: format!("reason from {commit}"),
            commit: commit.to_string(),
            author: "Dev <dev@example.com>".to_string(),
        }
    }

    #[test]
    fn matching_regressions_become_accepted_and_the_rest_still_fail() {
        let mut comparison = comparison(vec![
            entry("core/parse/large", TimingRule::Slower),
            entry("core/parse/small", TimingRule::NoChange),
            entry("core/render", TimingRule::Slower),
        ]);
        assert_eq!(comparison.outcome(), Outcome::Fail);
        let acceptances = [
            acceptance("core/parse/*", "1111111111"),
            acceptance("core/parse/l*", "2222222222"),
        ];
        apply_acceptances(&mut comparison, &acceptances);

        let by_id: BTreeMap<&str, &Entry> = comparison
            .entries()
            .iter()
            .map(|e| (e.id.as_str(), e))
            .collect();
        let large = by_id["core/parse/large"];
        assert_eq!(large.verdict(), Verdict::Accepted);
        assert_eq!(large.accepted(), Some(&acceptances[1]), "newest wins");
        let rule = large.rule();
        assert!(
            rule.starts_with("slower by +8.0% [+6.0%, +10.0%]")
                && rule.ends_with(
                    "; accepted by `Perf-Accepted: core/parse/l*` in commit 22222222 by Dev <dev@example.com>: reason from 2222222222"
                ),
            "{rule}"
        );
        assert_eq!(by_id["core/parse/small"].verdict(), Verdict::Unchanged);
        assert_eq!(by_id["core/parse/small"].accepted(), None);
        assert_eq!(by_id["core/render"].verdict(), Verdict::Regressed);
        assert_eq!(comparison.count(Verdict::Accepted), 1);
        assert_eq!(comparison.count(Verdict::Regressed), 1);
        assert_eq!(comparison.outcome(), Outcome::Fail);
        assert!(comparison.warnings.is_empty(), "{:?}", comparison.warnings);
        // Accepted entries come right after the regressions in report order.
        assert_eq!(comparison.entries()[1].id, "core/parse/large");

        apply_acceptances(&mut comparison, &[acceptance("core/*", "3333333333")]);
        assert_eq!(comparison.outcome(), Outcome::Pass);
        assert_eq!(comparison.count(Verdict::Accepted), 2);
    }

    #[test]
    fn an_acceptance_that_matches_no_regression_is_a_warning() {
        let mut comparison = comparison(vec![entry("core/render", TimingRule::Slower)]);
        apply_acceptances(&mut comparison, &[acceptance("core/rendr", "4444444444")]);
        assert_eq!(comparison.outcome(), Outcome::Fail);
        assert_eq!(comparison.warnings.len(), 1);
        assert!(
            comparison.warnings[0].contains("core/rendr")
                && comparison.warnings[0].contains("44444444"),
            "{:?}",
            comparison.warnings
        );
    }
}
