//! What Ctrl-C must undo. The binary installs the one signal handler and
//! calls [`on_interrupt`]; the library only registers what is running: the
//! application process groups the probes started, the temporary worktrees of
//! `--rev` and paired runs, and a graceful stop flag (the standalone proxy).
//! Nothing below `main` exits the process.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Process groups of running applications.
static APP_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// Temporary directories holding a worktree (removed on interrupt; the
/// `.git/worktrees` entry they leave is pruned by the next run).
static WORKTREE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// Set by a command that stops gracefully on Ctrl-C instead of exiting.
static GRACEFUL_STOP: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

pub(crate) fn register_app_group(group: i32) {
    if let Ok(mut groups) = APP_GROUPS.lock() {
        groups.push(group);
    }
}

pub(crate) fn unregister_app_group(group: i32) {
    if let Ok(mut groups) = APP_GROUPS.lock() {
        groups.retain(|g| *g != group);
    }
}

pub(crate) fn register_worktree_dir(dir: PathBuf) {
    if let Ok(mut dirs) = WORKTREE_DIRS.lock() {
        dirs.push(dir);
    }
}

pub(crate) fn unregister_worktree_dir(dir: &std::path::Path) {
    if let Ok(mut dirs) = WORKTREE_DIRS.lock() {
        dirs.retain(|d| d != dir);
    }
}

/// Ctrl-C sets `stop` instead of ending the process, until the returned guard drops.
pub(crate) fn stop_gracefully(stop: Arc<AtomicBool>) -> GracefulStop {
    if let Ok(mut slot) = GRACEFUL_STOP.lock() {
        *slot = Some(stop);
    }
    GracefulStop
}

/// Restores the default (clean up and exit) when dropped.
pub(crate) struct GracefulStop;

impl Drop for GracefulStop {
    fn drop(&mut self) {
        if let Ok(mut slot) = GRACEFUL_STOP.lock() {
            *slot = None;
        }
    }
}

/// What the binary's Ctrl-C handler should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterInterrupt {
    /// A command is stopping on its own; keep running.
    Continue,
    /// Everything perfguard started is stopped and removed: exit.
    Exit,
}

/// Handle Ctrl-C: signal a graceful stop if a command asked for one;
/// otherwise [`clean_up`].
pub fn on_interrupt() -> AfterInterrupt {
    if let Some(stop) = GRACEFUL_STOP.lock().ok().and_then(|slot| slot.clone()) {
        stop.store(true, Ordering::SeqCst);
        return AfterInterrupt::Continue;
    }
    clean_up();
    AfterInterrupt::Exit
}

/// Stop every application started for the probes (SIGTERM to its process
/// group, SIGKILL after 5 s) and remove the temporary worktrees: what must
/// not outlive perfguard when it ends early (Ctrl-C, a panic).
pub fn clean_up() {
    let groups: Vec<i32> = APP_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    if !groups.is_empty() {
        for group in groups {
            crate::probe::app::stop_group(group);
        }
        eprintln!("perfguard: interrupted; the application was stopped");
    }
    crate::probe::database::drop_live();
    let dirs: Vec<PathBuf> = WORKTREE_DIRS.lock().map(|d| d.clone()).unwrap_or_default();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
