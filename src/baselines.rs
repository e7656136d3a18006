//! The `baselines/` folder: one `<suite>.json` per bench suite and
//! `probes.json`, read into one [`Results`] and written atomically per file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::results::{
    BASELINE_SCHEMA, BaselineFile, BaselineKind, BenchResult, FileError, ProbeResult, Results,
    to_pretty_json, write_atomic,
};

/// File name of the probes baseline.
pub const PROBES_FILE: &str = "probes.json";

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{dir}: no baselines found; record them with `perfguard baseline record` and commit the folder"
    )]
    Empty { dir: String },
    #[error(
        "benchmark {id:?} appears in both {first} and {second}; a benchmark belongs to one suite"
    )]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
    #[error("{dir}: cannot list the baselines folder: {source}")]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Baselines read into one set, with the files they came from.
#[derive(Clone, Debug)]
pub struct BaselineSet {
    pub results: Results,
    pub files: Vec<String>,
}

/// Parse baseline files given as (display name, contents) pairs, e.g. read from
/// a directory or from a git tree. `where_` names the source in errors.
pub fn from_files(where_: &str, files: &[(String, String)]) -> Result<BaselineSet, BaselineError> {
    let mut parsed: Vec<(String, BaselineFile)> = Vec::new();
    for (name, text) in files {
        let file = BaselineFile::parse(Path::new(name), text)?;
        parsed.push((name.clone(), file));
    }
    if parsed.is_empty() {
        return Err(BaselineError::Empty {
            dir: where_.to_string(),
        });
    }
    // Revision and machine: of the first bench suite file (timings depend on them).
    parsed.sort_by_key(|(name, file)| (file.kind != BaselineKind::Bench, name.clone()));
    let first = &parsed[0].1;
    let mut results = Results::new(first.revision.clone(), first.machine.clone());
    results.fingerprint_version = parsed
        .iter()
        .find(|(_, f)| f.kind == BaselineKind::Probes)
        .map(|(_, f)| f.fingerprint_version)
        .unwrap_or(first.fingerprint_version);
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for (name, file) in &parsed {
        for (id, bench) in &file.benches {
            if let Some(first) = origin.insert(id.clone(), name.clone()) {
                return Err(BaselineError::Duplicate {
                    id: id.clone(),
                    first,
                    second: name.clone(),
                });
            }
            results.benches.insert(id.clone(), bench.clone());
        }
        for (id, probe) in &file.probes {
            results.probes.insert(id.clone(), probe.clone());
        }
    }
    Ok(BaselineSet {
        results,
        files: parsed.into_iter().map(|(name, _)| name).collect(),
    })
}

/// Read every `*.json` in a baselines folder.
pub fn read_dir(dir: &Path) -> Result<BaselineSet, BaselineError> {
    if !dir.is_dir() {
        return Err(BaselineError::Empty {
            dir: dir.display().to_string(),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|source| BaselineError::List {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = crate::results::read_text(&path)?;
        files.push((path.display().to_string(), text));
    }
    from_files(&dir.display().to_string(), &files)
}

/// The baseline files `results` splits into: `<suite>.json` per suite, and
/// `probes.json` when it holds probes.
pub fn split_into_files(results: &Results) -> Vec<(String, BaselineFile)> {
    let mut by_suite: BTreeMap<String, BTreeMap<String, BenchResult>> = BTreeMap::new();
    for (id, bench) in &results.benches {
        by_suite
            .entry(bench.suite.clone())
            .or_default()
            .insert(id.clone(), bench.clone());
    }
    let file = |kind: BaselineKind, suite: &str, benches, probes: BTreeMap<String, ProbeResult>| {
        BaselineFile {
            schema: BASELINE_SCHEMA.to_string(),
            kind,
            suite: suite.to_string(),
            revision: results.revision.clone(),
            machine: results.machine.clone(),
            fingerprint_version: results.fingerprint_version,
            benches,
            probes,
        }
    };
    let mut files: Vec<(String, BaselineFile)> = by_suite
        .into_iter()
        .map(|(suite, benches)| {
            (
                format!("{suite}.json"),
                file(BaselineKind::Bench, &suite, benches, BTreeMap::new()),
            )
        })
        .collect();
    if !results.probes.is_empty() {
        files.push((
            PROBES_FILE.to_string(),
            file(
                BaselineKind::Probes,
                "probes",
                BTreeMap::new(),
                results.probes.clone(),
            ),
        ));
    }
    files
}

/// Write the baseline files for `results` into `dir`, each atomically.
/// Returns the paths written.
pub fn write(dir: &Path, results: &Results) -> Result<Vec<PathBuf>, BaselineError> {
    let mut written = Vec::new();
    for (name, file) in split_into_files(results) {
        let path = dir.join(name);
        write_atomic(&path, &to_pretty_json(&file))?;
        written.push(path);
    }
    Ok(written)
}
