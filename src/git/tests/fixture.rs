//! A git repository in a temporary directory, built with git2 so the tests do
//! not depend on the user's git configuration (identity, default branch).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Signature, Time};

pub struct Fixture {
    dir: tempfile::TempDir,
    pub repo: git2::Repository,
    /// Commit timestamps increase so history order is unambiguous.
    clock: std::cell::Cell<i64>,
}

impl Fixture {
    /// A repository on branch `main` with one commit holding `README.md`.
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("perfguard-git-test-")
            .tempdir()
            .expect("create a temporary directory");
        let mut options = git2::RepositoryInitOptions::new();
        options.initial_head("main");
        let repo = git2::Repository::init_opts(dir.path(), &options).expect("git init");
        let fixture = Fixture {
            dir,
            repo,
            clock: std::cell::Cell::new(1_700_000_000),
        };
        fixture.write("README.md", "# demo\n");
        fixture.commit("Initial commit");
        fixture
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))
            .expect("create parent directories");
        std::fs::write(path, contents).expect("write a file");
    }

    pub fn remove(&self, relative: &str) {
        std::fs::remove_file(self.path().join(relative)).expect("remove a file");
    }

    /// Stage everything (additions, changes, deletions) and commit on HEAD.
    pub fn commit(&self, message: &str) -> Oid {
        self.commit_as("Dev Eloper", "dev@example.com", message)
    }

    pub fn commit_as(&self, name: &str, email: &str, message: &str) -> Oid {
        let mut index = self.repo.index().expect("open the index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("stage files");
        index.update_all(["*"], None).expect("stage deletions");
        index.write().expect("write the index");
        let tree = self
            .repo
            .find_tree(index.write_tree().expect("write the tree"))
            .expect("find the tree");
        let seconds = self.clock.get() + 60;
        self.clock.set(seconds);
        let signature =
            Signature::new(name, email, &Time::new(seconds, 0)).expect("a valid signature");
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        self.repo
            .commit(
                Some("HEAD"),
                &signature,
                &signature,
                message,
                &tree,
                &parents,
            )
            .expect("commit")
    }

    /// Create branch `name` at `at` and check it out.
    pub fn branch(&self, name: &str, at: Oid) {
        let commit = self.repo.find_commit(at).expect("find the commit");
        self.repo
            .branch(name, &commit, false)
            .expect("create a branch");
        self.checkout(name);
    }

    pub fn checkout(&self, name: &str) {
        self.repo
            .set_head(&format!("refs/heads/{name}"))
            .expect("set HEAD");
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .expect("check out HEAD");
    }

    pub fn detach_at(&self, commit: Oid) {
        self.repo.set_head_detached(commit).expect("detach HEAD");
        self.repo
            .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .expect("check out HEAD");
    }

    /// Every file under the repository (including `.git`, except the
    /// `.git/worktrees` bookkeeping) with its bytes.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let skip = self.path().join(".git").join("worktrees");
        let mut pending = vec![self.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("read a directory") {
                let path = entry.expect("a directory entry").path();
                if path == skip {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let bytes = std::fs::read(&path).expect("read a file");
                    files.insert(path, bytes);
                }
            }
        }
        files
    }
}

/// A `git` command that ignores the user's and the system's configuration.
pub fn git_cli() -> Command {
    let mut command = Command::new("git");
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    command
}

/// Run a git command and panic with its output when it fails.
pub fn run_git(command: &mut Command) {
    let output = command.output().expect("run git");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
