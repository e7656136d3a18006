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

/// What `init` writes works unedited in a project that is not perfguard:
/// actionlint and zizmor (`--offline`, nothing of medium severity or above)
/// pass on init's own output, and it installs a pinned perfguard instead of
/// an action path the project does not have.
#[test]
fn init_writes_workflows_that_lint_clean_in_a_plain_crate() {
    let project = Project::fixture("workload");
    std::fs::remove_file(project.path().join("perfguard.toml")).unwrap();
    project.perfguard().arg("init").assert().code(0);
    let workflow = project.read(".github/workflows/perfguard.yml");
    assert!(!workflow.contains("./.github/actions"), "{workflow}");
    assert!(
        workflow.contains("cargo install --locked --git https://github.com/perfguard/perfguard --"),
        "{workflow}"
    );
    let pinned = workflow.split("--rev ").nth(1).map(|rest| {
        rest.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    });
    if let Some(commit) = pinned {
        assert_eq!(commit.len(), 40, "a full commit id: {commit}");
    }
    assert!(
        !workflow.contains("services:"),
        "no database without probes"
    );
    lint(project.path());
}

#[test]
fn init_keeps_an_existing_config_and_gives_its_database_a_service() {
    for (kind, url, image, port) in [
        (
            "postgres",
            "postgres://postgres@127.0.0.1:5432/shop",
            "postgres:15",
            "5432:5432",
        ),
        (
            "mysql",
            "mysql://root@127.0.0.1:3307/shop",
            "mariadb:11",
            "3307:3306",
        ),
    ] {
        let project = Project::empty();
        let config = format!(
            "[app]\ncommand = \"cargo run --release\"\nready = \"http://127.0.0.1:{{port}}/health\"\n\
             env = {{ DATABASE_URL = \"{{database_url}}\", PORT = \"{{port}}\" }}\n\n\
             [database]\nkind = \"{kind}\"\nurl = \"{url}\"\n\n\
             [[probe]]\nname = \"home\"\npath = \"/\"\n"
        );
        project.write("perfguard.toml", &config);
        project.perfguard().arg("init").assert().code(0);
        assert_eq!(project.read("perfguard.toml"), config, "kept as it was");
        let workflow = project.read(".github/workflows/perfguard.yml");
        assert!(workflow.contains("    services:\n"), "{workflow}");
        assert!(workflow.contains(&format!("image: {image}")), "{workflow}");
        assert!(workflow.contains(&format!("- {port}")), "{workflow}");
        assert!(
            workflow.contains(": shop"),
            "the database is created: {workflow}"
        );
        lint(project.path());
    }
}

fn lint(dir: &std::path::Path) {
    let files = vec![
        dir.join(".github/workflows/perfguard.yml"),
        dir.join(".github/workflows/perfguard-comment.yml"),
    ];
    crate::workflows::assert_actionlint_clean(&files);
    crate::workflows::assert_zizmor_clean(dir, &files);
}
