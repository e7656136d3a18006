//! `Perf-Accepted` trailers between the merge-base and HEAD, read from real
//! repositories (what they do to verdicts is tested in `compare::accept`).

use crate::comparison::Acceptance;
use crate::git::{GitError, Repository};

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
