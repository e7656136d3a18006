//! The comparison file's JSON shape (`perfguard.comparison.v1`), kept apart from
//! the typed model: an entry is written flat (`kind`, `suite`, `verdict`,
//! `rule`, `bench`, `probe`, `accepted`) with its reason as data beside it, and
//! the counts and outcome are written for readers of the file though the model
//! derives them. Reading checks that what the file says is one consistent state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Acceptance, BenchChange, COMPARISON_SCHEMA, Comparison, Entry, EntryKind, LoadChange, Outcome,
    ProbeChange, Reason, Side, Subject, Verdict,
};

#[derive(Serialize, Deserialize)]
pub(super) struct EntryWire {
    id: String,
    kind: EntryKind,
    suite: String,
    verdict: Verdict,
    /// The reason in the standard words.
    rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bench: Option<BenchChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probe: Option<ProbeChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    load: Option<Box<LoadChange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accepted: Option<Acceptance>,
    /// Absent in files written before reasons were data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Reason>,
}

impl From<Entry> for EntryWire {
    fn from(entry: Entry) -> EntryWire {
        let kind = entry.kind();
        let verdict = entry.verdict();
        let rule = entry.rule();
        let suite = entry.suite().to_string();
        let accepted = entry.accepted().cloned();
        let (bench, probe, load) = match entry.subject {
            Subject::Bench { change, .. } => (change, None, None),
            Subject::Probe(change) => (None, Some(change), None),
            Subject::Load(change) => (None, None, Some(change)),
        };
        EntryWire {
            id: entry.id,
            kind,
            suite,
            verdict,
            rule,
            bench,
            probe,
            load,
            accepted,
            reason: Some(entry.reason),
        }
    }
}

impl TryFrom<EntryWire> for Entry {
    type Error = String;

    fn try_from(wire: EntryWire) -> Result<Entry, String> {
        let id = wire.id;
        if wire.load.is_some() && wire.kind != EntryKind::Load {
            return Err(format!(
                "entry {id:?} carries a load change but is not a load"
            ));
        }
        let subject = match (wire.kind, wire.bench, wire.probe) {
            (EntryKind::Load, None, None) => match wire.load {
                Some(change) => Subject::Load(change),
                None => return Err(format!("entry {id:?} is a load without its load change")),
            },
            (EntryKind::Load, _, _) => {
                return Err(format!(
                    "entry {id:?} is a load but carries a bench or probe change"
                ));
            }
            (EntryKind::Bench, change, None) => Subject::Bench {
                suite: wire.suite,
                change,
            },
            (EntryKind::Probe, None, Some(change)) => Subject::Probe(change),
            (EntryKind::Bench, _, Some(_)) => {
                return Err(format!(
                    "entry {id:?} is a bench but carries a probe change"
                ));
            }
            (EntryKind::Probe, _, None) => {
                return Err(format!("entry {id:?} is a probe without its probe change"));
            }
            (EntryKind::Probe, Some(_), Some(_)) => {
                return Err(format!(
                    "entry {id:?} is a probe but carries a bench change"
                ));
            }
        };
        let reason = match wire.reason {
            Some(reason) => reason,
            None => Reason::Described {
                verdict: wire.verdict,
                text: wire.rule,
                accepted: wire.accepted,
            },
        };
        if reason.verdict() != wire.verdict {
            return Err(format!(
                "entry {id:?} says {:?} but its reason gives {:?}",
                wire.verdict.as_str(),
                reason.verdict().as_str()
            ));
        }
        Ok(Entry {
            id,
            subject,
            reason,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ComparisonWire {
    schema: String,
    baseline: Side,
    current: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reproduce: Option<String>,
    alpha: f64,
    entries: Vec<Entry>,
    #[serde(default)]
    warnings: Vec<String>,
    /// Derived from the entries; written for readers, ignored when read.
    #[serde(default)]
    counts: BTreeMap<Verdict, usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
}

impl From<Comparison> for ComparisonWire {
    fn from(comparison: Comparison) -> ComparisonWire {
        let counts = comparison.counts();
        let outcome = Some(comparison.outcome());
        ComparisonWire {
            schema: COMPARISON_SCHEMA.to_string(),
            baseline: comparison.baseline,
            current: comparison.current,
            base_ref: comparison.base_ref,
            reproduce: comparison.reproduce,
            alpha: comparison.alpha,
            entries: comparison.entries,
            warnings: comparison.warnings,
            counts,
            outcome,
        }
    }
}

impl TryFrom<ComparisonWire> for Comparison {
    type Error = String;

    fn try_from(wire: ComparisonWire) -> Result<Comparison, String> {
        let mut comparison = Comparison::new(wire.baseline, wire.current, wire.alpha, wire.entries);
        comparison.base_ref = wire.base_ref;
        comparison.reproduce = wire.reproduce;
        comparison.warnings = wire.warnings;
        Ok(comparison)
    }
}
