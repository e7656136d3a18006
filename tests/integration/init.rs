//! `perfguard init` on a Cargo project: a config naming its bench targets,
//! baselines/ and the workflows; never overwriting without --force.

use crate::util::{Project, text};

#[test]
fn init_detects_bench_targets_and_refuses_to_overwrite() {
    let project = Project::fixture("workload");
    std::fs::remove_file(project.path().join("perfguard.toml")).unwrap();
    project.perfguard().arg("init").assert().code(0);
    let config = project.read("perfguard.toml");
    assert!(config.contains("name = \"work\""), "{config}");
    assert!(
        config.contains("command = \"cargo bench --bench work\""),
        "{config}"
    );
    assert!(
        config.starts_with('#'),
        "the config is commented:\n{config}"
    );
    assert!(project.path().join("baselines").is_dir());
    assert!(
        project
            .read(".github/workflows/perfguard.yml")
            .contains("perfguard")
    );
    assert!(
        project
            .read(".github/workflows/perfguard-comment.yml")
            .contains("workflow_run")
    );

    let again = project.run(&["init"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    project
        .perfguard()
        .args(["init", "--force"])
        .assert()
        .code(0);
}
