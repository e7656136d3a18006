//! The shop fixture as the end-to-end tests use it: a copy of `fixtures/shop`
//! in its own git repository, made a standalone cargo workspace, with `main`
//! committed; the incident and the fix are committed from their patches.
//! The test here only checks the repository and the workspace (no build).

use std::path::Path;
use std::process::Command;

use crate::util::{Project, repo_root, text};

/// A git repository holding the shop on `main`.
pub struct ShopRepo {
    pub project: Project,
}

impl ShopRepo {
    /// Copies `fixtures/shop`, adds an empty `[workspace]` (its `ranking/`
    /// path dependency becomes a member, so `-p shop-ranking` works) and
    /// perfguard's `Cargo.lock` (same crate versions, so a shared target
    /// directory reuses compiled dependencies), lets cargo prune the lock,
    /// and commits everything on `main`.
    pub fn new() -> ShopRepo {
        let project = Project::fixture("shop");
        let manifest = project.path().join("Cargo.toml");
        let mut contents = std::fs::read_to_string(&manifest).unwrap();
        contents.push_str("\n[workspace]\n");
        std::fs::write(&manifest, contents).unwrap();
        std::fs::copy(
            repo_root().join("Cargo.lock"),
            project.path().join("Cargo.lock"),
        )
        .unwrap();
        project.write(".gitignore", "target/\n");
        let repo = ShopRepo { project };
        repo.cargo(&["metadata", "--quiet", "--format-version", "1"]);
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        repo.git(&["add", "--all"]);
        repo.git(&["commit", "--quiet", "--message", "shop"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.project.path()
    }

    /// Runs git in the repository with a fixed identity; panics with its
    /// stderr on failure and returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .current_dir(self.path())
            .args([
                "-c",
                "user.name=perfguard tests",
                "-c",
                "user.email=tests@perfguard.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    fn cargo(&self, args: &[&str]) -> String {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .current_dir(self.path())
            .args(args)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo {args:?} failed in the shop copy: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Applies `fixtures/shop/<patch>` (paths relative to the shop) and
    /// commits it on the current branch.
    pub fn commit_patch(&self, patch: &str, message: &str) {
        let patch_path = self.path().join(patch);
        self.git(&["apply", patch_path.to_str().unwrap()]);
        self.git(&["commit", "--quiet", "--all", "--message", message]);
    }

    /// `git checkout -b name`.
    pub fn branch(&self, name: &str) {
        self.git(&["checkout", "--quiet", "-b", name]);
    }
}

#[test]
fn shop_copy_is_a_standalone_workspace_with_incident_and_fix_commits() {
    let repo = ShopRepo::new();

    let metadata: serde_json::Value = serde_json::from_str(&repo.cargo(&[
        "metadata",
        "--quiet",
        "--format-version",
        "1",
        "--no-deps",
    ]))
    .unwrap();
    let mut members: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| package["name"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["shop", "shop-ranking"]);
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "cargo left the copy dirty (an unpruned Cargo.lock?)"
    );

    repo.branch("incident");
    repo.commit_patch("incident.patch", "New recommendation algorithm");
    let recommend = std::fs::read_to_string(repo.path().join("src/recommend.rs")).unwrap();
    assert!(recommend.contains("for (candidate_id, co_purchase_count) in co_purchases"));

    repo.commit_patch("fix.patch", "Recommendations: one joined query again");
    assert_eq!(
        repo.git(&["diff", "--stat", "main", "HEAD"]),
        "",
        "incident.patch + fix.patch must give back main"
    );
}
