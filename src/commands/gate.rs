//! `perfguard check` in a git repository: baselines read from the merge-base's
//! tree (so a pull request cannot loosen its own gate), paired runs against
//! the merge-base, paired confirmation of regressions, `Perf-Accepted`
//! trailers, and the warnings a reviewer must see first.

use std::path::{Path, PathBuf};

use super::checkout::{self, Checkout, Role};
use super::paired::{self, Side};
use super::{
    CheckOptions, Error, Global, MeasureOptions, Selection, compare_options, emit, exit_code, load,
    measure,
};
use crate::baselines::{self, BaselineSet};
use crate::compare;
use crate::config::LoadedConfig;
use crate::git::{self, GitError, Oid, Repository, short_id};
use crate::progress::Progress;
use crate::results::{Machine, Results};

/// Where `check` reads the baselines from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaselinesFrom {
    /// The files on disk (the default outside git).
    Worktree,
    /// The tree of the merge-base of HEAD and the base ref (the default in git).
    Base,
}

/// The git side of `check`.
#[derive(Clone, Debug)]
pub struct GateOptions {
    /// Compare against the merge-base with this revision instead of `[gate].base_ref`.
    pub against: Option<String>,
    /// `None`: the merge-base in a git repository, the working tree outside.
    pub baselines_from: Option<BaselinesFrom>,
    /// Timing by alternating base and head runs rather than against stored timings.
    pub paired: bool,
    /// Rounds of a paired run or a confirmation.
    pub rounds: u32,
    /// Rounds at most for benchmarks the first `rounds` leave unsettled
    /// (`None`: twice `rounds`).
    pub max_rounds: Option<u32>,
    /// Re-run apparent regressions paired before failing.
    pub confirm: bool,
    /// Gate on this results file instead of measuring.
    pub results: Option<PathBuf>,
    /// Measure this revision in a temporary worktree.
    pub rev: Option<String>,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            against: None,
            baselines_from: None,
            paired: false,
            rounds: paired::DEFAULT_ROUNDS,
            max_rounds: None,
            confirm: true,
            results: None,
            rev: None,
        }
    }
}

/// The gate: measure (or read `--results`), compare, report, exit 0/1/2.
pub fn check(global: &Global, options: CheckOptions) -> Result<i32, Error> {
    let gate = &options.gate;
    if let Some(max) = gate.max_rounds
        && max < gate.rounds
    {
        return Err(Error::Usage(format!(
            "--max-rounds {max} is fewer than --rounds {}; give --max-rounds at least {}, or equal to --rounds for no extra rounds",
            gate.rounds, gate.rounds
        )));
    }
    let loaded = load(global)?;
    let progress = Progress::new(global.verbosity);
    let repo = match Repository::discover(&loaded.root) {
        Ok(repo) => repo,
        Err(GitError::NotARepository { path }) => {
            let required = if gate.paired {
                Some((
                    "--paired",
                    "it builds the merge-base in a temporary worktree",
                ))
            } else if gate.rev.is_some() {
                Some((
                    "--rev",
                    "it checks the revision out in a temporary git worktree",
                ))
            } else if gate.against.is_some() {
                Some(("--against", "it reads the baselines from the merge-base"))
            } else if gate.baselines_from == Some(BaselinesFrom::Base) {
                Some(("--baselines-from base", "it reads the baselines from git"))
            } else {
                None
            };
            if let Some((flag, why)) = required {
                return Err(Error::GitRequired { flag, why, path });
            }
            return check_without_git(global, &options, &loaded, progress);
        }
        Err(e) => return Err(e.into()),
    };
    let base_ref = gate
        .against
        .clone()
        .unwrap_or_else(|| loaded.config.gate.base_ref.clone());
    let project_relative = checkout::project_relative(&repo, &loaded)?;
    let baselines_relative = project_relative.join(&loaded.config.gate.baselines);

    // The head: the working tree, or `--rev` in a temporary worktree.
    let rev_checkout = match &gate.rev {
        Some(rev) => Some(checkout::in_worktree(
            &repo,
            &loaded,
            repo.resolve(rev)?,
            Role::Rev,
        )?),
        None => None,
    };
    let head_repo = match &rev_checkout {
        Some(checkout) => Repository::discover(checkout.root())?,
        None => Repository::discover(&loaded.root)?,
    };
    let head_commit = head_repo.head_commit()?;
    let head_description = match &gate.rev {
        Some(rev) => format!("`{rev}` ({})", short_id(&head_commit.to_string())),
        None if head_repo.is_detached() => format!(
            "{} (no branch; CI checks pull requests out this way)",
            head_repo.head_description()?
        ),
        None => head_repo.head_description()?,
    };

    let baselines_from = gate.baselines_from.unwrap_or(BaselinesFrom::Base);
    let merge_base = match head_repo.merge_base(&base_ref) {
        Ok(commit) => Some(commit),
        Err(e) if baselines_from == BaselinesFrom::Worktree && !gate.paired => {
            progress.status(&format!(
                "note: no merge-base with `{base_ref}`, so Perf-Accepted trailers and paired confirmation are skipped: {e}"
            ));
            None
        }
        Err(e) => return Err(e.into()),
    };
    let base_label = merge_base.map(|commit| {
        format!(
            "merge-base {} of HEAD and `{base_ref}`",
            short_id(&commit.to_string())
        )
    });
    progress.status(&format!(
        "gating {head_description} against {}",
        base_label
            .as_deref()
            .unwrap_or("the working tree's baselines")
    ));

    let (baseline, baseline_source) = match (baselines_from, merge_base) {
        (BaselinesFrom::Base, Some(commit)) => {
            read_base_baselines(&head_repo, commit, &baselines_relative, &base_ref)?
        }
        _ => {
            let dir = loaded.baselines_dir();
            (baselines::read_dir(&dir)?, dir.display().to_string())
        }
    };
    let mut baseline_results = baseline.results;
    restrict(&mut baseline_results, &loaded, &options.measure)?;

    let mut warnings = Vec::new();
    if let Some(commit) = merge_base {
        let edited = head_repo.changed_paths_under(commit, &baselines_relative)?;
        if !edited.is_empty() {
            let names: Vec<String> = edited.iter().map(|p| p.display().to_string()).collect();
            let consequence = match baselines_from {
                BaselinesFrom::Base => format!(
                    "the gate ignores these edits and reads {} from the {}",
                    baselines_relative.display(),
                    base_label.as_deref().unwrap_or_default()
                ),
                BaselinesFrom::Worktree => {
                    "--baselines-from worktree gates against these edited files".to_string()
                }
            };
            warnings.push(format!(
                "this pull request edits its own baselines: {}; {consequence}",
                names.join(", ")
            ));
        }
    }
    if let Some(recorded) = &baseline_results.revision.commit
        && let Ok(recorded_oid) = recorded.parse::<Oid>()
        && !head_repo.is_ancestor(recorded_oid, head_commit)
    {
        warnings.push(format!(
            "the baselines were recorded at commit {}, which is not an ancestor of the measured commit {} (recorded on another branch, or history was rewritten); re-record them on `{base_ref}`",
            short_id(recorded),
            short_id(&head_commit.to_string())
        ));
    }

    let this_machine = crate::machine::current();
    let selection = Selection::new(&loaded, &options.measure)?;
    let suites: Vec<_> = loaded
        .config
        .bench
        .iter()
        .filter(|s| options.measure.benches && selection.contains(&s.name))
        .cloned()
        .collect();
    let other_machine = !baseline_results.machine.same_kind(&this_machine);
    let auto_paired = other_machine && merge_base.is_some() && !suites.is_empty();
    let paired_mode = gate.results.is_none() && (gate.paired || auto_paired);
    if paired_mode && !gate.paired {
        warnings.push(format!(
            "the baselines were recorded on another kind of machine ({}) than this one ({}); timings are compared by a paired run against the {} instead (query counts still against the stored baselines)",
            describe(&baseline_results.machine),
            describe(&this_machine),
            base_label.as_deref().unwrap_or_default()
        ));
    }

    let head_dir = rev_checkout
        .as_ref()
        .map_or_else(|| loaded.root.clone(), |c| c.project_dir.clone());
    let head_env: Vec<(String, String)> = rev_checkout
        .as_ref()
        .map(|c| c.env.clone())
        .unwrap_or_default();
    let mut measure_options = options.measure.clone();
    measure_options.env.extend(head_env.iter().cloned());
    let current = match &gate.results {
        Some(path) => {
            let results = Results::read(path)?;
            if results.revision.commit.as_deref() != Some(head_commit.to_string().as_str()) {
                warnings.push(format!(
                    "{} measured commit {}, but the commit being gated is {}",
                    path.display(),
                    results.revision.commit.as_deref().unwrap_or("(none)"),
                    head_commit
                ));
            }
            results
        }
        None if paired_mode => {
            let probes_selected = options.measure.probes
                && loaded
                    .config
                    .probe
                    .iter()
                    .any(|p| selection.contains(&p.name));
            if probes_selected {
                let probes_only = MeasureOptions {
                    benches: false,
                    ..measure_options.clone()
                };
                measure(&loaded, &head_dir, &probes_only, &progress)?
            } else {
                Results::new(crate::revision::current(&head_dir), this_machine.clone())
            }
        }
        None => measure(&loaded, &head_dir, &measure_options, &progress)?,
    };
    if !paired_mode {
        timing_warnings(&mut warnings, &baseline_results.machine, &current.machine);
    }

    let compare_options = compare_options(&loaded);
    let rounds = paired::Rounds::new(gate.rounds, gate.max_rounds);
    let mut stored = baseline_results.clone();
    if paired_mode {
        stored.benches.clear();
    }
    let mut comparison = compare::compare(&stored, &baseline_source, &current, &compare_options);
    if let Some(path) = &gate.results {
        comparison.current.source = path.display().to_string();
    }

    // Paired timing, or a paired re-run of what the stored comparison suspects.
    let suspected = paired::suspected(&comparison);
    let confirm = gate.confirm && gate.results.is_none() && !suspected.is_empty();
    if let (Some(commit), Some(label)) = (merge_base, &base_label)
        && (paired_mode || confirm)
    {
        let base_checkout = checkout::in_worktree(&repo, &loaded, commit, Role::Base)?;
        let base = side(&base_checkout, label);
        let head = Side {
            label: head_description.clone(),
            commit: short_id(&head_commit.to_string()).to_string(),
            dir: &head_dir,
            env: &head_env,
        };
        if !paired_mode {
            progress.status(&format!(
                "{} benchmark(s) look slower than the stored baseline; re-running them paired against the {label} to decide",
                suspected.values().map(Vec::len).sum::<usize>()
            ));
        }
        let only = (!paired_mode).then_some(&suspected);
        let runs = paired::measure(
            &suites,
            only,
            &base,
            &head,
            rounds,
            &compare_options,
            &progress,
        )?;
        let measured = paired::entries(&runs, &compare_options, label);
        if paired_mode {
            comparison.entries.extend(measured);
            comparison.finish();
        } else {
            paired::apply_confirmation(&mut comparison, &suspected, &measured);
        }
    } else if !suspected.is_empty() && gate.confirm && gate.results.is_some() {
        progress.status(
            "note: apparent slowdowns in a --results file are not re-run paired (it was measured elsewhere)",
        );
    }
    if let Some(commit) = merge_base {
        let acceptances = head_repo.accepted_trailers(commit)?;
        git::apply_acceptances(&mut comparison, &acceptances);
    }
    // The `--rev` worktree (which `head_repo` reads) is removed only now.
    drop(head_repo);
    drop(rev_checkout);
    warnings.append(&mut comparison.warnings);
    comparison.warnings = warnings;
    comparison.base_ref = Some(base_ref.clone());
    comparison.reproduce = Some(reproduce(global, &options, merge_base));
    drop(progress);
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}

/// `check` outside a git repository: the working tree's baselines, with a note.
fn check_without_git(
    global: &Global,
    options: &CheckOptions,
    loaded: &LoadedConfig,
    progress: Progress,
) -> Result<i32, Error> {
    let dir = loaded.baselines_dir();
    progress.status(&format!(
        "note: {} is not in a git repository, so the baselines are read from {} in the working tree (inside git they come from the base branch, where a pull request cannot edit them)",
        loaded.root.display(),
        dir.display()
    ));
    let mut baseline = baselines::read_dir(&dir)?.results;
    restrict(&mut baseline, loaded, &options.measure)?;
    let current = match &options.gate.results {
        Some(path) => Results::read(path)?,
        None => measure(loaded, &loaded.root, &options.measure, &progress)?,
    };
    drop(progress);
    let mut comparison = compare::compare(
        &baseline,
        &dir.display().to_string(),
        &current,
        &compare_options(loaded),
    );
    timing_warnings(
        &mut comparison.warnings,
        &baseline.machine,
        &current.machine,
    );
    comparison.reproduce = Some(reproduce(global, options, None));
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}

/// The baselines in `commit`'s tree, named `<commit>:<path>` like `git show` takes them.
fn read_base_baselines(
    repo: &Repository,
    commit: Oid,
    dir: &Path,
    base_ref: &str,
) -> Result<(BaselineSet, String), Error> {
    let short = short_id(&commit.to_string()).to_string();
    let files: Vec<(String, String)> = repo
        .read_tree_dir(commit, dir)?
        .into_iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "json"))
        .map(|(path, text)| (format!("{short}:{}", path.display()), text))
        .collect();
    if files.is_empty() {
        return Err(Error::NoBaselinesAtBase {
            dir: dir.display().to_string(),
            commit: short,
            base_ref: base_ref.to_string(),
        });
    }
    let source = format!(
        "{} at {short} (merge-base of HEAD and `{base_ref}`)",
        dir.display()
    );
    Ok((baselines::from_files(&source, &files)?, source))
}

/// Drop the baseline entries `--only`, `--shard`, `--no-benches` and
/// `--no-probes` leave out, so they are not reported missing.
fn restrict(
    baseline: &mut Results,
    loaded: &LoadedConfig,
    options: &MeasureOptions,
) -> Result<(), Error> {
    if options.only.is_none() && options.shard.is_none() && options.benches && options.probes {
        return Ok(());
    }
    let selection = Selection::new(loaded, options)?;
    baseline
        .benches
        .retain(|_, bench| options.benches && selection.contains(&bench.suite));
    baseline
        .probes
        .retain(|id, _| options.probes && selection.contains(id));
    Ok(())
}

fn describe(machine: &Machine) -> String {
    format!(
        "{}, {} cores, {}",
        machine.cpu_model, machine.cores, machine.os
    )
}

/// Warnings about comparing stored timings across machines or compilers.
fn timing_warnings(warnings: &mut Vec<String>, baseline: &Machine, current: &Machine) {
    if !baseline.same_kind(current) {
        warnings.push(format!(
            "the baselines were recorded on another kind of machine ({}) than these results ({}); timing verdicts may be false alarms: use `perfguard check --paired`, or re-record the baselines on this kind of machine",
            describe(baseline),
            describe(current)
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
fn reproduce(global: &Global, options: &CheckOptions, merge_base: Option<Oid>) -> String {
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
