//! Human units shared by every reporter: durations in ns, µs, ms or s with three
//! significant digits, ratios as signed percentages with their interval.

use std::fmt::Write as _;

/// `1234.5` -> `"1.23 µs"`; not finite -> `"n/a"`.
pub fn format_duration_ns(duration_ns: f64) -> String {
    if !duration_ns.is_finite() {
        return "n/a".to_owned();
    }
    let magnitude = duration_ns.abs();
    let (value, unit) = if magnitude < 1e3 {
        (duration_ns, "ns")
    } else if magnitude < 1e6 {
        (duration_ns / 1e3, "µs")
    } else if magnitude < 1e9 {
        (duration_ns / 1e6, "ms")
    } else {
        (duration_ns / 1e9, "s")
    };
    format!("{} {unit}", three_significant(value))
}

fn three_significant(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude < 10.0 {
        format!("{value:.2}")
    } else if magnitude < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// A ratio current / baseline as a signed change: `1.123` -> `"+12.3%"`.
pub fn format_percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "n/a".to_owned();
    }
    let percent = (ratio - 1.0) * 100.0;
    let text = format!("{percent:+.1}%");
    // Rounding can give "-0.0%"; a change that rounds to nothing has no sign.
    if text == "-0.0%" {
        "+0.0%".to_owned()
    } else {
        text
    }
}

/// A change with its interval: `"+12.3% [+8.1%, +16.7%]"`.
pub fn format_change(ratio: f64, ratio_low: f64, ratio_high: f64) -> String {
    format!(
        "{} [{}, {}]",
        format_percent(ratio),
        format_percent(ratio_low),
        format_percent(ratio_high)
    )
}

/// The 7-character abbreviation of a commit id; `None` when `commit` is not a
/// hexadecimal id (so a report never shows an arbitrary string as a SHA).
pub fn short_sha(commit: &str) -> Option<String> {
    let is_hex = !commit.is_empty() && commit.chars().all(|c| c.is_ascii_hexdigit());
    is_hex.then(|| commit.chars().take(7).collect())
}

/// A statement count that may be absent: `Some(3)` -> `"3"`, `None` -> `"-"`.
pub fn format_count(count: Option<u64>) -> String {
    count.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

/// A signed count difference: `+48`, `-2`, `0`.
pub fn format_count_change(before: u64, after: u64) -> String {
    use std::cmp::Ordering;
    match after.cmp(&before) {
        Ordering::Greater => format!("+{}", after - before),
        Ordering::Less => format!("-{}", before - after),
        Ordering::Equal => "0".to_owned(),
    }
}

/// At most `max_chars` characters of `text`, with `…` when something was cut, so
/// one hostile or accidental huge name cannot crowd a report.
pub fn clip_chars(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// The verdict as a report word with a symbol for quick scanning.
pub fn verdict_symbol(verdict: crate::comparison::Verdict) -> &'static str {
    use crate::comparison::Verdict;
    match verdict {
        Verdict::Regressed => "❌",
        Verdict::Improved => "🚀",
        Verdict::Unchanged => "✅",
        Verdict::Inconclusive => "❔",
        Verdict::New => "🆕",
        Verdict::Missing => "⚠️",
        Verdict::Accepted => "☑️",
    }
}

/// A count per iteration with a unit prefix and three significant digits:
/// `46.4`, `200 k`, `1.25 M`.
pub fn format_instructions(count: f64) -> String {
    let (value, prefix) = match count.abs() {
        c if c >= 1e9 => (count / 1e9, " G"),
        c if c >= 1e6 => (count / 1e6, " M"),
        c if c >= 1e3 => (count / 1e3, " k"),
        _ => (count, ""),
    };
    let digits = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.digits$}{prefix}")
}

/// The baseline, current and change cells of a benchmark: times and the
/// change with its interval, or, measured by instructions, instructions per
/// iteration and the change of both counts.
pub fn bench_figures(bench: &crate::comparison::BenchChange) -> (String, String, String) {
    match &bench.counts {
        Some(counts) => (
            format!(
                "{} instr",
                format_instructions(counts.baseline.instructions)
            ),
            format!("{} instr", format_instructions(counts.current.instructions)),
            format!(
                "{} (cycles {})",
                crate::comparison::percent_fine(
                    counts.current.instructions / counts.baseline.instructions
                ),
                crate::comparison::percent_fine(
                    counts.current.estimated_cycles / counts.baseline.estimated_cycles
                )
            ),
        ),
        None => (
            format_duration_ns(bench.baseline_ns),
            format_duration_ns(bench.current_ns),
            format_change(bench.ratio, bench.ratio_low, bench.ratio_high),
        ),
    }
}

/// The figures of a load probe, base -> head, each as one cell.
pub struct LoadFigures {
    /// `p95 12.0 ms -> 41.0 ms`
    pub latency: String,
    /// `+241.7% [+198.0%, +290.1%]`
    pub change: String,
    /// `850 -> 240 requests/s`
    pub throughput: String,
    /// `0% -> 4.2% failed (HTTP 500 x12)`; empty when neither side failed.
    pub errors: String,
    /// `statements/request 1.0 -> 31.0; database time/request 0.40 ms -> 9.80 ms; rows/request 1.0 -> 30.0`;
    /// empty without a counting proxy.
    pub database: String,
}

fn format_ms(ms: f64) -> String {
    format_duration_ns(ms * 1e6)
}

/// A load probe's figures for a report row.
pub fn load_figures(
    load: &crate::comparison::LoadChange,
    reason: Option<&crate::comparison::LoadReason>,
) -> LoadFigures {
    let (base, head) = (&load.base, &load.head);
    let latency = format!(
        "{} {} → {}",
        load.quantile,
        format_ms(base.quantile_all_ms),
        format_ms(head.quantile_all_ms)
    );
    let change = reason.map_or_else(
        || format_percent(head.quantile_all_ms / base.quantile_all_ms),
        |r| format_change(r.latency.ratio, r.latency.ratio_low, r.latency.ratio_high),
    );
    let throughput = format!("{:.0} → {:.0} requests/s", base.throughput, head.throughput);
    let errors = if base.errors == 0 && head.errors == 0 {
        String::new()
    } else {
        let mut kinds: Vec<(&String, &u64)> = head.error_kinds.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let kinds: Vec<String> = kinds
            .iter()
            .take(3)
            .map(|(kind, n)| format!("{kind} x{n}"))
            .collect();
        let mut text = format!(
            "{:.1}% → {:.1}% failed",
            base.error_rate() * 100.0,
            head.error_rate() * 100.0
        );
        if !kinds.is_empty() {
            let _ = write!(text, " ({})", kinds.join(", "));
        }
        text
    };
    let mut database = Vec::new();
    if let (Some(b), Some(h)) = (base.statements_per_request, head.statements_per_request) {
        database.push(format!("statements/request {b:.1} → {h:.1}"));
    }
    if let (Some(b), Some(h)) = (base.database_ms_per_request, head.database_ms_per_request) {
        database.push(format!(
            "database time/request {} → {}",
            format_ms(b),
            format_ms(h)
        ));
    }
    if let (Some(b), Some(h)) = (base.rows_per_request, head.rows_per_request) {
        database.push(format!("rows/request {b:.1} → {h:.1}"));
    }
    LoadFigures {
        latency,
        change,
        throughput,
        errors,
        database: database.join("; "),
    }
}

/// The reason of a load probe's entry, when it is one.
pub fn load_reason(entry: &crate::comparison::Entry) -> Option<&crate::comparison::LoadReason> {
    match &entry.reason {
        crate::comparison::Reason::Load(reason) => Some(reason),
        crate::comparison::Reason::Accepted { regression, .. } => match regression.as_ref() {
            crate::comparison::Reason::Load(reason) => Some(reason),
            _ => None,
        },
        _ => None,
    }
}

/// One plain-text line (not escaped) with the verdict, the numbers and the rule:
/// `regressed: 1.00 µs -> 1.20 µs, change +20.0% [+15.0%, +25.0%] (rule)`.
pub fn entry_summary(entry: &crate::comparison::Entry) -> String {
    let numbers = if let Some(bench) = entry.bench() {
        let (baseline, current, change) = bench_figures(bench);
        format!("{baseline} -> {current}, change {change}")
    } else if let Some(probe) = entry.probe() {
        let mut text = format!(
            "{}: statements {} -> {}",
            probe.endpoint,
            format_count(probe.baseline_total),
            format_count(probe.current_total)
        );
        for diff in &probe.changed {
            let _ = write!(
                text,
                "; {} {} -> {}{}",
                diff.readable,
                diff.before,
                diff.after,
                if diff.n_plus_one { " (N+1)" } else { "" }
            );
        }
        text
    } else if let Some(load) = entry.load() {
        let figures = load_figures(load, load_reason(entry));
        let mut text = format!(
            "{} under {}: {}, change {}; {}",
            load.endpoint, load.traffic, figures.latency, figures.change, figures.throughput
        );
        for extra in [&figures.errors, &figures.database] {
            if !extra.is_empty() {
                let _ = write!(text, "; {extra}");
            }
        }
        text.replace('→', "->")
    } else {
        String::new()
    };
    if numbers.is_empty() {
        format!("{}: {}", entry.verdict().as_str(), entry.rule())
    } else {
        format!("{}: {numbers} ({})", entry.verdict().as_str(), entry.rule())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_the_unit_and_three_significant_digits() {
        assert_eq!(format_duration_ns(12.345), "12.3 ns");
        assert_eq!(format_duration_ns(1234.5), "1.23 µs");
        assert_eq!(format_duration_ns(456_789.0), "457 µs");
        assert_eq!(format_duration_ns(12_300_000.0), "12.3 ms");
        assert_eq!(format_duration_ns(1.5e9), "1.50 s");
        assert_eq!(format_duration_ns(f64::NAN), "n/a");
    }

    #[test]
    fn changes_are_signed_percentages_with_their_interval() {
        assert_eq!(format_change(1.123, 1.081, 1.167), "+12.3% [+8.1%, +16.7%]");
        assert_eq!(format_percent(0.9), "-10.0%");
        assert_eq!(format_percent(0.99999), "+0.0%");
    }

    #[test]
    fn short_sha_refuses_what_is_not_a_commit_id() {
        assert_eq!(short_sha("0123456789abcdef").as_deref(), Some("0123456"));
        assert_eq!(short_sha("main`; rm"), None);
        assert_eq!(short_sha(""), None);
    }

    #[test]
    fn count_changes_are_signed() {
        assert_eq!(format_count_change(3, 51), "+48");
        assert_eq!(format_count_change(5, 3), "-2");
        assert_eq!(format_count_change(4, 4), "0");
        assert_eq!(format_count(None), "-");
    }

    #[test]
    fn clip_cuts_on_a_character_boundary() {
        assert_eq!(clip_chars("µµµµ", 2), "µµ…");
        assert_eq!(clip_chars("short", 10), "short");
    }
}
