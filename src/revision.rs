//! The revision being measured: commit, branch and dirty state of the working
//! tree, read with git2. Outside a git repository every field is empty.

use std::path::Path;

use crate::results::Revision;

/// The revision of the repository containing `dir`.
pub fn current(dir: &Path) -> Revision {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return Revision::default();
    };
    let head = repo.head().ok();
    let commit = head
        .as_ref()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let branch = head
        .as_ref()
        .filter(|h| h.is_branch())
        .and_then(|h| h.shorthand().ok().map(str::to_string));
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).include_ignored(false);
    let dirty = repo
        .statuses(Some(&mut options))
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    Revision {
        commit,
        branch,
        dirty,
    }
}
