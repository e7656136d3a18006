//! Reading files from a commit's tree without checking it out, and listing the
//! files under a folder that a branch changed: the baselines a pull request
//! cannot loosen, and the edits it makes to them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{GitError, Oid, Repository};

impl Repository {
    /// Every regular file under `dir` (relative to the root) in `commit`'s tree,
    /// as a repository-relative path (`baselines/core.json`) and its UTF-8
    /// contents, sorted by path. Empty when `dir` does not exist at `commit`.
    /// Symbolic links and submodules are skipped.
    pub fn read_tree_dir(
        &self,
        commit: Oid,
        dir: &Path,
    ) -> Result<Vec<(PathBuf, String)>, GitError> {
        let dir = self.repo_relative(dir)?;
        let root_tree = self
            .inner
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|source| self.failed(&format!("read the tree of commit {commit}"), source))?;
        let tree = if dir.as_os_str().is_empty() {
            root_tree
        } else {
            let entry = match root_tree.get_path(&dir) {
                Ok(entry) => entry,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
                Err(source) => {
                    return Err(self.failed(
                        &format!("look up {} at commit {commit}", dir.display()),
                        source,
                    ));
                }
            };
            if entry.kind() != Some(git2::ObjectType::Tree) {
                return Err(GitError::NotADirectory {
                    path: dir,
                    commit: commit.to_string(),
                });
            }
            self.inner
                .find_tree(entry.id())
                .map_err(|source| self.failed(&format!("read {}", dir.display()), source))?
        };

        // Collect (path, blob id) first: the walk callback cannot return errors.
        let mut blobs = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            let is_regular_file = entry.kind() == Some(git2::ObjectType::Blob)
                && matches!(entry.filemode(), 0o100644 | 0o100755);
            if is_regular_file && let Ok(name) = entry.name() {
                blobs.push((dir.join(parent).join(name), entry.id()));
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(|source| self.failed(&format!("walk {}", dir.display()), source))?;

        let mut files = Vec::with_capacity(blobs.len());
        for (path, id) in blobs {
            let blob = self
                .inner
                .find_blob(id)
                .map_err(|source| self.failed(&format!("read {}", path.display()), source))?;
            let text =
                String::from_utf8(blob.content().to_vec()).map_err(|_| GitError::NotUtf8 {
                    path: path.clone(),
                    commit: commit.to_string(),
                })?;
            files.push((path, text));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// The UTF-8 contents of the regular file `path` (relative to the root, or
    /// absolute inside the working tree) in `commit`'s tree; `None` when it
    /// does not exist there.
    pub fn read_file_at(&self, commit: Oid, path: &Path) -> Result<Option<String>, GitError> {
        let path = self.repo_relative(path)?;
        let tree = self
            .inner
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|source| self.failed(&format!("read the tree of commit {commit}"), source))?;
        let entry = match tree.get_path(&path) {
            Ok(entry) => entry,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(source) => {
                return Err(self.failed(
                    &format!("look up {} at commit {commit}", path.display()),
                    source,
                ));
            }
        };
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .inner
            .find_blob(entry.id())
            .map_err(|source| self.failed(&format!("read {}", path.display()), source))?;
        String::from_utf8(blob.content().to_vec())
            .map(Some)
            .map_err(|_| GitError::NotUtf8 {
                path,
                commit: commit.to_string(),
            })
    }

    /// Files under `dir` that differ between `base` and HEAD's tree, or between
    /// `base` and the working tree (staged, unstaged and untracked-not-ignored
    /// changes), as sorted repository-relative paths. Added, deleted and
    /// modified files all count; a rename lists both names.
    pub fn changed_paths_under(&self, base: Oid, dir: &Path) -> Result<Vec<PathBuf>, GitError> {
        let dir = self.repo_relative(dir)?;
        let base_tree = self
            .inner
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(|source| self.failed(&format!("read the tree of commit {base}"), source))?;
        let head_tree = match self.inner.head() {
            Ok(head) => Some(
                head.peel_to_tree()
                    .map_err(|source| self.failed("read HEAD's tree", source))?,
            ),
            Err(_) => None,
        };

        let options = || {
            let mut options = git2::DiffOptions::new();
            options
                .include_untracked(true)
                .recurse_untracked_dirs(true)
                .ignore_submodules(true);
            if !dir.as_os_str().is_empty() {
                // Literal: a folder named `perf[1]` is not a glob.
                options
                    .pathspec(dir.as_os_str())
                    .disable_pathspec_match(true);
            }
            options
        };
        let mut changed = BTreeSet::new();
        let committed = self
            .inner
            .diff_tree_to_tree(Some(&base_tree), head_tree.as_ref(), Some(&mut options()))
            .map_err(|source| self.failed("diff the base tree against HEAD", source))?;
        let uncommitted = self
            .inner
            .diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options()))
            .map_err(|source| self.failed("diff the base tree against the working tree", source))?;
        for diff in [committed, uncommitted] {
            for delta in diff.deltas() {
                for file in [delta.old_file(), delta.new_file()] {
                    if let Some(path) = file.path()
                        && path.starts_with(&dir)
                    {
                        changed.insert(path.to_path_buf());
                    }
                }
            }
        }
        Ok(changed.into_iter().collect())
    }
}
