//! perfguard's own benchmarks: the statistics engine (`compare` of 1,000
//! benchmarks x 100 samples, the speed figure in docs/figures.md) and the criterion reader.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use perfguard::compare::{CompareOptions, compare};
use perfguard::results::{BenchResult, BenchRun, Machine, Results, Revision};

/// Deterministic pseudo-random samples around `center_ns` (xorshift).
fn samples(center_ns: f64, seed: u64, count: usize) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            center_ns * (1.0 + ((state % 1000) as f64 / 1000.0 - 0.5) * 0.06)
        })
        .collect()
}

fn results(benchmarks: usize, sample_count: usize, slowdown: f64, seed: u64) -> Results {
    let mut results = Results::new(Revision::default(), Machine::default());
    results.benches = (0..benchmarks)
        .map(|i| {
            let center = 100.0 * (1 + i % 50) as f64 * if i % 10 == 0 { slowdown } else { 1.0 };
            let run = BenchRun::timed(samples(center, seed + i as u64, sample_count));
            (
                format!("group{}/bench{i}", i % 20),
                BenchResult {
                    suite: "core".into(),
                    measure: Default::default(),
                    runs: vec![run],
                },
            )
        })
        .collect::<BTreeMap<_, _>>();
    results
}

fn compare_1000(c: &mut Criterion) {
    let baseline = results(1000, 100, 1.0, 1);
    let current = results(1000, 100, 1.2, 2);
    let options = CompareOptions::default();
    c.bench_function("compare/1000x100", |b| {
        b.iter(|| {
            compare(
                black_box(&baseline),
                "baselines",
                black_box(&current),
                &options,
            )
        })
    });
}

fn read_criterion_tree(c: &mut Criterion) {
    let tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/criterion/criterion-0.8");
    c.bench_function("reader/criterion-0.8-tree", |b| {
        b.iter(|| perfguard::bench::reader::read_criterion_home(black_box(&tree)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = compare_1000, read_criterion_tree
}
criterion_main!(benches);
