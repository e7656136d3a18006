//! Shards for a CI matrix: `--shard K/N` picks a deterministic 1/N of the
//! suites and probes by a stable hash of their ids, and `perfguard merge`
//! joins the shards' results back into one file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::results::Results;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error(
        "--shard {text:?}: expected K/N with whole numbers, e.g. `--shard 2/4` for the second of four shards"
    )]
    Syntax { text: String },
    #[error(
        "--shard {text:?}: shard numbers start at 1; the first of {count} shards is `1/{count}`"
    )]
    ZeroIndex { text: String, count: usize },
    #[error("--shard {text:?}: there must be at least one shard, e.g. `1/1`")]
    ZeroCount { text: String },
    #[error(
        "--shard {text:?}: shard {index} does not exist when there are {count}; K must be between 1 and {count}"
    )]
    IndexTooLarge {
        text: String,
        index: usize,
        count: usize,
    },
}

/// Parse `K/N` (1-based shard `K` of `N`).
pub fn parse_shard(text: &str) -> Result<(usize, usize), ShardError> {
    let syntax = || ShardError::Syntax {
        text: text.to_string(),
    };
    let (index, count) = text.trim().split_once('/').ok_or_else(syntax)?;
    let index: usize = index.trim().parse().map_err(|_| syntax())?;
    let count: usize = count.trim().parse().map_err(|_| syntax())?;
    if count == 0 {
        return Err(ShardError::ZeroCount {
            text: text.to_string(),
        });
    }
    if index == 0 {
        return Err(ShardError::ZeroIndex {
            text: text.to_string(),
            count,
        });
    }
    if index > count {
        return Err(ShardError::IndexTooLarge {
            text: text.to_string(),
            index,
            count,
        });
    }
    Ok((index, count))
}

/// The ids that belong to shard `K` of `N` (`shard = (K, N)`, 1-based), in
/// their input order: those whose FNV-1a hash modulo `N` is `K - 1`. The hash
/// depends on the id alone, so every machine agrees and adding an id never
/// moves another. Across the `N` shards every id is selected exactly once.
/// `N == 0` or `K` outside `1..=N` (rejected by [`parse_shard`]) selects nothing.
pub fn shard_select(ids: &[String], shard: (usize, usize)) -> Vec<String> {
    let (index, count) = shard;
    if count == 0 || index == 0 || index > count {
        return Vec::new();
    }
    ids.iter()
        .filter(|id| fnv1a_64(id.as_bytes()) % count as u64 == (index - 1) as u64)
        .cloned()
        .collect()
}

/// 64-bit FNV-1a (Fowler–Noll–Vo), a tiny hash that is stable across
/// platforms and Rust versions, unlike `std`'s `DefaultHasher`.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// `1/4, 3/4` for a message.
fn list_shards(indexes: &[usize], count: usize) -> String {
    let names: Vec<String> = indexes.iter().map(|k| format!("{k}/{count}")).collect();
    names.join(", ")
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(
        "nothing to merge: pass the result files of every shard, e.g. `perfguard merge shard-*.json --out results.json`"
    )]
    NoInputs,
    #[error(
        "{path} is not the results of a `--shard K/N` run, so merge cannot tell whether the set is complete; merge the files of one shard matrix, or gate a whole run with `check --results {path}`"
    )]
    NotAShard { path: PathBuf },
    #[error(
        "{first_path} is shard {first} and {other_path} is shard {other} of a different set ({why}); merge the shards of one matrix run with one configuration"
    )]
    MixedShards {
        first_path: PathBuf,
        first: String,
        other_path: PathBuf,
        other: String,
        why: &'static str,
    },
    #[error("{first_path} and {other_path} are both shard {index}/{count}; pass each shard once")]
    DuplicateShard {
        index: usize,
        count: usize,
        first_path: PathBuf,
        other_path: PathBuf,
    },
    #[error(
        "shard {} of the set {} missing (the files hold {}); a lost shard would pass as `missing` entries: download every shard's results and merge them all", list_shards(missing, *count), if missing.len() == 1 { "is" } else { "are" }, list_shards(present, *count)
    )]
    MissingShards {
        count: usize,
        missing: Vec<usize>,
        present: Vec<usize>,
    },
    #[error(
        "{first_path} measured commit {first_commit} but {other_path} measured commit {other_commit}; shards must all run on the same commit (re-run the matrix on one commit)"
    )]
    DifferentCommits {
        first_path: PathBuf,
        first_commit: String,
        other_path: PathBuf,
        other_commit: String,
    },
    #[error(
        "{first_path} and {other_path} both hold {kind} {id:?}; each id must come from one shard only (were they run with the same --shard?)"
    )]
    Overlap {
        kind: &'static str,
        id: String,
        first_path: PathBuf,
        other_path: PathBuf,
    },
    #[error(
        "{first_path} grouped queries with fingerprint version {first_version} but {other_path} with version {other_version}; run every shard with the same perfguard version"
    )]
    FingerprintVersion {
        first_path: PathBuf,
        first_version: u32,
        other_path: PathBuf,
        other_version: u32,
    },
}

/// Check that `parts` are every shard of one `--shard K/N` set, once each.
fn check_complete(parts: &[(PathBuf, Results)]) -> Result<(), MergeError> {
    let Some((first_path, first)) = parts.first() else {
        return Err(MergeError::NoInputs);
    };
    let shard_of = |path: &PathBuf, results: &Results| {
        results
            .shard
            .clone()
            .ok_or_else(|| MergeError::NotAShard { path: path.clone() })
    };
    let first_shard = shard_of(first_path, first)?;
    let mut seen: BTreeMap<usize, &PathBuf> = BTreeMap::new();
    for (path, results) in parts {
        let shard = shard_of(path, results)?;
        let why = if shard.count != first_shard.count {
            Some("another shard count")
        } else if shard.selected != first_shard.selected {
            Some("other suites and probes selected")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(MergeError::MixedShards {
                first_path: first_path.clone(),
                first: format!("{}/{}", first_shard.index, first_shard.count),
                other_path: path.clone(),
                other: format!("{}/{}", shard.index, shard.count),
                why,
            });
        }
        if let Some(earlier) = seen.insert(shard.index, path) {
            return Err(MergeError::DuplicateShard {
                index: shard.index,
                count: shard.count,
                first_path: earlier.clone(),
                other_path: path.clone(),
            });
        }
    }
    let missing: Vec<usize> = (1..=first_shard.count)
        .filter(|k| !seen.contains_key(k))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards {
            count: first_shard.count,
            missing,
            present: seen.keys().copied().collect(),
        });
    }
    Ok(())
}

/// Join the results of every shard of one `--shard K/N` set, measured on one
/// commit; an incomplete, overlapping or mixed set is refused. The merged
/// revision is the first part's, dirty when any part was; its machine is the
/// first part's (shards of one matrix run on the same runner type).
pub fn merge_results(parts: Vec<(PathBuf, Results)>) -> Result<Results, MergeError> {
    check_complete(&parts)?;
    let mut parts = parts.into_iter();
    let (first_path, mut merged) = parts.next().ok_or(MergeError::NoInputs)?;
    let commit_text = |commit: &Option<String>| {
        commit
            .clone()
            .unwrap_or_else(|| "(none: not measured in git)".to_string())
    };
    let mut bench_origin: BTreeMap<String, PathBuf> = merged
        .benches
        .keys()
        .map(|id| (id.clone(), first_path.clone()))
        .collect();
    let mut probe_origin: BTreeMap<String, PathBuf> = merged
        .probes
        .keys()
        .map(|id| (id.clone(), first_path.clone()))
        .collect();
    for (path, part) in parts {
        if part.revision.commit != merged.revision.commit {
            return Err(MergeError::DifferentCommits {
                first_path: first_path.clone(),
                first_commit: commit_text(&merged.revision.commit),
                other_path: path,
                other_commit: commit_text(&part.revision.commit),
            });
        }
        if part.fingerprint_version != merged.fingerprint_version {
            return Err(MergeError::FingerprintVersion {
                first_path: first_path.clone(),
                first_version: merged.fingerprint_version,
                other_path: path,
                other_version: part.fingerprint_version,
            });
        }
        merged.revision.dirty |= part.revision.dirty;
        for (id, bench) in part.benches {
            if let Some(first) = bench_origin.get(&id) {
                return Err(MergeError::Overlap {
                    kind: "benchmark",
                    id,
                    first_path: first.clone(),
                    other_path: path,
                });
            }
            bench_origin.insert(id.clone(), path.clone());
            merged.benches.insert(id, bench);
        }
        for (id, probe) in part.probes {
            if let Some(first) = probe_origin.get(&id) {
                return Err(MergeError::Overlap {
                    kind: "probe",
                    id,
                    first_path: first.clone(),
                    other_path: path,
                });
            }
            probe_origin.insert(id.clone(), path.clone());
            merged.probes.insert(id, probe);
        }
    }
    merged.shard = None;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::fnv1a_64;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
