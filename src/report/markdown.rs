//! The pull-request comment: a verdict headline with every count, regressions
//! first with the numbers a reviewer needs, query-count diffs naming the
//! fingerprints that grew, unchanged entries folded away, a hidden marker so a
//! workflow updates its own comment, and a size cap under GitHub's limit that
//! keeps every regression.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::Reporter;
use super::escape::{escape_markdown, markdown_code_span};
use super::human::{
    clip_chars, format_change, format_count, format_duration_ns, short_sha, verdict_symbol,
};
use crate::comparison::{
    ACCEPT_TRAILER, Comparison, Confirmation, Entry, EntryKind, Outcome, ProbeChange, QueryReason,
    Reason, Side, TimingReason, TimingRule, TimingSource, Verdict,
};

/// The hidden line a workflow searches for to find the comment it posted before.
pub const COMMENT_MARKER: &str = "<!-- perfguard-report -->";

/// GitHub's limit on the body of an issue or pull-request comment (characters;
/// the comment is measured in bytes here, which is never fewer).
pub const COMMENT_LIMIT_BYTES: usize = 65_536;

/// What the comment may use, leaving room for a workflow to add a line.
const BUDGET_BYTES: usize = COMMENT_LIMIT_BYTES - 1_536;

/// Longest name, endpoint or fingerprint shown, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Longest warning shown, in characters.
const MAX_WARNING_CHARS: usize = 600;
/// Changed fingerprints listed per probe; the rest are counted.
const MAX_FINGERPRINTS_PER_PROBE: usize = 10;

/// The order and titles of the sections; `true` folds the section in `<details>`.
const SECTIONS: [(Verdict, &str, bool); 7] = [
    (Verdict::Regressed, "Regressions", false),
    (
        Verdict::Missing,
        "Missing (in the baseline, not measured now: fails the gate)",
        false,
    ),
    (Verdict::Accepted, "Accepted", false),
    (Verdict::Improved, "Improvements", false),
    (Verdict::Inconclusive, "Inconclusive", false),
    (Verdict::New, "New (no baseline yet)", false),
    (Verdict::Unchanged, "Unchanged", true),
];

/// Renders the pull-request comment.
pub struct MarkdownReporter;

impl Reporter for MarkdownReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render_comment(comparison).as_bytes())
    }
}

/// One section: an opening, tables of rows, a closing.
struct Section {
    verdict: Verdict,
    opening: String,
    tables: Vec<Table>,
    closing: String,
}

struct Table {
    header: String,
    rows: Vec<String>,
}

/// The whole comment, never longer than [`COMMENT_LIMIT_BYTES`].
pub(super) fn render_comment(comparison: &Comparison) -> String {
    let mut text = head(comparison);
    let sections = sections(comparison);
    let mut omitted: BTreeMap<Verdict, usize> = BTreeMap::new();
    // Room kept for the truncation note and the footer.
    let reserve = 400 + footer(comparison).len();
    let mut full = false;
    for section in &sections {
        let mut part = section.opening.clone();
        let mut shown = 0;
        for table in &section.tables {
            let mut table_text = table.header.clone();
            let mut rows_in_table = 0;
            for row in &table.rows {
                let needed = text.len()
                    + part.len()
                    + table_text.len()
                    + row.len()
                    + section.closing.len()
                    + reserve;
                if full || needed > BUDGET_BYTES {
                    full = true;
                    *omitted.entry(section.verdict).or_default() += 1;
                } else {
                    table_text.push_str(row);
                    rows_in_table += 1;
                }
            }
            if rows_in_table > 0 {
                part.push_str(&table_text);
                part.push('\n');
            }
            shown += rows_in_table;
        }
        if shown > 0 {
            text.push_str(&part);
            text.push_str(&section.closing);
        }
    }
    if !omitted.is_empty() {
        let total: usize = omitted.values().sum();
        let parts: Vec<String> = omitted
            .iter()
            .map(|(verdict, count)| format!("{count} {}", verdict.as_str()))
            .collect();
        let _ = writeln!(
            text,
            "_{total} more entries are not shown to stay under GitHub's comment limit ({}). \
             The JSON report has all of them._\n",
            parts.join(", ")
        );
    }
    text.push_str(&footer(comparison));
    text
}

/// Marker, headline with every count, revisions and warnings.
fn head(comparison: &Comparison) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{COMMENT_MARKER}");
    let (symbol, word) = match comparison.outcome() {
        Outcome::Fail => ("❌", "fail"),
        Outcome::Undecided => ("⚠️", "undecided"),
        Outcome::Pass => ("✅", "pass"),
    };
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .map(|verdict| format!("{} {}", comparison.count(*verdict), verdict.as_str()))
        .collect();
    let _ = writeln!(
        text,
        "### {symbol} perfguard: {word} — {}\n",
        counts.join(" · ")
    );
    let inconclusive: Vec<String> = comparison
        .inconclusive_timings()
        .filter_map(|entry| {
            let bench = entry.bench()?;
            Some(format!(
                "{} {}",
                markdown_code_span(&clip_chars(&entry.id, MAX_NAME_CHARS), false),
                format_change(bench.ratio, bench.ratio_low, bench.ratio_high)
            ))
        })
        .collect();
    if !inconclusive.is_empty() {
        let _ = writeln!(
            text,
            "❔ **Inconclusive** (they pass, but the noise could not settle them): {}\n",
            inconclusive.join(", ")
        );
    }
    let _ = writeln!(
        text,
        "Compared {} with the baseline {}{}.\n",
        describe_side(&comparison.current),
        describe_side(&comparison.baseline),
        comparison
            .base_ref
            .as_deref()
            .map(|base_ref| format!(" from {}", markdown_code_span(base_ref, false)))
            .unwrap_or_default()
    );
    for warning in &comparison.warnings {
        let _ = writeln!(
            text,
            "> [!WARNING]\n> {}\n",
            escape_markdown(&clip_chars(warning, MAX_WARNING_CHARS))
        );
    }
    let known = comparison.known_n_plus_ones();
    if !known.is_empty() {
        let _ = writeln!(
            text,
            "**Known N+1** (in the baseline too; not failing this check):\n"
        );
        for n_plus_one in &known {
            let _ = writeln!(
                text,
                "- {}: {}",
                escape_markdown(&clip_chars(&n_plus_one.id, MAX_NAME_CHARS)),
                escape_markdown(&clip_chars(&n_plus_one.description, MAX_WARNING_CHARS))
            );
        }
        text.push('\n');
    }
    text
}

/// `` `abc1234` (`feature`, uncommitted changes) ``
fn describe_side(side: &Side) -> String {
    let commit = side
        .revision
        .commit
        .as_deref()
        .and_then(short_sha)
        .map_or_else(
            || "an unknown revision".to_owned(),
            |sha| format!("`{sha}`"),
        );
    let mut details = Vec::new();
    if let Some(branch) = &side.revision.branch {
        details.push(markdown_code_span(
            &clip_chars(branch, MAX_NAME_CHARS),
            false,
        ));
    }
    if side.revision.dirty {
        details.push("uncommitted changes".to_owned());
    }
    if details.is_empty() {
        commit
    } else {
        format!("{commit} ({})", details.join(", "))
    }
}

fn footer(comparison: &Comparison) -> String {
    match &comparison.reproduce {
        Some(command) => format!(
            "Reproduce locally: {}\n",
            markdown_code_span(&clip_chars(command, 1_000), false)
        ),
        None => String::new(),
    }
}

fn sections(comparison: &Comparison) -> Vec<Section> {
    SECTIONS
        .iter()
        .filter_map(|(verdict, title, folded)| {
            let entries: Vec<&Entry> = comparison
                .entries()
                .iter()
                .filter(|entry| entry.verdict() == *verdict)
                .collect();
            if entries.is_empty() {
                return None;
            }
            let heading = format!("{} {title} ({})", verdict_symbol(*verdict), entries.len());
            let (opening, closing) = if *folded {
                (
                    format!("<details><summary>{heading}</summary>\n\n"),
                    "</details>\n\n".to_owned(),
                )
            } else {
                (format!("#### {heading}\n\n"), String::new())
            };
            let benches: Vec<String> = entries
                .iter()
                .filter(|entry| entry.kind() == EntryKind::Bench)
                .map(|entry| bench_row(entry))
                .collect();
            let probes: Vec<String> = entries
                .iter()
                .filter(|entry| entry.kind() == EntryKind::Probe)
                .map(|entry| probe_row(entry))
                .collect();
            let loads: Vec<String> = entries
                .iter()
                .filter(|entry| entry.kind() == EntryKind::Load)
                .map(|entry| load_row(entry))
                .collect();
            let mut tables = Vec::new();
            if !benches.is_empty() {
                tables.push(Table {
                    header: "| benchmark | baseline | current | change [interval] | decided by |\n\
                             |---|--:|--:|--:|---|\n"
                        .to_owned(),
                    rows: benches,
                });
            }
            if !probes.is_empty() {
                tables.push(Table {
                    header: "| probe | endpoint | statements | fingerprints that changed | decided by |\n\
                             |---|---|--:|---|---|\n"
                        .to_owned(),
                    rows: probes,
                });
            }
            if !loads.is_empty() {
                tables.push(Table {
                    header: "| load probe | endpoint | latency | change [interval] | throughput | database per request | decided by |\n\
                             |---|---|--:|--:|--:|---|---|\n"
                        .to_owned(),
                    rows: loads,
                });
            }
            Some(Section {
                verdict: *verdict,
                opening,
                tables,
                closing,
            })
        })
        .collect()
}

/// Why, in the comment's own words. The row already shows the times, the
/// change with its interval, the counts and the fingerprints that changed, so
/// this names only the rule that decided (and what a paired re-run said).
fn decided_by(reason: &Reason) -> String {
    match reason {
        Reason::Timing(timing) => timing_words(timing),
        Reason::Counts(counts) => counts.words(),
        Reason::Load(load) => match &load.errors {
            Some(errors) => format!(
                "{:.1}% of requests failed at head, none at the base (more than {:.0}% fails)",
                errors.head_rate * 100.0,
                crate::comparison::LOAD_ERROR_RATE * 100.0
            ),
            None => timing_words(&load.latency),
        },
        Reason::Confirmation {
            outcome,
            stored,
            paired,
        } => {
            let rerun = paired.as_deref();
            let paired = match paired.as_deref() {
                Some(Reason::Timing(timing)) => format!(
                    "{}: {}",
                    format_change(timing.ratio, timing.ratio_low, timing.ratio_high),
                    timing_words(timing)
                ),
                Some(other) => decided_by(other),
                None => String::new(),
            };
            let looked = format_change(stored.ratio, stored.ratio_low, stored.ratio_high);
            match outcome {
                Confirmation::Confirmed => {
                    format!(
                        "{}; confirmed by a paired re-run ({paired})",
                        timing_words(stored)
                    )
                }
                Confirmation::Revealed => format!(
                    "looked {looked} against the stored baseline; a paired re-run shows the regression ({paired})"
                ),
                Confirmation::Dismissed if matches!(rerun, Some(Reason::SameSource { .. })) => {
                    format!(
                        "looked {looked} against the stored baseline; the source is the base's, so that is the machine"
                    )
                }
                Confirmation::Dismissed => format!(
                    "looked {looked} against the stored baseline; dismissed by a paired re-run ({paired})"
                ),
                Confirmation::Unmeasured => format!(
                    "{}; a paired re-run could not measure it at both revisions, so this stands",
                    timing_words(stored)
                ),
            }
        }
        Reason::Queries(queries) => match queries {
            QueryReason::OverBudget { total, budget, .. } => {
                format!("{total} statements exceed max_queries = {budget}")
            }
            QueryReason::Unstable { repeat_totals, .. } => {
                let totals: Vec<String> = repeat_totals.iter().map(u64::to_string).collect();
                format!(
                    "counts differed between repeats ({}): cannot decide",
                    totals.join(", ")
                )
            }
            QueryReason::GrowsWithData { .. } => "grows with the data (N+1)".to_owned(),
            QueryReason::New { .. } => "not in the baseline yet".to_owned(),
            QueryReason::Grew { allow: 0, .. } => "more statements than the baseline".to_owned(),
            QueryReason::Grew { allow, .. } => {
                format!("more statements than the baseline allows (allow = {allow})")
            }
            QueryReason::Fewer { .. } => "fewer statements than the baseline".to_owned(),
            QueryReason::Same { .. } => "the same statements as the baseline".to_owned(),
            QueryReason::WithinAllow { allow, .. } => format!("grew within allow = {allow}"),
        },
        Reason::NewBench { paired_base: None } => {
            "not in the baseline yet; gated once a baseline holds it".to_owned()
        }
        Reason::NewBench {
            paired_base: Some(base),
        } => format!("not measured at the {base}: nothing to pair it with"),
        Reason::Identical { .. } => {
            "same executable as the base, byte for byte: nothing to measure".to_owned()
        }
        Reason::SameSource { .. } => "same source as the base: nothing to measure".to_owned(),
        Reason::OutOfBudget { .. } => {
            "the time budget ran out before it was measured: a longer `--budget` settles it"
                .to_owned()
        }
        Reason::Missing { .. } => format!(
            "in the baseline, not measured now: fails unless a `{ACCEPT_TRAILER}: <id-glob>: <reason>` trailer accepts it"
        ),
        Reason::Accepted { regression, .. } => decided_by(regression),
        Reason::Described { text, .. } => text.clone(),
    }
}

/// The timing rule in a few words (the interval is in its own column).
fn timing_words(timing: &TimingReason) -> String {
    let limit = format!("{:.1}%", timing.threshold * 100.0);
    let p = format!("Holm-adjusted p = {:.1e}", timing.p_adjusted);
    let rule = match timing.rule {
        TimingRule::Slower => format!(
            "significant ({p} < {}); the interval reaches the {limit} threshold",
            crate::comparison::level(timing.alpha)
        ),
        TimingRule::Faster => {
            format!("significant ({p}); the interval reaches the {limit} threshold")
        }
        TimingRule::TooNoisy => format!("too noisy to tell: the interval holds 0 and {limit}"),
        TimingRule::SmallChange => format!("real ({p}) but within the {limit} threshold"),
        TimingRule::NoChange => format!("within the {limit} threshold"),
    };
    match &timing.source {
        TimingSource::Stored => rule,
        TimingSource::Paired {
            rounds, disturbed, ..
        } => match disturbed {
            0 => format!("paired over {rounds} rounds: {rule}"),
            n => format!("paired over {rounds} rounds ({n} disturbed left out): {rule}"),
        },
    }
}

fn bench_row(entry: &Entry) -> String {
    let name = escape_markdown(&clip_chars(&entry.id, MAX_NAME_CHARS));
    let (baseline, current, change) = match entry.bench() {
        Some(bench) if bench.counts.is_some() => super::bench_figures(bench),
        Some(bench) => (
            format_duration_ns(bench.baseline_ns),
            format_duration_ns(bench.current_ns),
            format!(
                "{} ({:.0}%)",
                format_change(bench.ratio, bench.ratio_low, bench.ratio_high),
                bench.confidence * 100.0
            ),
        ),
        None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
    };
    let mut decided_by =
        escape_markdown(&clip_chars(&decided_by(&entry.reason), MAX_WARNING_CHARS));
    if matches!(entry.reason, Reason::Described { .. })
        && let Some(true) = entry.bench().and_then(|bench| bench.confirmed)
    {
        decided_by.push_str("; confirmed by a paired run");
    }
    push_acceptance(entry, &mut decided_by);
    format!("| {name} | {baseline} | {current} | {change} | {decided_by} |\n")
}

fn probe_row(entry: &Entry) -> String {
    let name = escape_markdown(&clip_chars(&entry.id, MAX_NAME_CHARS));
    let mut decided_by =
        escape_markdown(&clip_chars(&decided_by(&entry.reason), MAX_WARNING_CHARS));
    push_acceptance(entry, &mut decided_by);
    let Some(probe) = entry.probe() else {
        return format!("| {name} | - | - | - | {decided_by} |\n");
    };
    let endpoint = markdown_code_span(&clip_chars(&probe.endpoint, MAX_NAME_CHARS), true);
    let mut statements = format!(
        "{} → {}",
        format_count(probe.baseline_total),
        format_count(probe.current_total)
    );
    if let Some(max_queries) = probe.max_queries {
        let _ = write!(statements, " (budget {max_queries})");
    }
    format!(
        "| {name} | {endpoint} | {statements} | {} | {decided_by} |\n",
        fingerprint_cell(probe)
    )
}

fn load_row(entry: &Entry) -> String {
    let name = escape_markdown(&clip_chars(&entry.id, MAX_NAME_CHARS));
    let mut decided_by =
        escape_markdown(&clip_chars(&decided_by(&entry.reason), MAX_WARNING_CHARS));
    push_acceptance(entry, &mut decided_by);
    let Some(load) = entry.load() else {
        return format!("| {name} | - | - | - | - | - | {decided_by} |\n");
    };
    let figures = super::load_figures(load, super::load_reason(entry));
    let endpoint = markdown_code_span(&clip_chars(&load.endpoint, MAX_NAME_CHARS), true);
    let mut throughput = format!(
        "{} ({})",
        figures.throughput,
        escape_markdown(&load.traffic)
    );
    if !figures.errors.is_empty() {
        let _ = write!(throughput, "<br>{}", escape_markdown(&figures.errors));
    }
    let database = if figures.database.is_empty() {
        "-".to_owned()
    } else {
        escape_markdown(&figures.database).replace("; ", "<br>")
    };
    format!(
        "| {name} | {endpoint} | {} | {} | {throughput} | {database} | {decided_by} |\n",
        escape_markdown(&figures.latency),
        figures.change
    )
}

/// The changed fingerprints of a probe, one per line in the cell.
fn fingerprint_cell(probe: &ProbeChange) -> String {
    let mut lines: Vec<String> = probe
        .changed
        .iter()
        .take(MAX_FINGERPRINTS_PER_PROBE)
        .map(|diff| {
            let mut line = format!(
                "{} {} → {}",
                markdown_code_span(&clip_chars(&diff.readable, MAX_NAME_CHARS), true),
                diff.before,
                diff.after
            );
            if diff.n_plus_one {
                line.push_str(" **N+1**");
            }
            line
        })
        .collect();
    for growth in probe.growth.iter().filter(|g| !g.known) {
        lines.push(format!(
            "{} grows with data: {} **N+1**",
            markdown_code_span(&clip_chars(&growth.readable, MAX_NAME_CHARS), true),
            growth
                .scales
                .iter()
                .zip(&growth.counts)
                .map(|(scale, count)| format!("{count} at scale {scale}"))
                .collect::<Vec<_>>()
                .join(" → ")
        ));
    }
    if probe.excluded_before > 0 || probe.excluded_after > 0 {
        lines.push(format!(
            "excluded (pings, transactions, SET): {} → {}",
            probe.excluded_before, probe.excluded_after
        ));
    }
    if probe.changed.len() > MAX_FINGERPRINTS_PER_PROBE {
        lines.push(format!(
            "… {} more",
            probe.changed.len() - MAX_FINGERPRINTS_PER_PROBE
        ));
    }
    if !probe.unstable.is_empty() {
        let unstable: Vec<String> = probe
            .unstable
            .iter()
            .take(MAX_FINGERPRINTS_PER_PROBE)
            .map(|fingerprint| markdown_code_span(&clip_chars(fingerprint, MAX_NAME_CHARS), true))
            .collect();
        lines.push(format!(
            "⚠️ differed between repeats: {}",
            unstable.join(", ")
        ));
    }
    if lines.is_empty() {
        "-".to_owned()
    } else {
        lines.join("<br>")
    }
}

fn push_acceptance(entry: &Entry, decided_by: &mut String) {
    if let Some(acceptance) = entry.accepted() {
        let commit = short_sha(&acceptance.commit).unwrap_or_else(|| "?".to_owned());
        let _ = write!(
            decided_by,
            "; accepted in `{commit}` by {}: {}",
            escape_markdown(&clip_chars(&acceptance.author, MAX_NAME_CHARS)),
            escape_markdown(&clip_chars(&acceptance.reason, MAX_WARNING_CHARS))
        );
    }
}
