//! Shared helpers for the integration tests: the perfguard binary, fixture
//! projects copied into temporary directories, and small file helpers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root (where perfguard's Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `Command` for the perfguard binary built for these tests.
pub fn perfguard() -> assert_cmd::Command {
    let mut command =
        assert_cmd::Command::cargo_bin("perfguard").expect("perfguard binary is built");
    command
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT")
        // A pull request's base (GitHub Actions) would replace the temporary
        // repositories' own base_ref.
        .env_remove("GITHUB_BASE_REF")
        .env("NO_COLOR", "1");
    command
}

/// One cargo target directory shared by every fixture crate the tests build, so
/// criterion compiles once per test run.
pub fn fixture_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixture-target")
}

/// Copy a directory tree (skipping `target/` and `baselines/`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "baselines" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A project in a temporary directory with a perfguard.toml.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// An empty project.
    pub fn empty() -> Project {
        Project {
            dir: tempfile::Builder::new()
                .prefix("perfguard-test-")
                .tempdir()
                .unwrap(),
        }
    }

    /// A copy of `fixtures/<name>`.
    pub fn fixture(name: &str) -> Project {
        let project = Project::empty();
        copy_tree(&repo_root().join("fixtures").join(name), project.path());
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap()
    }

    /// Run perfguard here with `args` and collect its output.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.perfguard()
            .args(args)
            .output()
            .expect("perfguard runs")
    }

    /// perfguard running in this project, with fixture builds sharing one target dir.
    pub fn perfguard(&self) -> assert_cmd::Command {
        let mut command = perfguard();
        command
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", fixture_target_dir());
        command
    }
}

/// The text of a command's output.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Held by tests whose verdicts depend on timings (and by those that compile
/// or measure the fixture crates), so that none measures while another loads
/// the machine: on a small CI runner two benchmarks at once skew each other's
/// timings by more than any gate threshold.
pub fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held by the shop incident tests, which build the same `shop` package into
/// one target directory (cargo decides freshness by file times, so they take
/// turns), and by the quality harness's smoke run, whose timing verdicts a
/// shop build on the other core would disturb beyond what its rounds resolve
/// (it then exits 2, "machine too noisy", as it should on such a machine).
/// Taken after [`timing_lock`] where both are held.
pub fn shop_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The command exited 2 and its stderr holds every needle.
pub fn assert_exit_2(output: &std::process::Output, needles: &[&str]) {
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "expected exit 2, got {:?}:\n{stderr}",
        output.status.code()
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}
