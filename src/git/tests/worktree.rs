//! Temporary worktrees: created detached at a commit, removed on drop and on
//! panic, never touching the user's working tree.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use crate::git::{GitError, Oid, Repository, TempWorktree};

use super::fixture::Fixture;

/// A repository whose working tree differs from the commit under test: an
/// older commit, a newer HEAD and uncommitted, untracked and ignored files.
fn busy_repository() -> (Fixture, Oid) {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "target/\n");
    fixture.write("src/lib.rs", "old\n");
    let old = fixture.commit("Old version");
    fixture.write("src/lib.rs", "new\n");
    fixture.commit("New version");
    fixture.write("src/lib.rs", "uncommitted edit\n");
    fixture.write("scratch.txt", "untracked\n");
    fixture.write("target/cache.bin", "ignored\n");
    (fixture, old)
}

fn registered_worktrees(fixture: &Fixture) -> Vec<String> {
    let repo = git2::Repository::open(fixture.path()).unwrap();
    repo.worktrees()
        .unwrap()
        .iter()
        .flatten()
        .flatten()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_worktree_checks_out_the_commit_detached_and_is_removed_on_drop() {
    let (fixture, old) = busy_repository();
    let before = fixture.snapshot();
    let repo = Repository::discover(fixture.path()).unwrap();
    let parent = tempfile::tempdir().unwrap();

    let worktree_path: PathBuf;
    {
        let worktree = TempWorktree::create_in(&repo, old, parent.path()).expect("create");
        worktree_path = worktree.path().to_path_buf();
        assert_eq!(worktree.commit(), old);
        assert_eq!(
            std::fs::read_to_string(worktree_path.join("src/lib.rs")).unwrap(),
            "old\n"
        );
        assert!(!worktree_path.join("scratch.txt").exists());
        let inside = Repository::discover(&worktree_path).unwrap();
        assert!(inside.is_detached());
        assert_eq!(inside.head_commit().unwrap(), old);
        assert!(!inside.revision().unwrap().dirty);
        assert_eq!(registered_worktrees(&fixture).len(), 1);
        // The user's HEAD and branch did not move.
        assert_eq!(
            repo.revision().unwrap().branch.as_deref(),
            Some("main"),
            "user's branch"
        );
    }

    assert!(!worktree_path.exists(), "worktree directory removed");
    assert_eq!(
        std::fs::read_dir(parent.path()).unwrap().count(),
        0,
        "temporary parent directory removed"
    );
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
    assert!(fixture.snapshot() == before, "user's files changed");
}

#[test]
fn a_worktree_is_removed_when_the_code_using_it_panics() {
    let (fixture, old) = busy_repository();
    let before = fixture.snapshot();
    let repo = Repository::discover(fixture.path()).unwrap();
    let mut seen_path = None;

    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let worktree = TempWorktree::create(&repo, old).expect("create");
        seen_path = Some(worktree.path().to_path_buf());
        std::fs::write(worktree.path().join("build-output.txt"), "made by a build").unwrap();
        panic!("benchmark crashed");
    }));

    assert!(outcome.is_err(), "the closure panicked");
    let path = seen_path.expect("the worktree was created before the panic");
    assert!(!path.exists(), "{} still exists", path.display());
    assert!(
        !path.parent().unwrap().exists(),
        "temporary parent left behind"
    );
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
    assert!(fixture.snapshot() == before, "user's files changed");
}

#[test]
fn two_worktrees_of_one_commit_coexist() {
    let (fixture, old) = busy_repository();
    let repo = Repository::discover(fixture.path()).unwrap();
    let first = TempWorktree::create(&repo, old).unwrap();
    let second = TempWorktree::create(&repo, old).unwrap();
    assert_ne!(first.path(), second.path());
    assert_eq!(registered_worktrees(&fixture).len(), 2);
    drop(first);
    assert_eq!(registered_worktrees(&fixture).len(), 1);
    assert!(second.path().join("src/lib.rs").exists());
    drop(second);
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
}

#[test]
fn a_worktree_that_cannot_be_created_names_the_path_and_cause() {
    let (fixture, old) = busy_repository();
    let repo = Repository::discover(fixture.path()).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let not_a_directory = scratch.path().join("a-file");
    std::fs::write(&not_a_directory, "").unwrap();

    let error = TempWorktree::create_in(&repo, old, &not_a_directory).expect_err("a file");
    assert!(
        matches!(error, GitError::WorktreeCreate { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&not_a_directory.display().to_string()),
        "{message}"
    );
    assert!(message.contains("cannot create a directory"), "{message}");
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
}

#[test]
fn a_worktree_of_a_missing_commit_fails_with_gits_reason_and_leaves_nothing() {
    let (fixture, _) = busy_repository();
    let repo = Repository::discover(fixture.path()).unwrap();
    let parent = tempfile::tempdir().unwrap();
    let missing = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();

    let error = TempWorktree::create_in(&repo, missing, parent.path()).expect_err("no commit");
    let message = error.to_string();
    assert!(message.contains("git worktree add --detach"), "{message}");
    assert!(message.contains("0123456789abcdef"), "{message}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
}

#[test]
fn stale_worktree_entries_of_killed_runs_are_pruned_on_the_next_create() {
    let (fixture, old) = busy_repository();
    let repo = Repository::discover(fixture.path()).unwrap();
    let worktree = TempWorktree::create(&repo, old).unwrap();
    // Simulate a killed process: the directory vanished without Drop running.
    let parent = worktree.path().parent().unwrap().to_path_buf();
    std::mem::forget(worktree);
    std::fs::remove_dir_all(&parent).unwrap();
    assert_eq!(registered_worktrees(&fixture).len(), 1);

    let fresh = TempWorktree::create(&repo, old).unwrap();
    assert_eq!(
        registered_worktrees(&fixture).len(),
        1,
        "stale entry pruned"
    );
    drop(fresh);
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
}

#[test]
fn a_live_worktree_moved_aside_for_a_moment_is_not_pruned() {
    let (fixture, old) = busy_repository();
    let repo = Repository::discover(fixture.path()).unwrap();
    let worktree = TempWorktree::create(&repo, old).unwrap();
    // A live check swaps folders: the worktree is away, its parent is not.
    let aside = worktree.path().with_file_name("aside");
    std::fs::rename(worktree.path(), &aside).unwrap();

    let other = TempWorktree::create(&repo, old).unwrap();
    assert_eq!(
        registered_worktrees(&fixture).len(),
        2,
        "the moved worktree keeps its entry"
    );
    std::fs::rename(&aside, worktree.path()).unwrap();
    drop(other);
    drop(worktree);
    assert_eq!(registered_worktrees(&fixture), Vec::<String>::new());
}
