//! Repository discovery, revisions, refs, merge-base and reading baselines
//! from the base tree.

use std::path::{Path, PathBuf};

use crate::git::{GitError, Repository};

use super::fixture::{Fixture, git_cli, run_git};

#[test]
fn outside_a_repository_the_error_suggests_git_init_or_worktree_baselines() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let error = Repository::discover(dir.path()).expect_err("not a repository");
    assert!(
        matches!(error, GitError::NotARepository { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("git init"), "{message}");
    assert!(message.contains("--baselines-from worktree"), "{message}");
}

#[test]
fn discover_from_a_subdirectory_finds_the_root() {
    let fixture = Fixture::new();
    fixture.write("src/deep/lib.rs", "fn f() {}\n");
    let repo = Repository::discover(&fixture.path().join("src/deep")).expect("discover");
    assert_eq!(
        repo.root().canonicalize().unwrap(),
        fixture.path().canonicalize().unwrap()
    );
}

#[test]
fn revision_records_commit_branch_and_dirty_state() {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "target/\n");
    let commit = fixture.commit("Ignore target");
    let repo = Repository::discover(fixture.path()).expect("discover");

    let clean = repo.revision().expect("revision");
    assert_eq!(clean.commit, Some(commit.to_string()));
    assert_eq!(clean.branch.as_deref(), Some("main"));
    assert!(!clean.dirty);
    assert!(!repo.is_detached());

    fixture.write("target/debug/out.bin", "ignored build output");
    assert!(
        !repo.revision().unwrap().dirty,
        "ignored files are not dirt"
    );

    fixture.write("notes.txt", "untracked");
    assert!(repo.revision().unwrap().dirty, "untracked file");
    fixture.remove("notes.txt");
    assert!(!repo.revision().unwrap().dirty);

    fixture.write("README.md", "# changed\n");
    assert!(repo.revision().unwrap().dirty, "modified file");
    let mut index = fixture.repo.index().unwrap();
    index.add_path(Path::new("README.md")).unwrap();
    index.write().unwrap();
    assert!(repo.revision().unwrap().dirty, "staged file");
    assert!(repo.head_description().unwrap().ends_with("(dirty)"));
}

#[test]
fn detached_head_works_and_says_so() {
    let fixture = Fixture::new();
    let first = fixture.repo.head().unwrap().target().unwrap();
    fixture.write("a.txt", "a");
    fixture.commit("Second");
    fixture.detach_at(first);

    let repo = Repository::discover(fixture.path()).expect("discover");
    assert!(repo.is_detached());
    let revision = repo
        .revision()
        .expect("a detached HEAD still has a revision");
    assert_eq!(revision.commit, Some(first.to_string()));
    assert_eq!(revision.branch, None);
    assert!(!revision.dirty);
    assert_eq!(
        repo.head_description().unwrap(),
        format!("detached HEAD at {}", &first.to_string()[..8])
    );
    assert_eq!(repo.head_commit().unwrap(), first);
}

#[test]
fn a_new_repository_without_commits_says_to_commit_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = git2::RepositoryInitOptions::new();
    options.initial_head("trunk");
    git2::Repository::init_opts(dir.path(), &options).unwrap();
    let repo = Repository::discover(dir.path()).unwrap();
    let revision = repo.revision().unwrap();
    assert_eq!(revision.commit, None);
    assert_eq!(revision.branch.as_deref(), Some("trunk"));
    let error = repo.head_commit().expect_err("no commits");
    assert!(error.to_string().contains("no commits yet"), "{error}");
}

/// main: c1 - base - m1 ; feature: base - f1 - f2
struct Branched {
    fixture: Fixture,
    base: git2::Oid,
    main_tip: git2::Oid,
}

fn branched() -> Branched {
    let fixture = Fixture::new();
    fixture.write("baselines/core.json", "{\"median_ns\": 100}\n");
    fixture.write("baselines/nested/extra.json", "{\"median_ns\": 7}\n");
    fixture.write("src/lib.rs", "pub fn f() {}\n");
    let base = fixture.commit("Record baselines");
    fixture.write("src/main_only.rs", "\n");
    let main_tip = fixture.commit("Work on main");
    fixture.branch("feature", base);
    fixture.write("src/lib.rs", "pub fn f() { slower() }\n");
    fixture.commit("Make f slower");
    Branched {
        fixture,
        base,
        main_tip,
    }
}

#[test]
fn merge_base_is_where_the_branch_left_main() {
    let setup = branched();
    let repo = Repository::discover(setup.fixture.path()).unwrap();
    let head = repo.head_commit().unwrap();
    assert_eq!(repo.resolve("main").unwrap(), setup.main_tip);
    assert_eq!(repo.merge_base("main").unwrap(), setup.base);
    assert!(repo.is_ancestor(setup.base, head));
    assert!(repo.is_ancestor(head, head));
    assert!(!repo.is_ancestor(setup.main_tip, head));
    assert!(!repo.is_ancestor(head, setup.base));
}

#[test]
fn baselines_are_read_from_the_base_tree_even_when_the_branch_lowers_them() {
    let setup = branched();
    let fixture = &setup.fixture;
    fixture.write("baselines/core.json", "{\"median_ns\": 1000}\n");
    fixture.commit("Loosen my own gate");
    fixture.write("baselines/uncommitted.json", "{}\n");

    let repo = Repository::discover(fixture.path()).unwrap();
    let merge_base = repo.merge_base("main").unwrap();
    let files = repo
        .read_tree_dir(merge_base, Path::new("baselines"))
        .unwrap();
    assert_eq!(
        files,
        vec![
            (
                PathBuf::from("baselines/core.json"),
                "{\"median_ns\": 100}\n".to_string()
            ),
            (
                PathBuf::from("baselines/nested/extra.json"),
                "{\"median_ns\": 7}\n".to_string()
            ),
        ]
    );
    // An absolute path under the root and a `./` prefix name the same folder.
    assert_eq!(
        repo.read_tree_dir(merge_base, &repo.root().join("baselines"))
            .unwrap(),
        files
    );
    assert_eq!(
        repo.read_tree_dir(merge_base, Path::new("./baselines"))
            .unwrap(),
        files
    );

    let changed = repo
        .changed_paths_under(merge_base, Path::new("baselines"))
        .unwrap();
    assert_eq!(
        changed,
        vec![
            PathBuf::from("baselines/core.json"),
            PathBuf::from("baselines/uncommitted.json"),
        ]
    );
}

#[test]
fn a_branch_that_leaves_baselines_alone_changes_nothing_under_them() {
    let setup = branched();
    let repo = Repository::discover(setup.fixture.path()).unwrap();
    let merge_base = repo.merge_base("main").unwrap();
    setup.fixture.write("src/other.rs", "\n");
    assert_eq!(
        repo.changed_paths_under(merge_base, Path::new("baselines"))
            .unwrap(),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn deleting_a_baseline_on_the_branch_is_reported() {
    let setup = branched();
    setup.fixture.remove("baselines/nested/extra.json");
    let repo = Repository::discover(setup.fixture.path()).unwrap();
    assert_eq!(
        repo.changed_paths_under(setup.base, Path::new("baselines"))
            .unwrap(),
        vec![PathBuf::from("baselines/nested/extra.json")]
    );
}

#[test]
fn a_commit_without_baselines_reads_as_empty_and_a_file_is_an_error() {
    let fixture = Fixture::new();
    let without = fixture.commit("Nothing yet");
    fixture.write("baselines", "not a folder");
    let with_file = fixture.commit("Oops");
    let repo = Repository::discover(fixture.path()).unwrap();
    assert_eq!(
        repo.read_tree_dir(without, Path::new("baselines")).unwrap(),
        Vec::new()
    );
    let error = repo
        .read_tree_dir(with_file, Path::new("baselines"))
        .expect_err("a file is not a folder");
    assert!(matches!(error, GitError::NotADirectory { .. }), "{error:?}");
    assert!(error.to_string().contains("not a directory"), "{error}");
}

#[test]
fn a_missing_base_ref_suggests_the_exact_fetch() {
    let fixture = Fixture::new();
    fixture
        .repo
        .remote("origin", "https://example.invalid/shop.git")
        .unwrap();
    let repo = Repository::discover(fixture.path()).unwrap();

    let error = repo.merge_base("origin/main").expect_err("never fetched");
    assert!(
        matches!(error, GitError::RevisionNotFound { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("`origin/main`"), "{message}");
    assert!(message.contains("git fetch origin main"), "{message}");
    assert!(message.contains("fetch-depth: 0"), "{message}");

    let error = repo.resolve("release-2").expect_err("no such branch");
    assert!(
        error.to_string().contains("git fetch origin release-2"),
        "{error}"
    );
}

#[test]
fn a_missing_ref_without_remotes_says_there_is_nothing_to_fetch_from() {
    let fixture = Fixture::new();
    let repo = Repository::discover(fixture.path()).unwrap();
    let error = repo.resolve("origin/main").expect_err("no remote");
    let message = error.to_string();
    assert!(message.contains("no remote"), "{message}");
    assert!(message.contains("git remote add origin"), "{message}");
}

#[test]
fn unrelated_histories_have_no_merge_base() {
    let fixture = Fixture::new();
    let tree = fixture
        .repo
        .find_tree(fixture.repo.index().unwrap().write_tree().unwrap())
        .unwrap();
    let signature = git2::Signature::now("Other", "other@example.com").unwrap();
    fixture
        .repo
        .commit(
            Some("refs/heads/orphan"),
            &signature,
            &signature,
            "Unrelated root",
            &tree,
            &[],
        )
        .unwrap();
    let repo = Repository::discover(fixture.path()).unwrap();
    let error = repo.merge_base("orphan").expect_err("no shared history");
    assert!(matches!(error, GitError::NoMergeBase { .. }), "{error:?}");
    assert!(error.to_string().contains("share no history"), "{error}");
}

#[test]
fn a_shallow_clone_without_the_merge_base_says_how_deep_to_fetch() {
    let source = Fixture::new();
    for i in 0..3 {
        source.write("history.txt", &format!("{i}\n"));
        source.commit(&format!("Main {i}"));
    }
    let fork_point = source.repo.head().unwrap().target().unwrap();
    for i in 0..3 {
        source.write("main.txt", &format!("{i}\n"));
        source.commit(&format!("Main after fork {i}"));
    }
    source.branch("feature", fork_point);
    for i in 0..3 {
        source.write("feature.txt", &format!("{i}\n"));
        source.commit(&format!("Feature {i}"));
    }

    let clone_parent = tempfile::tempdir().unwrap();
    let clone = clone_parent.path().join("clone");
    run_git(
        git_cli()
            .args(["clone", "--quiet", "--depth", "1", "--no-single-branch"])
            .args(["--branch", "feature"])
            .arg(format!("file://{}", source.path().display()))
            .arg(&clone),
    );

    let repo = Repository::discover(&clone).unwrap();
    let error = repo.merge_base("origin/main").expect_err("shallow");
    assert!(
        matches!(error, GitError::ShallowWithoutMergeBase { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("git fetch --deepen=50 origin main"),
        "{message}"
    );
    assert!(message.contains("fetch-depth: 0"), "{message}");

    // Following the advice finds the merge-base.
    run_git(git_cli().arg("-C").arg(&clone).args([
        "fetch",
        "--quiet",
        "--deepen=50",
        "origin",
        "main",
    ]));
    let repo = Repository::discover(&clone).unwrap();
    assert_eq!(repo.merge_base("origin/main").unwrap(), fork_point);
}

#[test]
fn a_baselines_folder_with_glob_characters_is_matched_literally() {
    let fixture = Fixture::new();
    fixture.write("perf[1]/core.json", "{}\n");
    fixture.write("perf1/core.json", "{}\n");
    let base = fixture.commit("Two folders");
    fixture.write("perf[1]/core.json", "{\"lowered\": true}\n");
    fixture.write("perf1/core.json", "{\"lowered\": true}\n");
    let repo = Repository::discover(fixture.path()).unwrap();
    assert_eq!(
        repo.changed_paths_under(base, Path::new("perf[1]"))
            .unwrap(),
        vec![PathBuf::from("perf[1]/core.json")]
    );
    assert_eq!(
        repo.read_tree_dir(base, Path::new("perf[1]")).unwrap(),
        vec![(PathBuf::from("perf[1]/core.json"), "{}\n".to_string())]
    );
}
