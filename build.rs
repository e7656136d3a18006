//! Records the commit perfguard is built from (`PERFGUARD_SOURCE_COMMIT`), so
//! `perfguard init` can write a workflow that installs exactly this version.
//! Outside a git checkout (a crates.io or vendored build) nothing is recorded.

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let git_dir = Path::new(&manifest_dir).join(".git");
    if git_dir.join("HEAD").is_file() {
        // A new commit moves the branch ref HEAD points at, or packed-refs.
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Ok(head) = std::fs::read_to_string(git_dir.join("HEAD"))
            && let Some(reference) = head.trim().strip_prefix("ref: ")
            && git_dir.join(reference).is_file()
        {
            println!("cargo:rerun-if-changed=.git/{reference}");
        }
        if git_dir.join("packed-refs").is_file() {
            println!("cargo:rerun-if-changed=.git/packed-refs");
        }
    }
    // Only perfguard's own checkout: a vendored copy inside another
    // repository must not record that repository's commit.
    let toplevel = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&manifest_dir)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    let own_checkout = toplevel.is_some_and(|top| {
        Path::new(&top).canonicalize().ok() == Path::new(&manifest_dir).canonicalize().ok()
    });
    let commit = own_checkout
        .then(|| {
            Command::new("git")
                .args(["rev-parse", "--verify", "HEAD"])
                .current_dir(&manifest_dir)
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
                .filter(|commit| {
                    commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())
                })
        })
        .flatten();
    if let Some(commit) = commit {
        println!("cargo:rustc-env=PERFGUARD_SOURCE_COMMIT={commit}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
