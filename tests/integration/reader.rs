//! The criterion reader against trees captured from real criterion runs.

use perfguard::bench::reader::read_criterion_home;

use crate::util::repo_root;

fn read(version: &str) -> std::collections::BTreeMap<String, perfguard::results::BenchRun> {
    read_criterion_home(&repo_root().join("fixtures/criterion").join(version)).unwrap()
}

#[test]
fn reads_criterion_0_8_tree() {
    let runs = read("criterion-0.8");
    assert_eq!(
        runs.keys().collect::<Vec<_>>(),
        ["checksum/large", "checksum/small"]
    );
    let large = &runs["checksum/large"];
    assert_eq!(large.per_iteration_ns.len(), 20);
    assert!(
        large
            .per_iteration_ns
            .iter()
            .all(|t| *t > 1_000.0 && *t < 1_000_000.0),
        "{:?}",
        large.per_iteration_ns
    );
}

#[test]
fn reads_criterion_0_5_tree() {
    let runs = read("criterion-0.5");
    assert_eq!(
        runs.keys().collect::<Vec<_>>(),
        ["checksum/large", "checksum/small"]
    );
    assert_eq!(runs["checksum/small"].per_iteration_ns.len(), 20);
}

#[test]
fn reads_the_older_capitalised_schema() {
    let runs = read("capitalised");
    let run = &runs["fib/20"];
    assert_eq!(run.per_iteration_ns, vec![25.0, 24.5, 25.5]);
}

#[test]
fn only_new_measurements_are_read_not_base_or_change() {
    // The 0.8 tree holds base/ and new/ (criterion keeps the previous run as base).
    let runs = read("criterion-0.8");
    assert_eq!(runs.len(), 2);
}
