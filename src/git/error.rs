//! [`GitError`]: everything the git layer can fail with, each message saying
//! what happened, where, and what to run next.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{path} is not inside a git repository; run `git init` and commit there, or pass `--baselines-from worktree` to gate against the working tree's baselines without git"
    )]
    NotARepository { path: PathBuf },

    #[error("{path}: cannot open the git repository: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "{path}: the repository belongs to another user, so git refuses to open it ({source}); if you trust it (typical in a CI container), run `git config --global --add safe.directory '*'` or name its path"
    )]
    NotOwned {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },

    #[error(
        "{path} is a bare repository (no working tree to measure); run perfguard in a clone with a checkout"
    )]
    Bare { path: PathBuf },

    #[error("the repository at {root} has no commits yet; commit your work first (`git commit`)")]
    NoCommits { root: PathBuf },

    #[error("revision `{rev}` not found in {root}: {hint}")]
    RevisionNotFound {
        rev: String,
        root: PathBuf,
        hint: String,
    },

    #[error("revision `{rev}` is a {kind}, not a commit; name a branch, tag or commit")]
    NotACommit { rev: String, kind: String },

    #[error(
        "no merge-base between HEAD and `{base_ref}`: this shallow clone holds only {head_depth} commit(s) of HEAD's history and {base_depth} of `{base_ref}`'s, and they do not meet. Fetch more history: `git fetch --deepen={deepen} {fetch_target}` (repeat until it works) or `git fetch --unshallow`; in GitHub Actions set `fetch-depth: 0` on actions/checkout"
    )]
    ShallowWithoutMergeBase {
        base_ref: String,
        head_depth: usize,
        base_depth: usize,
        deepen: usize,
        fetch_target: String,
    },

    #[error(
        "HEAD ({head}) and `{base_ref}` ({base}) share no history, so there is no merge-base; set [gate].base_ref or --against to the branch this one was started from"
    )]
    NoMergeBase {
        base_ref: String,
        base: String,
        head: String,
    },

    #[error("{path} is outside the repository at {root}; give a path inside it")]
    OutsideRepository { path: PathBuf, root: PathBuf },

    #[error(
        "{path} at commit {commit} is a file, not a directory; [gate].baselines must name a folder"
    )]
    NotADirectory { path: PathBuf, commit: String },

    #[error(
        "{path} at commit {commit} is not UTF-8 text; baseline files are JSON, re-record them with `perfguard baseline record`"
    )]
    NotUtf8 { path: PathBuf, commit: String },

    #[error(
        "commit {commit}: trailer `Perf-Accepted: {value}` has no reason; write it as `Perf-Accepted: <id-glob>: <why this regression is fine>` (reword that commit with `git commit --amend` or `git rebase -i`, then push again)"
    )]
    AcceptanceWithoutReason { commit: String, value: String },

    #[error(
        "commit {commit}: trailer `Perf-Accepted: {value}` has an invalid id glob `{pattern}`: {source}; write it as `Perf-Accepted: <id-glob>: <reason>`, e.g. `Perf-Accepted: core/parse/*: new parser trades speed for correctness`"
    )]
    AcceptanceBadGlob {
        commit: String,
        value: String,
        pattern: String,
        #[source]
        source: globset::Error,
    },

    #[error(
        "cannot create a temporary worktree at {path} for commit {commit}: {cause}; check that the directory is writable (set TMPDIR to another place if not) and that `git worktree add` works in this repository"
    )]
    WorktreeCreate {
        path: PathBuf,
        commit: String,
        cause: String,
    },

    #[error("{root}: cannot {action}: {source}")]
    Git {
        action: String,
        root: PathBuf,
        #[source]
        source: git2::Error,
    },
}
