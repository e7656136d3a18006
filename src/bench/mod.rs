//! The criterion runner: runs a `[[bench]]` suite's command with `CRITERION_HOME`
//! pointed at a fresh directory, streams its output behind a progress display,
//! then reads what criterion wrote.

pub(crate) mod build;
pub mod callgrind;
pub(crate) mod direct;
pub(crate) mod paired;
pub mod reader;

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::config::BenchSuite;
use crate::progress::Progress;
use crate::results::BenchRun;

/// Lines of a failing command's output shown in the error.
const TAIL_LINES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("[[bench]] {suite:?}: command {command:?} has unbalanced quotes")]
    BadCommand { suite: String, command: String },
    #[error(
        "[[bench]] {suite:?}: cannot start {program:?}: {source}; check `command` in perfguard.toml and that {program:?} is installed and on PATH"
    )]
    NotFound {
        suite: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "[[bench]] {suite:?}: `{command}` failed ({status}); last lines of its output:\n{tail}"
    )]
    CommandFailed {
        suite: String,
        command: String,
        status: String,
        tail: String,
    },
    #[error(
        "[[bench]] {suite:?}: `{command}` ran but wrote no criterion results; is it a criterion benchmark (harness = false) and does the command run it? Last lines of its output:\n{tail}"
    )]
    NoOutput {
        suite: String,
        command: String,
        tail: String,
    },
    #[error("[[bench]] {suite:?}: {source}")]
    Read {
        suite: String,
        #[source]
        source: reader::ReadError,
    },
    #[error("cannot create a temporary directory for criterion's output: {0}")]
    TempDir(#[source] std::io::Error),
    #[error(
        "[[bench]] {suite:?} measures instructions, which runs it under valgrind, but `{program} --version` does not run: install valgrind (Debian and Ubuntu: `apt-get install valgrind`), or set `measure = \"time\"`"
    )]
    NoValgrind { suite: String, program: String },
    #[error(
        "[[bench]] {suite:?} measures instructions, which needs its command to be a plain `cargo bench ...` (perfguard builds the bench executables once and runs each benchmark under valgrind), but it is `{command}`; write it as `cargo bench [options] [-- criterion arguments]`, or set `measure = \"time\"`"
    )]
    NotCargoBench { suite: String, command: String },
    #[error("[[bench]] {suite:?}: {message}")]
    Build { suite: String, message: String },
    #[error("[[bench]] {suite:?}: benchmark {id:?} cannot be counted: {message}")]
    Counting {
        suite: String,
        id: String,
        message: String,
    },
}

/// When set to a folder, every suite run's criterion output is kept there (in a
/// sub-folder named `<unix ns>-<suite>-*`, holding `working_dir.txt` with the
/// folder the suite ran in, and, for a paired run of a whole suite, whose
/// sides share one folder, `side.txt` with `base` or `head`) instead of being
/// deleted: scripts/quality/harness.py reads every round of a paired run from
/// it. Not part of the user interface.
pub const KEEP_CRITERION_HOME_ENV: &str = "PERFGUARD_KEEP_CRITERION_HOME";

/// A criterion home inside `dir` whose name sorts in run order.
fn kept_home(
    dir: &Path,
    suite: &str,
    working_dir: &Path,
    side: Option<crate::load::Which>,
) -> Result<tempfile::TempDir, BenchError> {
    let since_epoch_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::fs::create_dir_all(dir).map_err(BenchError::TempDir)?;
    let home = tempfile::Builder::new()
        .prefix(&format!("{since_epoch_ns:020}-{suite}-"))
        .tempdir_in(dir)
        .map_err(BenchError::TempDir)?;
    std::fs::write(
        home.path().join("working_dir.txt"),
        working_dir.display().to_string(),
    )
    .map_err(BenchError::TempDir)?;
    if let Some(side) = side {
        std::fs::write(home.path().join("side.txt"), side.name()).map_err(BenchError::TempDir)?;
    }
    Ok(home)
}

/// The arguments perfguard adds to a suite's command for criterion.
pub fn criterion_arguments(words: &[String], plots: bool) -> Vec<String> {
    let mut extra = Vec::new();
    let is_cargo = words
        .first()
        .is_some_and(|w| Path::new(w).file_name().is_some_and(|n| n == "cargo"));
    if !plots {
        if is_cargo && !words.iter().any(|w| w == "--") {
            extra.push("--".to_string());
        }
        extra.push("--noplot".to_string());
    }
    extra
}

/// Extract the benchmark name from a criterion progress line such as
/// `Benchmarking fib/20: Collecting 100 samples in estimated 5.0 s`.
pub fn benchmark_in_line(line: &str) -> Option<&str> {
    let rest = line
        .trim_start_matches('\r')
        .trim()
        .strip_prefix("Benchmarking ")?;
    Some(rest.split(": ").next().unwrap_or(rest).trim())
}

/// Run one suite and return its measurements, by criterion full id.
pub fn run_suite(
    suite: &BenchSuite,
    working_dir: &Path,
    extra_env: &[(String, String)],
    progress: &Progress,
) -> Result<BTreeMap<String, BenchRun>, BenchError> {
    run_suite_at(suite, working_dir, extra_env, None, progress)
}

/// [`run_suite`] as one side of a paired run (which the kept criterion
/// output of [`KEEP_CRITERION_HOME_ENV`] records).
pub fn run_suite_at(
    suite: &BenchSuite,
    working_dir: &Path,
    extra_env: &[(String, String)],
    side: Option<crate::load::Which>,
    progress: &Progress,
) -> Result<BTreeMap<String, BenchRun>, BenchError> {
    let words = shell_words::split(&suite.command)
        .ok()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| BenchError::BadCommand {
            suite: suite.name.clone(),
            command: suite.command.clone(),
        })?;
    let keep_in = std::env::var_os(KEEP_CRITERION_HOME_ENV).map(std::path::PathBuf::from);
    let criterion_home = match &keep_in {
        Some(dir) => kept_home(dir, &suite.name, working_dir, side)?,
        None => tempfile::Builder::new()
            .prefix("perfguard-criterion-")
            .tempdir()
            .map_err(BenchError::TempDir)?,
    };
    let mut command = Command::new(&words[0]);
    command
        .args(&words[1..])
        .args(criterion_arguments(&words, suite.plots))
        .current_dir(working_dir)
        .env("CRITERION_HOME", criterion_home.path())
        .envs(suite.env.iter())
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let display = format!(
        "{} {}",
        suite.command,
        criterion_arguments(&words, suite.plots).join(" ")
    );
    progress.start_suite(&suite.name, &display);
    let mut child = command.spawn().map_err(|source| BenchError::NotFound {
        suite: suite.name.clone(),
        program: words[0].clone(),
        source,
    })?;

    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let status = std::thread::scope(|scope| {
        let follow = |stream: Box<dyn Read + Send>| {
            let tail = Arc::clone(&tail);
            scope.spawn(move || follow_output(stream, &tail, progress))
        };
        let out = follow(Box::new(stdout));
        let err = follow(Box::new(stderr));
        let _ = out.join();
        let _ = err.join();
        child.wait()
    });
    let tail_text = || {
        tail.lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    };
    let status = status.map_err(|source| BenchError::NotFound {
        suite: suite.name.clone(),
        program: words[0].clone(),
        source,
    })?;
    if !status.success() {
        progress.finish_suite(&suite.name, false);
        return Err(BenchError::CommandFailed {
            suite: suite.name.clone(),
            command: display,
            status: describe_status(status),
            tail: tail_text(),
        });
    }
    let runs =
        reader::read_criterion_home(criterion_home.path()).map_err(|source| BenchError::Read {
            suite: suite.name.clone(),
            source,
        })?;
    progress.finish_suite(&suite.name, true);
    if keep_in.is_some() {
        let _kept = criterion_home.keep();
    }
    if runs.is_empty() {
        return Err(BenchError::NoOutput {
            suite: suite.name.clone(),
            command: display,
            tail: tail_text(),
        });
    }
    Ok(runs)
}

fn follow_output(
    stream: Box<dyn Read + Send>,
    tail: &Mutex<VecDeque<String>>,
    progress: &Progress,
) {
    let reader = BufReader::new(stream);
    let mut last_benchmark: Option<String> = None;
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line);
        // criterion rewrites its progress line with \r; the last segment is current.
        for segment in text.split('\r').filter(|s| !s.trim().is_empty()) {
            if let Some(name) = benchmark_in_line(segment)
                && last_benchmark.as_deref() != Some(name)
            {
                if let Some(done) = last_benchmark.take() {
                    progress.finished_benchmark(&done);
                }
                progress.benchmark(name);
                last_benchmark = Some(name.to_string());
            }
        }
        let segment = text
            .rsplit('\r')
            .find(|s| !s.trim().is_empty())
            .unwrap_or("")
            .to_string();
        progress.output_line(&segment);
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(segment);
        }
    }
    if let Some(done) = last_benchmark {
        progress.finished_benchmark(&done);
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_commands_get_a_separator_and_noplot() {
        let words: Vec<String> = ["cargo", "bench", "--bench", "core"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(criterion_arguments(&words, false), vec!["--", "--noplot"]);
        assert_eq!(criterion_arguments(&words, true), Vec::<String>::new());
        let with_separator: Vec<String> = ["cargo", "bench", "--", "fib"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            criterion_arguments(&with_separator, false),
            vec!["--noplot"]
        );
        let direct: Vec<String> = vec!["./target/release/deps/core".to_string()];
        assert_eq!(criterion_arguments(&direct, false), vec!["--noplot"]);
    }

    #[test]
    fn progress_lines_name_the_benchmark() {
        assert_eq!(
            benchmark_in_line("Benchmarking fib/20: Warming up for 3.0000 s"),
            Some("fib/20")
        );
        assert_eq!(benchmark_in_line("Benchmarking fib/20"), Some("fib/20"));
        assert_eq!(benchmark_in_line("fib/20  time: [1 ns 2 ns 3 ns]"), None);
    }
}
