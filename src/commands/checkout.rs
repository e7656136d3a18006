//! The checkouts a gate measures: the user's working tree, or another commit
//! (`--rev`, the merge-base of a paired run) in a temporary worktree, each with
//! the cargo target directory it builds into.
//!
//! Target directories: cargo names a workspace crate's artifacts by a hash of
//! its path *relative to the workspace root*, and decides freshness by file
//! modification times, so two checkouts of one project are indistinguishable
//! in one target directory: base and head alternating there would overwrite
//! each other, and worse, a checkout whose sources are older than the last
//! build would run the other checkout's binary. Each temporary checkout
//! therefore builds into its own sub-folder of the project's target directory,
//! `perfguard-base` (the merge-base's files, which direct paired runs run the
//! base's executables among: nothing builds there now), `perfguard-rev` (`--rev`),
//! `perfguard-paired` (both sides of paired timing), `perfguard-suite` (both
//! sides of suites paired timing runs whole) or `perfguard-load` (both
//! builds of the app for the load probes), never into the one the working tree
//! uses. They are stable across runs, so registry
//! dependencies compile once per machine (or CI cache), and a new worktree's
//! files are always newer than the previous build there, so cargo rebuilds the
//! workspace crates. Two perfguard runs of one project must not run at the
//! same time with the same target directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Error, MeasureOptions};
use crate::config::LoadedConfig;
use crate::git::{GitError, Oid, Repository, TempWorktree};

/// Sub-folder of the target directory named for the merge-base's files (see [`Role::Base`]).
pub(crate) const BASE_TARGET_SUBDIR: &str = "perfguard-base";
/// Sub-folder of the target directory a `--rev` checkout builds into.
pub(crate) const REV_TARGET_SUBDIR: &str = "perfguard-rev";
/// Sub-folder of the target directory paired runs build both sides in, one
/// after the other, from one folder (see `commands::check::run`).
pub(crate) const PAIRED_TARGET_SUBDIR: &str = "perfguard-paired";

/// Sub-folder of the target directory the load probes build both sides of
/// the app in, one after the other, from one folder (see
/// `commands::check::one_folder`).
pub(crate) const LOAD_TARGET_SUBDIR: &str = "perfguard-load";

/// Sub-folder of the target directory paired timing builds both sides of a
/// suite it runs whole in, one after the other, from one folder (see
/// `commands::check::one_folder`).
pub(crate) const SUITE_TARGET_SUBDIR: &str = "perfguard-suite";

/// What a checkout is for: which target directory it builds into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The merge-base's files, for the base's executables of a direct
    /// paired run to run among (built in [`Role::PairedBuild`]).
    Base,
    /// The revision given to `--rev`.
    Rev,
    /// The one folder both sides of a paired run are built in.
    PairedBuild,
    /// The one folder both builds of the app are made and run in, for the load probes.
    LoadBuild,
    /// The one folder both sides of a suite paired timing runs whole are
    /// built and run in.
    SuiteBuild,
}

impl Role {
    /// The sub-folder of the project's target directory this role builds into.
    pub(crate) fn target_subdir(self) -> &'static str {
        match self {
            Role::Base => BASE_TARGET_SUBDIR,
            Role::Rev => REV_TARGET_SUBDIR,
            Role::PairedBuild => PAIRED_TARGET_SUBDIR,
            Role::LoadBuild => LOAD_TARGET_SUBDIR,
            Role::SuiteBuild => SUITE_TARGET_SUBDIR,
        }
    }
}

/// A commit checked out in a temporary worktree, removed when dropped.
pub(crate) struct Checkout {
    /// The folder of perfguard.toml inside the checkout: suites run here.
    pub project_dir: PathBuf,
    /// Environment for the bench commands (the target directory).
    pub env: Vec<(String, String)>,
    /// The cargo target directory `env` names.
    pub target_dir: PathBuf,
    pub commit: Oid,
    worktree: TempWorktree,
}

impl Checkout {
    /// The top of the checkout.
    pub(crate) fn root(&self) -> &Path {
        self.worktree.path()
    }

    /// Turn this checkout into a copy of `commit`, plus, with `working_tree`,
    /// that repository's uncommitted changes (modified, staged, untracked and
    /// deleted files; ignored files are left out), in the same folder.
    pub(crate) fn switch_to(
        &mut self,
        commit: Oid,
        working_tree: Option<&Repository>,
    ) -> Result<(), Error> {
        self.worktree.switch_to(commit)?;
        self.commit = commit;
        let Some(repo) = working_tree else {
            return Ok(());
        };
        for (relative, exists) in repo.changed_files()? {
            let into = self.worktree.path().join(&relative);
            let copied = if exists {
                let from = repo.root().join(&relative);
                into.parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::copy(&from, &into).map(|_| ()))
            } else if into.exists() {
                std::fs::remove_file(&into)
            } else {
                Ok(())
            };
            copied.map_err(|source| crate::git::GitError::WorktreeCreate {
                path: into.clone(),
                commit: commit.to_string(),
                cause: format!(
                    "cannot copy the working tree's change to {}: {source}",
                    relative.display()
                ),
            })?;
        }
        Ok(())
    }
}

/// The repository containing the project, or an error saying why `flag` needs one.
pub(crate) fn require_repo(
    loaded: &LoadedConfig,
    flag: &'static str,
    why: &'static str,
) -> Result<Repository, Error> {
    match Repository::discover(&loaded.root) {
        Ok(repo) => Ok(repo),
        Err(GitError::NotARepository { path }) => Err(Error::GitRequired { flag, why, path }),
        Err(e) => Err(e.into()),
    }
}

/// The folder of perfguard.toml relative to the repository root (empty at the root).
pub(crate) fn project_relative(repo: &Repository, loaded: &LoadedConfig) -> Result<PathBuf, Error> {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    canonical(&loaded.root)
        .strip_prefix(canonical(repo.root()))
        .map(Path::to_path_buf)
        .map_err(|_| {
            GitError::OutsideRepository {
                path: loaded.root.clone(),
                root: repo.root().to_path_buf(),
            }
            .into()
        })
}

/// Check out `commit` in a temporary worktree for `role`.
pub(crate) fn in_worktree(
    repo: &Repository,
    loaded: &LoadedConfig,
    commit: Oid,
    role: Role,
) -> Result<Checkout, Error> {
    in_worktree_building_in(repo, loaded, commit, role, target_dir(loaded))
}

/// [`in_worktree`], with the project's target directory `target` already known.
pub(crate) fn in_worktree_building_in(
    repo: &Repository,
    loaded: &LoadedConfig,
    commit: Oid,
    role: Role,
    target: PathBuf,
) -> Result<Checkout, Error> {
    let relative = project_relative(repo, loaded)?;
    let worktree = TempWorktree::create(repo, commit)?;
    let target = target.join(role.target_subdir());
    Ok(Checkout {
        project_dir: worktree.path().join(relative),
        env: vec![("CARGO_TARGET_DIR".to_string(), target.display().to_string())],
        target_dir: target,
        commit,
        worktree,
    })
}

/// For `--rev REV`: check REV out and point `measure`'s environment at its
/// target directory. `None` without `--rev`.
pub(crate) fn for_rev(
    loaded: &LoadedConfig,
    rev: Option<&str>,
    measure: &mut MeasureOptions,
) -> Result<Option<Checkout>, Error> {
    let Some(rev) = rev else {
        return Ok(None);
    };
    let repo = require_repo(
        loaded,
        "--rev",
        "it checks the revision out in a temporary git worktree",
    )?;
    let commit = repo.resolve(rev)?;
    let checkout = in_worktree(&repo, loaded, commit, Role::Rev)?;
    measure.env.extend(checkout.env.iter().cloned());
    Ok(Some(checkout))
}

/// The project's cargo target directory: what `cargo metadata` reports (it
/// honours `CARGO_TARGET_DIR` and `build.target-dir`), else `<project>/target`.
pub(crate) fn target_dir(loaded: &LoadedConfig) -> PathBuf {
    let from_cargo = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(&loaded.root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| serde_json::from_slice::<serde_json::Value>(&output.stdout).ok())
        .and_then(|metadata| {
            metadata
                .get("target_directory")
                .and_then(|t| t.as_str())
                .map(PathBuf::from)
        });
    match from_cargo {
        Some(dir) => dir,
        None => match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => loaded.root.join(dir),
            None => loaded.root.join("target"),
        },
    }
}
