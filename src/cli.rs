//! The command line (clap derive), converted into the library's domain options.
//! No clap type is used below this module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{
    BaselineRecord, BaselinesFrom, CheckOptions, CompareFiles, GateOptions, Global, Hook, Init,
    MeasureOptions, MergeOptions, RenderReport, ReportTarget, RunOptions,
};
use crate::progress::Verbosity;
use crate::report::Format;

const EXIT_CODES: &str = "Exit codes:
  0  no regression
  1  regression found
  2  perfguard could not decide (bad config or input, app failed to start,
     database unreachable, benchmark crashed)";

/// A performance-regression gate for CI: criterion benchmarks and per-endpoint
/// database query counts, compared with stored baselines.
#[derive(Debug, Parser)]
#[command(name = "perfguard", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Path of the configuration file.
    #[arg(
        long,
        global = true,
        default_value = "perfguard.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,
    /// When to colour the output (`auto` honours NO_COLOR, CLICOLOR, CLICOLOR_FORCE and TERM=dumb).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the measured commands' own output too.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print only the verdict.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Markdown,
    Junit,
    Github,
    Html,
}

impl From<FormatArg> for Format {
    fn from(value: FormatArg) -> Format {
        match value {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Junit => Format::Junit,
            FormatArg::Github => Format::Github,
            FormatArg::Html => Format::Html,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Measure the working tree (or --rev REV) and write Results (perfguard.results.v1).
    Run {
        #[command(flatten)]
        measure: MeasureArgs,
        /// Where to write the results; `-` for stdout.
        #[arg(long, default_value = "perfguard-results.json", value_name = "FILE")]
        out: PathBuf,
        /// Measure this revision in a temporary git worktree (always removed)
        /// instead of the working tree, which stays untouched.
        #[arg(long, value_name = "REV")]
        rev: Option<String>,
    },
    /// Join the results files of `--shard K/N` runs into one results file.
    Merge {
        /// The shards' results files.
        #[arg(required = true, value_name = "FILES")]
        files: Vec<PathBuf>,
        /// Where to write the merged results; `-` for stdout.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Record or inspect the stored baselines.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Compare two files and exit as the gate would.
    Compare {
        /// A baselines folder, a baseline file, or a results file.
        baseline: PathBuf,
        /// A results file from `perfguard run`.
        results: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The gate: measure, compare against the baselines, report, exit 0/1/2.
    Check {
        #[command(flatten)]
        measure: MeasureArgs,
        #[command(flatten)]
        gate: GateArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Render a stored comparison (perfguard.comparison.v1) in another format.
    Report {
        /// A comparison file, e.g. from `check --report json=comparison.json`.
        comparison: PathBuf,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Run the counting proxy alone, printing each statement's fingerprint and a
    /// running count per client connection (Ctrl-C stops it).
    Proxy {
        /// The database: postgres://host:port or mysql://host:port.
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// Address to listen on (default: 127.0.0.1 and a free port, printed).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Write a commented perfguard.toml, baselines/ and a workflow for this project.
    Init {
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Install or remove a git pre-push hook that runs `perfguard check --budget 2m`.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Print a shell completion script, e.g. `perfguard completions bash > ~/.local/share/bash-completion/completions/perfguard`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): perfguard(1), or one command's, e.g.
    /// `perfguard man check > perfguard-check.1`.
    Man {
        /// The command whose page to print (default: perfguard's own page).
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write the pre-push hook (where `core.hooksPath` or the repository's
    /// hooks/ folder says); installing again is a no-op.
    Install {
        /// Replace a pre-push hook perfguard did not write (it is kept and
        /// restored by `perfguard hook uninstall`).
        #[arg(long)]
        force: bool,
    },
    /// Remove perfguard's pre-push hook (and restore the one it replaced).
    Uninstall,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Measure and write baselines/ (each file atomically).
    Record {
        #[command(flatten)]
        measure: MeasureArgs,
        /// Add the new runs to the runs already stored, so the baseline learns
        /// this machine's run-to-run variance.
        #[arg(long)]
        append: bool,
    },
    /// Print what the baselines hold, their commit and machine.
    Show,
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Runs of each bench suite (more runs: a sharper verdict, a longer wait).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Only measure suites and probes whose name matches this glob.
    #[arg(long, value_name = "GLOB")]
    pub only: Option<String>,
    /// Skip the benchmarks (probes only).
    #[arg(long, conflicts_with = "no_probes")]
    pub no_benches: bool,
    /// Skip the probes (benchmarks only).
    #[arg(long)]
    pub no_probes: bool,
    /// Measure shard K of N: a deterministic 1/N of the suites and probes, by
    /// a stable hash of their names (join the shards with `perfguard merge`).
    #[arg(long, value_name = "K/N", value_parser = parse_shard_arg)]
    pub shard: Option<(usize, usize)>,
    /// Measure every selected suite this way, whatever its `measure` in
    /// perfguard.toml: `time`, or `instructions` (counted under valgrind).
    #[arg(long, value_enum, value_name = "MEASURE")]
    pub measure: Option<MeasureArg>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MeasureArg {
    /// Wall time: criterion's samples.
    Time,
    /// Instructions and estimated cycles, counted under valgrind's callgrind.
    Instructions,
}

impl From<MeasureArg> for crate::results::Measure {
    fn from(arg: MeasureArg) -> Self {
        match arg {
            MeasureArg::Time => crate::results::Measure::Time,
            MeasureArg::Instructions => crate::results::Measure::Instructions,
        }
    }
}

fn parse_shard_arg(text: &str) -> Result<(usize, usize), String> {
    crate::shard::parse_shard(text).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BaselinesFromArg {
    /// The files on disk (the default outside a git repository).
    Worktree,
    /// The tree of the merge-base of HEAD and the base ref (the default in git).
    Base,
}

/// How `check` uses git.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Gate against the merge-base of HEAD with REV instead of [gate].base_ref.
    #[arg(long, value_name = "REV")]
    pub against: Option<String>,
    /// Read the baselines from the merge-base's tree (`base`, the default in a
    /// git repository: a pull request cannot loosen its own gate) or from the
    /// files on disk (`worktree`, for local experiments).
    #[arg(long, value_enum, value_name = "FROM")]
    pub baselines_from: Option<BaselinesFromArg>,
    /// Time by building the merge-base in a temporary worktree and running base
    /// and head alternately (automatic when the baselines come from another
    /// kind of machine). Query counts still compare with the stored baselines.
    #[arg(long)]
    pub paired: bool,
    /// Paired rounds before the first look at the verdict: every compared
    /// benchmark is run this many times at base and at head. Default: 2 for
    /// `cargo bench` suites (run directly, looked at after every round), 3
    /// for suites run whole and for load probes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub rounds: Option<u32>,
    /// Rounds at most for the benchmarks the first --rounds leave unsettled;
    /// only those are run again. Default: 10, or twice --rounds if larger.
    /// Equal to --rounds: no extra rounds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub max_rounds: Option<u32>,
    /// Fail on regressions against the stored baselines without re-running
    /// them paired first.
    #[arg(long)]
    pub no_confirm: bool,
    /// Gate on this results file (e.g. from `perfguard merge`) instead of measuring.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["paired", "rev", "runs", "shard"])]
    pub results: Option<PathBuf>,
    /// Measure this revision in a temporary git worktree (always removed)
    /// instead of the working tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Wall time the check may take (`10m`, `90s`): paired rounds stop when it
    /// runs out and what they left unsettled is `inconclusive`. Default:
    /// [gate].budget, else none.
    #[arg(long, value_name = "DURATION", value_parser = parse_budget)]
    pub budget: Option<std::time::Duration>,
}

fn parse_budget(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration such as `10m`, `90s` or `1h 30m`"))
}

impl From<GateArgs> for GateOptions {
    fn from(args: GateArgs) -> GateOptions {
        GateOptions {
            against: args.against,
            baselines_from: args.baselines_from.map(|from| match from {
                BaselinesFromArg::Worktree => BaselinesFrom::Worktree,
                BaselinesFromArg::Base => BaselinesFrom::Base,
            }),
            paired: args.paired,
            rounds: args.rounds,
            max_rounds: args.max_rounds,
            confirm: !args.no_confirm,
            results: args.results,
            rev: args.rev,
            budget: args.budget,
        }
    }
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Format of the report printed on stdout.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Also write a report: FORMAT=PATH (repeatable; PATH `-` is stdout).
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report_target)]
    pub reports: Vec<ReportTarget>,
}

fn parse_report_target(text: &str) -> Result<ReportTarget, String> {
    let (format, path) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected FORMAT=PATH, e.g. markdown=report.md"))?;
    let format = FormatArg::from_str(format, true).map_err(|_| {
        format!("{format:?} is not a format; use text, json, markdown, junit, github or html")
    })?;
    Ok(ReportTarget {
        format: format.into(),
        path: PathBuf::from(path),
    })
}

impl GlobalArgs {
    fn into_global(self) -> Global {
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // NO_COLOR, CLICOLOR, CLICOLOR_FORCE, TERM=dumb and the tty, as anstream reads them.
            ColorChoice::Auto => {
                anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
            }
        };
        let verbosity = if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        Global {
            config: self.config,
            color,
            verbosity,
        }
    }
}

impl From<MeasureArgs> for MeasureOptions {
    fn from(args: MeasureArgs) -> MeasureOptions {
        MeasureOptions {
            runs: args.runs,
            only: args.only,
            benches: !args.no_benches,
            probes: !args.no_probes,
            shard: args.shard,
            env: Vec::new(),
            measure: args.measure.map(Into::into),
            skip_timed: false,
        }
    }
}

/// What the binary should do, in domain terms.
pub(crate) enum Action {
    Run(RunOptions),
    Record(BaselineRecord),
    Show,
    Compare(CompareFiles),
    Check(CheckOptions),
    Merge(MergeOptions),
    Report(RenderReport),
    Proxy {
        upstream: String,
        listen: Option<std::net::SocketAddr>,
    },
    Init(Init),
    /// Install or remove the pre-push hook.
    Hook(Hook),
    /// Print a shell completion script ([`write_completions`]).
    Completions(clap_complete::Shell),
    /// Print a man page ([`write_man`]).
    Man(Option<String>),
}

/// Write the completion script for `shell` (every command, flag and value).
pub(crate) fn write_completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "perfguard", out);
}

/// Write perfguard(1) in roff, or with `command` that command's page
/// (perfguard-check(1), ...). An unknown command is an error listing the known ones.
pub(crate) fn write_man(command: Option<&str>, out: &mut dyn std::io::Write) -> Result<(), String> {
    let top = <Cli as clap::CommandFactory>::command();
    let page = match command {
        None => top,
        Some(name) => {
            let names: Vec<String> = top
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let Some(sub) = top.find_subcommand(name) else {
                return Err(format!(
                    "`perfguard man {name}`: no such command; man pages exist for: {}",
                    names.join(", ")
                ));
            };
            sub.clone()
                .name(format!("perfguard-{name}"))
                .version(top.get_version().unwrap_or_default().to_string())
        }
    };
    clap_mangen::Man::new(page)
        .render(out)
        .map_err(|e| format!("cannot write the man page: {e}"))
}

impl Cli {
    pub(crate) fn into_action(self) -> (Global, Action) {
        let global = self.global.into_global();
        let action = match self.command {
            Commands::Run { measure, out, rev } => Action::Run(RunOptions {
                measure: measure.into(),
                out,
                rev,
            }),
            Commands::Merge { files, out } => Action::Merge(MergeOptions { files, out }),
            Commands::Baseline(BaselineCommand::Record { measure, append }) => {
                Action::Record(BaselineRecord {
                    measure: measure.into(),
                    append,
                })
            }
            Commands::Baseline(BaselineCommand::Show) => Action::Show,
            Commands::Compare {
                baseline,
                results,
                output,
            } => Action::Compare(CompareFiles {
                baseline,
                results,
                format: output.format.into(),
                reports: output.reports,
            }),
            Commands::Check {
                measure,
                gate,
                output,
            } => Action::Check(CheckOptions {
                measure: measure.into(),
                format: output.format.into(),
                reports: output.reports,
                gate: gate.into(),
            }),
            Commands::Report { comparison, output } => Action::Report(RenderReport {
                comparison,
                format: output.format.into(),
                reports: output.reports,
            }),
            Commands::Proxy { upstream, listen } => Action::Proxy { upstream, listen },
            Commands::Init { force } => Action::Init(Init { force }),
            Commands::Hook(HookCommand::Install { force }) => Action::Hook(Hook::Install { force }),
            Commands::Hook(HookCommand::Uninstall) => Action::Hook(Hook::Uninstall),
            Commands::Completions { shell } => Action::Completions(shell),
            Commands::Man { command } => Action::Man(command),
        };
        (global, action)
    }
}
