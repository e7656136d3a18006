//! Reads the files criterion writes under `CRITERION_HOME`: every
//! `<bench dir>/new/benchmark.json` (the id) and `new/sample.json` (the samples).
//! Accepts criterion 0.5 to 0.8 layouts (snake_case keys) and the older
//! capitalised schema (`Iters`, `Times`, `FullId`...).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::results::{BenchRun, round_ns};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read criterion output: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid criterion JSON: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error(
        "benchmark {id:?}: criterion wrote it twice ({first} and {second}); give the benchmarks distinct names"
    )]
    Duplicate {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// Look a key up ignoring case and `_` (so `full_id`, `FullId` and `fullId` match).
fn get<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    let normalize = |k: &str| {
        k.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let wanted = normalize(key);
    object
        .as_object()?
        .iter()
        .find(|(k, _)| normalize(k) == wanted)
        .map(|(_, v)| v)
}

fn read_json(path: &Path) -> Result<Value, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReadError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn numbers(path: &Path, value: Option<&Value>, key: &str) -> Result<Vec<f64>, ReadError> {
    let malformed = |message: String| ReadError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let items = value
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(format!("no {key:?} array")))?;
    items
        .iter()
        .map(|item| {
            item.as_f64()
                .ok_or_else(|| malformed(format!("{key:?} holds a non-number: {item}")))
        })
        .collect()
}

/// Read one `new/` directory: the benchmark's id and its per-iteration times.
pub fn read_measurement(new_dir: &Path) -> Result<(String, BenchRun), ReadError> {
    let (id, iters, times, sample_path) = read_samples(new_dir)?;
    if iters.len() != times.len() {
        return Err(ReadError::Malformed {
            path: sample_path,
            message: format!("{} iteration counts but {} times", iters.len(), times.len()),
        });
    }
    let per_iteration_ns = iters
        .iter()
        .zip(&times)
        .map(|(iterations, time_ns)| {
            if *iterations > 0.0 {
                round_ns(time_ns / iterations)
            } else {
                f64::NAN
            }
        })
        .collect();
    Ok((id, BenchRun::timed(per_iteration_ns)))
}

/// The id, the iteration counts and the times of one `new/` directory, and
/// the path of its `sample.json`.
fn read_samples(new_dir: &Path) -> Result<(String, Vec<f64>, Vec<f64>, PathBuf), ReadError> {
    let benchmark_path = new_dir.join("benchmark.json");
    let sample_path = new_dir.join("sample.json");
    let benchmark = read_json(&benchmark_path)?;
    let id = get(&benchmark, "full_id")
        .or_else(|| get(&benchmark, "title"))
        .and_then(Value::as_str)
        .ok_or_else(|| ReadError::Malformed {
            path: benchmark_path.clone(),
            message: "no \"full_id\"".into(),
        })?
        .to_string();
    let sample = read_json(&sample_path)?;
    let iters = numbers(&sample_path, get(&sample, "iters"), "iters")?;
    let times = numbers(&sample_path, get(&sample, "times"), "times")?;
    Ok((id, iters, times, sample_path))
}

/// Every benchmark under a criterion home directory, by full id.
pub fn read_criterion_home(home: &Path) -> Result<BTreeMap<String, BenchRun>, ReadError> {
    read_home(home, read_measurement)
}

/// The iteration count of each sample of every benchmark under a criterion
/// home directory, by full id.
pub fn read_iterations(home: &Path) -> Result<BTreeMap<String, Vec<f64>>, ReadError> {
    read_home(home, |new_dir| {
        read_samples(new_dir).map(|(id, iters, _, _)| (id, iters))
    })
}

fn read_home<T>(
    home: &Path,
    read: impl Fn(&Path) -> Result<(String, T), ReadError>,
) -> Result<BTreeMap<String, T>, ReadError> {
    let mut found: BTreeMap<String, (PathBuf, T)> = BTreeMap::new();
    let mut pending = vec![home.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| ReadError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut children: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        children.sort();
        for child in children {
            let is_new = child.file_name().is_some_and(|n| n == "new");
            if is_new
                && child.join("sample.json").is_file()
                && child.join("benchmark.json").is_file()
            {
                let (id, run) = read(&child)?;
                if let Some((first, _)) = found.get(&id) {
                    return Err(ReadError::Duplicate {
                        id,
                        first: first.clone(),
                        second: child,
                    });
                }
                found.insert(id, (child, run));
            } else if !is_new
                && child
                    .file_name()
                    .is_some_and(|n| n != "report" && n != "base" && n != "change")
            {
                pending.push(child);
            }
        }
    }
    Ok(found.into_iter().map(|(id, (_, run))| (id, run)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lookup_ignores_case_and_underscores() {
        let value: Value = serde_json::json!({"FullId": "a/b", "sampling_mode": "Linear"});
        assert_eq!(get(&value, "full_id").and_then(Value::as_str), Some("a/b"));
        assert!(get(&value, "SamplingMode").is_some());
    }
}
