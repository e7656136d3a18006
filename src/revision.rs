//! The revision being measured: commit, branch and dirty state of the checkout
//! containing a folder, read through [`crate::git::Repository`]. Outside a git
//! repository (or before the first commit) the fields stay empty.

use std::path::Path;

use crate::git::Repository;
use crate::results::Revision;

/// The revision of the checkout containing `dir` (a temporary worktree gives
/// its own detached commit).
pub fn current(dir: &Path) -> Revision {
    Repository::discover(dir)
        .and_then(|repo| repo.revision())
        .unwrap_or_default()
}

/// The first 8 characters of a commit id, for messages.
pub fn short_id(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}
