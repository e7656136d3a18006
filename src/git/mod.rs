//! The git layer (git2): where the repository is, what HEAD is, the merge-base
//! with the base ref, baselines read from a commit's tree, `Perf-Accepted`
//! trailers and temporary worktrees.
//!
//! Every failure is a [`GitError`] whose message says what to run next.

mod error;
mod trailers;
mod tree;
mod worktree;

use std::path::{Path, PathBuf};

pub use git2::Oid;

pub use error::GitError;
pub use worktree::TempWorktree;

use crate::results::Revision;

/// A git repository with a working tree, found from a path inside it.
pub struct Repository {
    inner: git2::Repository,
    root: PathBuf,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("root", &self.root)
            .finish()
    }
}

impl Repository {
    /// Find the repository containing `path` (walking up to its parents).
    pub fn discover(path: &Path) -> Result<Repository, GitError> {
        let inner = git2::Repository::discover(path).map_err(|source| {
            if source.code() == git2::ErrorCode::NotFound {
                GitError::NotARepository {
                    path: path.to_path_buf(),
                }
            } else if source.code() == git2::ErrorCode::Owner {
                GitError::NotOwned {
                    path: path.to_path_buf(),
                    source,
                }
            } else {
                GitError::Open {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let root = match inner.workdir() {
            Some(workdir) => strip_trailing_separator(workdir),
            None => {
                return Err(GitError::Bare {
                    path: inner.path().to_path_buf(),
                });
            }
        };
        Ok(Repository { inner, root })
    }

    /// The top of the working tree.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The underlying git2 repository, for callers that need more than this API.
    pub fn git2(&self) -> &git2::Repository {
        &self.inner
    }

    /// The commit HEAD points at.
    pub fn head_commit(&self) -> Result<Oid, GitError> {
        match self.inner.head() {
            Ok(head) => head
                .peel_to_commit()
                .map(|c| c.id())
                .map_err(|source| self.failed("read the commit HEAD points at", source)),
            Err(e) if is_unborn(&e) => Err(GitError::NoCommits {
                root: self.root.clone(),
            }),
            Err(source) => Err(self.failed("read HEAD", source)),
        }
    }

    /// Whether HEAD points at a commit rather than a branch.
    pub fn is_detached(&self) -> bool {
        self.inner.head_detached().unwrap_or(false)
    }

    /// One line for the user: `branch main at 1a2b3c4d` or
    /// `detached HEAD at 1a2b3c4d`, `(dirty)` appended when the tree has changes.
    pub fn head_description(&self) -> Result<String, GitError> {
        let revision = self.revision()?;
        let at = revision
            .commit
            .as_deref()
            .map(short_id)
            .unwrap_or("no commit yet");
        let mut text = match (&revision.branch, self.is_detached()) {
            (_, true) => format!("detached HEAD at {at}"),
            (Some(branch), false) => format!("branch {branch} at {at}"),
            (None, false) => format!("HEAD at {at}"),
        };
        if revision.dirty {
            text.push_str(" (dirty)");
        }
        Ok(text)
    }

    /// HEAD's commit, its branch (`None` when detached) and whether any file
    /// is modified, staged or untracked (ignored files do not count).
    pub fn revision(&self) -> Result<Revision, GitError> {
        let (commit, branch) = match self.inner.head() {
            Ok(head) => {
                let commit = head
                    .peel_to_commit()
                    .map_err(|source| self.failed("read the commit HEAD points at", source))?
                    .id()
                    .to_string();
                let branch = if head.is_branch() {
                    head.shorthand().ok().map(str::to_string)
                } else {
                    None
                };
                (Some(commit), branch)
            }
            Err(e) if is_unborn(&e) => {
                // A new repository: HEAD names a branch that has no commit yet.
                let branch = self
                    .inner
                    .find_reference("HEAD")
                    .ok()
                    .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_string))
                    .map(|target| {
                        target
                            .strip_prefix("refs/heads/")
                            .unwrap_or(&target)
                            .to_string()
                    });
                (None, branch)
            }
            Err(source) => return Err(self.failed("read HEAD", source)),
        };
        Ok(Revision {
            commit,
            branch,
            dirty: self.is_dirty()?,
        })
    }

    /// Files of the working tree that differ from HEAD (modified, staged,
    /// untracked but not ignored), relative to the root; `false` for deleted ones.
    pub fn changed_files(&self) -> Result<Vec<(PathBuf, bool)>, GitError> {
        let statuses = self.statuses(true)?;
        let mut changed = Vec::new();
        for entry in statuses.iter() {
            let status = entry.status();
            if status.is_empty() || status.is_ignored() {
                continue;
            }
            let Ok(path) = entry.path() else { continue };
            let relative = PathBuf::from(path);
            let exists = self.root().join(&relative).exists();
            changed.push((relative, exists));
        }
        Ok(changed)
    }

    /// The working tree's status against HEAD, untracked files included
    /// (inside untracked folders too when `recurse`), ignored ones not.
    fn statuses(&self, recurse: bool) -> Result<git2::Statuses<'_>, GitError> {
        let mut options = git2::StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(recurse)
            .include_ignored(false);
        self.inner
            .statuses(Some(&mut options))
            .map_err(|source| self.failed("read the working tree status", source))
    }

    /// The tree a commit points at.
    pub fn tree_of(&self, commit: Oid) -> Result<Oid, GitError> {
        self.inner
            .find_commit(commit)
            .map(|c| c.tree_id())
            .map_err(|source| self.failed("read a commit", source))
    }

    fn is_dirty(&self) -> Result<bool, GitError> {
        let statuses = self.statuses(false)?;
        Ok(statuses
            .iter()
            .any(|entry| !entry.status().is_empty() && !entry.status().is_ignored()))
    }

    /// Resolve a revision (`origin/main`, a tag, a commit id, `HEAD~2`) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<Oid, GitError> {
        let object = self
            .inner
            .revparse_single(rev)
            .map_err(|source| match source.code() {
                git2::ErrorCode::NotFound
                | git2::ErrorCode::InvalidSpec
                | git2::ErrorCode::Ambiguous => GitError::RevisionNotFound {
                    rev: rev.to_string(),
                    root: self.root.clone(),
                    hint: self.fetch_hint(rev),
                },
                _ => self.failed(&format!("resolve revision `{rev}`"), source),
            })?;
        object
            .peel_to_commit()
            .map(|c| c.id())
            .map_err(|_| GitError::NotACommit {
                rev: rev.to_string(),
                kind: object
                    .kind()
                    .map(|k| k.str().to_string())
                    .unwrap_or_else(|| "unknown object".to_string()),
            })
    }

    /// What to run when `rev` is missing: fetch it from the remote it names.
    fn fetch_hint(&self, rev: &str) -> String {
        let remotes: Vec<String> = self
            .inner
            .remotes()
            .map(|names| {
                names
                    .iter()
                    .flatten()
                    .flatten()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let shallow_note = if self.inner.is_shallow() {
            " (this clone is shallow: in GitHub Actions set `fetch-depth: 0` on actions/checkout)"
        } else {
            " (in GitHub Actions, actions/checkout fetches only the pull request; set `fetch-depth: 0` or fetch the base branch in a step)"
        };
        let short = rev.strip_prefix("refs/remotes/").unwrap_or(rev);
        if let Some((remote, branch)) = short.split_once('/')
            && remotes.iter().any(|r| r == remote)
        {
            return format!(
                "fetch it with `git fetch {remote} {branch}`{shallow_note}, or set [gate].base_ref / --against to a ref that exists (`git branch -a` lists them)"
            );
        }
        match remotes.first() {
            Some(_) if remotes.iter().any(|r| r == "origin") => format!(
                "fetch it with `git fetch origin {rev}`{shallow_note}, or check the spelling (`git branch -a` lists the refs)"
            ),
            Some(remote) => format!(
                "fetch it with `git fetch {remote} {rev}`{shallow_note}, or check the spelling (`git branch -a` lists the refs)"
            ),
            None => format!(
                "this repository has no remote to fetch `{rev}` from; check the spelling (`git branch -a` lists the refs) or add the remote with `git remote add origin URL` and `git fetch origin`"
            ),
        }
    }

    /// The merge-base of HEAD and `base_ref`: where the branch left the base.
    pub fn merge_base(&self, base_ref: &str) -> Result<Oid, GitError> {
        let base = self.resolve(base_ref)?;
        let head = self.head_commit()?;
        match self.inner.merge_base(base, head) {
            Ok(oid) => Ok(oid),
            Err(source) if source.code() == git2::ErrorCode::NotFound => {
                if self.inner.is_shallow() {
                    let head_depth = self.history_depth(head);
                    let base_depth = self.history_depth(base);
                    Err(GitError::ShallowWithoutMergeBase {
                        base_ref: base_ref.to_string(),
                        head_depth,
                        base_depth,
                        deepen: suggested_deepen(head_depth.max(base_depth)),
                        fetch_target: fetch_target(&self.inner, base_ref),
                    })
                } else {
                    Err(GitError::NoMergeBase {
                        base_ref: base_ref.to_string(),
                        base: base.to_string(),
                        head: head.to_string(),
                    })
                }
            }
            Err(source) => Err(self.failed(
                &format!("compute the merge-base of HEAD and `{base_ref}`"),
                source,
            )),
        }
    }

    /// How many commits of `tip`'s history this clone holds (stops at the
    /// shallow boundary).
    fn history_depth(&self, tip: Oid) -> usize {
        let Ok(mut walk) = self.inner.revwalk() else {
            return 0;
        };
        if walk.push(tip).is_err() {
            return 0;
        }
        walk.take_while(Result::is_ok).count()
    }

    /// Whether `commit` is `of` or one of its ancestors. Commits missing from a
    /// shallow clone count as not ancestors.
    pub fn is_ancestor(&self, commit: Oid, of: Oid) -> bool {
        commit == of || self.inner.graph_descendant_of(of, commit).unwrap_or(false)
    }

    fn failed(&self, action: &str, source: git2::Error) -> GitError {
        GitError::Git {
            action: action.to_string(),
            root: self.root.clone(),
            source,
        }
    }

    /// `dir` as a path inside the repository: relative paths are taken as they
    /// are, absolute ones must lie under the root.
    fn repo_relative(&self, dir: &Path) -> Result<PathBuf, GitError> {
        let relative = if dir.is_absolute() {
            let canonical_root = self.root.canonicalize().unwrap_or(self.root.clone());
            dir.strip_prefix(&self.root)
                .or_else(|_| dir.strip_prefix(&canonical_root))
                .map_err(|_| GitError::OutsideRepository {
                    path: dir.to_path_buf(),
                    root: self.root.clone(),
                })?
                .to_path_buf()
        } else {
            dir.to_path_buf()
        };
        Ok(relative
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect())
    }
}

/// The first 8 hex digits of a commit id, for messages.
pub use crate::revision::short_id;

fn is_unborn(error: &git2::Error) -> bool {
    matches!(
        error.code(),
        git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
    )
}

fn strip_trailing_separator(path: &Path) -> PathBuf {
    path.components().collect()
}

/// How many more commits to fetch: at least 50, else twice what the clone holds,
/// so one or two rounds of `git fetch --deepen` usually reach the merge-base.
fn suggested_deepen(depth_held: usize) -> usize {
    (depth_held * 2).max(50)
}

/// `origin main` for `origin/main` when `origin` is a remote, else the ref itself.
fn fetch_target(repo: &git2::Repository, base_ref: &str) -> String {
    let short = base_ref.strip_prefix("refs/remotes/").unwrap_or(base_ref);
    if let Some((remote, branch)) = short.split_once('/')
        && repo.find_remote(remote).is_ok()
    {
        return format!("{remote} {branch}");
    }
    format!("origin {base_ref}")
}

#[cfg(test)]
mod tests;
