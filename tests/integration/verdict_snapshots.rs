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
        .args(["--config", "absent.toml", "compare", "baseline.json", "current.json"])
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
