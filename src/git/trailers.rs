//! Reading `Perf-Accepted: <id-glob>: <reason>` trailers from the commits
//! between the merge-base and HEAD (what they do to verdicts is
//! [`crate::compare::accept`]).
//!
//! Trailers are read like `git interpret-trailers` does (libgit2's parser): from
//! the last paragraph of the message, key matched case-insensitively.

use super::{GitError, Oid, Repository, short_id};
use crate::compare::accept::compile;
use crate::comparison::{ACCEPT_TRAILER, Acceptance};

impl Repository {
    /// The `Perf-Accepted` trailers of every commit in `merge_base..HEAD`,
    /// oldest commit first. A trailer without a reason, or with an invalid glob,
    /// is an error naming the commit.
    pub fn accepted_trailers(&self, merge_base: Oid) -> Result<Vec<Acceptance>, GitError> {
        let head = self.head_commit()?;
        let walk_error = |source| self.failed("walk the commits since the merge-base", source);
        let mut walk = self.inner.revwalk().map_err(walk_error)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .map_err(walk_error)?;
        walk.push(head).map_err(walk_error)?;
        walk.hide(merge_base).map_err(walk_error)?;

        let mut acceptances = Vec::new();
        for oid in walk {
            let oid = oid.map_err(walk_error)?;
            let commit = self
                .inner
                .find_commit(oid)
                .map_err(|source| self.failed(&format!("read commit {oid}"), source))?;
            let Ok(message) = commit.message() else {
                continue; // not UTF-8: cannot carry a readable trailer
            };
            let Ok(trailers) = git2::message_trailers_strs(message) else {
                continue;
            };
            let author = commit.author();
            let author = format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            );
            for (key, value) in trailers.iter() {
                if key.eq_ignore_ascii_case(ACCEPT_TRAILER) {
                    let mut acceptance = parse_acceptance(&oid.to_string(), value)?;
                    acceptance.author = author.clone();
                    acceptances.push(acceptance);
                }
            }
        }
        Ok(acceptances)
    }
}

/// Parse a trailer value `<id-glob>: <reason>` found on `commit` (the author is
/// left empty). The glob ends at the first `": "`, so reasons may contain colons.
pub fn parse_acceptance(commit: &str, value: &str) -> Result<Acceptance, GitError> {
    let value = value.trim();
    let (pattern, reason) = match value.split_once(": ") {
        Some((pattern, reason)) => (pattern.trim(), reason.trim()),
        None => (value.strip_suffix(':').unwrap_or(value).trim(), ""),
    };
    if reason.is_empty() || pattern.is_empty() {
        return Err(GitError::AcceptanceWithoutReason {
            commit: short_id(commit).to_string(),
            value: value.to_string(),
        });
    }
    compile(pattern).map_err(|source| GitError::AcceptanceBadGlob {
        commit: short_id(commit).to_string(),
        value: value.to_string(),
        pattern: pattern.to_string(),
        source,
    })?;
    Ok(Acceptance {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
        commit: commit.to_string(),
        author: String::new(),
    })
}
