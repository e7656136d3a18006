//! `perfguard merge`: join the results files of `--shard` runs (a CI matrix)
//! into one, refusing shards of different commits or overlapping ids.

use std::path::PathBuf;

use super::{Error, Global};
use crate::exit_codes;
use crate::progress::Verbosity;
use crate::results::Results;

pub struct MergeOptions {
    pub files: Vec<PathBuf>,
    /// `-` is stdout.
    pub out: PathBuf,
}

pub fn merge(global: &Global, options: MergeOptions) -> Result<i32, Error> {
    let mut parts = Vec::with_capacity(options.files.len());
    for path in &options.files {
        parts.push((path.clone(), Results::read(path)?));
    }
    let merged = crate::shard::merge_results(parts)?;
    if options.out.as_os_str() == "-" {
        super::print(crate::results::to_pretty_json(&merged).as_bytes())?;
    } else {
        merged.write(&options.out)?;
        if global.verbosity != Verbosity::Quiet {
            eprintln!(
                "perfguard: merged {} file(s) ({} benchmarks, {} probes) into {}",
                options.files.len(),
                merged.benches.len(),
                merged.probes.len(),
                options.out.display()
            );
        }
    }
    Ok(exit_codes::NO_REGRESSION)
}
