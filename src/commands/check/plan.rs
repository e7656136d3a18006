//! What a `check` will do, decided before anything is measured: the head
//! (working tree or `--rev` checkout), the merge-base with the base ref, where
//! the baselines come from, the selected suites, and whether timings are
//! compared against stored runs, paired against the merge-base, or read from
//! a `--results` file. Each decision is a function of its own.

use std::path::{Path, PathBuf};

use super::BaselinesFrom;
use crate::baselines::{self, BaselineSet};
use crate::commands::checkout::{self, Checkout, Role};
use crate::commands::{CheckOptions, Error, Global, MeasureOptions, Selection, load};
use crate::config::tighten::tighten;
use crate::config::{self, BenchSuite, LoadedConfig};
use crate::git::{GitError, Oid, Repository, short_id};
use crate::progress::Progress;
use crate::results::{Machine, Results};

/// How the timings are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimingMode {
    /// Against the runs stored in the baseline; `confirm` re-runs suspects paired.
    Stored { confirm: bool },
    /// Paired against the merge-base; `automatic` when chosen because the
    /// baselines come from another kind of machine.
    Paired { automatic: bool },
}

/// The git side of a plan.
pub(super) struct GitPlan {
    pub repo: Repository,
    /// The repository the head is read from: the project's, or the `--rev` checkout's.
    pub head_repo: Repository,
    pub head_commit: Oid,
    /// `None` when there is no merge-base and the baselines come from the working tree.
    pub merge_base: Option<Oid>,
    /// `merge-base 1a2b3c4d of HEAD and `main``.
    pub base_label: Option<String>,
    pub base_ref: String,
}

/// Everything `check` decided before measuring.
pub(super) struct Plan {
    /// When the check began: a budget counts from here.
    pub started: std::time::Instant,
    pub loaded: LoadedConfig,
    pub progress: Progress,
    /// `None` outside a git repository.
    pub git: Option<GitPlan>,
    /// Keeps the `--rev` worktree alive until the plan is done (dropped after
    /// `git`, whose head repository reads from it).
    #[expect(dead_code, reason = "held for its Drop: removes the worktree")]
    pub rev_checkout: Option<Checkout>,
    /// What the head is: `main (1a2b3c4d)`, `` `v2` (1a2b3c4d) ``...
    pub head_description: String,
    pub head_dir: PathBuf,
    pub head_env: Vec<(String, String)>,
    /// The baseline, without the entries the selection leaves out.
    pub baseline: Results,
    pub baseline_source: String,
    pub suites: Vec<BenchSuite>,
    pub timing: TimingMode,
    /// Gate on this results file instead of measuring.
    pub results_file: Option<PathBuf>,
    /// What a reviewer must see first, in order.
    pub warnings: Vec<String>,
    /// Suites measured with the merge-base's command that the branch deleted
    /// or changed: if that command fails here, their benchmarks are `missing`.
    pub may_fail: std::collections::BTreeSet<String>,
}

impl Plan {
    pub fn merge_base(&self) -> Option<Oid> {
        self.git.as_ref().and_then(|git| git.merge_base)
    }
}

/// The flag that needs git, and why, when the project is outside a repository.
fn git_required(options: &CheckOptions) -> Option<(&'static str, &'static str)> {
    let gate = &options.gate;
    if gate.paired {
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
    }
}

/// Decide everything `check` will do.
pub(super) fn resolve(global: &Global, options: &CheckOptions) -> Result<Plan, Error> {
    let gate = &options.gate;
    if let Some(max) = gate.max_rounds
        && let Some(rounds) = gate.rounds
        && max < rounds
    {
        return Err(Error::Usage(format!(
            "--max-rounds {max} is fewer than --rounds {rounds}; give --max-rounds at least {rounds}, or equal to --rounds for no extra rounds"
        )));
    }
    let loaded = load(global)?;
    let progress = Progress::new(global.verbosity);
    match Repository::discover(&loaded.root) {
        Ok(repo) => resolve_in_git(repo, loaded, progress, options),
        Err(GitError::NotARepository { path }) => {
            if let Some((flag, why)) = git_required(options) {
                return Err(Error::GitRequired { flag, why, path });
            }
            resolve_without_git(loaded, progress, options)
        }
        Err(e) => Err(e.into()),
    }
}

/// Outside git: the working tree's baselines, stored timings, no confirmation.
fn resolve_without_git(
    loaded: LoadedConfig,
    progress: Progress,
    options: &CheckOptions,
) -> Result<Plan, Error> {
    let loads = crate::commands::selected_loads(&loaded, &options.measure)?.len();
    if loads > 0 {
        return Err(super::run::loads_without_a_base(loads));
    }
    let dir = loaded.baselines_dir();
    progress.status(&format!(
        "note: {} is not in a git repository, so the baselines are read from {} in the working tree (inside git they come from the base branch, where a pull request cannot edit them)",
        loaded.root.display(),
        dir.display()
    ));
    let mut baseline = baselines::read_dir(&dir)?.results;
    restrict(&mut baseline, &loaded, &options.measure)?;
    let suites = selected_suites(&loaded, &options.measure)?;
    Ok(Plan {
        started: std::time::Instant::now(),
        head_dir: loaded.root.clone(),
        loaded,
        progress,
        git: None,
        rev_checkout: None,
        head_description: String::new(),
        head_env: Vec::new(),
        baseline,
        baseline_source: dir.display().to_string(),
        suites,
        timing: TimingMode::Stored { confirm: false },
        results_file: options.gate.results.clone(),
        warnings: Vec::new(),
        may_fail: Default::default(),
    })
}

fn resolve_in_git(
    repo: Repository,
    mut loaded: LoadedConfig,
    progress: Progress,
    options: &CheckOptions,
) -> Result<Plan, Error> {
    let gate = &options.gate;
    // On a GitHub pull request the base is the pull request's, whatever the
    // branch's own `[gate].base_ref` says.
    let github_base = std::env::var("GITHUB_BASE_REF")
        .ok()
        .filter(|base| !base.is_empty())
        .map(|base| format!("origin/{base}"));
    let base_ref = gate
        .against
        .clone()
        .or(github_base)
        .unwrap_or_else(|| loaded.config.gate.base_ref.clone());
    let project_relative = checkout::project_relative(&repo, &loaded)?;

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
    let head_description = describe_head(&head_repo, gate.rev.as_deref(), head_commit)?;

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

    // Gate settings: the merge-base's, where the branch would loosen them.
    let mut warnings = Vec::new();
    let mut may_fail = std::collections::BTreeSet::new();
    if baselines_from == BaselinesFrom::Base
        && let Some(commit) = merge_base
    {
        let (changes, replaced) = apply_base_settings(
            &head_repo,
            commit,
            &project_relative,
            &mut loaded,
            &progress,
        )?;
        warnings.extend(changes);
        may_fail.extend(replaced);
    }
    let baselines_relative = project_relative.join(&loaded.config.gate.baselines);

    let only_loads = loaded.config.bench.is_empty() && loaded.config.probe.is_empty();
    let (mut baseline, baseline_source) = match (baselines_from, merge_base) {
        // Load probes compare two builds in the check itself: no baseline.
        _ if only_loads => (
            Results::new(
                crate::results::Revision {
                    commit: merge_base.map(|c| c.to_string()),
                    ..crate::results::Revision::default()
                },
                crate::machine::current(),
            ),
            "no baselines (load probes only: they compare the two builds in this check)"
                .to_string(),
        ),
        (BaselinesFrom::Base, Some(commit)) => {
            let (set, source) =
                read_base_baselines(&head_repo, commit, &baselines_relative, &base_ref)?;
            (set.results, source)
        }
        _ => {
            let dir = loaded.baselines_dir();
            (
                baselines::read_dir(&dir)?.results,
                dir.display().to_string(),
            )
        }
    };
    restrict(&mut baseline, &loaded, &options.measure)?;

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
    if let Some(recorded) = &baseline.revision.commit
        && let Ok(recorded_oid) = recorded.parse::<Oid>()
        && !head_repo.is_ancestor(recorded_oid, head_commit)
    {
        warnings.push(format!(
            "the baselines were recorded at commit {}, which is not an ancestor of the measured commit {} (recorded on another branch, or history was rewritten); re-record them on `{base_ref}`",
            short_id(recorded),
            short_id(&head_commit.to_string())
        ));
    }

    let suites = selected_suites(&loaded, &options.measure)?;
    let timing = timing_mode(options, &baseline.machine, merge_base.is_some(), &suites);
    if timing == (TimingMode::Paired { automatic: true }) {
        warnings.push(format!(
            "the baselines were recorded on another kind of machine ({}) than this one ({}); timings are compared by a paired run against the {} instead (query counts still against the stored baselines)",
            describe_machine(&baseline.machine),
            describe_machine(&crate::machine::current()),
            base_label.as_deref().unwrap_or_default()
        ));
    }

    let head_dir = rev_checkout
        .as_ref()
        .map_or_else(|| loaded.root.clone(), |c| c.project_dir.clone());
    let head_env = rev_checkout
        .as_ref()
        .map(|c| c.env.clone())
        .unwrap_or_default();
    Ok(Plan {
        started: std::time::Instant::now(),
        loaded,
        progress,
        git: Some(GitPlan {
            repo,
            head_repo,
            head_commit,
            merge_base,
            base_label,
            base_ref,
        }),
        rev_checkout,
        head_description,
        head_dir,
        head_env,
        baseline,
        baseline_source,
        suites,
        timing,
        results_file: options.gate.results.clone(),
        warnings,
        may_fail,
    })
}

/// Replace the working tree's settings by what [`tighten`] keeps of the
/// merge-base's `perfguard.toml`, returning a line per change for the report.
/// Without a `perfguard.toml` at the merge-base (the branch adds the gate),
/// the branch's settings apply.
fn apply_base_settings(
    repo: &Repository,
    merge_base: Oid,
    project_relative: &Path,
    loaded: &mut LoadedConfig,
    progress: &Progress,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let file_name = loaded
        .path
        .file_name()
        .map_or_else(|| PathBuf::from("perfguard.toml"), PathBuf::from);
    let relative = project_relative.join(file_name);
    let Some(text) = repo.read_file_at(merge_base, &relative)? else {
        progress.status(&format!(
            "note: {} does not exist at the merge-base {}, so this branch's settings apply",
            relative.display(),
            short_id(&merge_base.to_string())
        ));
        return Ok(Default::default());
    };
    let label = PathBuf::from(format!(
        "{}:{}",
        short_id(&merge_base.to_string()),
        relative.display()
    ));
    let base = match config::parse(&label, &text) {
        Ok(base) => base,
        // A base this perfguard cannot read must not block every pull request.
        Err(error) => {
            return Ok((
                vec![format!(
                    "the merge-base's perfguard.toml cannot be read by this perfguard ({error}), so this branch's settings apply unchecked; fix the file on the base branch"
                )],
                Vec::new(),
            ));
        }
    };
    let mut changes = Vec::new();
    if base.gate.base_ref != loaded.config.gate.base_ref {
        changes.push(format!(
            "perfguard.toml changes `[gate].base_ref` from {:?} to {:?}: the merge-base was found with {:?}; CI should pass the pull request's base with --against",
            base.gate.base_ref, loaded.config.gate.base_ref, loaded.config.gate.base_ref
        ));
    }
    let tightened = tighten(&base, &loaded.config);
    loaded.config = tightened.config;
    changes.extend(tightened.changes);
    Ok((changes, tightened.replaced_suites))
}

/// `main`, `` `v2` (1a2b3c4d) `` for `--rev`, or a detached HEAD as CI checks it out.
fn describe_head(repo: &Repository, rev: Option<&str>, head: Oid) -> Result<String, Error> {
    Ok(match rev {
        Some(rev) => format!("`{rev}` ({})", short_id(&head.to_string())),
        None if repo.is_detached() => format!(
            "{} (no branch; CI checks pull requests out this way)",
            repo.head_description()?
        ),
        None => repo.head_description()?,
    })
}

/// Stored or paired: paired when asked, or when the baselines come from
/// another kind of machine and there is a merge-base to pair with; never when
/// gating a results file measured elsewhere.
fn timing_mode(
    options: &CheckOptions,
    baseline_machine: &Machine,
    has_merge_base: bool,
    suites: &[BenchSuite],
) -> TimingMode {
    let gate = &options.gate;
    let other_machine = !baseline_machine.same_kind(&crate::machine::current());
    let automatic = other_machine && has_merge_base && !suites.is_empty();
    if gate.results.is_none() && (gate.paired || automatic) {
        TimingMode::Paired {
            automatic: !gate.paired,
        }
    } else {
        TimingMode::Stored {
            confirm: gate.confirm && gate.results.is_none(),
        }
    }
}

/// The timed `[[bench]]` suites `--only`, `--shard` and `--no-benches`
/// select: the ones timings are settled for. Suites measured by
/// instructions are settled by one counted run against the stored baseline,
/// never paired.
fn selected_suites(
    loaded: &LoadedConfig,
    options: &MeasureOptions,
) -> Result<Vec<BenchSuite>, Error> {
    let selection = Selection::new(loaded, options)?;
    Ok(loaded
        .config
        .bench
        .iter()
        .filter(|s| options.benches && selection.contains(&s.name))
        .filter(|s| options.measure_of(s) == crate::results::Measure::Time)
        .cloned()
        .collect())
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

pub(super) fn describe_machine(machine: &Machine) -> String {
    format!(
        "{}, {} cores, {}",
        machine.cpu_model, machine.cores, machine.os
    )
}
