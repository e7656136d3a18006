//! Running a [`Plan`]: measure the head (or read `--results`), compare with
//! the stored baseline, settle timings paired (a paired run, or a confirmation
//! of what the stored comparison suspects), apply `Perf-Accepted` trailers,
//! and put the reviewer's warnings and the reproduce command in front.

use super::BaselinesFrom;
use super::plan::{Plan, TimingMode, describe_machine};
use crate::bench::paired::{self, Side};
use crate::commands::checkout::{self, Checkout, Role};
use crate::commands::{CheckOptions, Error, Global, MeasureOptions, compare_options, measure};
use crate::compare;
use crate::comparison::Comparison;
use crate::git::{Oid, short_id};
use crate::results::{Machine, Results};

/// Run the plan and return the comparison to report.
pub(super) fn execute(
    mut plan: Plan,
    global: &Global,
    options: &CheckOptions,
) -> Result<Comparison, Error> {
    let current = measure_head(&mut plan, options)?;
    if matches!(plan.timing, TimingMode::Stored { .. }) {
        timing_warnings(&mut plan.warnings, &plan.baseline.machine, &current.machine);
    }
    let mut comparison = compare_stored(&plan, &current);
    settle_timings(&plan, options, &mut comparison)?;
    if let Some(git) = &plan.git
        && let Some(commit) = git.merge_base
    {
        let acceptances = git.head_repo.accepted_trailers(commit)?;
        compare::accept::apply_acceptances(&mut comparison, &acceptances);
    }
    let mut warnings = std::mem::take(&mut plan.warnings);
    warnings.append(&mut comparison.warnings);
    comparison.warnings = warnings;
    comparison.base_ref = plan.git.as_ref().map(|git| git.base_ref.clone());
    comparison.reproduce = Some(reproduce(global, options, plan.merge_base()));
    Ok(comparison)
}

/// The head's results: read from `--results` (warning when it measured
/// another commit), or measured; in paired mode only the probes are measured
/// here, the timings come from the paired run.
fn measure_head(plan: &mut Plan, options: &CheckOptions) -> Result<Results, Error> {
    if let Some(path) = plan.results_file.clone() {
        let path = &path;
        let mut results = crate::commands::read_complete_results(path)?;
        apply_probe_settings(&mut results, plan, path);
        if let Some(git) = &plan.git
            && results.revision.commit.as_deref() != Some(git.head_commit.to_string().as_str())
        {
            plan.warnings.push(format!(
                "{} measured commit {}, but the commit being gated is {}",
                path.display(),
                results.revision.commit.as_deref().unwrap_or("(none)"),
                git.head_commit
            ));
        }
        return Ok(results);
    }
    let mut measure_options = options.measure.clone();
    measure_options.env.extend(plan.head_env.iter().cloned());
    match plan.timing {
        TimingMode::Paired { .. } => {
            let selection = crate::commands::Selection::new(&plan.loaded, &options.measure)?;
            let probes_selected = options.measure.probes
                && plan
                    .loaded
                    .config
                    .probe
                    .iter()
                    .any(|p| selection.contains(&p.name));
            if probes_selected {
                let probes_only = MeasureOptions {
                    benches: false,
                    ..measure_options
                };
                measure(&plan.loaded, &plan.head_dir, &probes_only, &plan.progress)
            } else {
                Ok(Results::new(
                    crate::revision::current(&plan.head_dir),
                    crate::machine::current(),
                ))
            }
        }
        TimingMode::Stored { .. } => {
            let (results, failures) = crate::commands::measure_allowing(
                &plan.loaded,
                &plan.head_dir,
                &measure_options,
                &plan.progress,
                &plan.may_fail,
            )?;
            plan.warnings.extend(failures);
            Ok(results)
        }
    }
}

/// A results file was measured elsewhere, with whatever settings that run
/// had: its probes are judged with the plan's `allow` and `max_queries` (the
/// merge-base's where the branch would loosen them), and a probe measured at
/// another endpoint than the plan's is called out first.
fn apply_probe_settings(results: &mut Results, plan: &mut Plan, path: &std::path::Path) {
    for (name, probe) in &mut results.probes {
        let Some(config) = plan.loaded.config.probe.iter().find(|p| &p.name == name) else {
            continue;
        };
        probe.allow = config.allow;
        probe.max_queries = config.max_queries;
        let endpoint = format!("{} {}", config.method.to_uppercase(), config.path);
        if probe.endpoint != endpoint {
            plan.warnings.push(format!(
                "{} measured probe {name:?} at `{}`, but the gate's settings probe `{endpoint}`: its counts do not measure what the gate checks; re-run it with the merge-base's perfguard.toml",
                path.display(),
                probe.endpoint
            ));
        }
    }
}

/// The stored comparison: everything in paired mode but the timings.
fn compare_stored(plan: &Plan, current: &Results) -> Comparison {
    let mut stored = plan.baseline.clone();
    if matches!(plan.timing, TimingMode::Paired { .. }) {
        stored.benches.clear();
    }
    let mut comparison = compare::compare(
        &stored,
        &plan.baseline_source,
        current,
        &compare_options(&plan.loaded),
    );
    if let Some(path) = &plan.results_file {
        comparison.current.source = path.display().to_string();
    }
    comparison
}

/// Paired timing, or a paired re-run of what the stored comparison suspects.
fn settle_timings(
    plan: &Plan,
    options: &CheckOptions,
    comparison: &mut Comparison,
) -> Result<(), Error> {
    let Some(git) = &plan.git else {
        return Ok(());
    };
    let suspected = compare::confirm::suspected(comparison);
    let (paired_mode, confirm) = match plan.timing {
        TimingMode::Paired { .. } => (true, false),
        TimingMode::Stored { confirm } => (false, confirm && !suspected.is_empty()),
    };
    let (Some(commit), Some(label)) = (git.merge_base, &git.base_label) else {
        return Ok(());
    };
    if !(paired_mode || confirm) {
        if !suspected.is_empty() && options.gate.confirm && plan.results_file.is_some() {
            plan.progress.status(
                "note: apparent slowdowns in a --results file are not re-run paired (it was measured elsewhere)",
            );
        }
        return Ok(());
    }
    let base_checkout = checkout::in_worktree(&git.repo, &plan.loaded, commit, Role::Base)?;
    let base = side(&base_checkout, label);
    let head = Side {
        label: plan.head_description.clone(),
        commit: short_id(&git.head_commit.to_string()).to_string(),
        dir: &plan.head_dir,
        env: &plan.head_env,
    };
    if !paired_mode {
        plan.progress.status(&format!(
            "{} benchmark(s) look slower than the stored baseline; re-running them paired against the {label} to decide",
            suspected.values().map(Vec::len).sum::<usize>()
        ));
    }
    let compare_options = compare_options(&plan.loaded);
    let rounds = paired::Rounds::new(options.gate.rounds, options.gate.max_rounds);
    let only = (!paired_mode).then_some(&suspected);
    let runs = paired::measure(
        &plan.suites,
        only,
        &base,
        &head,
        rounds,
        |runs| compare::paired::unsettled(runs, &compare_options),
        &plan.progress,
    )?;
    let measured = compare::paired::entries(&runs, &compare_options, label);
    if paired_mode {
        comparison.update_entries(|entries| entries.extend(measured));
    } else {
        compare::confirm::apply_confirmation(comparison, &suspected, &measured);
    }
    Ok(())
}

/// Warnings about comparing stored timings across machines or compilers.
fn timing_warnings(warnings: &mut Vec<String>, baseline: &Machine, current: &Machine) {
    if !baseline.same_kind(current) {
        warnings.push(format!(
            "the baselines were recorded on another kind of machine ({}) than these results ({}); timing verdicts may be false alarms: use `perfguard check --paired`, or re-record the baselines on this kind of machine",
            describe_machine(baseline),
            describe_machine(current)
        ));
    }
    if baseline.rustc != current.rustc {
        warnings.push(format!(
            "the baselines were recorded with {} and these results with {}; a compiler change alone can move timings: re-record the baselines, or use `perfguard check --paired`",
            baseline.rustc, current.rustc
        ));
    }
}

fn side<'a>(checkout: &'a Checkout, label: &str) -> Side<'a> {
    Side {
        label: label.to_string(),
        commit: short_id(&checkout.commit.to_string()).to_string(),
        dir: &checkout.project_dir,
        env: &checkout.env,
    }
}

/// The command that reproduces this check: every option given, with the
/// merge-base pinned to its commit id so it still holds after the base moves.
pub(super) fn reproduce(
    global: &Global,
    options: &CheckOptions,
    merge_base: Option<Oid>,
) -> String {
    let gate = &options.gate;
    let measure = &options.measure;
    let mut words = vec![
        "perfguard".to_string(),
        "check".to_string(),
        "--config".to_string(),
        global.config.display().to_string(),
    ];
    let mut flag = |name: &str, value: Option<String>| {
        words.push(name.to_string());
        words.extend(value);
    };
    if let Some(commit) = merge_base {
        flag("--against", Some(commit.to_string()));
    }
    if gate.baselines_from == Some(BaselinesFrom::Worktree) {
        flag("--baselines-from", Some("worktree".into()));
    }
    if let Some(rev) = &gate.rev {
        flag("--rev", Some(rev.clone()));
    }
    if let Some(path) = &gate.results {
        flag("--results", Some(path.display().to_string()));
    }
    if gate.paired {
        flag("--paired", None);
    }
    if gate.rounds != paired::DEFAULT_ROUNDS {
        flag("--rounds", Some(gate.rounds.to_string()));
    }
    if let Some(max) = gate.max_rounds {
        flag("--max-rounds", Some(max.to_string()));
    }
    if !gate.confirm {
        flag("--no-confirm", None);
    }
    if measure.runs != 1 {
        flag("--runs", Some(measure.runs.to_string()));
    }
    if let Some(only) = &measure.only {
        flag("--only", Some(only.clone()));
    }
    if let Some((index, count)) = measure.shard {
        flag("--shard", Some(format!("{index}/{count}")));
    }
    if !measure.benches {
        flag("--no-benches", None);
    }
    if !measure.probes {
        flag("--no-probes", None);
    }
    shell_words::join(&words)
}
