//! Building a suite's bench executables once, so that paired rounds run them
//! directly instead of going through `cargo bench` for every run.
//!
//! A suite whose command is `cargo bench [cargo options] [-- criterion
//! arguments]` is built with `cargo bench --no-run --message-format=json`:
//! cargo's `compiler-artifact` messages name every bench target's executable
//! and the manifest it belongs to. The executables are copied out of the
//! target directory (the next side's build overwrites them there) into a
//! folder perfguard owns. Other commands cannot be split this way and are run
//! whole, round after round ([`super::paired::measure`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::paired::{PairedError, Side, build_failed};

/// A `cargo bench` command taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CargoBench {
    /// `cargo`, and a `+toolchain` if one was given.
    pub program: Vec<String>,
    /// What goes to cargo after `bench` (`--bench core`, `-p shop`, features).
    pub cargo_args: Vec<String>,
    /// What goes to criterion after `--` (a filter, `--quick`, ...).
    pub criterion_args: Vec<String>,
}

impl CargoBench {
    /// `None` for commands that are not a plain `cargo bench`, or that choose
    /// cargo's message format themselves.
    pub fn parse(command: &str) -> Option<CargoBench> {
        let words = shell_words::split(command).ok()?;
        let first = words.first()?;
        if Path::new(first).file_name()? != "cargo" {
            return None;
        }
        let bench_at = words.iter().position(|w| w == "bench")?;
        if !words[1..bench_at].iter().all(|w| w.starts_with('+')) {
            return None;
        }
        let separator = words.iter().position(|w| w == "--");
        let (cargo_args, criterion_args) = match separator {
            Some(at) => (&words[bench_at + 1..at], &words[at + 1..]),
            None => (&words[bench_at + 1..], &[][..]),
        };
        if cargo_args
            .iter()
            .any(|w| w.starts_with("--message-format") || w == "--no-run")
        {
            return None;
        }
        Some(CargoBench {
            program: words[..bench_at].to_vec(),
            cargo_args: cargo_args.to_vec(),
            criterion_args: criterion_args.to_vec(),
        })
    }
}

/// One bench target's executable, built for one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchExecutable {
    /// The bench target's name (`[[bench]] name` in Cargo.toml).
    pub target: String,
    /// The copy perfguard runs.
    pub path: PathBuf,
    /// The package's folder relative to the folder the build ran in: bench
    /// executables run there, as under `cargo bench`.
    pub package_dir: PathBuf,
}

/// Build `cargo`'s bench targets in `side.dir` and copy their executables into
/// `store` (created if needed).
pub fn build_executables(
    suite_name: &str,
    cargo: &CargoBench,
    suite_env: &std::collections::BTreeMap<String, String>,
    side: &Side,
    store: &Path,
) -> Result<Vec<BenchExecutable>, Box<PairedError>> {
    let mut words = cargo.program.clone();
    words.push("bench".to_string());
    words.push("--no-run".to_string());
    words.push("--message-format=json-render-diagnostics".to_string());
    words.extend(cargo.cargo_args.iter().cloned());
    let command_text = shell_words::join(&words);
    let output = Command::new(&words[0])
        .args(&words[1..])
        .current_dir(side.dir)
        .envs(suite_env.iter())
        .envs(side.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|source| {
            Box::new(PairedError::Spawn {
                suite: suite_name.to_string(),
                program: words[0].clone(),
                side: side.label.clone(),
                source,
            })
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let mut text: String = stdout
            .lines()
            .filter(|line| !line.starts_with('{'))
            .map(|line| format!("{line}\n"))
            .collect();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(build_failed(side, command_text, output.status, &text));
    }
    let built = bench_artifacts(&stdout, side.dir);
    if built.is_empty() {
        return Err(Box::new(PairedError::NoBenchTargets {
            suite: suite_name.to_string(),
            command: command_text,
        }));
    }
    std::fs::create_dir_all(store).map_err(|source| copy_error(store, source))?;
    let mut copied = Vec::new();
    for (target, executable, package_dir) in built {
        let name = executable
            .file_name()
            .map_or_else(|| target.clone().into(), |n| n.to_os_string());
        let destination = store.join(name);
        std::fs::copy(&executable, &destination)
            .map_err(|source| copy_error(&destination, source))?;
        copied.push(BenchExecutable {
            target,
            path: destination,
            package_dir,
        });
    }
    Ok(copied)
}

fn copy_error(path: &Path, source: std::io::Error) -> Box<PairedError> {
    Box::new(PairedError::Store {
        path: path.to_path_buf(),
        source,
    })
}

/// `(target name, executable, package folder relative to dir)` of every bench
/// target in cargo's JSON messages.
fn bench_artifacts(messages: &str, dir: &Path) -> Vec<(String, PathBuf, PathBuf)> {
    let canonical_dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut found = Vec::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_bench = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"));
        let (Some(executable), Some(name)) = (
            message["executable"].as_str(),
            message["target"]["name"].as_str(),
        ) else {
            continue;
        };
        if !is_bench {
            continue;
        }
        let package_dir = message["manifest_path"]
            .as_str()
            .and_then(|m| Path::new(m).parent())
            .map(|p| {
                let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
                p.strip_prefix(&canonical_dir)
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        found.push((name.to_string(), PathBuf::from(executable), package_dir));
    }
    found
}

/// Whether two files hold the same bytes.
pub fn same_contents(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {}
        _ => return false,
    }
    match (std::fs::read(a), std::fs::read(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_bench_commands_are_taken_apart() {
        let parsed = CargoBench::parse("cargo bench --bench core -p shop -- fib --quick").unwrap();
        assert_eq!(parsed.program, vec!["cargo"]);
        assert_eq!(parsed.cargo_args, vec!["--bench", "core", "-p", "shop"]);
        assert_eq!(parsed.criterion_args, vec!["fib", "--quick"]);
        let toolchain = CargoBench::parse("cargo +nightly bench").unwrap();
        assert_eq!(toolchain.program, vec!["cargo", "+nightly"]);
        assert!(toolchain.cargo_args.is_empty() && toolchain.criterion_args.is_empty());
        assert_eq!(CargoBench::parse("./run-benches.sh"), None);
        assert_eq!(CargoBench::parse("cargo --locked bench"), None);
        assert_eq!(CargoBench::parse("cargo bench --message-format json"), None);
    }

    #[test]
    fn bench_targets_are_found_in_cargo_messages() {
        let dir = Path::new("/work/project");
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"shop"},"executable":null,"manifest_path":"/work/project/Cargo.toml"}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["bench"],"name":"core"},"executable":"/t/release/deps/core-1a2b","manifest_path":"/work/project/crates/shop/Cargo.toml"}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"shop"},"profile":{"test":true},"executable":"/t/release/deps/shop-9f","manifest_path":"/work/project/Cargo.toml"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "warning: not json",
        ]
        .join("\n");
        let found = bench_artifacts(&messages, dir);
        assert_eq!(
            found,
            vec![(
                "core".to_string(),
                PathBuf::from("/t/release/deps/core-1a2b"),
                PathBuf::from("crates/shop")
            )]
        );
    }
}
