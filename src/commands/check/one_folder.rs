//! Both sides of a paired comparison built and run from one folder: the
//! load probes' two builds of the app, and suites that paired timing runs
//! whole (commands it cannot take apart as `cargo bench`).
//!
//! Built in two folders (a worktree of the merge-base, the user's checkout),
//! even identical sources give two different programs: absolute paths end up
//! in them (debug info, panic locations, build scripts' `OUT_DIR`, crate
//! metadata hashes) and the code moves with them, by enough to shift an
//! endpoint's latency by several percent for the whole check (the A/A checks
//! in docs/load.md) and alignment-sensitive benchmarks by 10-17% (httparse,
//! docs/verdict-quality.md). So both are built at one path, into one target
//! directory: the base in a temporary worktree, whose folder is then copied
//! aside; the worktree is switched to the head (its commit plus the working
//! tree's uncommitted changes) and built again. Before each start, the folder
//! and the target directory of the side to run are renamed into place: a
//! rename keeps every file's time, so cargo finds its build fresh and runs it
//! as it was built. A head whose source is the base's runs the one build for
//! both sides.
//!
//! The target directory is `<target>/perfguard-load` (load probes) or
//! `<target>/perfguard-suite` (whole suites); between checks each side's
//! lives next to it (`-base`, `-head`), so both stay warm from one check to
//! the next. A lock file beside them (`<target>/perfguard-suite.lock`, ...)
//! keeps two checks sharing a target directory from swapping them at the
//! same time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::plan::GitPlan;
use crate::commands::Error;
use crate::commands::checkout::{self, Checkout, Role};
use crate::config::LoadedConfig;
use crate::git::Oid;
use crate::load::{Builds, Side, Which};
use crate::probe::ProbeError;
use crate::progress::Progress;

/// The two sides' folders and builds, one of them in place at a time.
pub(super) struct OneFolder {
    checkout: Checkout,
    labels: [String; 2],
    /// The target directory both sides build into and run from.
    target: PathBuf,
    /// Where each side's target directory waits while the other runs.
    parked_targets: [PathBuf; 2],
    /// Where each side's folder waits while the other runs.
    parked_folders: [PathBuf; 2],
    /// The worktree's own git folder (`.git/worktrees/<name>`), whose
    /// [`GIT_FILES`] `git checkout` rewrote for the head: build scripts that
    /// watch them (version stamps) would see the head's while the base runs,
    /// and rebuild it.
    git_admin: Option<PathBuf>,
    /// Each side's copy of the worktree's own git files.
    git_files: [PathBuf; 2],
    /// Whose folder is in place.
    in_place: Which,
    /// The head's source is the base's: one folder serves both.
    one_build: bool,
    _lock: File,
}

/// What builds a side in place: `None` leaves the building to the caller
/// (after [`OneFolder::enter_side`]).
pub(super) type Build<'b> = Option<&'b dyn Fn(&Checkout, Which) -> Result<(), Error>>;

impl OneFolder {
    /// Check the base out for `role` (`Role::LoadBuild` or
    /// `Role::SuiteBuild`), build it with `build`, then the head, in one
    /// folder (see the module documentation); `labels` are the base's and
    /// the head's descriptions.
    pub(super) fn make(
        git: &GitPlan,
        loaded: &LoadedConfig,
        base: Oid,
        labels: [String; 2],
        role: Role,
        build: Build<'_>,
        progress: &Progress,
    ) -> Result<OneFolder, Error> {
        // Decided before anything is created that could itself look like an
        // uncommitted change.
        let dirty = git.head_repo.revision()?.dirty;
        let one_build =
            !dirty && git.repo.tree_of(base)? == git.head_repo.tree_of(git.head_commit)?;
        let target_root = checkout::target_dir(loaded);
        let lock = lock_target(&target_root, role, progress)?;
        let checkout =
            checkout::in_worktree_building_in(&git.repo, loaded, base, role, target_root)?;
        let target = checkout.target_dir.clone();
        let parked_targets = [suffixed(&target, "-base"), suffixed(&target, "-head")];
        recover(&target, &parked_targets)?;
        let root = checkout.root().to_path_buf();
        let git_admin = git2::Repository::open(&root)
            .ok()
            .map(|worktree| worktree.path().to_path_buf());
        let parent = root
            .parent()
            .expect("a worktree lies in a temporary folder")
            .to_path_buf();
        // From here on, Drop parks whatever target directory is in place.
        let mut folder = OneFolder {
            checkout,
            labels,
            target,
            parked_targets,
            parked_folders: [parent.join("base"), parent.join("head")],
            git_admin,
            git_files: [parent.join("git-base"), parent.join("git-head")],
            in_place: Which::Base,
            one_build,
            _lock: lock,
        };
        folder.unpark_target(Which::Base)?;
        if let Some(build) = build {
            build(&folder.checkout, Which::Base)?;
        }
        if one_build {
            progress.status(&format!(
                "the head's tree is the {}'s: one build serves both sides",
                folder.labels[0]
            ));
            return Ok(folder);
        }
        folder.park_target(Which::Base)?;
        copy_preserving(&root, &folder.parked_folders[Which::Base as usize])?;
        folder.copy_git_files(Which::Base, GitFiles::Save)?;
        folder
            .checkout
            .switch_to(git.head_commit, dirty.then_some(&git.head_repo))?;
        folder.in_place = Which::Head;
        folder.unpark_target(Which::Head)?;
        if let Some(build) = build {
            build(&folder.checkout, Which::Head)?;
        }
        folder.copy_git_files(Which::Head, GitFiles::Save)?;
        Ok(folder)
    }

    /// The folder of perfguard.toml in the one checkout, where both sides run.
    pub(super) fn project_dir(&self) -> &Path {
        &self.checkout.project_dir
    }

    /// The environment both sides run with (the target directory).
    pub(super) fn env(&self) -> &[(String, String)] {
        &self.checkout.env
    }

    /// Put `which`'s folder, target directory and git files in place.
    pub(super) fn enter_side(&mut self, which: Which) -> Result<(), ProbeError> {
        if !self.one_build && self.in_place != which {
            let root = self.checkout.root().to_path_buf();
            let leaving = self.in_place;
            rename(&root, &self.parked_folders[leaving as usize])?;
            rename(&self.parked_folders[which as usize], &root)?;
            self.park_target(leaving)?;
            self.unpark_target(which)?;
            self.in_place = which;
            self.copy_git_files(which, GitFiles::Restore)?;
        }
        Ok(())
    }

    /// Save the worktree's git files as `which`'s, or put `which`'s back.
    fn copy_git_files(&self, which: Which, copy: GitFiles) -> Result<(), ProbeError> {
        let Some(admin) = &self.git_admin else {
            return Ok(());
        };
        let saved = &self.git_files[which as usize];
        let (from, to) = match copy {
            GitFiles::Save => (admin, saved),
            GitFiles::Restore => (saved, admin),
        };
        std::fs::create_dir_all(to).map_err(io_error(format!("create {}", to.display())))?;
        for name in GIT_FILES {
            if from.join(name).exists() {
                copy_preserving(&from.join(name), &to.join(name))?;
            }
        }
        Ok(())
    }

    /// Move `which`'s target directory into place, if it has one yet.
    fn unpark_target(&self, which: Which) -> Result<(), ProbeError> {
        let parked = &self.parked_targets[which as usize];
        if parked.exists() {
            rename(parked, &self.target)?;
        }
        Ok(())
    }

    /// Move the target directory in place aside as `which`'s, if the build made one.
    fn park_target(&self, which: Which) -> Result<(), ProbeError> {
        if self.target.exists() {
            rename(&self.target, &self.parked_targets[which as usize])?;
        }
        Ok(())
    }
}

impl Builds for OneFolder {
    fn enter(&mut self, which: Which) -> Result<Side<'_>, ProbeError> {
        self.enter_side(which)?;
        Ok(Side {
            label: self.labels[which as usize].clone(),
            dir: &self.checkout.project_dir,
            env: &self.checkout.env,
        })
    }
}

impl Drop for OneFolder {
    fn drop(&mut self) {
        // The folders go with the worktree's temporary directory; the target
        // directory waits for the next check.
        if let Err(error) = self.park_target(self.in_place) {
            eprintln!("perfguard: warning: {error}");
        }
    }
}

/// The worktree's git files a side keeps its own copy of.
const GIT_FILES: [&str; 2] = ["HEAD", "index"];

/// Which way [`OneFolder::copy_git_files`] copies.
#[derive(Clone, Copy)]
enum GitFiles {
    Save,
    Restore,
}

/// `path` with `suffix` added to its last component.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> ProbeError {
    move |source| ProbeError::Io { what, source }
}

fn rename(from: &Path, to: &Path) -> Result<(), ProbeError> {
    std::fs::rename(from, to).map_err(io_error(format!(
        "move {} to {} (perfguard runs both sides from one folder)",
        from.display(),
        to.display()
    )))
}

/// Wait for any other check that is using `role`'s folder in the target
/// directory `target_root`: any project building there, not only this
/// repository (a `CARGO_TARGET_DIR` shared by several projects is common),
/// since the swap renames `<target_root>/perfguard-suite` and the like. The
/// lock file lies in the target directory, beside the folders it guards, so
/// it is no more an uncommitted file than the builds are. It is taken before
/// the worktree exists. (A worktree folder renamed aside for a moment is kept
/// from other checks' pruning by `prune_stale`, which spares a worktree whose
/// temporary parent still exists.)
fn lock_target(target_root: &Path, role: Role, progress: &Progress) -> Result<File, ProbeError> {
    std::fs::create_dir_all(target_root)
        .map_err(io_error(format!("create {}", target_root.display())))?;
    let path = target_root.join(format!("{}.lock", role.target_subdir()));
    let file = File::create(&path).map_err(io_error(format!("create {}", path.display())))?;
    let locked = match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            progress.status(&format!(
                "waiting for another perfguard check using the same target directory to finish with its folder ({} is locked)",
                path.display()
            ));
            file.lock()
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    };
    locked.map_err(io_error(format!("lock {}", path.display())))?;
    Ok(file)
}

/// A target directory left in place by a check that was killed holds one
/// side's build: keep it as a parked side's if one is missing, else drop it.
fn recover(target: &Path, parked: &[PathBuf; 2]) -> Result<(), ProbeError> {
    if !target.exists() {
        return Ok(());
    }
    match parked.iter().find(|p| !p.exists()) {
        Some(free) => rename(target, free),
        None => std::fs::remove_dir_all(target).map_err(io_error(format!(
            "remove the leftover {}",
            target.display()
        ))),
    }
}

/// Copy a file or folder with its files' times, modes and links (`cp -a`).
fn copy_preserving(from: &Path, to: &Path) -> Result<(), ProbeError> {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .map_err(io_error(format!(
            "run `cp -a {} {}`",
            from.display(),
            to.display()
        )))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ProbeError::Io {
            what: format!(
                "copy {} to {}: {}",
                from.display(),
                to.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            source: std::io::Error::other(output.status.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(path: &Path, file: &str) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::write(path.join(file), file).unwrap();
    }

    #[test]
    fn parking_places_sit_beside_the_target_directory() {
        let target = Path::new("/p/target/perfguard-load");
        assert_eq!(
            suffixed(target, "-base"),
            Path::new("/p/target/perfguard-load-base")
        );
        assert_eq!(
            suffixed(target, "-head"),
            Path::new("/p/target/perfguard-load-head")
        );
    }

    #[test]
    fn a_leftover_target_directory_becomes_a_missing_side_s_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("perfguard-load");
        let parked = [dir.path().join("base"), dir.path().join("head")];

        recover(&target, &parked).unwrap();
        assert!(
            !target.exists() && !parked[0].exists(),
            "nothing to recover"
        );

        dir_with(&target, "first");
        recover(&target, &parked).unwrap();
        assert!(!target.exists());
        assert!(parked[0].join("first").is_file(), "kept as the base's");

        dir_with(&target, "second");
        recover(&target, &parked).unwrap();
        assert!(parked[1].join("second").is_file(), "kept as the head's");
        assert!(parked[0].join("first").is_file(), "the base's untouched");

        dir_with(&target, "third");
        recover(&target, &parked).unwrap();
        assert!(!target.exists(), "both sides parked: the leftover goes");
        assert!(parked[0].join("first").is_file() && parked[1].join("second").is_file());
    }

    #[test]
    fn a_copied_folder_keeps_file_times_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        dir_with(&from.join("src"), "main.rs");
        let file = from.join("src/main.rs");
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::os::unix::fs::symlink("src/main.rs", from.join("link")).unwrap();
        let to = dir.path().join("to");
        copy_preserving(&from, &to).unwrap();
        let copied = to.join("src/main.rs");
        assert_eq!(std::fs::read_to_string(&copied).unwrap(), "main.rs");
        assert_eq!(copied.metadata().unwrap().modified().unwrap(), old);
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            Path::new("src/main.rs")
        );
        let error =
            copy_preserving(&dir.path().join("missing"), &dir.path().join("x")).unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
