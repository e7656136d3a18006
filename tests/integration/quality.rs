//! The verdict-quality harness (scripts/quality/harness.py) in its smoke form:
//! two trials (A/A and +20%) of four quick benchmarks in a temporary git
//! repository, stored and paired, with criterion's verdict replayed beside
//! perfguard's. About a minute once criterion is compiled, so it runs only when
//! PERFGUARD_QUALITY_SMOKE=1 or CI=true, and otherwise says why it skips.

use std::process::Command;

use crate::util::{fixture_target_dir, repo_root, shop_lock, text, timing_lock};

fn enabled() -> bool {
    std::env::var("PERFGUARD_QUALITY_SMOKE").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true")
}

#[test]
fn quality_harness_smoke_run_writes_a_row_per_mode_and_effect() {
    if !enabled() {
        eprintln!(
            "skipping the quality harness smoke run: set PERFGUARD_QUALITY_SMOKE=1 (CI=true runs it too); it builds a criterion fixture and runs 4 checks"
        );
        return;
    }
    // Its checks measure timings: no other timing test or shop build beside it.
    let _machine = timing_lock();
    let _shop = shop_lock();
    let out = tempfile::tempdir().unwrap();
    let table_path = out.path().join("results.md");
    let output = Command::new("python3")
        .arg(repo_root().join("scripts/quality/harness.py"))
        .arg("--smoke")
        .arg("--perfguard")
        .arg(env!("CARGO_BIN_EXE_perfguard"))
        .arg("--fixture-target")
        .arg(fixture_target_dir())
        .arg("--out")
        .arg(&table_path)
        .env("NO_COLOR", "1")
        .output()
        .expect("python3 runs the harness");
    assert!(
        output.status.success(),
        "harness failed ({}):\n{}",
        output.status,
        text(&output.stderr)
    );

    let table = std::fs::read_to_string(&table_path).unwrap();
    for mode in ["stored", "paired"] {
        for effect in ["A/A", "+20%"] {
            let row = format!("| {mode} | {effect} | ");
            assert!(table.contains(&row), "no row {row:?} in:\n{table}");
        }
    }
    assert!(table.contains("A/A suites flagged"), "{table}");

    // Every check measured the four benchmarks, and criterion judged each one.
    let records = std::fs::read_to_string(table_path.with_extension("jsonl")).unwrap();
    let checks: Vec<serde_json::Value> = records
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(checks.len(), 4, "2 trials x 2 modes:\n{records}");
    for check in &checks {
        assert!(check["error"].is_null(), "{check}");
        let entries = check["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 4, "{check}");
        assert!(
            entries
                .iter()
                .all(|e| e["criterion"]["verdict"].is_string()),
            "criterion's verdict missing: {check}"
        );
    }
}
