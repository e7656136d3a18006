//! perfguard: a performance-regression gate for CI. It measures criterion
//! benchmarks and per-endpoint database query counts, compares them with stored
//! baselines, and decides whether a change may merge.

pub mod baselines;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod comparison;
pub mod config;
pub mod exit_codes;
pub mod git;
pub mod machine;
pub mod probe;
pub mod progress;
pub mod report;
pub mod results;
pub mod revision;
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
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("perfguard: error: {error}");
            exit_codes::COULD_NOT_DECIDE
        }
    }
}
