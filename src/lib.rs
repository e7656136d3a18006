//! perfguard: a performance-regression gate for CI. It measures criterion
//! benchmarks and per-endpoint database query counts, compares them with stored
//! baselines, and decides whether a change may merge.

//!
//! The binary is the product; the library's public modules are what
//! perfguard's own benchmarks, tests and examples build on, and what a tool
//! reading perfguard's files can use:
//!
//! - [`results`] and [`comparison`]: the file models (`perfguard.results.v1`,
//!   `perfguard.comparison.v1`);
//! - [`compare`]: every rule that turns measurements into a verdict, on top of
//!   [`stats`];
//! - [`report`]: every output format;
//! - [`bench::reader`], [`probe::fingerprint`], [`probe::proxy`]: reading
//!   criterion's output, SQL fingerprints, the counting proxy;
//! - [`shard`]: `--shard K/N` selection and merging;
//! - [`cli`], [`main_impl`], [`exit_codes`], [`interrupt`]: what `main` needs.
//!
//! Everything else (configuration, git, the commands) is private to the binary.

mod baselines;
pub mod bench;
pub mod cli;
mod commands;
pub mod compare;
pub mod comparison;
mod config;
pub mod exit_codes;
mod git;
pub mod interrupt;
mod load;
mod machine;
pub mod probe;
mod progress;
pub mod report;
pub mod results;
mod revision;
pub mod shard;
pub mod stats;

use cli::{Action, Cli};

/// Run perfguard with parsed arguments; returns the process exit code.
pub fn main_impl(cli: Cli) -> i32 {
    let (global, action) = cli.into_action();
    let outcome = match action {
        Action::Run(options) => commands::run(&global, options),
        Action::Record(options) => commands::record(&global, options),
        Action::Show => commands::show(&global),
        Action::Compare(options) => commands::compare_files(&global, options),
        Action::Check(options) => commands::check(&global, options),
        Action::Merge(options) => commands::merge(&global, options),
        Action::Report(options) => commands::render_report(&global, options),
        Action::Proxy { upstream, listen } => commands::proxy(&upstream, listen),
        Action::Init(options) => commands::init(&global, options),
        Action::Hook(action) => commands::hook(&global, action),
        Action::Completions(shell) => {
            let mut script = Vec::new();
            cli::write_completions(shell, &mut script);
            commands::print(&script).map(|()| exit_codes::NO_REGRESSION)
        }
        Action::Man(command) => {
            let mut page = Vec::new();
            cli::write_man(command.as_deref(), &mut page)
                .map_err(commands::Error::Usage)
                .and_then(|()| commands::print(&page))
                .map(|()| exit_codes::NO_REGRESSION)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("perfguard: error: {error}");
            exit_codes::COULD_NOT_DECIDE
        }
    }
}
