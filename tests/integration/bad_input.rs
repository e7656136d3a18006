//! Bad input: each case exits 2 with a message naming the file, benchmark or
//! command and what to do. These use a stand-in bench command that copies a
//! captured criterion tree, since criterion itself is not their subject.

use crate::util::{Project, assert_exit_2, repo_root, text};

/// Copies the tree named by PERFGUARD_TEST_TREE; without it, fails (never copies `/`).
const FAKE_BENCH: &str = "set -eu\n: \"${PERFGUARD_TEST_TREE:?no tree to replay}\"\n[ -d \"$PERFGUARD_TEST_TREE\" ]\ncp -r \"$PERFGUARD_TEST_TREE\"/. \"$CRITERION_HOME\"/\n";

/// A project whose suite "work" replays the captured criterion 0.8 run.
fn replaying_project() -> Project {
    let project = Project::empty();
    project.write("fake-bench.sh", FAKE_BENCH);
    project.write(
        "perfguard.toml",
        "[[bench]]\nname = \"work\"\ncommand = \"sh fake-bench.sh\"\n",
    );
    project
}

fn tree() -> String {
    repo_root()
        .join("fixtures/criterion/criterion-0.8")
        .display()
        .to_string()
}

/// Record baselines and a results file with the replayed tree.
fn recorded() -> Project {
    let project = replaying_project();
    project
        .perfguard()
        .args(["baseline", "record"])
        .env("PERFGUARD_TEST_TREE", tree())
        .assert()
        .code(0);
    project
        .perfguard()
        .args(["run", "--out", "results.json"])
        .env("PERFGUARD_TEST_TREE", tree())
        .assert()
        .code(0);
    project
}

#[test]
fn missing_config_names_the_file_and_suggests_init() {
    let project = Project::empty();
    let output = project.run(&["check"]);
    assert_exit_2(&output, &["perfguard.toml", "perfguard init"]);
}

#[test]
fn unknown_config_key_names_line_column_and_key() {
    let project = Project::empty();
    project.write("perfguard.toml", "[gate]\ntreshold = \"5%\"\n");
    let output = project.run(&["check"]);
    assert_exit_2(
        &output,
        &[
            "perfguard.toml:2:1",
            "\"treshold\"",
            "did you mean \"threshold\"",
        ],
    );
}

#[test]
fn bad_percentage_in_config_is_rejected() {
    let project = Project::empty();
    project.write("perfguard.toml", "[gate]\nthreshold = 5\n");
    let output = project.run(&["check"]);
    assert_exit_2(&output, &["perfguard.toml:2:13"]);
}

#[test]
fn bench_command_not_found_names_the_program() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        "[[bench]]\nname = \"work\"\ncommand = \"no-such-bench-program --x\"\n",
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["\"work\"", "no-such-bench-program", "PATH"]);
    assert!(!project.path().join("r.json").exists());
}

#[test]
fn failing_bench_command_shows_the_tail_of_its_output() {
    let project = Project::empty();
    project.write(
        "fail.sh",
        "echo compiling\necho 'error[E0425]: cannot find value x' >&2\nexit 101\n",
    );
    project.write(
        "perfguard.toml",
        "[[bench]]\nname = \"work\"\ncommand = \"sh fail.sh\"\n",
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &[
            "\"work\"",
            "exit code 101",
            "error[E0425]: cannot find value x",
        ],
    );
}

#[test]
fn bench_without_criterion_output_is_an_error() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        "[[bench]]\nname = \"work\"\ncommand = \"echo running\"\n",
    );
    let output = project.run(&["baseline", "record"]);
    assert_exit_2(
        &output,
        &["\"work\"", "wrote no criterion results", "harness = false"],
    );
    assert!(
        !project.path().join("baselines/work.json").exists(),
        "nothing recorded from a failed run"
    );
}

#[test]
fn failed_record_keeps_the_good_baseline() {
    let project = recorded();
    let good = project.read("baselines/work.json");
    let output = project.run(&["baseline", "record"]);
    assert_exit_2(&output, &["\"work\""]);
    assert_eq!(project.read("baselines/work.json"), good);
}

#[test]
fn newer_schema_baseline_is_a_clear_error() {
    let project = recorded();
    let newer = project
        .read("baselines/work.json")
        .replace("perfguard.baseline.v1", "perfguard.baseline.v9");
    project.write("baselines/work.json", &newer);
    let output = project.run(&["compare", "baselines", "results.json"]);
    assert_exit_2(
        &output,
        &["work.json", "perfguard.baseline.v9", "upgrade perfguard"],
    );
}

#[test]
fn truncated_results_file_names_line_and_column() {
    let project = recorded();
    let results = project.read("results.json");
    project.write("results.json", &results[..results.len() / 3]);
    let output = project.run(&["compare", "baselines", "results.json"]);
    assert_exit_2(&output, &["results.json:", "re-record"]);
}

fn edit_first_run(project: &Project, edit: impl Fn(&mut Vec<serde_json::Value>)) {
    let mut baseline: serde_json::Value =
        serde_json::from_str(&project.read("baselines/work.json")).unwrap();
    let samples = baseline["benches"]["checksum/large"]["runs"][0]["per_iteration_ns"]
        .as_array_mut()
        .unwrap();
    edit(samples);
    project.write(
        "baselines/work.json",
        &serde_json::to_string_pretty(&baseline).unwrap(),
    );
}

#[test]
fn baseline_with_one_sample_is_rejected() {
    let project = recorded();
    edit_first_run(&project, |samples| samples.truncate(1));
    let output = project.run(&["compare", "baselines", "results.json"]);
    assert_exit_2(&output, &["work.json", "checksum/large", "1 sample(s)"]);
}

#[test]
fn baseline_with_zero_samples_is_rejected() {
    let project = recorded();
    edit_first_run(&project, |samples| samples.clear());
    let output = project.run(&["compare", "baselines", "results.json"]);
    assert_exit_2(&output, &["checksum/large", "0 sample(s)"]);
}

#[test]
fn negative_time_is_rejected() {
    let project = recorded();
    edit_first_run(&project, |samples| samples[3] = serde_json::json!(-5.0));
    let output = project.run(&["compare", "baselines", "results.json"]);
    assert_exit_2(&output, &["checksum/large", "invalid time -5"]);
}

#[test]
/// A renamed benchmark is one `missing` (which fails: the baseline holds
/// evidence this run did not produce) and one `new`; a `Perf-Accepted`
/// trailer accepts the missing one (`gate_git`).
fn renamed_benchmark_is_missing_and_new_and_missing_fails_the_gate() {
    let project = recorded();
    let renamed = project
        .read("results.json")
        .replace("checksum/large", "checksum/huge");
    project.write("results.json", &renamed);
    let output = project.run(&["compare", "baselines", "results.json", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(comparison["outcome"], "fail");
    let verdict = |id: &str| {
        comparison["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .map(|e| e["verdict"].clone())
    };
    assert_eq!(
        verdict("checksum/large"),
        Some(serde_json::json!("missing"))
    );
    assert_eq!(verdict("checksum/huge"), Some(serde_json::json!("new")));
}

#[test]
fn missing_baselines_folder_says_how_to_record() {
    let project = replaying_project();
    let output = project
        .perfguard()
        .arg("check")
        .env("PERFGUARD_TEST_TREE", tree())
        .output()
        .unwrap();
    assert_exit_2(&output, &["baselines", "perfguard baseline record"]);
}
