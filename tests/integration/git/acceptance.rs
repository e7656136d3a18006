//! `Perf-Accepted` trailers between the merge-base and HEAD, and applying them
//! to a comparison.

use std::collections::BTreeMap;

use perfguard::comparison::{
    Acceptance, COMPARISON_SCHEMA, Comparison, Entry, EntryKind, Outcome, Side, Verdict,
};
use perfguard::git::{GitError, Repository, apply_acceptances};
use perfguard::results::{Machine, Revision};

use super::fixture::Fixture;

/// main: base (carries an old trailer) - m1 ; feature: base - f1 - f2 (trailers)
fn feature_with_trailers() -> (Fixture, git2::Oid, git2::Oid, git2::Oid) {
    let fixture = Fixture::new();
    fixture.write("src/lib.rs", "1\n");
    let base = fixture.commit(
        "Old change\n\nPerf-Accepted: everything/*: accepted long ago, must not leak into new branches\n",
    );
    fixture.write("src/main.rs", "\n");
    fixture.commit("Work on main");
    fixture.branch("feature", base);
    fixture.write("src/lib.rs", "2\n");
    let parser = fixture.commit_as(
        "Ada Lovelace",
        "ada@example.com",
        "Rewrite the parser\n\nThe new parser is stricter.\n\nPerf-Accepted: core/parse/*: stricter parsing costs 8%, agreed in #123\nSigned-off-by: Ada Lovelace <ada@example.com>\n",
    );
    fixture.write("src/lib.rs", "3\n");
    fixture.commit("Unrelated cleanup");
    fixture.write("src/lib.rs", "4\n");
    let cache = fixture.commit_as(
        "Grace Hopper",
        "grace@example.com",
        "Warm the cache\n\nperf-accepted: probes/GET /products/*: one extra query: the warm-up read\n",
    );
    (fixture, base, parser, cache)
}

#[test]
fn trailers_between_merge_base_and_head_are_collected_oldest_first() {
    let (fixture, base, parser, cache) = feature_with_trailers();
    let repo = Repository::discover(fixture.path()).unwrap();
    let merge_base = repo.merge_base("main").unwrap();
    assert_eq!(merge_base, base);
    let acceptances = repo.accepted_trailers(merge_base).unwrap();
    assert_eq!(
        acceptances,
        vec![
            Acceptance {
                pattern: "core/parse/*".to_string(),
                reason: "stricter parsing costs 8%, agreed in #123".to_string(),
                commit: parser.to_string(),
                author: "Ada Lovelace <ada@example.com>".to_string(),
            },
            Acceptance {
                pattern: "probes/GET /products/*".to_string(),
                reason: "one extra query: the warm-up read".to_string(),
                commit: cache.to_string(),
                author: "Grace Hopper <grace@example.com>".to_string(),
            },
        ]
    );
}

#[test]
fn no_commits_since_the_merge_base_means_no_acceptances() {
    let (fixture, _, _, _) = feature_with_trailers();
    let repo = Repository::discover(fixture.path()).unwrap();
    let head = repo.head_commit().unwrap();
    assert_eq!(repo.accepted_trailers(head).unwrap(), Vec::new());
}

#[test]
fn a_trailer_without_a_reason_is_an_error_naming_the_commit() {
    for value in ["core/*", "core/*:", "core/*:   "] {
        let fixture = Fixture::new();
        let base = fixture.repo.head().unwrap().target().unwrap();
        fixture.write("src/lib.rs", "slow\n");
        let commit = fixture.commit(&format!("Slow down\n\nPerf-Accepted: {value}\n"));
        let repo = Repository::discover(fixture.path()).unwrap();
        let error = repo.accepted_trailers(base).expect_err(value);
        assert!(
            matches!(error, GitError::AcceptanceWithoutReason { .. }),
            "{value}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&commit.to_string()[..8]), "{message}");
        assert!(message.contains("no reason"), "{message}");
        assert!(message.contains("Perf-Accepted: <id-glob>: <"), "{message}");
    }
}

#[test]
fn a_trailer_with_an_invalid_glob_is_an_error_naming_the_commit() {
    let fixture = Fixture::new();
    let base = fixture.repo.head().unwrap().target().unwrap();
    fixture.write("src/lib.rs", "slow\n");
    let commit = fixture.commit("Slow down\n\nPerf-Accepted: core/[parse: because\n");
    let repo = Repository::discover(fixture.path()).unwrap();
    let error = repo.accepted_trailers(base).expect_err("unclosed class");
    assert!(
        matches!(error, GitError::AcceptanceBadGlob { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&commit.to_string()[..8]),
        "{error}"
    );
}

fn entry(id: &str, verdict: Verdict) -> Entry {
    Entry {
        id: id.to_string(),
        kind: EntryKind::Bench,
        suite: "core".to_string(),
        verdict,
        rule: "ratio 1.08 above the 5% threshold".to_string(),
        bench: None,
        probe: None,
        accepted: None,
    }
}

fn comparison(entries: Vec<Entry>) -> Comparison {
    let side = Side {
        revision: Revision::default(),
        machine: Machine::default(),
        source: "test".to_string(),
    };
    let mut comparison = Comparison {
        schema: COMPARISON_SCHEMA.to_string(),
        baseline: side.clone(),
        current: side,
        base_ref: None,
        reproduce: None,
        alpha: 0.05,
        entries,
        warnings: Vec::new(),
        counts: BTreeMap::new(),
        outcome: Outcome::Pass,
    };
    comparison.finish();
    comparison
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
        entry("core/parse/large", Verdict::Regressed),
        entry("core/parse/small", Verdict::Unchanged),
        entry("core/render", Verdict::Regressed),
    ]);
    assert_eq!(comparison.outcome, Outcome::Fail);
    let acceptances = [
        acceptance("core/parse/*", "1111111111"),
        acceptance("core/parse/l*", "2222222222"),
    ];
    apply_acceptances(&mut comparison, &acceptances);

    let by_id: BTreeMap<&str, &Entry> = comparison
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e))
        .collect();
    let large = by_id["core/parse/large"];
    assert_eq!(large.verdict, Verdict::Accepted);
    assert_eq!(
        large.accepted.as_ref(),
        Some(&acceptances[1]),
        "newest wins"
    );
    assert!(
        large.rule.contains("reason from 2222222222"),
        "{}",
        large.rule
    );
    assert_eq!(by_id["core/parse/small"].verdict, Verdict::Unchanged);
    assert_eq!(by_id["core/parse/small"].accepted, None);
    assert_eq!(by_id["core/render"].verdict, Verdict::Regressed);
    assert_eq!(comparison.count(Verdict::Accepted), 1);
    assert_eq!(comparison.count(Verdict::Regressed), 1);
    assert_eq!(comparison.outcome, Outcome::Fail);
    assert!(comparison.warnings.is_empty(), "{:?}", comparison.warnings);

    apply_acceptances(&mut comparison, &[acceptance("core/*", "3333333333")]);
    assert_eq!(comparison.outcome, Outcome::Pass);
    assert_eq!(comparison.count(Verdict::Accepted), 2);
}

#[test]
fn an_acceptance_that_matches_no_regression_is_a_warning() {
    let mut comparison = comparison(vec![entry("core/render", Verdict::Regressed)]);
    apply_acceptances(&mut comparison, &[acceptance("core/rendr", "4444444444")]);
    assert_eq!(comparison.outcome, Outcome::Fail);
    assert_eq!(comparison.warnings.len(), 1);
    assert!(
        comparison.warnings[0].contains("core/rendr")
            && comparison.warnings[0].contains("44444444"),
        "{:?}",
        comparison.warnings
    );
}
