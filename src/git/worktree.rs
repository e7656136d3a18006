//! Temporary detached worktrees: a checkout of another commit in a temporary
//! directory, for `--rev` and paired runs, that never touches the user's
//! working tree and is always removed (directory and `.git/worktrees` entry)
//! when dropped, including on error and panic paths.
//!
//! Creation runs `git worktree add --detach` rather than git2's
//! `Repository::worktree`: libgit2 can only add a worktree on a branch (it
//! creates one named after the worktree when given none), so a detached
//! checkout through git2 would create, and on a crash leave behind, a branch in
//! the user's repository; the git CLI also applies the repository's checkout
//! filters (e.g. Git LFS) like the user's own checkouts. Removal uses git2 and
//! the file system only, so cleanup does not depend on spawning a process.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{GitError, Oid, Repository, short_id};

/// Prefix of the temporary directories, also used to recognise stale ones.
const DIR_PREFIX: &str = "perfguard-worktree-";

/// A detached checkout of one commit in a temporary directory.
pub struct TempWorktree {
    /// The repository the worktree belongs to.
    repo: git2::Repository,
    /// Owns the temporary parent directory; `None` once dropped.
    parent: Option<tempfile::TempDir>,
    path: PathBuf,
    commit: Oid,
}

impl std::fmt::Debug for TempWorktree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempWorktree")
            .field("path", &self.path)
            .field("commit", &self.commit)
            .finish()
    }
}

impl TempWorktree {
    /// Check out `commit` (detached) in a new directory under the system
    /// temporary directory (`TMPDIR`).
    pub fn create(repo: &Repository, commit: Oid) -> Result<TempWorktree, GitError> {
        TempWorktree::create_in(repo, commit, &std::env::temp_dir())
    }

    /// Like [`TempWorktree::create`], in a new directory under `parent_dir`.
    pub fn create_in(
        repo: &Repository,
        commit: Oid,
        parent_dir: &Path,
    ) -> Result<TempWorktree, GitError> {
        let create_error = |path: &Path, cause: String| GitError::WorktreeCreate {
            path: path.to_path_buf(),
            commit: commit.to_string(),
            cause,
        };
        prune_stale(repo.git2());
        let own_repo = git2::Repository::open(repo.git2().path())
            .map_err(|e| create_error(parent_dir, format!("cannot reopen the repository: {e}")))?;
        let parent = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(parent_dir)
            .map_err(|e| create_error(parent_dir, format!("cannot create a directory: {e}")))?;
        let path = parent.path().join(short_id(&commit.to_string()));
        // Ctrl-C removes it too (the handler cannot run this Drop).
        crate::interrupt::register_worktree_dir(parent.path().to_path_buf());
        // From here on, Drop cleans up whatever `git worktree add` leaves behind.
        let worktree = TempWorktree {
            repo: own_repo,
            parent: Some(parent),
            path,
            commit,
        };
        let output = Command::new("git")
            .arg("-C")
            .arg(repo.root())
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(&worktree.path)
            .arg(commit.to_string())
            // perfguard may itself run from a git hook, where these point elsewhere.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .map_err(|e| {
                create_error(
                    &worktree.path,
                    format!("cannot run `git` (needed for `git worktree add`; is git installed and on PATH?): {e}"),
                )
            })?;
        if !output.status.success() {
            return Err(create_error(
                &worktree.path,
                format!(
                    "`git worktree add --detach` failed ({}): {}",
                    output.status,
                    tail(&String::from_utf8_lossy(&output.stderr), 10)
                ),
            ));
        }
        Ok(worktree)
    }

    /// Check out another commit in place (same folder, detached, forced):
    /// files that differ are rewritten, the others keep their times.
    pub fn switch_to(&mut self, commit: Oid) -> Result<(), GitError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(["checkout", "--detach", "--force", "--quiet"])
            .arg(commit.to_string())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .map_err(|e| GitError::WorktreeCreate {
                path: self.path.clone(),
                commit: commit.to_string(),
                cause: format!("cannot run `git checkout`: {e}"),
            })?;
        if !output.status.success() {
            return Err(GitError::WorktreeCreate {
                path: self.path.clone(),
                commit: commit.to_string(),
                cause: format!(
                    "`git checkout --detach` failed ({}): {}",
                    output.status,
                    tail(&String::from_utf8_lossy(&output.stderr), 10)
                ),
            });
        }
        self.commit = commit;
        Ok(())
    }

    /// The top of the checkout.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The commit checked out.
    #[cfg(test)]
    pub fn commit(&self) -> Oid {
        self.commit
    }
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        let admin_name = find_admin_name(&self.repo, &self.path);
        if self.path.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.path)
        {
            eprintln!(
                "perfguard: warning: cannot remove temporary worktree {}: {e}; remove it by hand and run `git worktree prune`",
                self.path.display()
            );
        }
        if let Some(name) = admin_name {
            prune(&self.repo, &name);
        }
        if let Some(parent) = self.parent.take() {
            let parent_path = parent.path().to_path_buf();
            crate::interrupt::unregister_worktree_dir(&parent_path);
            if let Err(e) = parent.close() {
                eprintln!(
                    "perfguard: warning: cannot remove temporary directory {}: {e}; remove it by hand",
                    parent_path.display()
                );
            }
        }
    }
}

/// The name of the `.git/worktrees/<name>` entry whose checkout is at `path`.
fn find_admin_name(repo: &git2::Repository, path: &Path) -> Option<String> {
    let wanted = canonical(path);
    let names = repo.worktrees().ok()?;
    names.iter().flatten().flatten().find_map(|name| {
        let worktree = repo.find_worktree(name).ok()?;
        (canonical(worktree.path()) == wanted).then(|| name.to_string())
    })
}

/// Canonical form of a path whose last components may no longer exist.
fn canonical(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
    let mut result = existing.canonicalize().unwrap_or(existing);
    result.extend(rest.iter().rev());
    result
}

/// Remove the `.git/worktrees/<name>` entry, whatever its state.
fn prune(repo: &git2::Repository, name: &str) {
    let pruned = repo.find_worktree(name).and_then(|worktree| {
        worktree.prune(Some(
            git2::WorktreePruneOptions::new()
                .valid(true)
                .locked(true)
                .working_tree(true),
        ))
    });
    if let Err(e) = pruned {
        let admin_dir = repo.commondir().join("worktrees").join(name);
        if admin_dir.exists()
            && let Err(remove_error) = std::fs::remove_dir_all(&admin_dir)
        {
            eprintln!(
                "perfguard: warning: cannot prune worktree entry {} ({e}; {remove_error}); run `git worktree prune`",
                admin_dir.display()
            );
        }
    }
}

/// Prune entries of perfguard worktrees whose directory is gone, temporary
/// parent and all (left by a process that was killed before it could clean
/// up). A worktree whose parent is still there belongs to a live check that
/// may have renamed it away for a moment (the load probes' builds do).
fn prune_stale(repo: &git2::Repository) {
    let Ok(names) = repo.worktrees() else {
        return;
    };
    for name in names.iter().flatten().flatten() {
        let Ok(worktree) = repo.find_worktree(name) else {
            continue;
        };
        let ours = worktree.path().to_string_lossy().contains(DIR_PREFIX);
        let gone = |path: &Path| !path.exists();
        if ours && gone(worktree.path()) && worktree.path().parent().is_none_or(gone) {
            prune(repo, name);
        }
    }
}

/// The last `lines` lines of a command's output.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
