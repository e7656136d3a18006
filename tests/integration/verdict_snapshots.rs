//! Every report format, rendered by the real binary from a real stored
//! comparison of the shared fixture `fixtures/verdicts/` (a baseline and a
//! current results file whose comparison holds every verdict a stored check
//! gives). The verdict code and the reporters both stand behind these
//! snapshots: a refactoring of either must leave them unchanged.

use crate::util::{perfguard, repo_root, text};

fn render(format: &str) -> (String, i32) {
    let dir = repo_root().join("fixtures/verdicts");
    let output = perfguard()
        .current_dir(&dir)
        // No perfguard.toml here: `compare` uses its default gate settings.
        .args([
            "--config",
            "absent.toml",
            "compare",
            "baseline.json",
            "current.json",
        ])
        .args(["--format", format])
        .output()
        .expect("perfguard runs");
    assert!(
        output.stderr.is_empty(),
        "nothing on stderr: {}",
        text(&output.stderr)
    );
    (text(&output.stdout), output.status.code().unwrap_or(-1))
}

fn snapshot(format: &str) -> String {
    let (report, code) = render(format);
    assert_eq!(code, 1, "the fixture holds regressions: exit 1");
    report
}

#[test]
fn stored_verdicts_as_text() {
    insta::assert_snapshot!(snapshot("text"));
}

#[test]
fn stored_verdicts_as_json() {
    insta::assert_snapshot!(snapshot("json"));
}

#[test]
fn stored_verdicts_as_markdown() {
    insta::assert_snapshot!(snapshot("markdown"));
}

#[test]
fn stored_verdicts_as_junit() {
    insta::assert_snapshot!(snapshot("junit"));
}

#[test]
fn stored_verdicts_as_github() {
    insta::assert_snapshot!(snapshot("github"));
}

#[test]
fn stored_verdicts_as_html() {
    insta::assert_snapshot!(snapshot("html"));
}

/// A comparison file written by `--format json` is read back by `perfguard
/// report` into the same model: every other format renders exactly as the
/// comparison that wrote it, and the exit code is the gate's.
#[test]
fn a_stored_comparison_file_renders_like_the_comparison_that_wrote_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("comparison.json");
    std::fs::write(&file, render("json").0).expect("comparison is written");
    for format in ["text", "markdown", "junit", "github", "html", "json"] {
        let output = perfguard()
            .current_dir(dir.path())
            .args(["--config", "absent.toml", "report"])
            .arg(&file)
            .args(["--format", format])
            .output()
            .expect("perfguard runs");
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), render(format).0, "{format}");
    }
}
