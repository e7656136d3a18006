//! Instruction counts end to end: the workload fixture's unmodified criterion
//! suite counted under a real valgrind. Without valgrind the counting tests
//! print why they skip, except under CI=true, where they fail.

use crate::util::{Project, assert_exit_2, text, timing_lock};

fn valgrind_or_skip() -> bool {
    let found = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but valgrind is not installed (apt-get install valgrind)"
        );
        eprintln!("skipped: valgrind is not installed (apt-get install valgrind)");
    }
    found
}

/// The workload fixture with its suite measured by instructions.
fn counted_workload() -> Project {
    let project = Project::fixture("workload");
    let config = project.read("perfguard.toml").replace(
        "command = \"cargo bench --bench work\"",
        "command = \"cargo bench --bench work\"\nmeasure = \"instructions\"",
    );
    assert!(config.contains("measure = \"instructions\""));
    project.write("perfguard.toml", &config);
    project
}

fn entries(stdout: &[u8]) -> Vec<serde_json::Value> {
    let comparison: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    comparison["entries"].as_array().unwrap().clone()
}

#[test]
fn counts_pass_unchanged_code_and_catch_three_percent_more_work() {
    if !valgrind_or_skip() {
        return;
    }
    let _lock = timing_lock();
    let project = counted_workload();
    project
        .perfguard()
        .args(["baseline", "record", "--runs", "2"])
        .assert()
        .code(0);
    let baseline: serde_json::Value =
        serde_json::from_str(&project.read("baselines/work.json")).unwrap();
    let large = &baseline["benches"]["checksum/large"];
    assert_eq!(large["measure"], "instructions", "{baseline}");
    let runs = large["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let instructions = runs[0]["counts"]["instructions"].as_f64().unwrap();
    assert!(instructions > 1000.0, "{baseline}");
    // Counts are deterministic: the two recorded runs agree within 0.1%.
    let other = runs[1]["counts"]["instructions"].as_f64().unwrap();
    assert!(
        (instructions - other).abs() / instructions < 0.001,
        "{instructions} vs {other}"
    );

    let same = project
        .perfguard()
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    for entry in entries(&same.stdout) {
        assert_eq!(entry["verdict"], "unchanged", "{entry}");
        assert_eq!(entry["bench"]["measure"], "instructions", "{entry}");
    }

    // 3% more work: far below what timings resolve on a shared runner.
    let lib = project
        .read("src/lib.rs")
        .replace("WORK_PERCENT: u64 = 100", "WORK_PERCENT: u64 = 103");
    project.write("src/lib.rs", &lib);
    let more = project
        .perfguard()
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(more.status.code(), Some(1), "{}", text(&more.stderr));
    let more_entries = entries(&more.stdout);
    assert_eq!(more_entries.len(), 2);
    for entry in &more_entries {
        assert_eq!(entry["verdict"], "regressed", "{entry}");
        let rule = entry["rule"].as_str().unwrap();
        assert!(rule.starts_with("instructions +"), "{rule}");
        let ratio = entry["bench"]["ratio"].as_f64().unwrap();
        assert!((1.02..1.04).contains(&ratio), "{entry}");
    }
    let markdown = project
        .perfguard()
        .args(["check", "--format", "markdown"])
        .output()
        .unwrap();
    let comment = text(&markdown.stdout);
    assert!(
        comment.contains("instr") && comment.contains("more work than the baseline"),
        "{comment}"
    );

    // Timings are never compared with counts: against this baseline a timed
    // run is `new`, and the report says why.
    let timed = project
        .perfguard()
        .args(["check", "--measure", "time", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(timed.status.code(), Some(0), "{}", text(&timed.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(&timed.stdout).unwrap();
    for entry in comparison["entries"].as_array().unwrap() {
        assert_eq!(entry["verdict"], "new", "{entry}");
    }
    let warnings = comparison["warnings"].to_string();
    assert!(
        warnings.contains("the baseline measured instructions and this run measured time"),
        "{warnings}"
    );
}

#[test]
fn counting_without_valgrind_says_how_to_install_it() {
    let project = counted_workload();
    let output = project
        .perfguard()
        .args(["run", "--out", "r.json"])
        .env("PERFGUARD_VALGRIND", "/nonexistent/valgrind")
        .output()
        .unwrap();
    assert_exit_2(
        &output,
        &[
            "[[bench]] \"work\"",
            "apt-get install valgrind",
            "measure = \"time\"",
        ],
    );
    assert!(!project.path().join("r.json").exists());
}

#[test]
fn counting_needs_a_plain_cargo_bench_command() {
    let project = counted_workload();
    let config = project.read("perfguard.toml").replace(
        "command = \"cargo bench --bench work\"",
        "command = \"make bench\"",
    );
    project.write("perfguard.toml", &config);
    // `true --version` succeeds: valgrind is "there", the command is the problem.
    let output = project
        .perfguard()
        .args(["run", "--out", "r.json"])
        .env("PERFGUARD_VALGRIND", "true")
        .output()
        .unwrap();
    assert_exit_2(&output, &["`make bench`", "plain `cargo bench ...`"]);
}

#[test]
fn an_unknown_measure_is_a_config_error() {
    let project = counted_workload();
    let config = project
        .read("perfguard.toml")
        .replace("measure = \"instructions\"", "measure = \"cycles\"");
    project.write("perfguard.toml", &config);
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["perfguard.toml", "cycles", "instructions"]);
}
