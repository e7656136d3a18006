//! Load probes: one endpoint's latency under load, base build against head
//! build, started alternately round after round (A B, B A, ...). Each round
//! gives each side one latency quantile; the verdict is on the rounds' log
//! ratios `ln(head / base)`, with the discipline of paired timing: rounds far
//! from the others are left out as disturbed ([`stats::undisturbed_rounds`]),
//! the interval comes from the rounds alone ([`stats::compare_rounds`]: a
//! latency quantile under load has no run-to-run prior the way a benchmark's
//! fastest sample has), p-values are Holm-adjusted across the load probes,
//! the interval rule of [`super::timing::classify`] decides at the level of a
//! sequential design ([`super::paired::Sequential`]'s O'Brien-Fleming
//! spending), and a head that fails more than 1% of its requests where the
//! base failed none is `regressed` whatever its latency.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::timing::{TimingVerdict, classify, timing_reason};
use crate::comparison::{
    Entry, ErrorRise, LOAD_ERROR_RATE, LoadChange, LoadReason, LoadSide, Reason, Subject,
    TimingSource,
};
use crate::stats;

/// Highest latency a histogram holds, microseconds (one hour).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// An empty latency histogram: microseconds from 1 µs to an hour, 3
/// significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// A latency histogram's value at `fraction`, ms; NaN when it is empty.
pub fn quantile_ms(histogram: &Histogram<u64>, fraction: f64) -> f64 {
    if histogram.is_empty() {
        f64::NAN
    } else {
        histogram.value_at_quantile(fraction) as f64 / 1000.0
    }
}

/// One side of one round of a load probe.
#[derive(Clone, Debug)]
pub struct RoundSide {
    /// Latencies of the successful requests, microseconds.
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    /// Requests that ended from the window's start on, whenever sent: what
    /// the proxy's totals (taken from the start on) are divided by.
    pub ended: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// The measured window's length.
    pub length: Duration,
    /// From the counting proxy, over the window; `None` without one.
    pub statements: Option<u64>,
    pub database_time: Option<Duration>,
    pub rows: Option<u64>,
}

impl RoundSide {
    /// The latency at `fraction`, ms; NaN when no request succeeded.
    pub fn quantile_ms(&self, fraction: f64) -> f64 {
        quantile_ms(&self.latency, fraction)
    }

    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        (self.requests - self.errors) as f64 / self.length.as_secs_f64().max(1e-9)
    }
}

/// A load probe and its rounds so far.
#[derive(Clone, Debug)]
pub struct LoadRounds {
    pub name: String,
    pub endpoint: String,
    /// The verdict's quantile: `0.95`, labelled `p95`.
    pub quantile: f64,
    pub quantile_label: String,
    /// `8 clients` or `200 requests/s`.
    pub traffic: String,
    pub duration: Duration,
    /// The practical threshold, as a fraction.
    pub threshold: f64,
    /// `(base, head)` per round.
    pub rounds: Vec<(RoundSide, RoundSide)>,
}

/// A load probe's latency change over its usable rounds.
#[derive(Clone, Debug)]
pub struct LatencyChange {
    pub change: stats::Change,
    /// Rounds where both sides answered some request.
    pub rounds: usize,
    /// Of those, left out as disturbed.
    pub disturbed: usize,
    /// Standard deviation of the kept rounds' log ratios.
    pub scatter: f64,
    pub p_adjusted: f64,
}

/// Per load probe with at least one usable round, its latency change; p-values
/// Holm-adjusted across those probes.
pub fn changes(loads: &[LoadRounds], confidence: f64) -> BTreeMap<String, LatencyChange> {
    let mut found: Vec<(String, LatencyChange)> = Vec::new();
    for load in loads {
        let ratios: Vec<f64> = load
            .rounds
            .iter()
            .map(|(base, head)| {
                (head.quantile_ms(load.quantile) / base.quantile_ms(load.quantile)).ln()
            })
            .filter(|r| r.is_finite())
            .collect();
        if ratios.is_empty() {
            continue;
        }
        let keep = stats::undisturbed_rounds(&ratios);
        let kept: Vec<f64> = ratios
            .iter()
            .zip(&keep)
            .filter_map(|(r, k)| k.then_some(*r))
            .collect();
        found.push((
            load.name.clone(),
            LatencyChange {
                change: stats::compare_rounds(&kept, confidence),
                rounds: ratios.len(),
                disturbed: keep.iter().filter(|k| !**k).count(),
                scatter: stats::standard_deviation(&kept),
                p_adjusted: f64::NAN,
            },
        ));
    }
    let adjusted = stats::holm_adjust(
        &found
            .iter()
            .map(|(_, c)| c.change.p_value)
            .collect::<Vec<_>>(),
    );
    for ((_, change), p) in found.iter_mut().zip(adjusted) {
        change.p_adjusted = p;
    }
    found.into_iter().collect()
}

/// The error rule: the head failed more than [`LOAD_ERROR_RATE`] of its
/// requests where the base failed none.
pub fn error_rise(load: &LoadRounds) -> Option<ErrorRise> {
    let (base, head) = totals(load);
    let rate = |errors: u64, requests: u64| {
        if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        }
    };
    let base_rate = rate(base.1, base.0);
    let head_rate = rate(head.1, head.0);
    if base.1 > 0 || head_rate <= LOAD_ERROR_RATE {
        return None;
    }
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, head) in &load.rounds {
        for (kind, n) in &head.error_kinds {
            *kinds.entry(kind).or_default() += n;
        }
    }
    let mut kinds: Vec<(&str, u64)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Some(ErrorRise {
        base_rate,
        head_rate,
        kinds: kinds.iter().map(|(k, n)| format!("{k} x{n}")).collect(),
    })
}

/// `((requests, errors) at the base, (requests, errors) at head)` over every round.
fn totals(load: &LoadRounds) -> ((u64, u64), (u64, u64)) {
    load.rounds
        .iter()
        .fold(((0, 0), (0, 0)), |((br, be), (hr, he)), (base, head)| {
            (
                (br + base.requests, be + base.errors),
                (hr + head.requests, he + head.errors),
            )
        })
}

/// Whether a load probe is settled at a look at `level`: regressed by its
/// errors, regressed or improved beyond the threshold at that level, or with
/// an interval wholly inside the threshold both ways.
pub fn settled(load: &LoadRounds, change: Option<&LatencyChange>, level: f64) -> bool {
    if error_rise(load).is_some() {
        return true;
    }
    let Some(latency) = change else {
        return false;
    };
    let decided = matches!(
        classify(&latency.change, latency.p_adjusted, load.threshold, level),
        TimingVerdict::Regressed | TimingVerdict::Improved
    );
    let inside = latency.change.ratio_high < 1.0 + load.threshold
        && latency.change.ratio_low > 1.0 / (1.0 + load.threshold);
    decided || inside
}

/// One side's figures over every round.
fn side(load: &LoadRounds, pick: impl Fn(&(RoundSide, RoundSide)) -> &RoundSide) -> LoadSide {
    let sides: Vec<&RoundSide> = load.rounds.iter().map(&pick).collect();
    let mut all = latency_histogram();
    for side in &sides {
        let _ = all.add(&side.latency);
    }
    let at = |fraction: f64| quantile_ms(&all, fraction);
    let requests: u64 = sides.iter().map(|s| s.requests).sum();
    let errors: u64 = sides.iter().map(|s| s.errors).sum();
    let mut error_kinds = BTreeMap::new();
    for side in &sides {
        for (kind, n) in &side.error_kinds {
            *error_kinds.entry(kind.clone()).or_default() += n;
        }
    }
    // The proxy's totals cover the requests that ended in the window's time,
    // whenever sent: divide by those.
    let ended: u64 = sides.iter().map(|s| s.ended).sum();
    let per_request = |values: Option<f64>| values.filter(|_| ended > 0).map(|v| v / ended as f64);
    let sum = |get: &dyn Fn(&RoundSide) -> Option<f64>| -> Option<f64> {
        sides.iter().map(|s| get(s)).sum::<Option<f64>>()
    };
    let distribution = if all.is_empty() {
        Vec::new()
    } else {
        DISTRIBUTION_POINTS
            .iter()
            .map(|p| [*p, at(p / 100.0)])
            .collect()
    };
    LoadSide {
        quantile_ms: sides.iter().map(|s| s.quantile_ms(load.quantile)).collect(),
        quantile_all_ms: at(load.quantile),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        throughput: sides.iter().map(|s| s.throughput()).sum::<f64>() / sides.len().max(1) as f64,
        requests,
        errors,
        error_kinds,
        statements_per_request: per_request(sum(&|s| s.statements.map(|n| n as f64))),
        database_ms_per_request: per_request(sum(&|s| {
            s.database_time.map(|d| d.as_secs_f64() * 1000.0)
        })),
        rows_per_request: per_request(sum(&|s| s.rows.map(|n| n as f64))),
        distribution,
    }
}

/// Percentiles the reports plot a latency distribution at.
const DISTRIBUTION_POINTS: [f64; 17] = [
    1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9,
    100.0,
];

/// The entries of the load probes: each decided at the level it stopped at
/// (`levels`; `alpha` for one not in it).
pub fn entries(
    loads: &[LoadRounds],
    levels: &BTreeMap<String, f64>,
    alpha: f64,
    confidence: f64,
    base_label: &str,
) -> Vec<Entry> {
    let changes = changes(loads, confidence);
    let mut entries = Vec::new();
    for load in loads {
        let base = side(load, |r| &r.0);
        let head = side(load, |r| &r.1);
        let level = levels.get(&load.name).copied().unwrap_or(alpha);
        let unmeasured = stats::Change {
            ratio: head.quantile_all_ms / base.quantile_all_ms,
            ratio_low: 0.0,
            ratio_high: f64::INFINITY,
            p_value: 1.0,
            degrees_of_freedom: 0.0,
        };
        let (change, p_adjusted, rounds, disturbed) = match changes.get(&load.name) {
            Some(c) => (c.change, c.p_adjusted, c.rounds, c.disturbed),
            None => (unmeasured, 1.0, load.rounds.len(), 0),
        };
        let mut latency = timing_reason(
            &change,
            p_adjusted,
            load.threshold,
            level,
            TimingSource::Paired {
                base_label: base_label.to_string(),
                rounds,
                disturbed,
            },
        );
        if !change.ratio.is_finite() {
            latency.ratio = 1.0;
        }
        let reason = LoadReason {
            quantile: load.quantile_label.clone(),
            base_ms: base.quantile_all_ms,
            head_ms: head.quantile_all_ms,
            latency,
            errors: error_rise(load),
        };
        entries.push(Entry {
            id: load.name.clone(),
            subject: Subject::Load(Box::new(LoadChange {
                endpoint: load.endpoint.clone(),
                quantile: load.quantile_label.clone(),
                traffic: load.traffic.clone(),
                duration_s: load.duration.as_secs_f64(),
                base,
                head,
            })),
            reason: Reason::Load(reason),
        });
    }
    entries
}

/// The load probes whose `regressed` verdict the machine, not the code, may
/// have made: rounds whose ratios scattered (sd) beyond what `max_rounds`
/// rounds resolve at the threshold (`threshold x sqrt(max_rounds) / 4`), and
/// an interval still reaching below the threshold. One line of evidence each.
/// (The load average says nothing here: the load probe itself keeps the cores
/// busy.)
pub fn too_noisy(
    loads: &[LoadRounds],
    entries: &[Entry],
    max_rounds: u32,
    confidence: f64,
) -> Vec<String> {
    let changes = changes(loads, confidence);
    let mut distrusted = Vec::new();
    for load in loads {
        let Some(entry) = entries.iter().find(|e| e.id == load.name) else {
            continue;
        };
        let (Reason::Load(reason), Some(change)) = (&entry.reason, changes.get(&load.name)) else {
            continue;
        };
        let limit = load.threshold * f64::from(max_rounds).sqrt() / 4.0;
        if reason.verdict() == crate::comparison::Verdict::Regressed
            && reason.errors.is_none()
            && change.scatter > limit
            && reason.latency.ratio_low < 1.0 + load.threshold
        {
            distrusted.push(format!(
                "{}: {} {} [{}, {}] over {} rounds whose ratios scattered by {:.1}% (sd), beyond the {:.1}% the rounds can resolve",
                load.name,
                load.quantile_label,
                crate::comparison::percent(reason.latency.ratio),
                crate::comparison::percent(reason.latency.ratio_low),
                crate::comparison::percent(reason.latency.ratio_high),
                change.rounds,
                change.scatter * 100.0,
                limit * 100.0
            ));
        }
    }
    distrusted
}

/// Load probes whose rounds failed every request at both sides: nothing to
/// compare, and the probe itself is wrong (a path, a header, a status).
pub fn failing_everywhere(loads: &[LoadRounds]) -> Vec<(String, String)> {
    loads
        .iter()
        .filter(|load| {
            let ((br, be), (hr, he)) = totals(load);
            br > 0 && hr > 0 && be == br && he == hr
        })
        .map(|load| {
            let kinds: BTreeSet<&String> = load
                .rounds
                .iter()
                .flat_map(|(b, h)| b.error_kinds.keys().chain(h.error_kinds.keys()))
                .collect();
            (
                load.name.clone(),
                kinds.into_iter().cloned().collect::<Vec<_>>().join(", "),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comparison::Verdict;

    fn round_side(ms: f64, requests: u64, errors: u64) -> RoundSide {
        let mut latency = latency_histogram();
        for i in 0..100u64 {
            // A spread of latencies whose p95 is about `ms`.
            let value = (ms * 1000.0 * (0.5 + 0.5 * i as f64 / 95.0)) as u64;
            latency.record(value.max(1)).unwrap();
        }
        let mut error_kinds = BTreeMap::new();
        if errors > 0 {
            error_kinds.insert("HTTP 500".to_string(), errors);
        }
        RoundSide {
            latency,
            requests,
            errors,
            ended: requests,
            error_kinds,
            length: Duration::from_secs(1),
            statements: Some(3 * requests),
            database_time: Some(Duration::from_millis(requests)),
            rows: Some(requests),
        }
    }

    fn load(rounds: Vec<(f64, f64)>) -> LoadRounds {
        LoadRounds {
            name: "recommendations under load".into(),
            endpoint: "GET /products/42/recommendations".into(),
            quantile: 0.95,
            quantile_label: "p95".into(),
            traffic: "8 clients".into(),
            duration: Duration::from_secs(1),
            threshold: 0.10,
            rounds: rounds
                .into_iter()
                .map(|(b, h)| (round_side(b, 100, 0), round_side(h, 100, 0)))
                .collect(),
        }
    }

    fn verdict(load: &LoadRounds) -> Verdict {
        entries(
            std::slice::from_ref(load),
            &BTreeMap::new(),
            0.05,
            0.95,
            "merge-base",
        )[0]
        .verdict()
    }

    #[test]
    fn a_steady_slowdown_beyond_the_threshold_regresses() {
        let load = load(vec![
            (10.0, 15.1),
            (10.2, 15.0),
            (9.9, 14.8),
            (10.1, 15.3),
            (10.0, 14.9),
        ]);
        assert_eq!(verdict(&load), Verdict::Regressed);
        let entry = &entries(&[load], &BTreeMap::new(), 0.05, 0.95, "merge-base")[0];
        let change = entry.load().unwrap();
        assert_eq!(change.base.statements_per_request, Some(3.0));
        assert_eq!(change.base.database_ms_per_request, Some(1.0));
        assert!(entry.rule().starts_with("p95 10."), "{}", entry.rule());
    }

    #[test]
    fn rounds_that_agree_on_no_change_are_unchanged() {
        let load = load(vec![
            (10.0, 10.1),
            (10.2, 10.0),
            (9.9, 10.0),
            (10.1, 10.1),
            (10.0, 9.9),
        ]);
        assert_eq!(verdict(&load), Verdict::Unchanged);
        let change = &changes(std::slice::from_ref(&load), 0.95)[&load.name];
        assert!(settled(&load, Some(change), 0.05));
    }

    #[test]
    fn rounds_that_disagree_are_not_a_regression() {
        let load = load(vec![(10.0, 13.0), (10.0, 8.0), (10.0, 12.5), (10.0, 9.0)]);
        assert_ne!(verdict(&load), Verdict::Regressed);
    }

    #[test]
    fn head_errors_above_one_percent_regress_whatever_the_latency() {
        let mut load = load(vec![(10.0, 10.0), (10.0, 10.0), (10.0, 10.0)]);
        load.rounds[1].1 = round_side(10.0, 100, 5);
        let rise = error_rise(&load).expect("5 of 300 failed at head");
        assert!((rise.head_rate - 5.0 / 300.0).abs() < 1e-9);
        assert_eq!(rise.kinds, vec!["HTTP 500 x5".to_string()]);
        assert_eq!(verdict(&load), Verdict::Regressed);
        // Where the base failed too, errors alone do not decide.
        load.rounds[0].0 = round_side(10.0, 100, 1);
        assert!(error_rise(&load).is_none());
    }

    #[test]
    fn one_round_settles_nothing() {
        let load = load(vec![(10.0, 20.0)]);
        let change = &changes(std::slice::from_ref(&load), 0.95)[&load.name];
        assert!(!settled(&load, Some(change), 0.05));
        assert_eq!(verdict(&load), Verdict::Inconclusive);
    }

    #[test]
    fn a_probe_failing_at_both_sides_is_named() {
        let mut load = load(vec![(10.0, 10.0)]);
        load.rounds[0] = (round_side(10.0, 50, 50), round_side(10.0, 40, 40));
        let failing = failing_everywhere(&[load]);
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].1, "HTTP 500");
    }

    #[test]
    fn every_report_format_shows_the_load_probe_and_the_file_reads_back() {
        use crate::comparison::{Comparison, Side};
        use crate::report::{Format, ReportOptions, render_to_string};
        let slow = load(vec![(10.0, 15.1), (10.2, 15.0), (9.9, 14.8), (10.1, 15.3)]);
        let side = || Side {
            revision: crate::results::Revision::default(),
            machine: crate::machine::current(),
            source: "measured".into(),
        };
        let comparison = Comparison::new(
            side(),
            side(),
            0.05,
            entries(&[slow], &BTreeMap::new(), 0.05, 0.95, "merge-base 1a2b3c4d"),
        );
        for format in Format::ALL {
            let text = render_to_string(format, &comparison, &ReportOptions::default()).unwrap();
            assert!(
                text.contains("recommendations under load"),
                "{format}: {text}"
            );
            if format != Format::Json {
                assert!(
                    text.contains("10") && text.contains("15") && text.contains("ms"),
                    "{format} lacks the p95 figures: {text}"
                );
            }
        }
        let markdown =
            render_to_string(Format::Markdown, &comparison, &ReportOptions::default()).unwrap();
        assert!(
            markdown.contains("statements/request 3\\.0 → 3\\.0"),
            "{markdown}"
        );
        let html = render_to_string(Format::Html, &comparison, &ReportOptions::default()).unwrap();
        assert!(
            html.contains("<svg") && html.contains("head build"),
            "{html}"
        );
        let junit =
            render_to_string(Format::Junit, &comparison, &ReportOptions::default()).unwrap();
        assert!(junit.contains("<failure"), "{junit}");
        let read: Comparison = serde_json::from_str(&comparison.to_json()).unwrap();
        assert_eq!(read.entries()[0].verdict(), Verdict::Regressed);
        assert_eq!(read.entries()[0].load(), comparison.entries()[0].load());
    }
}
