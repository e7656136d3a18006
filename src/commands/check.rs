//! `perfguard compare` and `perfguard check`: the gate itself.

use std::path::Path;

use super::{CheckOptions, CompareFiles, Error, Global, compare_options, emit, exit_code};
use crate::baselines;
use crate::compare::{self, CompareOptions};
use crate::config::{self, ConfigError};
use crate::results::Results;

/// Read a baseline given as a folder, a baseline file or a results file.
fn read_baseline_input(path: &Path) -> Result<Results, Error> {
    if path.is_dir() {
        return Ok(baselines::read_dir(path)?.results);
    }
    let text = crate::results::read_text(path)?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
    if schema.as_deref() == Some(crate::results::BASELINE_SCHEMA) {
        let name = path.display().to_string();
        return Ok(baselines::from_files(&name, &[(name.clone(), text)])?.results);
    }
    Ok(Results::read(path)?)
}

pub fn compare_files(global: &Global, options: CompareFiles) -> Result<i32, Error> {
    let baseline = read_baseline_input(&options.baseline)?;
    let current = Results::read(&options.results)?;
    // The config is optional for `compare`: thresholds come from it when present.
    let compare_options = match config::load(&global.config) {
        Ok(loaded) => compare_options(&loaded),
        Err(ConfigError::Read { .. }) => CompareOptions::default(),
        Err(e) => return Err(e.into()),
    };
    let mut comparison = compare::compare(
        &baseline,
        &options.baseline.display().to_string(),
        &current,
        &compare_options,
    );
    comparison.current.source = options.results.display().to_string();
    emit(&comparison, options.format, &options.reports, global)?;
    Ok(exit_code(&comparison))
}

/// The gate; see [`super::gate`] for how git takes part.
pub fn check(global: &Global, options: CheckOptions) -> Result<i32, Error> {
    super::gate::check(global, options)
}
