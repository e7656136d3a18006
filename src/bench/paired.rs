//! Paired measurement: the merge-base and the head measured alternately in
//! one job, so the machine's drift (other jobs, thermal state, a noisy
//! neighbour on a shared runner) hits both sides alike and cancels in their
//! ratio. What the rounds mean is decided in [`crate::compare::paired`].
//!
//! Both sides are built first (`cargo bench --no-run`, or one warm-up run for
//! other commands), at one path: the caller's `enter` puts a side's folder in
//! place before it builds or runs (`commands::check::one_folder`), so that
//! identical sources give identical programs. Then every round runs each
//! suite once per side, base and
//! head back to back. The side that goes first alternates from round to round
//! (A B, B A, A B, ...), so a steady drift or a first-run advantage does not
//! favour one side. The benchmarks the first rounds leave unsettled are
//! measured again alone, through criterion's filter argument.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use super::direct::{Runnable, ShortRun};
use crate::config::BenchSuite;
use crate::load::Which;
use crate::progress::Progress;
use crate::results::PairedRuns;

/// Rounds before the first look when `--rounds` is not given, for
/// whole-suite rounds and load probes: three pairs, the fewest whose scatter
/// says anything on its own.
pub const DEFAULT_ROUNDS: u32 = 3;

/// Rounds before the first look of direct runs (`cargo bench` suites) when
/// `--rounds` is not given. Their sequential design
/// ([`crate::compare::paired::Sequential`]) looks after every round and its
/// first looks spend almost no alpha, so an early look can only stop a
/// benchmark whose interval already lies inside the threshold (stopping for
/// that raises no false alarm) or one overwhelmingly changed. On the quality
/// fixture a first look after two rounds cut A/A checks from 76-79 s to
/// 60-61 s with the same verdicts (docs/verdict-quality.md).
pub const DEFAULT_DIRECT_ROUNDS: u32 = 2;

/// Rounds at most when `--max-rounds` is not given (and `--rounds` is below half of it).
pub const DEFAULT_MAX_ROUNDS: u32 = 10;

/// How many rounds a paired run makes: `first` for every benchmark, then up to
/// `max` for the benchmarks the first rounds leave unsettled
/// ([`stats::needs_more_rounds`]): not regressed, with an interval that still
/// reaches the threshold. Only those are re-run (through criterion's
/// filter), so a clear suite costs `first` rounds and a noisy benchmark gets
/// the evidence it needs. Whole-suite rounds ([`measure`]) look at the
/// verdict twice only (after `first` and after `max` rounds), which keeps the
/// extra false alarms of looking twice small; direct rounds
/// ([`measure_direct`]) look after every round from `first` on, at the levels
/// of a sequential design (`compare::paired::Sequential`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounds {
    pub first: u32,
    pub max: u32,
}

impl Rounds {
    /// `--rounds N` alone: up to 10, or twice N if that is more.
    pub fn new(first: u32, max: Option<u32>) -> Rounds {
        Rounds {
            first,
            max: max
                .unwrap_or(first.saturating_mul(2).max(DEFAULT_MAX_ROUNDS))
                .max(first),
        }
    }
}

impl Default for Rounds {
    fn default() -> Self {
        Rounds::new(DEFAULT_ROUNDS, None)
    }
}

/// Lines of a failed build shown in the error.
const BUILD_TAIL_LINES: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum PairedError {
    #[error(
        "the {side} ({commit}) does not build: `{command}` failed ({status}) in {dir}; last lines of its output:\n{tail}\nperfguard never compares against nothing: fix the build, or choose another base with --against REV"
    )]
    Build {
        side: String,
        commit: String,
        command: String,
        status: String,
        dir: PathBuf,
        tail: String,
    },
    #[error(
        "[[bench]] {suite:?}: cannot start {program:?} to build the {side}: {source}; check `command` in perfguard.toml"
    )]
    Spawn {
        suite: String,
        program: String,
        side: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "[[bench]] {suite:?}: `{command}` built no bench target; does the command name a criterion bench target (`[[bench]]` with `harness = false` in Cargo.toml)?"
    )]
    NoBenchTargets { suite: String, command: String },
    #[error("cannot copy a bench executable to {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot put the {side}'s folder in place: {message}")]
    Place { side: String, message: String },
    #[error("measuring the {side} ({commit}): {source}")]
    Measure {
        side: String,
        commit: String,
        #[source]
        source: BenchError,
    },
}

/// One side of a paired run: where it is checked out and how to build there.
pub struct Side<'a> {
    /// `merge-base of HEAD and main`, `working tree (HEAD 1a2b3c4d, dirty)`...
    pub label: String,
    /// Short commit id for messages.
    pub commit: String,
    pub dir: &'a Path,
    pub env: &'a [(String, String)],
}

fn is_cargo(words: &[String]) -> bool {
    words
        .first()
        .is_some_and(|w| Path::new(w).file_name().is_some_and(|n| n == "cargo"))
}

/// `suite` restricted to the benchmarks `ids` through criterion's filter
/// argument (a regex matched against the full id, anchored here). A command
/// that already gives criterion a filter (after `--`) has it replaced:
/// criterion takes one, and the ids were found under the old one, so the new
/// one selects a part of what it selected.
pub fn filtered_suite(suite: &BenchSuite, ids: &[String]) -> BenchSuite {
    let alternatives: Vec<String> = ids.iter().map(|id| regex_syntax::escape(id)).collect();
    let filter = format!("^(?:{})$", alternatives.join("|"));
    let mut words = shell_words::split(&suite.command).unwrap_or_default();
    let separator_at = words.iter().position(|w| w == "--");
    let own_filter = separator_at.and_then(|at| {
        super::direct::filter_position(&words[at + 1..]).map(|position| at + 1 + position)
    });
    let command = match own_filter {
        Some(at) => {
            words[at] = filter;
            shell_words::join(&words)
        }
        None => {
            let separator = if is_cargo(&words) && separator_at.is_none() {
                " --"
            } else {
                ""
            };
            format!(
                "{}{separator} {}",
                suite.command,
                shell_words::quote(&filter)
            )
        }
    };
    BenchSuite {
        command,
        ..suite.clone()
    }
}

/// Build a suite on one side without measuring: `cargo bench --no-run` for
/// cargo commands, one discarded warm-up run otherwise.
fn build(
    suite: &BenchSuite,
    side: &Side,
    which: Which,
    progress: &Progress,
) -> Result<(), Box<PairedError>> {
    let words = shell_words::split(&suite.command).unwrap_or_default();
    if !(is_cargo(&words) && words.iter().any(|w| w == "bench")) {
        progress.status(&format!(
            "warm-up run of [{}] at {}",
            suite.name, side.label
        ));
        super::run_suite_at(suite, side.dir, side.env, Some(which), progress).map_err(
            |source| {
                Box::new(PairedError::Measure {
                    side: side.label.clone(),
                    commit: side.commit.clone(),
                    source,
                })
            },
        )?;
        return Ok(());
    }
    let mut build_words = words.clone();
    let at = words.iter().position(|w| w == "--").unwrap_or(words.len());
    build_words.insert(at, "--no-run".to_string());
    let command_text = shell_words::join(&build_words);
    progress.status(&format!("building [{}] at {}", suite.name, side.label));
    let output = Command::new(&build_words[0])
        .args(&build_words[1..])
        .current_dir(side.dir)
        .envs(suite.env.iter())
        .envs(side.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|source| {
            Box::new(PairedError::Spawn {
                suite: suite.name.clone(),
                program: build_words[0].clone(),
                side: side.label.clone(),
                source,
            })
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(build_failed(side, command_text, output.status, &text))
}

/// The error of a side's build that failed with `status`, from its output.
pub(super) fn build_failed(
    side: &Side,
    command: String,
    status: std::process::ExitStatus,
    output: &str,
) -> Box<PairedError> {
    Box::new(PairedError::Build {
        side: side.label.clone(),
        commit: side.commit.clone(),
        command,
        status: status.code().map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit code {c}"),
        ),
        dir: side.dir.to_path_buf(),
        tail: build_error_tail(output),
    })
}

/// The part of a failed build's output a user needs: its `error` lines (a
/// compiler error can scroll away behind cargo's notes), then the last lines,
/// each cut short (cargo quotes whole rustc command lines).
pub(super) fn build_error_tail(output: &str) -> String {
    const LINE_CHARS: usize = 300;
    let cut = |line: &str| match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_string(),
    };
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let tail_start = lines.len().saturating_sub(BUILD_TAIL_LINES);
    let mut shown: Vec<String> = lines[..tail_start]
        .iter()
        .filter(|line| line.starts_with("error"))
        .take(10)
        .map(|line| cut(line))
        .collect();
    if !shown.is_empty() {
        shown.push("...".to_string());
    }
    shown.extend(lines[tail_start..].iter().map(|line| cut(line)));
    shown.join("\n")
}

/// What puts a side's folder in place before it builds or runs, when both
/// sides share one folder (`commands::check::one_folder`); an error says why
/// it could not.
pub type Enter<'e> = &'e mut dyn FnMut(Which) -> Result<(), String>;

/// Build both sides (`sides`: the base's, the head's), each after `enter`
/// has put it in place, run every suite alternately for `rounds.first`
/// rounds, then the unsettled benchmarks (see [`Rounds`]) up to
/// `rounds.max`. With `only`, just those benchmarks of each suite (by suite
/// name) are measured, as when confirming stored-mode regressions.
pub fn measure(
    suites: &[BenchSuite],
    only: Option<&BTreeMap<String, Vec<String>>>,
    sides: [&Side; 2],
    enter: Enter<'_>,
    rounds: Rounds,
    unsettled: impl Fn(&PairedRuns) -> BTreeMap<String, Vec<String>>,
    progress: &Progress,
) -> Result<PairedRuns, Box<PairedError>> {
    let first: Vec<BenchSuite> = match only {
        None => suites.to_vec(),
        Some(only) => suites
            .iter()
            .filter_map(|s| only.get(&s.name).map(|ids| filtered_suite(s, ids)))
            .collect(),
    };
    for which in [Which::Base, Which::Head] {
        let side = sides[which as usize];
        put_in_place(enter, which, side)?;
        for suite in &first {
            build(suite, side, which, progress)?;
        }
    }
    let mut paired = PairedRuns::default();
    run_rounds(
        &first,
        sides,
        enter,
        0..rounds.first,
        rounds.max,
        &mut paired,
        progress,
    )?;
    if rounds.max <= rounds.first {
        return Ok(paired);
    }
    let unsettled = unsettled(&paired);
    if unsettled.is_empty() {
        return Ok(paired);
    }
    let ids: Vec<&str> = unsettled.values().flatten().map(String::as_str).collect();
    progress.status(&format!(
        "{} benchmark(s) unsettled after {} rounds ({}); measuring them for {} more",
        ids.len(),
        rounds.first,
        ids.join(", "),
        rounds.max - rounds.first
    ));
    let again: Vec<BenchSuite> = suites
        .iter()
        .filter_map(|s| unsettled.get(&s.name).map(|ids| filtered_suite(s, ids)))
        .collect();
    run_rounds(
        &again,
        sides,
        enter,
        rounds.first..rounds.max,
        rounds.max,
        &mut paired,
        progress,
    )?;
    Ok(paired)
}

fn put_in_place(enter: Enter<'_>, which: Which, side: &Side) -> Result<(), Box<PairedError>> {
    enter(which).map_err(|message| {
        Box::new(PairedError::Place {
            side: side.label.clone(),
            message,
        })
    })
}

/// Run `suites` at both sides for the rounds `numbers` of `total`, appending
/// them to `paired`. The side that goes first alternates with the round number.
fn run_rounds(
    suites: &[BenchSuite],
    sides: [&Side; 2],
    enter: Enter<'_>,
    numbers: std::ops::Range<u32>,
    total: u32,
    paired: &mut PairedRuns,
    progress: &Progress,
) -> Result<(), Box<PairedError>> {
    for round in numbers {
        let mut base_runs = BTreeMap::new();
        let mut head_runs = BTreeMap::new();
        for suite in suites {
            let order = if round % 2 == 0 {
                [Which::Base, Which::Head]
            } else {
                [Which::Head, Which::Base]
            };
            for which in order {
                let side = sides[which as usize];
                put_in_place(enter, which, side)?;
                progress.status(&format!(
                    "paired round {} of up to {total}: [{}] at {}",
                    round + 1,
                    suite.name,
                    side.label
                ));
                let runs = super::run_suite_at(suite, side.dir, side.env, Some(which), progress)
                    .map_err(|source| PairedError::Measure {
                        side: side.label.clone(),
                        commit: side.commit.clone(),
                        source,
                    })?;
                for (id, run) in runs {
                    paired.suites.insert(id.clone(), suite.name.clone());
                    match which {
                        Which::Base => base_runs.insert(id, run),
                        Which::Head => head_runs.insert(id, run),
                    };
                }
            }
        }
        paired.rounds.push((base_runs, head_runs));
    }
    Ok(())
}

fn measure_error(side: &Side, source: BenchError) -> Box<PairedError> {
    Box::new(PairedError::Measure {
        side: side.label.clone(),
        commit: side.commit.clone(),
        source,
    })
}

/// One bench target built at both sides, ready to run directly.
pub struct Pair {
    pub suite: String,
    pub target: String,
    pub base: Runnable,
    pub head: Runnable,
    /// The two executables hold the same bytes: nothing to measure.
    pub identical: bool,
}

/// What a direct paired measurement found.
#[derive(Default)]
pub struct Direct {
    pub runs: PairedRuns,
    /// `(id, suite, target)` of benchmarks whose executables are identical.
    pub identical: Vec<(String, String, String)>,
    /// `(id, suite)` listed at one side only.
    pub only_base: Vec<(String, String)>,
    pub only_head: Vec<(String, String)>,
    /// The budget ended the rounds before every benchmark was settled.
    pub budget_ran_out: bool,
}

/// List both sides' benchmarks, then measure every benchmark listed at both
/// (and not identical) pair by pair: base and head one short run each, back
/// to back, the side going first alternating by round and by benchmark (A B,
/// B A, ...), so a pair is a second apart. Each benchmark's runs are
/// `settings` [`ShortRun::fitted`] to its per-iteration time, which one probe
/// run of the head's executable finds first. After round `first` and every
/// round after it, `look` says which benchmarks are still unsettled; only
/// those go on, up to `max` rounds. With a `deadline`, no pair starts that
/// would end after it (judged by that benchmark's last runs).
#[allow(clippy::too_many_arguments)]
pub fn measure_direct(
    pairs: &[Pair],
    base: &Side,
    head: &Side,
    only: Option<&BTreeSet<String>>,
    rounds: Rounds,
    settings: &ShortRun,
    deadline: Option<Instant>,
    mut look: impl FnMut(&PairedRuns, u32) -> BTreeSet<String>,
    progress: &Progress,
) -> Result<Direct, Box<PairedError>> {
    let mut direct = Direct::default();
    let mut active: Vec<(usize, String)> = Vec::new();
    for (index, pair) in pairs.iter().enumerate() {
        let head_ids = pair
            .head
            .list()
            .map_err(|source| measure_error(head, source))?;
        let base_ids = if pair.identical {
            head_ids.clone()
        } else {
            pair.base
                .list()
                .map_err(|source| measure_error(base, source))?
        };
        for id in &base_ids {
            if !head_ids.contains(id) {
                direct.only_base.push((id.clone(), pair.suite.clone()));
            }
        }
        for id in &head_ids {
            if !base_ids.contains(id) {
                direct.only_head.push((id.clone(), pair.suite.clone()));
            } else if pair.identical {
                if only.is_none_or(|only| only.contains(id)) {
                    direct
                        .identical
                        .push((id.clone(), pair.suite.clone(), pair.target.clone()));
                }
            } else if only.is_none_or(|only| only.contains(id)) {
                direct.runs.suites.insert(id.clone(), pair.suite.clone());
                active.push((index, id.clone()));
            }
        }
    }
    let mut last_pair: BTreeMap<String, Duration> = BTreeMap::new();
    let total = active.len();
    let _fixed_layout = super::direct::NoAddressRandomization::new();
    let mut fitted: BTreeMap<String, ShortRun> = BTreeMap::new();
    for (position, (index, id)) in active.iter().enumerate() {
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            direct.budget_ran_out = true;
            return Ok(direct);
        }
        progress.status(&format!(
            "timing one iteration of {id} ({} of {total})",
            position + 1
        ));
        let run = pairs[*index]
            .head
            .fit(id, settings)
            .map_err(|source| measure_error(head, source))?;
        fitted.insert(id.clone(), run);
    }
    for round in 0..rounds.max {
        if active.is_empty() {
            break;
        }
        let mut base_runs = BTreeMap::new();
        let mut head_runs = BTreeMap::new();
        for (position, (index, id)) in active.iter().enumerate() {
            if let Some(deadline) = deadline {
                let expected = last_pair.get(id).copied().unwrap_or_default();
                if Instant::now() + expected > deadline {
                    direct.budget_ran_out = true;
                    break;
                }
            }
            let pair = &pairs[*index];
            progress.status(&format!(
                "paired round {} of up to {}: {id} ({} of {} still measured, {total} compared)",
                round + 1,
                rounds.max,
                position + 1,
                active.len()
            ));
            let base_first = (round as usize + position).is_multiple_of(2);
            let mut took = Duration::ZERO;
            let widest = pair.base.env_bytes().max(pair.head.env_bytes());
            let round_pad = stack_pad(round);
            for is_base in [base_first, !base_first] {
                let runnable = if is_base { &pair.base } else { &pair.head };
                let side = if is_base { base } else { head };
                let pad = round_pad + widest - runnable.env_bytes();
                let (run, duration) = runnable
                    .run(id, &fitted[id], pad)
                    .map_err(|source| measure_error(side, source))?;
                took += duration;
                if is_base {
                    base_runs.insert(id.clone(), run);
                } else {
                    head_runs.insert(id.clone(), run);
                }
            }
            last_pair.insert(id.clone(), took);
        }
        let complete = base_runs.len() == active.len();
        direct.runs.rounds.push((base_runs, head_runs));
        if direct.budget_ran_out {
            break;
        }
        if complete && round + 1 >= rounds.first {
            let open = look(&direct.runs, round + 1);
            active.retain(|(_, id)| open.contains(id));
        }
    }
    Ok(direct)
}

/// The environment pad of a round, the same at both sides: 0 to 4095 bytes,
/// from a fixed sequence so that a check can be reproduced.
fn stack_pad(round: u32) -> usize {
    (crate::stats::splitmix64(u64::from(round) + 1) % 4096) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(command: &str) -> BenchSuite {
        BenchSuite {
            name: "core".into(),
            command: command.into(),
            threshold: None,
            plots: false,
            env: BTreeMap::new(),
            measure: Default::default(),
        }
    }

    #[test]
    fn build_errors_keep_the_compiler_error_and_cut_long_lines() {
        let mut output = String::from("error[E0425]: cannot find value `x`\n");
        for i in 0..40 {
            output.push_str(&format!("note {i}\n"));
        }
        output.push_str(&format!("Caused by: `rustc {}`\n", "--flag ".repeat(100)));
        let tail = build_error_tail(&output);
        assert!(
            tail.starts_with("error[E0425]: cannot find value `x`\n...\n"),
            "{tail}"
        );
        assert!(tail.contains("note 39"));
        assert!(!tail.contains("note 5\n"));
        assert!(
            tail.lines().all(|line| line.chars().count() <= 303),
            "{tail}"
        );
    }

    #[test]
    fn filters_are_anchored_escaped_and_placed_after_the_separator() {
        let ids = vec!["checksum/large".to_string(), "fib(20)".to_string()];
        let cargo = filtered_suite(&suite("cargo bench --bench core"), &ids);
        assert_eq!(
            cargo.command,
            "cargo bench --bench core -- '^(?:checksum/large|fib\\(20\\))$'"
        );
        let separated = filtered_suite(&suite("cargo bench -- --quick"), &ids[..1]);
        assert_eq!(
            separated.command,
            "cargo bench -- --quick '^(?:checksum/large)$'"
        );
        let direct = filtered_suite(&suite("./bench"), &ids[..1]);
        assert_eq!(direct.command, "./bench '^(?:checksum/large)$'");
        // A filter of the command's own is replaced, not joined by a second
        // one (criterion refuses two).
        let own = filtered_suite(
            &suite("env X=1 cargo bench --bench parse -- --sample-size 10 uri --noplot"),
            &ids[..1],
        );
        assert_eq!(
            own.command,
            "env 'X=1' cargo bench --bench parse -- --sample-size 10 '^(?:checksum/large)$' --noplot"
        );
    }

    #[test]
    fn rounds_default_to_ten_or_twice_the_first_look() {
        assert_eq!(Rounds::new(5, None), Rounds { first: 5, max: 10 });
        assert_eq!(Rounds::new(8, None), Rounds { first: 8, max: 16 });
        assert_eq!(Rounds::new(3, Some(3)), Rounds { first: 3, max: 3 });
        assert_eq!(Rounds::new(4, Some(2)), Rounds { first: 4, max: 4 });
        assert_eq!(Rounds::default().max, DEFAULT_MAX_ROUNDS);
    }
}
