//! `perfguard hook install|uninstall`: a git pre-push hook that runs the gate
//! before a push, probes in full and timing within a two-minute budget.
//!
//! The hook goes where git looks for hooks: `core.hooksPath` when it is set
//! (relative to the working tree's root, as git reads it), else the
//! repository's common `hooks/` folder, so that every worktree shares it. A
//! marker line tells a hook perfguard wrote from one it did not: install
//! replaces only its own hook (or, with `--force`, keeps the other one as
//! `pre-push.perfguard-saved` and uninstall puts it back).

use std::path::{Path, PathBuf};

use super::{Error, Global, print};
use crate::exit_codes;

/// The line that marks a hook as perfguard's.
const MARKER: &str = "# perfguard pre-push hook";

/// Where a hook perfguard replaced under `--force` is kept.
const SAVED: &str = "pre-push.perfguard-saved";

/// The budget the hook gives the gate's timing.
pub const HOOK_BUDGET: &str = "2m";

pub enum Hook {
    Install { force: bool },
    Uninstall,
}

pub fn run(global: &Global, action: Hook) -> Result<i32, Error> {
    let start = global
        .config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let repo = git2::Repository::discover(start).map_err(|_| Error::GitRequired {
        flag: "perfguard hook",
        why: "it writes a git pre-push hook",
        path: start.to_path_buf(),
    })?;
    let hooks = hooks_dir(&repo)?;
    let hook = hooks.join("pre-push");
    match action {
        Hook::Install { force } => install(&repo, global, &hooks, &hook, force),
        Hook::Uninstall => uninstall(&hooks, &hook),
    }
}

/// The folder git runs hooks from.
fn hooks_dir(repo: &git2::Repository) -> Result<PathBuf, Error> {
    let configured = repo
        .config()
        .ok()
        .and_then(|config| config.get_path("core.hooksPath").ok());
    Ok(match configured {
        Some(path) if path.is_absolute() => path,
        Some(path) => repo
            .workdir()
            .unwrap_or_else(|| repo.commondir())
            .join(path),
        None => repo.commondir().join("hooks"),
    })
}

/// The hook's text: run the gate from the folder of the configuration it was
/// installed for, with the perfguard that installed it (or the one on PATH
/// once that is gone); block the push on a regression (exit 1); let it through,
/// with the reason, when the gate could not decide (exit 2), since CI decides
/// again and a busy laptop must not stop a push.
fn script(config_dir: &str, config_file: &str, program: &str) -> String {
    let quote = |s: &str| shell_words::quote(s).into_owned();
    format!(
        "#!/bin/sh\n\
         {MARKER} (written by `perfguard hook install`; `perfguard hook uninstall` removes it)\n\
         # Runs the gate before a push: probes in full, timing within a {HOOK_BUDGET} budget.\n\
         # A regression (exit 1) stops the push; skip the hook once with `git push --no-verify`.\n\
         cd \"$(git rev-parse --show-toplevel)\"/{dir} || exit 1\n\
         perfguard={program}\n\
         [ -x \"$perfguard\" ] || perfguard=perfguard\n\
         \"$perfguard\" --config {config} check --budget {HOOK_BUDGET}\n\
         status=$?\n\
         if [ \"$status\" -eq 2 ]; then\n\
         \x20   echo \"perfguard: the gate could not decide (exit 2, above); pushing anyway: CI runs it again\" >&2\n\
         \x20   exit 0\n\
         fi\n\
         exit \"$status\"\n",
        dir = quote(config_dir),
        config = quote(config_file),
        program = quote(program),
    )
}

fn install(
    repo: &git2::Repository,
    global: &Global,
    hooks: &Path,
    hook: &Path,
    force: bool,
) -> Result<i32, Error> {
    let root = repo.workdir().ok_or_else(|| {
        Error::Usage("perfguard hook install needs a working tree, not a bare repository".into())
    })?;
    let config = std::path::absolute(&global.config).map_err(|source| io(hook, source))?;
    let root = root.canonicalize().map_err(|source| io(root, source))?;
    let config_parent = config
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(|| root.clone());
    let config_dir = config_parent
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| {
            Error::Usage(format!(
                "{} is outside the repository at {}; run `perfguard hook install` with the project's perfguard.toml",
                config.display(),
                root.display()
            ))
        })?;
    let config_file = config.file_name().map_or("perfguard.toml".into(), |n| {
        n.to_string_lossy().into_owned()
    });
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "perfguard".into());
    let dir = if config_dir.is_empty() {
        "."
    } else {
        &config_dir
    };
    let text = script(dir, &config_file, &program);
    std::fs::create_dir_all(hooks).map_err(|source| io(hooks, source))?;
    match std::fs::read_to_string(hook) {
        Ok(existing) if existing == text => {
            say(&format!(
                "perfguard's pre-push hook is already installed at {}\n",
                hook.display()
            ))?;
            return Ok(exit_codes::NO_REGRESSION);
        }
        Ok(existing) if !existing.contains(MARKER) => {
            if !force {
                return Err(Error::Usage(format!(
                    "{} is a pre-push hook perfguard did not write; it is left as it is. Add `perfguard check --budget {HOOK_BUDGET}` to it yourself, or replace it with `perfguard hook install --force` (it is kept as {SAVED} and restored by `perfguard hook uninstall`)",
                    hook.display()
                )));
            }
            let saved = hooks.join(SAVED);
            std::fs::rename(hook, &saved).map_err(|source| io(&saved, source))?;
            say(&format!(
                "kept the previous pre-push hook as {}\n",
                saved.display()
            ))?;
        }
        _ => {}
    }
    write_executable(hook, &text)?;
    say(&format!(
        "installed perfguard's pre-push hook at {}: `git push` runs `perfguard check --budget {HOOK_BUDGET}` first\n",
        hook.display()
    ))?;
    Ok(exit_codes::NO_REGRESSION)
}

fn uninstall(hooks: &Path, hook: &Path) -> Result<i32, Error> {
    let existing = match std::fs::read_to_string(hook) {
        Ok(existing) => existing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            say(&format!("no pre-push hook at {}\n", hook.display()))?;
            return Ok(exit_codes::NO_REGRESSION);
        }
        Err(source) => return Err(io(hook, source)),
    };
    if !existing.contains(MARKER) {
        return Err(Error::Usage(format!(
            "{} is a pre-push hook perfguard did not write; it is left as it is (remove it yourself if you mean to)",
            hook.display()
        )));
    }
    let saved = hooks.join(SAVED);
    if saved.exists() {
        std::fs::rename(&saved, hook).map_err(|source| io(hook, source))?;
        say(&format!(
            "removed perfguard's pre-push hook; restored the one it replaced at {}\n",
            hook.display()
        ))?;
    } else {
        std::fs::remove_file(hook).map_err(|source| io(hook, source))?;
        say(&format!(
            "removed perfguard's pre-push hook at {}\n",
            hook.display()
        ))?;
    }
    Ok(exit_codes::NO_REGRESSION)
}

/// Write `text` to `path` through a temporary file in the same folder, mode 0755.
fn write_executable(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|source| io(path, source))?;
    file.write_all(text.as_bytes())
        .map_err(|source| io(path, source))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|source| io(path, source))?;
    }
    file.persist(path).map_err(|error| io(path, error.error))?;
    Ok(())
}

fn say(text: &str) -> Result<(), Error> {
    print(text.as_bytes())
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Usage(format!("{}: {source}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_the_budgeted_gate_from_the_config_folder() {
        let text = script(
            "services/shop",
            "perfguard.toml",
            "/opt/perf guard/perfguard",
        );
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains(MARKER));
        assert!(text.contains("/services/shop || exit 1"));
        assert!(text.contains(
            "perfguard='/opt/perf guard/perfguard'\n[ -x \"$perfguard\" ] || perfguard=perfguard\n"
        ));
        assert!(text.contains("\"$perfguard\" --config perfguard.toml check --budget 2m"));
    }
}
