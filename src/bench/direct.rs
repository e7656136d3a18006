//! Running a built criterion bench executable directly, one benchmark at a
//! time, as `cargo bench` would run it: `<executable> --bench`, in the
//! package's folder, with `CRITERION_HOME` pointed at a fresh folder.
//!
//! Paired rounds use short runs: a run is the unit of replication, so it only
//! needs to be long enough for one stable location estimate. Criterion's own
//! arguments set it: `--warm-up-time`, `--measurement-time` and
//! `--sample-size`: 0.1 s of warm-up, then 30 samples of linearly growing
//! iteration counts in 0.3 s. Many small samples rather than criterion's
//! minimum of 10: a run's location is its fastest sample, and on a shared
//! runner whose speed moves by tens of percent from one tenth of a second to
//! the next, more samples give more chances to land in a quiet stretch (on
//! this project's 2-core runner, eight benchmarks' paired ratios scattered
//! 9% with 30-50 samples against 21% with 10, in one noisy hour). A benchmark
//! too slow for the measurement time gets criterion's minimum iterations. Its bootstrap is cut to
//! `--nresamples` 1000 (perfguard reads the samples, not criterion's
//! estimates). A benchmark group that sets its own times in code keeps them:
//! criterion lets a group's settings override the command line.
//!
//! Each run is a new process, so what differs between processes is noise in
//! every run: with address-space randomization on, the fixture's allocation
//! and hashing benchmarks moved by 10-25% (sd of the fastest sample) from one
//! short run to the next on an idle machine, against 1-3% with it off. Runs
//! therefore start with randomization off ([`NoAddressRandomization`]:
//! `personality(ADDR_NO_RANDOMIZE)`, what `setarch -R` does; LLVM's
//! benchmarking tips recommend the same), and
//! with the environment padded so that both sides' processes start with the
//! same stack size: the stack's alignment follows the environment's size
//! (Mytkowicz et al., ASPLOS 2009). The pad changes from round to round, the
//! same at both sides, so the stack's alignment is a random effect that the
//! pair's ratio cancels instead of a fixed offset of one side.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use crate::results::BenchRun;

/// The variable that carries a run's environment pad ([`Runnable::run`]).
pub const PAD_ENV: &str = "PERFGUARD_STACK_PAD";

/// Criterion options that take a value: told apart from a filter argument.
const VALUED_OPTIONS: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--profile-time",
    "--plotting-backend",
    "--output-format",
    "--format",
    "--color",
    "-c",
    "--logfile",
    "--test-threads",
    "--skip",
];

/// Options perfguard sets itself for a short run, dropped from the user's.
const OWN_OPTIONS: &[&str] = &[
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--nresamples",
    "--save-baseline",
    "-s",
    "--baseline",
    "-b",
    "--baseline-lenient",
    "--load-baseline",
    "--profile-time",
    "--list",
    "--noplot",
];

/// The criterion arguments of a suite's command, split into the options kept
/// for every run and the filter (which selects benchmarks when listing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriterionArgs {
    pub options: Vec<String>,
    pub filter: Option<String>,
}

impl CriterionArgs {
    pub fn parse(words: &[String]) -> CriterionArgs {
        let mut parsed = CriterionArgs::default();
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let name = word.split('=').next().unwrap_or(word);
            let takes_value = VALUED_OPTIONS.contains(&name) && !word.contains('=');
            let own = OWN_OPTIONS.contains(&name);
            if word.starts_with('-') {
                let value = if takes_value { words.next() } else { None };
                if !own {
                    parsed.options.push(word.clone());
                    parsed.options.extend(value.cloned());
                }
            } else {
                parsed.filter = Some(word.clone());
            }
        }
        parsed
    }
}

/// How long one short run measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShortRun {
    pub warm_up: Duration,
    pub measurement: Duration,
    pub samples: u32,
}

impl Default for ShortRun {
    fn default() -> Self {
        ShortRun {
            warm_up: Duration::from_millis(100),
            measurement: Duration::from_millis(300),
            samples: 30,
        }
    }
}

impl ShortRun {
    fn arguments(&self) -> Vec<String> {
        self.arguments_in(|d| format!("{}", d.as_secs_f64()))
    }

    /// For criterion 0.3, whose `--warm-up-time` and `--measurement-time`
    /// take whole seconds: each time rounded up to one.
    fn whole_second_arguments(&self) -> Vec<String> {
        self.arguments_in(|d| d.as_secs_f64().ceil().max(1.0).to_string())
    }

    fn arguments_in(&self, seconds: impl Fn(Duration) -> String) -> Vec<String> {
        vec![
            "--warm-up-time".into(),
            seconds(self.warm_up),
            "--measurement-time".into(),
            seconds(self.measurement),
            "--sample-size".into(),
            self.samples.to_string(),
            "--nresamples".into(),
            "1000".into(),
            "--noplot".into(),
        ]
    }
}

/// One built bench executable and how to run it at one side.
#[derive(Clone, Debug)]
pub struct Runnable {
    pub suite: String,
    pub executable: PathBuf,
    /// The package folder at this side: the working directory.
    pub dir: PathBuf,
    pub args: CriterionArgs,
    pub env: Vec<(String, String)>,
    /// Set once a run with fractional seconds was refused and one with whole
    /// seconds worked (criterion 0.3): later runs use whole seconds.
    pub whole_seconds: std::cell::Cell<bool>,
}

impl Runnable {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.executable);
        command
            .arg("--bench")
            .current_dir(&self.dir)
            .env("CARGO_MANIFEST_DIR", &self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// The bytes this runnable adds to the environment it inherits: what
    /// [`PAD_ENV`] makes equal at both sides of a pair.
    pub fn env_bytes(&self) -> usize {
        let dir = "CARGO_MANIFEST_DIR=".len() + self.dir.as_os_str().len() + 1;
        dir + self
            .env
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
            + self.executable.as_os_str().len()
    }

    fn display(&self, extra: &[String]) -> String {
        let mut words = vec![self.executable.display().to_string(), "--bench".to_string()];
        words.extend(self.args.options.iter().cloned());
        words.extend(extra.iter().cloned());
        shell_words::join(&words)
    }

    /// The benchmark ids the executable runs (`--list`, with the suite's filter).
    pub fn list(&self) -> Result<Vec<String>, BenchError> {
        let mut extra = vec!["--list".to_string()];
        extra.extend(self.args.filter.iter().cloned());
        let output = self
            .command()
            .args(&self.args.options)
            .args(&extra)
            .output()
            .map_err(|source| self.not_found(source))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let mut tail = text.into_owned();
            tail.push_str(&String::from_utf8_lossy(&output.stderr));
            return Err(BenchError::CommandFailed {
                suite: self.suite.clone(),
                command: self.display(&extra),
                status: super::describe_status(output.status),
                tail: last_lines(&tail, 20),
            });
        }
        Ok(listed_benchmarks(&text))
    }

    /// Run one benchmark (`id`, matched exactly) for one short run, with
    /// `pad` bytes of [`PAD_ENV`] in its environment; also returns how long
    /// the run took.
    pub fn run(
        &self,
        id: &str,
        settings: &ShortRun,
        pad: usize,
    ) -> Result<(BenchRun, Duration), BenchError> {
        if self.whole_seconds.get() {
            return self.run_with(id, settings.whole_second_arguments(), pad);
        }
        match self.run_with(id, settings.arguments(), pad) {
            Err(BenchError::CommandFailed { tail, .. }) if tail.contains("-time") => {
                let run = self.run_with(id, settings.whole_second_arguments(), pad)?;
                self.whole_seconds.set(true);
                Ok(run)
            }
            other => other,
        }
    }

    fn run_with(
        &self,
        id: &str,
        mut extra: Vec<String>,
        pad: usize,
    ) -> Result<(BenchRun, Duration), BenchError> {
        let home = tempfile::Builder::new()
            .prefix("perfguard-criterion-")
            .tempdir()
            .map_err(BenchError::TempDir)?;
        extra.push(format!("^{}$", regex_syntax::escape(id)));
        let started = Instant::now();
        let mut child = self
            .command()
            .args(&self.args.options)
            .args(&extra)
            .env("CRITERION_HOME", home.path())
            .env(PAD_ENV, "x".repeat(pad))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.not_found(source))?;
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = child.wait().map_err(|source| self.not_found(source))?;
        let took = started.elapsed();
        if !status.success() {
            return Err(BenchError::CommandFailed {
                suite: self.suite.clone(),
                command: self.display(&extra),
                status: super::describe_status(status),
                tail: last_lines(&stderr, 20),
            });
        }
        let mut runs =
            super::reader::read_criterion_home(home.path()).map_err(|source| BenchError::Read {
                suite: self.suite.clone(),
                source,
            })?;
        keep_home(home, &self.suite, &self.dir);
        match runs.remove(id) {
            Some(run) => Ok((run, took)),
            None => Err(BenchError::NoOutput {
                suite: self.suite.clone(),
                command: self.display(&extra),
                tail: last_lines(&stderr, 20),
            }),
        }
    }

    fn not_found(&self, source: std::io::Error) -> BenchError {
        BenchError::NotFound {
            suite: self.suite.clone(),
            program: self.executable.display().to_string(),
            source,
        }
    }
}

/// Address-space randomization off for the processes this one starts
/// while the guard lives (a process's personality is inherited across fork
/// and exec; perfguard's own mappings are not touched), where the kernel
/// allows it: in a container that forbids it, runs go on randomized.
pub struct NoAddressRandomization {
    #[cfg(target_os = "linux")]
    before: Option<nix::sys::personality::Persona>,
}

impl NoAddressRandomization {
    #[cfg(target_os = "linux")]
    pub fn new() -> NoAddressRandomization {
        use nix::sys::personality::{self, Persona};
        let before = personality::get().ok();
        if let Some(persona) = before {
            let _ = personality::set(persona | Persona::ADDR_NO_RANDOMIZE);
        }
        NoAddressRandomization { before }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new() -> NoAddressRandomization {
        NoAddressRandomization {}
    }
}

impl Drop for NoAddressRandomization {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(persona) = self.before {
            let _ = nix::sys::personality::set(persona);
        }
    }
}

/// Under [`super::KEEP_CRITERION_HOME_ENV`], move a run's criterion home
/// where the quality harness reads it.
fn keep_home(home: tempfile::TempDir, suite: &str, dir: &Path) {
    let Some(keep_in) = std::env::var_os(super::KEEP_CRITERION_HOME_ENV) else {
        return;
    };
    if let Ok(kept) = super::kept_home(Path::new(&keep_in), suite, dir) {
        let from = home.keep();
        let _ = copy_tree(&from, kept.path());
        let _ = std::fs::remove_dir_all(&from);
        let _kept = kept.keep();
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The ids in criterion's `--list` output (`<id>: benchmark` lines; older
/// versions print `<id>: bench`).
fn listed_benchmarks(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.strip_suffix(": benchmark")
                .or_else(|| line.strip_suffix(": bench"))
        })
        .map(str::to_string)
        .collect()
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: VecDeque<&str> = text.trim_end().lines().collect();
    let skip = all.len().saturating_sub(lines);
    all.into_iter().skip(skip).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        shell_words::split(text).unwrap()
    }

    #[test]
    fn criterion_arguments_keep_options_and_the_filter_apart() {
        let parsed = CriterionArgs::parse(&words(
            "--quick fib --measurement-time 9 --noise-threshold=0.02 --save-baseline x",
        ));
        assert_eq!(parsed.filter.as_deref(), Some("fib"));
        assert_eq!(parsed.options, words("--quick --noise-threshold=0.02"));
        assert_eq!(CriterionArgs::parse(&[]), CriterionArgs::default());
    }

    #[test]
    fn listings_of_old_and_new_criterion_are_read() {
        let text = "fib/20: benchmark\nchecksum: bench\n\nwarning: something\n";
        assert_eq!(listed_benchmarks(text), vec!["fib/20", "checksum"]);
    }

    #[test]
    fn short_runs_pass_criterion_its_own_arguments() {
        let args = ShortRun::default().arguments();
        assert_eq!(
            args,
            words(
                "--warm-up-time 0.1 --measurement-time 0.3 --sample-size 30 --nresamples 1000 --noplot"
            )
        );
        assert_eq!(
            ShortRun::default().whole_second_arguments(),
            words(
                "--warm-up-time 1 --measurement-time 1 --sample-size 30 --nresamples 1000 --noplot"
            )
        );
    }
}
