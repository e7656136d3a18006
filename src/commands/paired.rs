//! Paired runs: the merge-base and the head measured alternately in one job,
//! so the machine's drift (other jobs, thermal state, a noisy neighbour on a
//! shared runner) hits both sides alike and cancels in their ratio.
//!
//! Both sides are built first (`cargo bench --no-run`, or one warm-up run for
//! other commands), then every round runs each suite once per side, base and
//! head back to back. The side that goes first alternates from round to round
//! (A B, B A, A B, ...), so a steady drift or a first-run advantage does not
//! favour one side. Each round gives one log ratio per benchmark,
//! `ln(head location / base location)`, and [`stats::compare_paired`] tests
//! their mean; Holm's method controls false alarms across benchmarks.
//!
//! The same machinery settles what a check against stored baselines suspects
//! (its regressions, and benchmarks that look slower at the unadjusted level):
//! only those are re-run (through a criterion filter), and the paired verdict
//! decides.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::bench::{self, BenchError};
use crate::compare::{CompareOptions, timing_verdict, typical_ns};
use crate::comparison::{BenchChange, Comparison, Entry, EntryKind, TimingMode, Verdict};
use crate::config::BenchSuite;
use crate::progress::Progress;
use crate::results::{BenchResult, BenchRun};
use crate::stats;

/// Rounds when `--rounds` is not given: five pairs per benchmark, which with
/// the noise prior resolves a 5% change on a typical CI runner, for the cost of
/// ten runs of each suite.
pub const DEFAULT_ROUNDS: u32 = 5;

/// How many rounds a paired run makes: `first` for every benchmark, then up to
/// `max` for the benchmarks the first rounds leave unsettled
/// ([`stats::needs_more_rounds`]): not regressed, with an interval that still
/// reaches the threshold. Only those are re-run (through criterion's
/// filter), so a clear suite costs `first` rounds and a noisy benchmark gets
/// the evidence it needs. The verdict is decided at two looks only (after
/// `first` and after `max` rounds), which keeps the extra false alarms of
/// looking twice small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounds {
    pub first: u32,
    pub max: u32,
}

impl Rounds {
    /// `--rounds N` alone: up to twice as many for unsettled benchmarks.
    pub fn new(first: u32, max: Option<u32>) -> Rounds {
        Rounds {
            first,
            max: max.unwrap_or(first.saturating_mul(2)),
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

/// The runs of a paired measurement, round by round.
#[derive(Debug, Default)]
pub struct PairedRuns {
    /// `(base, head)` runs of every benchmark, one pair of maps per round.
    pub rounds: Vec<(BTreeMap<String, BenchRun>, BTreeMap<String, BenchRun>)>,
    /// The suite of each benchmark id.
    pub suites: BTreeMap<String, String>,
}

fn is_cargo(words: &[String]) -> bool {
    words
        .first()
        .is_some_and(|w| Path::new(w).file_name().is_some_and(|n| n == "cargo"))
}

/// `suite` restricted to the benchmarks `ids` through criterion's filter
/// argument (a regex matched against the full id, anchored here).
pub fn filtered_suite(suite: &BenchSuite, ids: &[String]) -> BenchSuite {
    let alternatives: Vec<String> = ids.iter().map(|id| regex_escape(id)).collect();
    let filter = format!("^(?:{})$", alternatives.join("|"));
    let words = shell_words::split(&suite.command).unwrap_or_default();
    let separator = if is_cargo(&words) && !words.iter().any(|w| w == "--") {
        " --"
    } else {
        ""
    };
    BenchSuite {
        command: format!(
            "{}{separator} {}",
            suite.command,
            shell_words::quote(&filter)
        ),
        ..suite.clone()
    }
}

/// Escape regex metacharacters so an id matches itself only.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Build a suite on one side without measuring: `cargo bench --no-run` for
/// cargo commands, one discarded warm-up run otherwise.
fn build(suite: &BenchSuite, side: &Side, progress: &Progress) -> Result<(), Box<PairedError>> {
    let words = shell_words::split(&suite.command).unwrap_or_default();
    if !(is_cargo(&words) && words.iter().any(|w| w == "bench")) {
        progress.status(&format!(
            "warm-up run of [{}] at {}",
            suite.name, side.label
        ));
        bench::run_suite(suite, side.dir, side.env, progress).map_err(|source| {
            Box::new(PairedError::Measure {
                side: side.label.clone(),
                commit: side.commit.clone(),
                source,
            })
        })?;
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
    let tail = build_error_tail(&text);
    Err(Box::new(PairedError::Build {
        side: side.label.clone(),
        commit: side.commit.clone(),
        command: command_text,
        status: output.status.code().map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit code {c}"),
        ),
        dir: side.dir.to_path_buf(),
        tail,
    }))
}

/// The part of a failed build's output a user needs: its `error` lines (a
/// compiler error can scroll away behind cargo's notes), then the last lines,
/// each cut short (cargo quotes whole rustc command lines).
fn build_error_tail(output: &str) -> String {
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

/// Build both sides, run every suite alternately for `rounds.first` rounds,
/// then the unsettled benchmarks (see [`Rounds`]) up to `rounds.max`. With
/// `only`, just those benchmarks of each suite (by suite name) are measured,
/// as when confirming stored-mode regressions.
pub fn measure(
    suites: &[BenchSuite],
    only: Option<&BTreeMap<String, Vec<String>>>,
    base: &Side,
    head: &Side,
    rounds: Rounds,
    options: &CompareOptions,
    progress: &Progress,
) -> Result<PairedRuns, Box<PairedError>> {
    let first: Vec<BenchSuite> = match only {
        None => suites.to_vec(),
        Some(only) => suites
            .iter()
            .filter_map(|s| only.get(&s.name).map(|ids| filtered_suite(s, ids)))
            .collect(),
    };
    for suite in &first {
        build(suite, base, progress)?;
        build(suite, head, progress)?;
    }
    let mut paired = PairedRuns::default();
    run_rounds(
        &first,
        base,
        head,
        0..rounds.first,
        rounds.max,
        &mut paired,
        progress,
    )?;
    if rounds.max <= rounds.first {
        return Ok(paired);
    }
    let unsettled = unsettled(&paired, options);
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
        base,
        head,
        rounds.first..rounds.max,
        rounds.max,
        &mut paired,
        progress,
    )?;
    Ok(paired)
}

/// The benchmarks more rounds could still decide, by suite.
fn unsettled(runs: &PairedRuns, options: &CompareOptions) -> BTreeMap<String, Vec<String>> {
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for measured in changes(runs, options) {
        let threshold = options.threshold(&measured.suite);
        if stats::needs_more_rounds(
            &measured.change,
            measured.p_adjusted,
            threshold,
            options.alpha,
        ) {
            by_suite
                .entry(measured.suite)
                .or_default()
                .push(measured.id);
        }
    }
    by_suite
}

/// Run `suites` at both sides for the rounds `numbers` of `total`, appending
/// them to `paired`. The side that goes first alternates with the round number.
fn run_rounds(
    suites: &[BenchSuite],
    base: &Side,
    head: &Side,
    numbers: std::ops::Range<u32>,
    total: u32,
    paired: &mut PairedRuns,
    progress: &Progress,
) -> Result<(), Box<PairedError>> {
    for round in numbers {
        let mut base_runs = BTreeMap::new();
        let mut head_runs = BTreeMap::new();
        for suite in suites {
            let base_first = round % 2 == 0;
            for is_base in [base_first, !base_first] {
                let side = if is_base { base } else { head };
                progress.status(&format!(
                    "paired round {} of up to {total}: [{}] at {}",
                    round + 1,
                    suite.name,
                    side.label
                ));
                let runs =
                    bench::run_suite(suite, side.dir, side.env, progress).map_err(|source| {
                        PairedError::Measure {
                            side: side.label.clone(),
                            commit: side.commit.clone(),
                            source,
                        }
                    })?;
                for (id, run) in runs {
                    paired.suites.insert(id.clone(), suite.name.clone());
                    if is_base {
                        base_runs.insert(id, run);
                    } else {
                        head_runs.insert(id, run);
                    }
                }
            }
        }
        paired.rounds.push((base_runs, head_runs));
    }
    Ok(())
}

/// One benchmark measured at both sides, and its change.
struct Measured {
    id: String,
    suite: String,
    base: BenchResult,
    head: BenchResult,
    change: stats::Change,
    p_adjusted: f64,
    /// Rounds left out because a run in them was disturbed.
    disturbed: usize,
}

/// Per benchmark measured at both sides: the mean of its per-round log
/// ratios, with p-values Holm-adjusted across those benchmarks.
fn changes(runs: &PairedRuns, options: &CompareOptions) -> Vec<Measured> {
    let mut measured = Vec::new();
    for (id, suite) in &runs.suites {
        let pairs: Vec<(&BenchRun, &BenchRun)> = runs
            .rounds
            .iter()
            .filter_map(|(base, head)| Some((base.get(id)?, head.get(id)?)))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let all_rounds: Vec<stats::PairedRound> = pairs
            .iter()
            .map(|(base, head)| stats::PairedRound {
                base: stats::summarize_run(&base.per_iteration_ns).log_location,
                head: stats::summarize_run(&head.per_iteration_ns).log_location,
            })
            .collect();
        let all_ratios: Vec<f64> = all_rounds.iter().map(|r| r.log_ratio()).collect();
        let keep = stats::undisturbed_rounds(&all_ratios);
        let kept_rounds: Vec<stats::PairedRound> = all_rounds
            .iter()
            .zip(&keep)
            .filter_map(|(round, keep)| keep.then_some(*round))
            .collect();
        let change = stats::compare_paired(&kept_rounds, options.noise, options.confidence);
        let as_result = |side: Vec<BenchRun>| BenchResult {
            suite: suite.clone(),
            runs: side,
        };
        measured.push(Measured {
            id: id.clone(),
            suite: suite.clone(),
            base: as_result(pairs.iter().map(|(b, _)| (*b).clone()).collect()),
            head: as_result(pairs.iter().map(|(_, h)| (*h).clone()).collect()),
            change,
            p_adjusted: f64::NAN,
            disturbed: keep.iter().filter(|k| !**k).count(),
        });
    }
    let adjusted = stats::holm_adjust(
        &measured
            .iter()
            .map(|m| m.change.p_value)
            .collect::<Vec<_>>(),
    );
    for (m, p) in measured.iter_mut().zip(adjusted) {
        m.p_adjusted = p;
    }
    measured
}

/// Bench entries (mode `paired`) from paired runs: per benchmark the mean of
/// its per-round log ratios, Holm-adjusted across the benchmarks measured.
pub fn entries(runs: &PairedRuns, options: &CompareOptions, base_label: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (id, suite) in &runs.suites {
        let at_base = runs.rounds.iter().any(|(base, _)| base.contains_key(id));
        let at_head = runs.rounds.iter().any(|(_, head)| head.contains_key(id));
        if at_base && at_head {
            continue;
        }
        let (verdict, rule) = if at_base {
            (
                Verdict::Missing,
                format!("measured at the {base_label} but not at head (renamed or removed?)"),
            )
        } else {
            (
                Verdict::New,
                format!("measured at head but not at the {base_label}; nothing to pair it with"),
            )
        };
        entries.push(Entry {
            id: id.clone(),
            kind: EntryKind::Bench,
            suite: suite.clone(),
            verdict,
            rule,
            bench: None,
            probe: None,
            accepted: None,
        });
    }
    for measured in changes(runs, options) {
        let Measured {
            id,
            suite,
            base,
            head,
            change,
            p_adjusted,
            disturbed,
        } = measured;
        let threshold = options.threshold(&suite);
        let (verdict, rule) = timing_verdict(
            &change,
            p_adjusted,
            threshold,
            options.alpha,
            "raise --max-rounds",
        );
        let rounds = base.runs.len();
        let dropped = match disturbed {
            0 => String::new(),
            1 => " (1 left out as disturbed: its ratio was far from the others)".to_string(),
            n => format!(" ({n} left out as disturbed: their ratios were far from the others)"),
        };
        entries.push(Entry {
            id,
            kind: EntryKind::Bench,
            suite,
            verdict,
            rule: format!("paired against the {base_label} over {rounds} rounds{dropped}: {rule}"),
            bench: Some(BenchChange {
                mode: TimingMode::Paired,
                baseline_ns: typical_ns(&base),
                current_ns: typical_ns(&head),
                ratio: change.ratio,
                ratio_low: change.ratio_low,
                ratio_high: change.ratio_high,
                confidence: options.confidence,
                p_value: change.p_value,
                p_adjusted,
                threshold,
                baseline_runs: rounds,
                current_runs: rounds,
                baseline_samples_ns: base.runs[0].per_iteration_ns.clone(),
                current_samples_ns: head.runs[0].per_iteration_ns.clone(),
                confirmed: None,
            }),
            probe: None,
            accepted: None,
        });
    }
    entries
}

/// The benchmarks of a stored-mode comparison to re-run paired, by suite: its
/// regressions, and every benchmark that looks slower with an unadjusted
/// p-value below the comparison's alpha while its interval reaches the threshold. A single
/// run against stored runs has a wide interval (the machine's run-to-run noise
/// is in it twice), so a real +5% or +10% slowdown often misses the
/// Holm-adjusted bar; screening at the unadjusted level sends it to the paired
/// re-run, which is fresh data and decides with its own Holm adjustment. An
/// unchanged suite screens about `alpha` of its benchmarks, so the re-run
/// stays short.
pub fn suspected(comparison: &Comparison) -> BTreeMap<String, Vec<String>> {
    let mut by_suite: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in &comparison.entries {
        let Some(bench) = entry.bench.as_ref() else {
            continue;
        };
        if entry.kind != EntryKind::Bench || bench.mode != TimingMode::Stored {
            continue;
        }
        let screened = bench.p_value < comparison.alpha
            && bench.ratio > 1.0
            && bench.ratio_high >= 1.0 + bench.threshold;
        if entry.verdict == Verdict::Regressed || screened {
            by_suite
                .entry(entry.suite.clone())
                .or_default()
                .push(entry.id.clone());
        }
    }
    by_suite
}

/// Settle the `suspected` benchmarks of `comparison` with a paired re-run:
/// the paired verdict decides. A regression in both passes stays `regressed`
/// (`confirmed: true`), as does a screened benchmark the re-run shows
/// regressed; the others become `unchanged` or `inconclusive`
/// (`confirmed: false`), saying why.
pub fn apply_confirmation(
    comparison: &mut Comparison,
    suspected: &BTreeMap<String, Vec<String>>,
    rerun: &[Entry],
) {
    let suspected: BTreeSet<&String> = suspected.values().flatten().collect();
    for entry in &mut comparison.entries {
        if !suspected.contains(&entry.id) {
            continue;
        }
        let paired = rerun.iter().find(|p| p.id == entry.id);
        let was_regressed = entry.verdict == Verdict::Regressed;
        let Some(bench) = entry.bench.as_mut() else {
            continue;
        };
        match paired.map(|p| (p.verdict, &p.rule)) {
            Some((Verdict::Regressed, rule)) => {
                bench.confirmed = Some(true);
                entry.rule = if was_regressed {
                    format!("{}; confirmed by a paired re-run: {rule}", entry.rule)
                } else {
                    entry.verdict = Verdict::Regressed;
                    format!(
                        "slower than the stored baseline ({}), so re-run paired, which shows the regression: {rule}",
                        entry.rule
                    )
                };
            }
            Some((
                verdict @ (Verdict::Unchanged | Verdict::Improved | Verdict::Inconclusive),
                rule,
            )) => {
                bench.confirmed = Some(false);
                entry.verdict = if verdict == Verdict::Inconclusive {
                    Verdict::Inconclusive
                } else {
                    Verdict::Unchanged
                };
                entry.rule = format!(
                    "dismissed as noise by a paired re-run: {rule}; against the stored baseline it looked {}",
                    entry.rule
                );
            }
            _ if was_regressed => {
                entry.rule = format!(
                    "{}; a paired re-run could not measure it at both revisions, so this verdict stands",
                    entry.rule
                );
            }
            _ => {}
        }
    }
    comparison.finish();
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
    }

    fn run(ns: f64) -> BenchRun {
        BenchRun {
            per_iteration_ns: (0..20)
                .map(|i| ns * (1.0 + 0.001 * f64::from(i % 5)))
                .collect(),
        }
    }

    fn runs(base_ns: f64, head_ns: f64, rounds: usize) -> PairedRuns {
        let mut paired = PairedRuns::default();
        paired.suites.insert("a".into(), "core".into());
        for _ in 0..rounds {
            paired.rounds.push((
                [("a".to_string(), run(base_ns))].into(),
                [("a".to_string(), run(head_ns))].into(),
            ));
        }
        paired
    }

    #[test]
    fn only_an_unconfirmed_slowdown_gets_more_rounds() {
        let options = CompareOptions::default();
        let mut paired = PairedRuns::default();
        // Per round: "clear" is 30% slower, "same" equal, "noisy" +4% on
        // average but swinging by 10% from round to round.
        let swings = [1.14, 0.94, 1.12, 0.96, 1.04];
        for swing in swings {
            let mut base = BTreeMap::new();
            let mut head = BTreeMap::new();
            for (id, factor) in [("clear", 1.3), ("same", 1.0), ("noisy", swing)] {
                paired.suites.insert(id.into(), "core".into());
                base.insert(id.to_string(), run(100.0));
                head.insert(id.to_string(), run(100.0 * factor));
            }
            paired.rounds.push((base, head));
        }
        let unsettled = unsettled(&paired, &options);
        assert_eq!(
            unsettled,
            BTreeMap::from([("core".to_string(), vec!["noisy".to_string()])])
        );
        let verdicts: BTreeMap<String, Verdict> = entries(&paired, &options, "merge-base")
            .into_iter()
            .map(|e| (e.id, e.verdict))
            .collect();
        assert_eq!(verdicts["clear"], Verdict::Regressed);
        assert_eq!(verdicts["same"], Verdict::Unchanged);
        assert_eq!(verdicts["noisy"], Verdict::Unchanged);
    }

    #[test]
    fn stored_suspects_include_screened_slowdowns_and_the_paired_rerun_decides() {
        let mut comparison: Comparison =
            serde_json::from_str(include_str!("../../fixtures/comparisons/mixed.json")).unwrap();
        let suspected = suspected(&comparison);
        let ids: BTreeSet<&str> = suspected.values().flatten().map(String::as_str).collect();
        // Regressed; and slower at p < alpha with an interval reaching the
        // threshold. Not core/steady: +1% [.., +4%] cannot be a 5% slowdown.
        assert_eq!(
            ids,
            BTreeSet::from(["core/parse", "core/serialize", "core/noisy"])
        );
        let paired = |id: &str, verdict: Verdict| {
            let mut entry = comparison
                .entries
                .iter()
                .find(|e| e.id == id)
                .unwrap()
                .clone();
            entry.verdict = verdict;
            entry.rule = format!("paired: {verdict:?}");
            entry
        };
        let rerun = vec![
            paired("core/noisy", Verdict::Regressed),
            paired("core/parse", Verdict::Unchanged),
        ];
        apply_confirmation(&mut comparison, &suspected, &rerun);
        let noisy = comparison
            .entries
            .iter()
            .find(|e| e.id == "core/noisy")
            .unwrap();
        assert_eq!(noisy.verdict, Verdict::Regressed);
        assert_eq!(noisy.bench.as_ref().unwrap().confirmed, Some(true));
        assert!(
            noisy.rule.contains("which shows the regression"),
            "{}",
            noisy.rule
        );
        let parse = comparison
            .entries
            .iter()
            .find(|e| e.id == "core/parse")
            .unwrap();
        assert_eq!(parse.verdict, Verdict::Unchanged);
        assert_eq!(parse.bench.as_ref().unwrap().confirmed, Some(false));
        assert!(
            parse.rule.starts_with("dismissed as noise"),
            "{}",
            parse.rule
        );
    }

    #[test]
    fn rounds_default_to_twice_the_first_pass() {
        assert_eq!(Rounds::new(5, None), Rounds { first: 5, max: 10 });
        assert_eq!(Rounds::new(3, Some(3)), Rounds { first: 3, max: 3 });
        assert_eq!(Rounds::default().max, 2 * DEFAULT_ROUNDS);
    }

    #[test]
    fn doubled_work_is_a_paired_regression_and_equal_work_is_not() {
        let options = CompareOptions::default();
        let doubled = entries(&runs(100.0, 200.0, 3), &options, "merge-base");
        assert_eq!(doubled[0].verdict, Verdict::Regressed);
        assert_eq!(doubled[0].bench.as_ref().unwrap().mode, TimingMode::Paired);
        let same = entries(&runs(100.0, 100.0, 3), &options, "merge-base");
        assert_eq!(same[0].verdict, Verdict::Unchanged);
    }
}
