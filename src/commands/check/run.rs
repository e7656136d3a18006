//! Running a [`Plan`]: measure the head (or read `--results`), compare with
//! the stored baseline, settle timings paired (a paired run, or a confirmation
//! of what the stored comparison suspects), apply `Perf-Accepted` trailers,
//! and put the reviewer's warnings and the reproduce command in front.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use super::BaselinesFrom;
use super::one_folder::OneFolder;
use super::plan::{GitPlan, Plan, TimingMode, describe_machine};
use crate::bench::build::{CargoBench, build_executables, same_contents};
use crate::bench::direct::{CriterionArgs, Runnable, ShortRun};
use crate::bench::paired::{self, Pair, Side};
use crate::commands::checkout::{self, Checkout, Role};
use crate::commands::{CheckOptions, Error, Global, MeasureOptions, compare_options, measure};
use crate::compare;
use crate::compare::paired::Sequential;
use crate::comparison::Comparison;
use crate::comparison::Entry;
use crate::git::{Oid, short_id};
use crate::load::Which;
use crate::results::{Machine, Measure, Results};

/// Run the plan and return the comparison to report.
pub(super) fn execute(
    mut plan: Plan,
    global: &Global,
    options: &CheckOptions,
) -> Result<Comparison, Error> {
    let budget = options
        .gate
        .budget
        .or(plan.loaded.config.gate.budget.map(|b| b.0));
    let deadline = budget.map(|budget| plan.started + budget);
    let current = measure_head(&mut plan, options)?;
    let measured = |measure| current.benches.values().any(|b| b.measure == measure);
    if matches!(plan.timing, TimingMode::Stored { .. }) && measured(Measure::Time) {
        timing_warnings(&mut plan.warnings, &plan.baseline.machine, &current.machine);
    }
    if measured(Measure::Instructions) && plan.baseline.machine.rustc != current.machine.rustc {
        plan.warnings.push(format!(
            "the baselines were recorded with {} and these counts with {}: a compiler change alone changes instruction counts; re-record the baselines",
            plan.baseline.machine.rustc, current.machine.rustc
        ));
    }
    let mut comparison = compare_stored(&plan, &current);
    settle_timings(&plan, options, &mut comparison, deadline)?;
    settle_loads(&plan, options, &mut comparison, deadline)?;
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
            let counted_selected = options.measure.benches
                && plan.loaded.config.bench.iter().any(|s| {
                    selection.contains(&s.name)
                        && options.measure.measure_of(s) == Measure::Instructions
                });
            if probes_selected || counted_selected {
                // The probes, and the suites counted by instructions: those
                // are compared with the stored baseline in either mode.
                let untimed = MeasureOptions {
                    skip_timed: true,
                    ..measure_options
                };
                measure(&plan.loaded, &plan.head_dir, &untimed, &plan.progress)
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
        // Timings come from the paired run; counts from the stored baseline.
        let counted: std::collections::BTreeSet<&str> = current
            .benches
            .values()
            .filter(|b| b.measure == Measure::Instructions)
            .map(|b| b.suite.as_str())
            .collect();
        stored
            .benches
            .retain(|_, b| counted.contains(b.suite.as_str()));
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
    deadline: Option<Instant>,
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
                "note: apparent changes in a --results file are not re-run paired (it was measured elsewhere)",
            );
        }
        return Ok(());
    }
    let suspects = suspected.values().map(Vec::len).sum::<usize>();
    if !paired_mode && same_source(git, commit)? {
        // Nothing changed since the merge-base: what the stored comparison
        // saw is the machine. Building the base only to find identical
        // executables cost a fresh clone of this repository minutes.
        plan.progress.status(&format!(
            "{suspects} benchmark(s) look changed against the stored baseline, but the head's tree is the {label}'s: nothing to re-run, the apparent changes are the machine's"
        ));
        let measured: Vec<Entry> = suspected
            .iter()
            .flat_map(|(suite, ids)| {
                ids.iter()
                    .map(|id| compare::paired::same_source_bench(id, suite, label))
            })
            .collect();
        compare::confirm::apply_confirmation(comparison, &suspected, &measured);
        return Ok(());
    }
    if !paired_mode {
        plan.progress.status(&format!(
            "{suspects} benchmark(s) look changed against the stored baseline; re-running them paired against the {label} to decide"
        ));
    }
    let compare_options = compare_options(&plan.loaded);
    let rounds_from = |default| {
        paired::Rounds::new(
            options.gate.rounds.unwrap_or(default),
            options.gate.max_rounds,
        )
    };
    let only = (!paired_mode).then_some(&suspected);
    let direct = plan
        .suites
        .iter()
        .map(|suite| CargoBench::parse(&suite.command))
        .collect::<Option<Vec<_>>>();
    let measured = match direct {
        Some(cargo) => {
            let settled = measure_direct(
                plan,
                git,
                commit,
                label,
                &cargo,
                only,
                rounds_from(paired::DEFAULT_DIRECT_ROUNDS),
                deadline,
                &compare_options,
            )?;
            match settled.noise {
                Noise::TooNoisy(error) => return Err(error),
                Noise::Warn(warning) => comparison.warnings.push(warning),
                Noise::Quiet => {}
            }
            if settled.budget_ran_out {
                comparison.warnings.push(format!(
                    "the time budget ran out before every benchmark was settled: {} left `inconclusive`; a longer --budget (or [gate].budget) would settle them",
                    settled.left_open
                ));
            }
            settled.entries
        }
        None => {
            // Both sides from one folder, each built in place before its
            // first run (see `one_folder`).
            let mut folder = OneFolder::make(
                git,
                &plan.loaded,
                commit,
                [label.to_string(), plan.head_description.clone()],
                Role::SuiteBuild,
                None,
                &plan.progress,
            )?;
            let dir = folder.project_dir().to_path_buf();
            let env = folder.env().to_vec();
            let base = Side {
                label: label.to_string(),
                commit: short_id(&commit.to_string()).to_string(),
                dir: &dir,
                env: &env,
            };
            let head = Side {
                dir: &dir,
                env: &env,
                ..head_side(plan, git)
            };
            let runs = paired::measure(
                &plan.suites,
                only,
                [&base, &head],
                &mut |which| folder.enter_side(which).map_err(|e| e.to_string()),
                rounds_from(paired::DEFAULT_ROUNDS),
                |runs| compare::paired::unsettled(runs, &compare_options),
                &plan.progress,
            )?;
            compare::paired::entries(&runs, &compare_options, label, None)
        }
    };
    if paired_mode {
        comparison.update_entries(|entries| entries.extend(measured));
    } else {
        compare::confirm::apply_confirmation(comparison, &suspected, &measured);
    }
    Ok(())
}

/// The load probes: the merge-base's build of the app against the head's,
/// started alternately, round after round (see [`crate::load`]).
fn settle_loads(
    plan: &Plan,
    options: &CheckOptions,
    comparison: &mut Comparison,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let loads = crate::commands::selected_loads(&plan.loaded, &options.measure)?;
    if loads.is_empty() {
        return Ok(());
    }
    if plan.results_file.is_some() {
        comparison.warnings.push(format!(
            "{} load probe(s) were not measured: they compare the merge-base's build of the app with this one's in the check itself, and --results holds measurements made elsewhere",
            loads.len()
        ));
        return Ok(());
    }
    let (Some(git), Some(commit), Some(label)) = (
        plan.git.as_ref(),
        plan.git.as_ref().and_then(|g| g.merge_base),
        plan.git.as_ref().and_then(|g| g.base_label.clone()),
    ) else {
        return Err(loads_without_a_base(loads.len()));
    };
    let app = plan
        .loaded
        .config
        .app
        .as_ref()
        .ok_or(crate::probe::ProbeError::NoApp)?;
    let labels = [label.clone(), plan.head_description.clone()];
    let build_app = |checkout: &Checkout, which: Which| -> Result<(), Error> {
        plan.progress.status(&format!(
            "building the application at the {}",
            labels[which as usize]
        ));
        Ok(crate::probe::app::build(
            app,
            &checkout.project_dir,
            &checkout.env,
        )?)
    };
    let mut builds = OneFolder::make(
        git,
        &plan.loaded,
        commit,
        labels.clone(),
        Role::LoadBuild,
        Some(&build_app),
        &plan.progress,
    )?;
    let compare_options = compare_options(&plan.loaded);
    let rounds = paired::Rounds::new(
        options.gate.rounds.unwrap_or(paired::DEFAULT_ROUNDS),
        options.gate.max_rounds,
    );
    let design = crate::load::Design {
        first: rounds.first,
        max: rounds.max,
        alpha: compare_options.alpha,
        confidence: compare_options.confidence,
    };
    let measured = crate::load::measure_paired(
        &plan.loaded,
        &loads,
        &mut builds,
        design,
        deadline,
        &plan.progress,
    )?;
    if let Some((name, kinds)) = compare::load::failing_everywhere(&measured.loads)
        .into_iter()
        .next()
    {
        return Err(Error::LoadFailing { name, kinds });
    }
    let entries = compare::load::entries(
        &measured.loads,
        &measured.levels,
        compare_options.alpha,
        compare_options.confidence,
        &label,
    );
    let distrusted = compare::load::too_noisy(
        &measured.loads,
        &entries,
        rounds.max,
        compare_options.confidence,
    );
    if !distrusted.is_empty() {
        let threshold = measured.loads.first().map_or(0.05, |l| l.threshold);
        return Err(Error::TooNoisy {
            threshold: format!("{:.0}%", threshold * 100.0),
            evidence: distrusted.join("; "),
        });
    }
    if !measured.out_of_budget.is_empty() {
        comparison.warnings.push(format!(
            "the time budget ran out before every load probe was settled: {} decided on the rounds it had; a longer --budget (or [gate].budget) would settle them",
            measured.out_of_budget.join(", ")
        ));
    }
    comparison.update_entries(|all| all.extend(entries));
    Ok(())
}

/// The error of a check with `count` load probes and no base build to compare with.
pub(super) fn loads_without_a_base(count: usize) -> Error {
    Error::Usage(format!(
        "{count} load probe(s) compare the merge-base's build of the app with this one's, and this check has no merge-base: run it in a git repository where `[gate].base_ref` exists (or --against REF), or leave them out with --no-probes or --only"
    ))
}

fn head_side<'a>(plan: &'a Plan, git: &GitPlan) -> Side<'a> {
    Side {
        label: plan.head_description.clone(),
        commit: short_id(&git.head_commit.to_string()).to_string(),
        dir: &plan.head_dir,
        env: &plan.head_env,
    }
}

/// What a direct paired measurement settled.
struct Settled {
    entries: Vec<crate::comparison::Entry>,
    budget_ran_out: bool,
    left_open: usize,
    noise: Noise,
}

/// Paired timing of `cargo bench` suites, built once per side from one folder:
/// a temporary worktree of the merge-base builds the base's bench executables
/// (copied aside), is switched to the head (its commit, plus the working
/// tree's uncommitted changes) and builds the head's. Unchanged code thus
/// gives byte-identical executables, whose benchmarks are `unchanged`
/// without running; when the head's tree is the base's, one build serves both.
/// The rest run directly, benchmark by benchmark, under a [`Sequential`] design.
#[allow(clippy::too_many_arguments)]
fn measure_direct(
    plan: &Plan,
    git: &GitPlan,
    commit: crate::git::Oid,
    label: &str,
    cargo: &[CargoBench],
    only: Option<&BTreeMap<String, Vec<String>>>,
    rounds: paired::Rounds,
    deadline: Option<Instant>,
    compare_options: &compare::CompareOptions,
) -> Result<Settled, Error> {
    let mut build = checkout::in_worktree(&git.repo, &plan.loaded, commit, Role::PairedBuild)?;
    let store = tempfile::Builder::new()
        .prefix("perfguard-executables-")
        .tempdir()
        .map_err(crate::bench::BenchError::TempDir)?;
    let base_side = side(&build, label);
    let mut built_base = Vec::new();
    for (suite, cargo) in plan.suites.iter().zip(cargo) {
        plan.progress
            .status(&format!("building [{}] at the {label}", suite.name));
        built_base.push(build_executables(
            &suite.name,
            cargo,
            &suite.env,
            &base_side,
            &store.path().join("base").join(&suite.name),
        )?);
    }
    let dirty = git.head_repo.revision()?.dirty;
    let same_tree = !dirty && same_tree(git, commit)?;
    let built_head = if same_tree {
        plan.progress.status(&format!(
            "the head's tree is the {label}'s: one build serves both sides"
        ));
        built_base.clone()
    } else {
        build.switch_to(git.head_commit, dirty.then_some(&git.head_repo))?;
        let head_build_side = Side {
            label: plan.head_description.clone(),
            commit: short_id(&git.head_commit.to_string()).to_string(),
            dir: &build.project_dir,
            env: &build.env,
        };
        let mut built = Vec::new();
        for (suite, cargo) in plan.suites.iter().zip(cargo) {
            plan.progress.status(&format!(
                "building [{}] at {}",
                suite.name, plan.head_description
            ));
            built.push(build_executables(
                &suite.name,
                cargo,
                &suite.env,
                &head_build_side,
                &store.path().join("head").join(&suite.name),
            )?);
        }
        built
    };
    // The base's files, for the base executables to run among.
    let base_files = if same_tree {
        None
    } else {
        Some(checkout::in_worktree(
            &git.repo,
            &plan.loaded,
            commit,
            Role::Base,
        )?)
    };
    let base_dir = base_files
        .as_ref()
        .map_or(plan.head_dir.as_path(), |c| c.project_dir.as_path());
    let base_env: &[(String, String)] = base_files.as_ref().map_or(&plan.head_env, |c| &c.env);
    let mut pairs = Vec::new();
    let mut entries = Vec::new();
    for ((suite, cargo), (base_built, head_built)) in plan
        .suites
        .iter()
        .zip(cargo)
        .zip(built_base.iter().zip(&built_head))
    {
        let args = CriterionArgs::parse(&cargo.criterion_args);
        let env: Vec<(String, String)> = suite
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for head_exe in head_built {
            let Some(base_exe) = base_built.iter().find(|b| b.target == head_exe.target) else {
                continue;
            };
            let runnable = |exe: &crate::bench::build::BenchExecutable,
                            dir: &Path,
                            side_env: &[(String, String)]| Runnable {
                suite: suite.name.clone(),
                executable: exe.path.clone(),
                dir: dir.join(&exe.package_dir),
                args: args.clone(),
                env: env.iter().chain(side_env).cloned().collect(),
                whole_seconds: Default::default(),
            };
            pairs.push(Pair {
                suite: suite.name.clone(),
                target: head_exe.target.clone(),
                identical: same_tree || same_contents(&base_exe.path, &head_exe.path),
                base: runnable(base_exe, base_dir, base_env),
                head: runnable(head_exe, &plan.head_dir, &plan.head_env),
            });
        }
    }
    let only_ids: Option<BTreeSet<String>> =
        only.map(|only| only.values().flatten().cloned().collect());
    let mut design = Sequential::new(rounds.first, rounds.max, compare_options.alpha);
    let head = head_side(plan, git);
    let base = Side {
        label: label.to_string(),
        commit: short_id(&commit.to_string()).to_string(),
        dir: base_dir,
        env: base_env,
    };
    let direct = paired::measure_direct(
        &pairs,
        &base,
        &head,
        only_ids.as_ref(),
        rounds,
        &ShortRun::default(),
        deadline,
        |runs, done| design.look(runs, compare_options, done),
        &plan.progress,
    )?;
    design.stop_all(&direct.runs);
    let scatter = compare::paired::scatter(&direct.runs, compare_options, rounds.max);
    for (id, suite) in &direct.only_base {
        entries.push(compare::stored::missing_bench(id, suite, Some(label)));
    }
    for (id, suite) in &direct.only_head {
        entries.push(compare::stored::new_bench(id, suite, Some(label)));
    }
    for (id, suite, target) in &direct.identical {
        entries.push(compare::paired::identical_bench(id, suite, label, target));
    }
    let measured =
        compare::paired::entries(&direct.runs, compare_options, label, Some(design.levels()));
    let left_open = measured
        .iter()
        .filter(|e| e.verdict() == crate::comparison::Verdict::Inconclusive)
        .count();
    let noise = machine_noise(&measured, &scatter, compare_options, rounds);
    entries.extend(measured);
    Ok(Settled {
        entries,
        budget_ran_out: direct.budget_ran_out,
        left_open,
        noise,
    })
}

/// Whether the head's source is `commit`'s: the same tree and nothing
/// uncommitted in the working tree.
fn same_source(git: &GitPlan, commit: crate::git::Oid) -> Result<bool, Error> {
    Ok(!git.head_repo.revision()?.dirty && same_tree(git, commit)?)
}

/// Whether the head commit's tree is `commit`'s.
fn same_tree(git: &GitPlan, commit: crate::git::Oid) -> Result<bool, Error> {
    Ok(git.repo.tree_of(commit)? == git.head_repo.tree_of(git.head_commit)?)
}

/// A machine too disturbed to resolve the threshold: most benchmarks'
/// paired ratios scattered beyond what the rounds can resolve
/// ([`compare::paired::Scatter`]), or the load average exceeded the cores.
/// A benchmark `regressed` on such a machine whose own ratios scattered that
/// far, and whose interval does not lie wholly beyond the threshold, is not
/// trusted: the check exits 2 with the evidence, never 1
/// ([`Noise::TooNoisy`]); a regression whose rounds agreed, or whose whole
/// interval is past the threshold, stands however busy the machine (pairing
/// cancels what moves both sides). Benchmarks only
/// left `inconclusive` (which pass) get a warning that the machine, not the
/// code, left them open ([`Noise::Warn`]).
enum Noise {
    Quiet,
    Warn(String),
    TooNoisy(Error),
}

fn machine_noise(
    measured: &[crate::comparison::Entry],
    scatter: &compare::paired::Scatter,
    options: &compare::CompareOptions,
    rounds: paired::Rounds,
) -> Noise {
    use crate::comparison::Verdict;
    let count = |verdict: Verdict| measured.iter().filter(|e| e.verdict() == verdict).count();
    let (regressed, inconclusive) = (count(Verdict::Regressed), count(Verdict::Inconclusive));
    let unresolved = regressed + inconclusive;
    let distrusted = measured
        .iter()
        .filter(|e| {
            // Its own rounds scattered beyond what the rounds resolve, and its
            // interval does not lie wholly beyond the threshold.
            e.verdict() == Verdict::Regressed
                && scatter.beyond_ids.contains(&e.id)
                && e.bench().is_none_or(|b| b.ratio_low < 1.0 + b.threshold)
        })
        .count();
    if unresolved == 0 || scatter.benchmarks < 3 {
        return Noise::Quiet;
    }
    let scattered = 2 * scatter.beyond > scatter.benchmarks;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = crate::machine::load_average();
    let loaded = load.is_some_and(|l| l > cores as f64) && 4 * unresolved >= scatter.benchmarks;
    if !(scattered || loaded) {
        return Noise::Quiet;
    }
    let threshold = format!("{:.0}%", options.default_threshold * 100.0);
    let mut evidence = vec![format!(
        "{regressed} regressed ({distrusted} of them with rounds that disagreed and an interval reaching below the threshold) and {inconclusive} inconclusive of {} benchmarks measured, after up to {} rounds",
        scatter.benchmarks, rounds.max
    )];
    evidence.push(format!(
        "for {} of them base and head differed from round to round by more than {:.1}% (sd of the ratio; median {:.1}%), more than {} rounds can resolve",
        scatter.beyond,
        scatter.limit * 100.0,
        scatter.median * 100.0,
        rounds.max
    ));
    if let Some(load) = load {
        evidence.push(format!("load average {load:.1} on {cores} cores"));
    }
    let evidence = evidence.join("; ");
    if distrusted > 0 {
        Noise::TooNoisy(Error::TooNoisy {
            threshold,
            evidence,
        })
    } else if inconclusive > 0 {
        Noise::Warn(format!(
            "the machine was too noisy to resolve {threshold} for every benchmark: {evidence}; a quieter runner or a longer --budget/--max-rounds would settle the inconclusive ones"
        ))
    } else {
        Noise::Quiet
    }
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
    if let Some(rounds) = gate.rounds {
        flag("--rounds", Some(rounds.to_string()));
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
