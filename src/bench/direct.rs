//! Running a built criterion bench executable directly, one benchmark at a
//! time, as `cargo bench` would run it: `<executable> --bench`, in the
//! package's folder, with `CRITERION_HOME` pointed at a fresh folder.
//!
//! Paired rounds use short runs: a run is the unit of replication, so it only
//! needs to be long enough for one stable location estimate. Criterion's own
//! arguments set it: `--warm-up-time`, `--measurement-time` and
//! `--sample-size`: 0.1 s of warm-up, then 30 samples in 0.3 s, with fewer
//! samples (down to criterion's 10) only for a benchmark so slow that its
//! samples would take more than a second ([`ShortRun::fitted`]). One probe
//! run per benchmark finds its per-iteration time first ([`ShortRun::probe`]),
//! and how criterion spreads iterations over samples for it ([`Sampling`]):
//! linearly growing counts (`d, 2d, ... n·d`, at least `n(n+1)/2`
//! iterations), or, where criterion's default `Auto` mode switches a slow
//! benchmark to flat sampling, the same count in every sample (at least `n`).
//! The measurement time is never stretched to fit the samples: criterion
//! rounds the iterations per step *up*, so a target just above what the
//! samples need doubles the run (a 2.2 ms benchmark ran 2.2 s instead of
//! 1 s that way), while a target below it costs nothing: criterion runs at
//! least one iteration per step anyway. Criterion 0.3
//! takes whole seconds only, so its runs are 1 s and 1 s, unless one probe
//! run with the benchmark's own times (many suites configure short ones)
//! is shorter than that: then its runs keep those ([`ShortRun::own_times`],
//! [`Runnable::fit`]). Many small samples rather than criterion's minimum of
//! 10: a run's location is its fastest sample, and on a shared runner whose
//! speed moves by tens of percent from one tenth of a second to the next, more
//! samples give more chances to land in a quiet stretch (on this project's
//! 2-core runner, eight benchmarks' paired ratios scattered 9% with 30-50
//! samples against 21% with 10, in one noisy hour). Its bootstrap is cut to
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
        for argument in arguments(words) {
            match argument {
                Argument::Option { word, value } => {
                    let name = word.split('=').next().unwrap_or(word);
                    if !OWN_OPTIONS.contains(&name) {
                        parsed.options.push(word.clone());
                        parsed.options.extend(value.cloned());
                    }
                }
                Argument::Positional(at) => parsed.filter = Some(words[at].clone()),
            }
        }
        parsed
    }
}

/// One of criterion's command-line arguments.
enum Argument<'a> {
    /// An option, with its value when it takes one as the next word.
    Option {
        word: &'a String,
        value: Option<&'a String>,
    },
    /// A word that is neither an option nor an option's value, at this index.
    Positional(usize),
}

/// Criterion's arguments `words`, options told apart from positional words.
fn arguments(words: &[String]) -> Vec<Argument<'_>> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let word = &words[at];
        let name = word.split('=').next().unwrap_or(word);
        if word.starts_with('-') {
            let takes_value = VALUED_OPTIONS.contains(&name) && !word.contains('=');
            let value = if takes_value { words.get(at + 1) } else { None };
            at += usize::from(takes_value);
            found.push(Argument::Option { word, value });
        } else {
            found.push(Argument::Positional(at));
        }
        at += 1;
    }
    found
}

/// Where criterion's filter (its one positional argument; the last, if a
/// command gives several) is among its arguments `words`.
pub fn filter_position(words: &[String]) -> Option<usize> {
    arguments(words)
        .into_iter()
        .filter_map(|argument| match argument {
            Argument::Positional(at) => Some(at),
            Argument::Option { .. } => None,
        })
        .next_back()
}

/// How long one short run measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShortRun {
    pub warm_up: Duration,
    pub measurement: Duration,
    pub samples: u32,
    /// Pass no times: the benchmark keeps the warm-up and measurement times
    /// its code sets ([`ShortRun::own_times`]).
    pub own_times: bool,
}

/// A criterion 0.3 run of whole seconds: 1 s of warm-up and 1 s of measurement.
pub const WHOLE_SECOND_RUN: Duration = Duration::from_secs(2);

/// Criterion's fewest samples.
const MIN_SAMPLES: u32 = 10;

/// The measurement time a fitted run stays within when it can
/// ([`ShortRun::fitted`]).
///
/// The probe's sampling stands for the run's: under criterion's `Auto`, the
/// probe (10 samples in 1 ms) turns flat above about 36 µs per iteration,
/// a default run (30 samples in 0.3 s) only above about 1.29 ms, so between
/// the two the probe says flat and the run samples linearly. No samples are
/// cut there either way: a linear `Auto` run takes at most twice its 0.3 s,
/// within this second. Longer default runs would need criterion's rule
/// recomputed for the run itself.
const LONGEST_RUN: Duration = Duration::from_secs(1);

impl Default for ShortRun {
    /// The target of a paired run: 0.1 s of warm-up, then 30 samples in
    /// 0.3 s, [`ShortRun::fitted`] to the benchmark.
    fn default() -> Self {
        ShortRun {
            warm_up: Duration::from_millis(100),
            measurement: Duration::from_millis(300),
            samples: 30,
            own_times: false,
        }
    }
}

impl ShortRun {
    /// The run that finds a benchmark's per-iteration time before its
    /// rounds: criterion's warm-up, then its fewest samples of one
    /// iteration step each.
    pub fn probe() -> ShortRun {
        ShortRun {
            warm_up: Duration::from_millis(50),
            measurement: Duration::from_millis(1),
            samples: MIN_SAMPLES,
            own_times: false,
        }
    }

    /// These settings without times: for criterion 0.3, whose whole seconds
    /// make a run of at least [`WHOLE_SECOND_RUN`], when the benchmark's own
    /// times (a suite configured for short runs, as many are) are shorter.
    pub fn own_times(&self) -> ShortRun {
        ShortRun {
            own_times: true,
            ..*self
        }
    }

    /// These settings fitted to a benchmark that takes `per_iteration_ns`
    /// and that criterion samples as `sampling` says: fewer samples (down to
    /// criterion's 10) only as far as it takes to keep a run within
    /// [`LONGEST_RUN`], since fewer samples make a noisier run (its fastest
    /// sample has fewer chances to land in a quiet stretch), which costs more
    /// rounds than the shorter runs save. The times stay: see the module's
    /// documentation for why stretching the measurement time to fit the
    /// samples doubles a run.
    pub fn fitted(&self, per_iteration_ns: f64, sampling: Sampling) -> ShortRun {
        let per_iteration_ns = if per_iteration_ns.is_finite() {
            per_iteration_ns.max(0.0)
        } else {
            0.0
        };
        let least = |n: u32| sampling.least_iterations(n) * per_iteration_ns;
        let longest_ns = LONGEST_RUN.as_secs_f64() * 1e9;
        let mut samples = self.samples.max(MIN_SAMPLES);
        while samples > MIN_SAMPLES && least(samples) > longest_ns {
            samples -= 1;
        }
        ShortRun { samples, ..*self }
    }

    /// Whether a time is not a whole number of seconds.
    fn has_fractions(&self) -> bool {
        !self.own_times
            && [self.warm_up, self.measurement]
                .iter()
                .any(|d| d.subsec_nanos() != 0)
    }

    fn arguments(&self) -> Vec<String> {
        self.arguments_in(|d| format!("{}", d.as_secs_f64()))
    }

    /// For criterion 0.3, whose `--warm-up-time` and `--measurement-time`
    /// take whole seconds: each time rounded up to one.
    fn whole_second_arguments(&self) -> Vec<String> {
        self.arguments_in(|d| d.as_secs_f64().ceil().max(1.0).to_string())
    }

    fn arguments_in(&self, seconds: impl Fn(Duration) -> String) -> Vec<String> {
        let mut arguments: Vec<String> = if self.own_times {
            vec![]
        } else {
            vec![
                "--warm-up-time".into(),
                seconds(self.warm_up),
                "--measurement-time".into(),
                seconds(self.measurement),
            ]
        };
        arguments.extend([
            "--sample-size".into(),
            self.samples.to_string(),
            "--nresamples".into(),
            "1000".into(),
            "--noplot".into(),
        ]);
        arguments
    }
}

/// How criterion spread a benchmark's iterations over its samples, read
/// off the probe run's iteration counts ([`Runnable::fit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    /// `d, 2d, ... n·d` iterations: criterion before 0.3.3, a group set to
    /// `SamplingMode::Linear`, or a benchmark quick enough for it.
    Linear,
    /// The same count in every sample: what criterion's default
    /// `SamplingMode::Auto` picks when linear sampling would overrun.
    Flat,
}

impl Sampling {
    /// Flat when every sample ran the same number of iterations.
    pub fn of(iterations: &[f64]) -> Sampling {
        if iterations.len() >= 2 && iterations.windows(2).all(|pair| pair[0] == pair[1]) {
            Sampling::Flat
        } else {
            Sampling::Linear
        }
    }

    /// The fewest iterations `samples` samples take.
    fn least_iterations(self, samples: u32) -> f64 {
        let n = f64::from(samples);
        match self {
            Sampling::Linear => n * (n + 1.0) / 2.0,
            Sampling::Flat => n,
        }
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
        self.wrapped_command(&[])
    }

    /// The command, run through `wrapper` (a program and its options, such
    /// as `valgrind --tool=callgrind ...`) when one is given.
    fn wrapped_command(&self, wrapper: &[String]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((program, options)) => {
                let mut command = Command::new(program);
                command.args(options).arg(&self.executable);
                command
            }
            None => Command::new(&self.executable),
        };
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

    /// `settings` fitted to benchmark `id` by one probe run: its
    /// per-iteration time and [`Sampling`] for [`ShortRun::fitted`], or, for criterion 0.3
    /// (whole seconds only, found by the probe), its own times when a run of
    /// them is shorter than [`WHOLE_SECOND_RUN`].
    pub fn fit(&self, id: &str, settings: &ShortRun) -> Result<ShortRun, BenchError> {
        if !self.whole_seconds.get() {
            let (mut probe, _, iterations) = self.run_wrapped(id, &ShortRun::probe(), 0, &[])?;
            if !self.whole_seconds.get() {
                let per_iteration = if probe.per_iteration_ns.is_empty() {
                    0.0
                } else {
                    crate::stats::median_in_place(&mut probe.per_iteration_ns)
                };
                return Ok(settings.fitted(per_iteration, Sampling::of(&iterations)));
            }
        }
        let (_, took) = self.run(id, &ShortRun::probe().own_times(), 0)?;
        Ok(if took < WHOLE_SECOND_RUN {
            settings.own_times()
        } else {
            *settings
        })
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
        self.run_with_iterations(id, settings, pad, &[], false)
            .map(|(run, took, _)| (run, took))
    }

    /// [`Runnable::run`] through `wrapper` ([`Runnable::wrapped_command`]);
    /// also returns the iteration count of each of criterion's samples.
    pub fn run_wrapped(
        &self,
        id: &str,
        settings: &ShortRun,
        pad: usize,
        wrapper: &[String],
    ) -> Result<(BenchRun, Duration, Vec<f64>), BenchError> {
        self.run_with_iterations(id, settings, pad, wrapper, true)
    }

    /// [`Runnable::run_wrapped`], reading the iteration counts only when
    /// `iterations` asks for them (empty otherwise).
    fn run_with_iterations(
        &self,
        id: &str,
        settings: &ShortRun,
        pad: usize,
        wrapper: &[String],
        iterations: bool,
    ) -> Result<(BenchRun, Duration, Vec<f64>), BenchError> {
        let run_with = |arguments| self.run_with(id, arguments, pad, wrapper, iterations);
        if self.whole_seconds.get() {
            return run_with(settings.whole_second_arguments());
        }
        match run_with(settings.arguments()) {
            // Criterion 0.3 refuses fractional seconds ("The argument '0.1'
            // isn't a valid value", on stdout): try whole seconds once, and
            // keep them if they work; if they fail too, the first error says
            // what went wrong.
            Err(first @ BenchError::CommandFailed { .. }) if settings.has_fractions() => {
                match run_with(settings.whole_second_arguments()) {
                    Ok(run) => {
                        self.whole_seconds.set(true);
                        Ok(run)
                    }
                    Err(_) => Err(first),
                }
            }
            other => other,
        }
    }

    fn run_with(
        &self,
        id: &str,
        mut extra: Vec<String>,
        pad: usize,
        wrapper: &[String],
        with_iterations: bool,
    ) -> Result<(BenchRun, Duration, Vec<f64>), BenchError> {
        let home = tempfile::Builder::new()
            .prefix("perfguard-criterion-")
            .tempdir()
            .map_err(BenchError::TempDir)?;
        extra.push(format!("^{}$", regex_syntax::escape(id)));
        let started = Instant::now();
        let output = self
            .wrapped_command(wrapper)
            .args(&self.args.options)
            .args(&extra)
            .env("CRITERION_HOME", home.path())
            .env(PAD_ENV, "x".repeat(pad))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|source| self.not_found(source))?;
        let took = started.elapsed();
        let status = output.status;
        // Criterion reports on stdout, and older versions print their usage
        // errors there too: both streams make the tail of a failure.
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr.push_str(&String::from_utf8_lossy(&output.stdout));
        if !status.success() {
            return Err(BenchError::CommandFailed {
                suite: self.suite.clone(),
                command: self.display(&extra),
                status: super::describe_status(status),
                tail: last_lines(&stderr, 20),
            });
        }
        let read_error = |source| BenchError::Read {
            suite: self.suite.clone(),
            source,
        };
        let mut runs = super::reader::read_criterion_home(home.path()).map_err(read_error)?;
        let iterations = if !with_iterations {
            Vec::new()
        } else {
            super::reader::read_iterations(home.path())
                .map_err(read_error)?
                .remove(id)
                .unwrap_or_default()
        };
        keep_home(home, &self.suite, &self.dir);
        match runs.remove(id) {
            Some(run) => Ok((run, took, iterations)),
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
    if let Ok(kept) = super::kept_home(Path::new(&keep_in), suite, dir, None) {
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

    #[test]
    fn own_times_pass_no_times() {
        let own = ShortRun::default().own_times();
        let expected = words("--sample-size 30 --nresamples 1000 --noplot");
        assert_eq!(own.arguments(), expected);
        assert_eq!(own.whole_second_arguments(), expected);
        assert!(!own.has_fractions());
        assert!(ShortRun::default().has_fractions());
    }

    #[test]
    fn runs_fit_the_benchmark_per_iteration_time() {
        let target = ShortRun::default();
        for sampling in [Sampling::Linear, Sampling::Flat] {
            // 100 ns and 1 ms: 30 samples fit within a second; nothing changes.
            assert_eq!(target.fitted(100.0, sampling), target);
            assert_eq!(target.fitted(1e6, sampling), target);
            assert_eq!(target.fitted(f64::NAN, sampling), target);
            assert_eq!(target.fitted(f64::INFINITY, sampling), target);
            // 1 s: criterion's fewest samples, however long they take.
            assert_eq!(target.fitted(1e9, sampling).samples, 10);
        }
        // Linear: 19 samples (190 iterations) of 5 ms fit in a second, 20 do not.
        let linear = target.fitted(5e6, Sampling::Linear);
        assert_eq!(linear.samples, 19);
        // Flat: 30 samples of 5 ms fit; 33 ms is the most 30 can take.
        assert_eq!(target.fitted(5e6, Sampling::Flat), target);
        assert_eq!(target.fitted(33e6, Sampling::Flat).samples, 30);
        assert_eq!(target.fitted(40e6, Sampling::Flat).samples, 25);
        // The times are never stretched: criterion rounds iterations per
        // step up, so a target just above the samples' need doubles a run.
        for fitted in [linear, target.fitted(40e6, Sampling::Flat)] {
            assert_eq!(fitted.measurement, target.measurement);
            assert_eq!(fitted.warm_up, target.warm_up);
        }
    }

    #[test]
    fn sampling_is_read_off_the_iteration_counts() {
        assert_eq!(Sampling::of(&[3.0, 3.0, 3.0]), Sampling::Flat);
        assert_eq!(Sampling::of(&[2.0, 4.0, 6.0]), Sampling::Linear);
        assert_eq!(Sampling::of(&[1.0]), Sampling::Linear);
        assert_eq!(Sampling::of(&[]), Sampling::Linear);
    }
}
