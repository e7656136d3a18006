//! Query counts are deterministic, so a probe is compared exactly: its
//! statements against the baseline's (plus `allow`, per probe and per
//! fingerprint), and against its absolute budget `max_queries`. A fingerprint
//! that runs [`N_PLUS_ONE_COUNT`] times or more in one request is marked N+1.
//! Counts that differed between repeats of the current run decide nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::comparison::{
    Entry, FingerprintDiff, Growth, ProbeChange, QueryReason, Reason, Subject,
};
use crate::results::ProbeResult;

/// Fingerprints counted more often per request at the largest scale than at
/// the smallest (strict fingerprint, counts per scale).
fn growing(probe: &ProbeResult) -> Vec<(String, Vec<u64>)> {
    let (Some(first), Some(last)) = (probe.scales.first(), probe.scales.last()) else {
        return Vec::new();
    };
    last.statements
        .iter()
        .filter(|(key, count)| **count > first.statements.get(*key).copied().unwrap_or(0))
        .map(|(key, _)| {
            let counts = probe
                .scales
                .iter()
                .map(|s| s.statements.get(key).copied().unwrap_or(0))
                .collect();
            (key.clone(), counts)
        })
        .collect()
}

/// What grows with data now, each marked known when it grew in the baseline
/// too or the baseline was measured without scales.
fn growth(base: Option<&ProbeResult>, now: &ProbeResult) -> Vec<Growth> {
    let grew_before: Option<BTreeSet<String>> = base
        .filter(|b| !b.scales.is_empty())
        .map(|b| growing(b).into_iter().map(|(key, _)| key).collect());
    growing(now)
        .into_iter()
        .map(|(key, counts)| Growth {
            readable: now
                .statements
                .get(&key)
                .map_or_else(|| key.clone(), |c| c.readable.clone()),
            scales: now.scales.iter().map(|s| s.scale).collect(),
            counts,
            known: match (&grew_before, base) {
                (Some(before), _) => before.contains(&key),
                (None, Some(_)) => true,
                (None, None) => false,
            },
            fingerprint: key,
        })
        .collect()
}

/// A fingerprint that runs this many times in one request is marked N+1.
pub const N_PLUS_ONE_COUNT: u64 = 5;

/// Per-fingerprint counts before and after, every fingerprint of either side.
fn fingerprint_diffs(base: Option<&ProbeResult>, now: &ProbeResult) -> Vec<FingerprintDiff> {
    let empty = BTreeMap::new();
    let before = base.map(|b| &b.statements).unwrap_or(&empty);
    let keys: BTreeSet<&String> = before.keys().chain(now.statements.keys()).collect();
    let mut diffs: Vec<FingerprintDiff> = keys
        .into_iter()
        .map(|key| {
            let old = before.get(key);
            let new = now.statements.get(key);
            let after = new.map_or(0, |c| c.count);
            FingerprintDiff {
                fingerprint: key.clone(),
                readable: new.or(old).map(|c| c.readable.clone()).unwrap_or_default(),
                before: old.map_or(0, |c| c.count),
                after,
                n_plus_one: after >= N_PLUS_ONE_COUNT,
            }
        })
        .collect();
    diffs.sort_by(|a, b| {
        let growth = |d: &FingerprintDiff| d.after as i64 - d.before as i64;
        growth(b)
            .cmp(&growth(a))
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    diffs
}

fn excluded_total(probe: &ProbeResult) -> u64 {
    probe.excluded.values().map(|c| c.count).sum()
}

/// A probe in the baseline that is not probed now.
fn missing_probe(id: &str, base: &ProbeResult) -> Entry {
    Entry {
        id: id.to_string(),
        subject: Subject::Probe(ProbeChange {
            endpoint: base.endpoint.clone(),
            baseline_total: Some(base.total_statements),
            current_total: None,
            max_queries: base.max_queries,
            allow: base.allow,
            changed: Vec::new(),
            unstable: Vec::new(),
            excluded_before: excluded_total(base),
            excluded_after: 0,
            fingerprints: Vec::new(),
            growth: Vec::new(),
        }),
        reason: Reason::Missing {
            probe: true,
            paired_base: None,
        },
    }
}

pub(super) fn compare_probes(
    baseline: &BTreeMap<String, ProbeResult>,
    current: &BTreeMap<String, ProbeResult>,
) -> Vec<Entry> {
    let mut entries = Vec::new();
    let ids: BTreeSet<&String> = baseline.keys().chain(current.keys()).collect();
    for id in ids {
        let base = baseline.get(id);
        let Some(now) = current.get(id) else {
            let base = base.expect("the id came from one of the maps");
            entries.push(missing_probe(id, base));
            continue;
        };
        let fingerprints = fingerprint_diffs(base, now);
        let changed: Vec<FingerprintDiff> = fingerprints
            .iter()
            .filter(|d| d.before != d.after)
            .cloned()
            .collect();
        let growth = growth(base, now);
        let reason = query_reason(base, now, &changed, &growth);
        entries.push(Entry {
            id: id.clone(),
            subject: Subject::Probe(ProbeChange {
                endpoint: now.endpoint.clone(),
                baseline_total: base.map(|b| b.total_statements),
                current_total: Some(now.total_statements),
                max_queries: now.max_queries,
                allow: now.allow,
                changed,
                unstable: now.unstable.clone(),
                excluded_before: base.map_or(0, excluded_total),
                excluded_after: excluded_total(now),
                fingerprints,
                growth,
            }),
            reason: Reason::Queries(reason),
        });
    }
    entries
}

/// The rule for one probe, in order: over its budget; counts unstable between
/// repeats; a fingerprint that grows with the data and did not in the
/// baseline; not in the baseline; grown beyond `allow` (in total or for one
/// fingerprint); fewer; the same; grown within `allow`.
fn query_reason(
    base: Option<&ProbeResult>,
    now: &ProbeResult,
    changed: &[FingerprintDiff],
    growth: &[Growth],
) -> QueryReason {
    let total = now.total_statements;
    let allow = now.allow;
    let grown: Vec<FingerprintDiff> = changed
        .iter()
        .filter(|d| d.after > d.before + allow)
        .cloned()
        .collect();
    if let Some(budget) = now.max_queries.filter(|budget| total > *budget) {
        return QueryReason::OverBudget {
            total,
            budget,
            before: base.map(|b| b.total_statements),
            grown,
        };
    }
    if !now.unstable.is_empty() {
        return QueryReason::Unstable {
            repeat_totals: now.repeat_totals.clone(),
            fingerprints: now.unstable.clone(),
        };
    }
    let new_growth: Vec<Growth> = growth.iter().filter(|g| !g.known).cloned().collect();
    if !new_growth.is_empty() {
        return QueryReason::GrowsWithData {
            total,
            before: base.map(|b| b.total_statements),
            growing: new_growth,
        };
    }
    let Some(base) = base else {
        return QueryReason::New { total };
    };
    let before = base.total_statements;
    if total > before + allow || !grown.is_empty() {
        return QueryReason::Grew {
            before,
            total,
            allow,
            grown,
        };
    }
    if total < before {
        QueryReason::Fewer { before, total }
    } else if changed.is_empty() {
        QueryReason::Same { before, total }
    } else {
        QueryReason::WithinAllow {
            before,
            total,
            allow,
        }
    }
}
