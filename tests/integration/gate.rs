//! The criterion gate end to end, on a real `cargo bench` of the workload fixture.

use crate::util::{Project, text};

/// Record at WORKLOAD=1, then check at the same work (pass), at twice the work
/// (fail naming the benchmark), and with a corrupted baseline (exit 2).
#[test]
fn gate_passes_same_work_fails_double_work_and_rejects_corrupt_baseline() {
    let project = Project::fixture("workload");
    project
        .perfguard()
        .args(["baseline", "record"])
        .env("WORKLOAD", "1")
        .assert()
        .code(0);
    let baseline = project.read("baselines/work.json");
    assert!(
        baseline.contains("\"schema\": \"perfguard.baseline.v1\""),
        "{baseline}"
    );
    assert!(baseline.contains("checksum/large"));

    let same = project
        .perfguard()
        .arg("check")
        .env("WORKLOAD", "1")
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(0),
        "same work must pass:\n{}\n{}",
        text(&same.stdout),
        text(&same.stderr)
    );

    let double = project
        .perfguard()
        .args(["check", "--format", "json"])
        .env("WORKLOAD", "2")
        .output()
        .unwrap();
    assert_eq!(
        double.status.code(),
        Some(1),
        "double work must fail:\n{}",
        text(&double.stderr)
    );
    let comparison: serde_json::Value = serde_json::from_slice(&double.stdout).unwrap();
    assert_eq!(comparison["schema"], "perfguard.comparison.v1");
    let regressed: Vec<&str> = comparison["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["verdict"] == "regressed")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(regressed.contains(&"checksum/large"), "{regressed:?}");

    // A failed run must not have touched the good baseline.
    assert_eq!(project.read("baselines/work.json"), baseline);

    let truncated = &baseline[..baseline.len() / 2];
    project.write("baselines/work.json", truncated);
    let corrupt = project
        .perfguard()
        .arg("check")
        .env("WORKLOAD", "1")
        .output()
        .unwrap();
    assert_eq!(corrupt.status.code(), Some(2));
    let message = text(&corrupt.stderr);
    assert!(message.contains("baselines/work.json"), "{message}");
    assert!(message.contains("re-record"), "{message}");
}
