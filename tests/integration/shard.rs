//! Shard selection and merging shard results.

use std::collections::BTreeSet;
use std::path::PathBuf;

use perfguard::results::{
    BenchResult, BenchRun, CountSource, Machine, ProbeResult, Results, Revision, ShardOf,
};
use perfguard::shard::{MergeError, ShardError, merge_results, parse_shard, shard_select};

fn ids(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("suite-{i}/bench")).collect()
}

#[test]
fn every_id_lands_in_exactly_one_shard() {
    let all = ids(300);
    for count in 1..=8 {
        let mut seen = Vec::new();
        for index in 1..=count {
            let selected = shard_select(&all, (index, count));
            assert_eq!(
                selected,
                shard_select(&all, (index, count)),
                "deterministic"
            );
            seen.extend(selected);
        }
        assert_eq!(seen.len(), all.len(), "{count} shards: no id twice");
        let seen: BTreeSet<String> = seen.into_iter().collect();
        let expected: BTreeSet<String> = all.iter().cloned().collect();
        assert_eq!(seen, expected, "{count} shards: every id once");
    }
}

#[test]
fn shards_split_the_work_roughly_evenly_and_keep_input_order() {
    let all = ids(400);
    for index in 1..=4 {
        let selected = shard_select(&all, (index, 4));
        assert!(
            (50..=150).contains(&selected.len()),
            "shard {index}: {}",
            selected.len()
        );
        let positions: Vec<usize> = selected
            .iter()
            .map(|id| all.iter().position(|a| a == id).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "input order kept"
        );
    }
}

#[test]
fn a_shard_depends_on_the_id_alone_not_on_the_other_ids() {
    let all = ids(100);
    let fewer: Vec<String> = all[..50].to_vec();
    let from_all: BTreeSet<String> = shard_select(&all, (2, 3)).into_iter().collect();
    for id in shard_select(&fewer, (2, 3)) {
        assert!(from_all.contains(&id), "{id} moved shard");
    }
}

#[test]
fn shard_syntax_is_checked_with_clear_errors() {
    assert_eq!(parse_shard("2/4"), Ok((2, 4)));
    assert_eq!(parse_shard(" 1/1 "), Ok((1, 1)));
    let zero = parse_shard("0/3").unwrap_err();
    assert!(matches!(zero, ShardError::ZeroIndex { .. }));
    assert!(zero.to_string().contains("`1/3`"), "{zero}");
    let too_large = parse_shard("4/3").unwrap_err();
    assert!(matches!(too_large, ShardError::IndexTooLarge { .. }));
    assert!(
        too_large.to_string().contains("between 1 and 3"),
        "{too_large}"
    );
    assert!(matches!(
        parse_shard("1/0"),
        Err(ShardError::ZeroCount { .. })
    ));
    for bad in ["", "3", "a/b", "1/2/3", "-1/2", "1.5/2"] {
        let error = parse_shard(bad).unwrap_err();
        assert!(
            matches!(error, ShardError::Syntax { .. }),
            "{bad:?}: {error:?}"
        );
        assert!(error.to_string().contains("K/N"), "{error}");
    }
}

fn results(commit: &str) -> Results {
    Results::new(
        Revision {
            commit: Some(commit.to_string()),
            branch: Some("feature".to_string()),
            dirty: false,
        },
        Machine::default(),
    )
}

/// Results of shard `index` of `count`, of a set selecting `selected`.
fn shard(commit: &str, index: usize, count: usize, selected: &[&str]) -> Results {
    let mut part = results(commit);
    part.shard = Some(ShardOf {
        index,
        count,
        selected: selected.iter().map(|s| s.to_string()).collect(),
    });
    part
}

fn bench(suite: &str) -> BenchResult {
    BenchResult {
        suite: suite.to_string(),
        measure: Default::default(),
        runs: vec![BenchRun::timed(vec![10.0, 11.0, 12.0])],
    }
}

fn probe(endpoint: &str) -> ProbeResult {
    ProbeResult {
        endpoint: endpoint.to_string(),
        status: 200,
        count_source: CountSource::Proxy,
        total_statements: 3,
        statements: Default::default(),
        excluded: Default::default(),
        rows: 0,
        round_trips: 3,
        transactions: 0,
        repeat_totals: vec![3, 3, 3],
        unstable: Vec::new(),
        max_queries: None,
        allow: 0,
        scales: Vec::new(),
    }
}

#[test]
fn merged_shards_hold_the_unsharded_set_of_ids() {
    let mut unsharded = results("abc123");
    for id in ids(40) {
        unsharded.benches.insert(id, bench("core"));
    }
    unsharded
        .probes
        .insert("recommendations".into(), probe("GET /r"));
    unsharded.probes.insert("product".into(), probe("GET /p"));
    let bench_ids: Vec<String> = unsharded.benches.keys().cloned().collect();
    let probe_ids: Vec<String> = unsharded.probes.keys().cloned().collect();

    let count = 3;
    let mut parts = Vec::new();
    for index in 1..=count {
        let mut part = shard(
            "abc123",
            index,
            count,
            &["core", "recommendations", "product"],
        );
        part.revision.dirty = index == 2;
        for id in shard_select(&bench_ids, (index, count)) {
            part.benches
                .insert(id.clone(), unsharded.benches[&id].clone());
        }
        for id in shard_select(&probe_ids, (index, count)) {
            part.probes
                .insert(id.clone(), unsharded.probes[&id].clone());
        }
        parts.push((PathBuf::from(format!("shard-{index}.json")), part));
    }
    let merged = merge_results(parts).expect("merge");
    assert_eq!(merged.benches, unsharded.benches);
    assert_eq!(merged.probes, unsharded.probes);
    assert_eq!(merged.revision.commit.as_deref(), Some("abc123"));
    assert!(merged.revision.dirty, "one shard was dirty");
    assert_eq!(merged.shard, None, "the merged set is whole");
}

#[test]
fn merge_refuses_an_incomplete_set_naming_the_missing_shards() {
    let error = merge_results(vec![
        (PathBuf::from("shard-1.json"), shard("abc", 1, 4, &["core"])),
        (PathBuf::from("shard-3.json"), shard("abc", 3, 4, &["core"])),
        (PathBuf::from("shard-4.json"), shard("abc", 4, 4, &["core"])),
    ])
    .unwrap_err();
    assert!(
        matches!(error, MergeError::MissingShards { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("shard 2/4 of the set is missing"),
        "{message}"
    );
    assert!(message.contains("1/4, 3/4, 4/4"), "{message}");
}

#[test]
fn merge_refuses_a_shard_twice_a_mixed_set_and_an_unsharded_file() {
    let twice = merge_results(vec![
        (PathBuf::from("a.json"), shard("abc", 1, 2, &["core"])),
        (PathBuf::from("b.json"), shard("abc", 1, 2, &["core"])),
    ])
    .unwrap_err();
    assert!(
        matches!(twice, MergeError::DuplicateShard { .. }),
        "{twice:?}"
    );
    assert!(
        twice
            .to_string()
            .contains("a.json and b.json are both shard 1/2"),
        "{twice}"
    );

    let mixed_count = merge_results(vec![
        (PathBuf::from("a.json"), shard("abc", 1, 2, &["core"])),
        (PathBuf::from("b.json"), shard("abc", 2, 3, &["core"])),
    ])
    .unwrap_err();
    assert!(
        mixed_count.to_string().contains("another shard count"),
        "{mixed_count}"
    );

    let mixed_selection = merge_results(vec![
        (PathBuf::from("a.json"), shard("abc", 1, 2, &["core"])),
        (PathBuf::from("b.json"), shard("abc", 2, 2, &["core", "io"])),
    ])
    .unwrap_err();
    assert!(
        mixed_selection
            .to_string()
            .contains("other suites and probes selected"),
        "{mixed_selection}"
    );

    let whole = merge_results(vec![
        (PathBuf::from("a.json"), shard("abc", 1, 2, &["core"])),
        (PathBuf::from("whole.json"), results("abc")),
    ])
    .unwrap_err();
    assert!(matches!(whole, MergeError::NotAShard { .. }), "{whole:?}");
    assert!(
        whole
            .to_string()
            .contains("whole.json is not the results of a `--shard K/N` run"),
        "{whole}"
    );
}

#[test]
fn merge_refuses_shards_of_different_commits() {
    let error = merge_results(vec![
        (
            PathBuf::from("shard-1.json"),
            shard("aaaa1111", 1, 2, &["core"]),
        ),
        (
            PathBuf::from("shard-2.json"),
            shard("bbbb2222", 2, 2, &["core"]),
        ),
    ])
    .unwrap_err();
    assert!(
        matches!(error, MergeError::DifferentCommits { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    for needle in ["shard-1.json", "shard-2.json", "aaaa1111", "bbbb2222"] {
        assert!(message.contains(needle), "{needle} missing: {message}");
    }
}

#[test]
fn merge_refuses_overlapping_ids() {
    let selected = ["core", "product"];
    let mut first = shard("abc", 1, 3, &selected);
    first.benches.insert("core/parse".into(), bench("core"));
    let mut second = shard("abc", 2, 3, &selected);
    second.probes.insert("product".into(), probe("GET /p"));
    let mut third = shard("abc", 3, 3, &selected);
    third.benches.insert("core/parse".into(), bench("core"));
    let error = merge_results(vec![
        (PathBuf::from("one.json"), first),
        (PathBuf::from("two.json"), second),
        (PathBuf::from("three.json"), third),
    ])
    .unwrap_err();
    assert!(matches!(error, MergeError::Overlap { .. }), "{error:?}");
    let message = error.to_string();
    for needle in ["\"core/parse\"", "one.json", "three.json"] {
        assert!(message.contains(needle), "{needle} missing: {message}");
    }
    assert!(!message.contains("two.json"), "{message}");
}

#[test]
fn merge_of_nothing_says_what_to_pass() {
    let error = merge_results(Vec::new()).unwrap_err();
    assert!(matches!(error, MergeError::NoInputs));
    assert!(error.to_string().contains("perfguard merge"), "{error}");
}
