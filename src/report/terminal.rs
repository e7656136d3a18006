//! The terminal report: warnings first, then one table row per benchmark and
//! probe (baseline, current, change with its interval, verdict) with a probe's
//! changed fingerprints under its row, then why each entry that needs a look
//! got its verdict, then a one-line verdict. Colour only when
//! the caller asks for it.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, LineStyle, Table, TableStyle};

use super::Reporter;
use super::escape::sanitize_terminal;
use super::human::{clip_chars, format_count, format_count_change, short_sha};

use crate::comparison::{Comparison, Entry, Outcome, Verdict};

/// Widest first column: with the four others (a benchmark's change with its
/// interval is the widest) the table fits 100 columns.
const NAME_COLUMN: usize = 42;

/// `GET /products/{id}` for endpoint `GET /products/42`: the same method and a path.
fn names_a_route(name: &str, endpoint: &str) -> bool {
    let method = |text: &str| {
        text.split_once(' ')
            .map(|(m, rest)| (m.to_owned(), rest.starts_with('/')))
    };
    matches!((method(name), method(endpoint)), (Some((a, true)), Some((b, true))) if a == b)
}

/// A probe's first cell: its name, and its endpoint unless the name is a
/// route that says as much, within [`NAME_COLUMN`].
fn probe_name(id: &str, endpoint: &str) -> String {
    let name = sanitize_terminal(id);
    if id == endpoint || names_a_route(id, endpoint) {
        return clip_chars(&name, NAME_COLUMN).into_owned();
    }
    let endpoint = sanitize_terminal(endpoint);
    let room = NAME_COLUMN - 4; // two spaces and the parentheses
    let name_room = (NAME_COLUMN / 2).max(room.saturating_sub(endpoint.chars().count()));
    let name = clip_chars(&name, name_room);
    let endpoint_room = room.saturating_sub(name.chars().count());
    format!("{name}  ({})", clip_chars(&endpoint, endpoint_room))
}

/// Renders the table; `color` decides whether ANSI styles are written.
pub struct TerminalReporter {
    pub color: bool,
}

impl Reporter for TerminalReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        let warning_style = self.bold(AnsiColor::Yellow);
        for warning in &comparison.warnings {
            writeln!(
                out,
                "{warning_style}warning:{warning_style:#} {}",
                sanitize_terminal(warning)
            )?;
        }
        if !comparison.warnings.is_empty() {
            writeln!(out)?;
        }
        let known = comparison.known_n_plus_ones();
        for n_plus_one in &known {
            writeln!(
                out,
                "{warning_style}known N+1:{warning_style:#} {}: {}",
                sanitize_terminal(&n_plus_one.id),
                sanitize_terminal(&n_plus_one.description)
            )?;
        }
        if !known.is_empty() {
            writeln!(out)?;
        }
        if !comparison.entries().is_empty() {
            // comfy-table pads the last column; trailing blanks only clutter logs.
            for line in self.table(comparison).lines() {
                writeln!(out, "{}", line.trim_end())?;
            }
            writeln!(out)?;
        }
        let notes = notes(comparison);
        for (verdict, id, note) in &notes {
            let style = match verdict_ansi(*verdict) {
                Some(color) if self.color => Style::new().fg_color(Some(color.into())),
                _ => Style::new(),
            };
            writeln!(
                out,
                "{style}{:<12}{style:#} {}: {note}",
                verdict.as_str(),
                sanitize_terminal(id)
            )?;
        }
        if !notes.is_empty() {
            writeln!(out)?;
        }
        let (outcome_style, word) = match comparison.outcome() {
            Outcome::Fail => (self.bold(AnsiColor::Red), "fail"),
            Outcome::Undecided => (self.bold(AnsiColor::Yellow), "undecided"),
            Outcome::Pass => (self.bold(AnsiColor::Green), "pass"),
        };
        let counts: Vec<String> = Verdict::ALL
            .iter()
            .map(|verdict| format!("{} {}", comparison.count(*verdict), verdict.as_str()))
            .collect();
        writeln!(
            out,
            "perfguard: {outcome_style}{word}{outcome_style:#} ({})",
            counts.join(", ")
        )
    }
}

impl TerminalReporter {
    /// Bold and coloured, or no style at all without colour.
    fn bold(&self, color: AnsiColor) -> Style {
        if self.color {
            Style::new().fg_color(Some(color.into())).bold()
        } else {
            Style::new()
        }
    }

    fn table(&self, comparison: &Comparison) -> Table {
        let mut table = Table::new();
        table
            .load_style(
                TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─')),
            )
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header([
                "benchmark / probe",
                "baseline",
                "current",
                "change",
                "verdict",
            ]);
        if self.color {
            table.enforce_styling();
        } else {
            table.force_no_tty();
        }
        for entry in comparison.entries() {
            add_entry(&mut table, entry);
        }
        for index in 1..=3 {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        table
    }
}

fn verdict_color(verdict: Verdict) -> Option<Color> {
    match verdict {
        Verdict::Regressed => Some(Color::Red),
        Verdict::Improved => Some(Color::Green),
        Verdict::Inconclusive | Verdict::Missing => Some(Color::Yellow),
        Verdict::Accepted => Some(Color::Cyan),
        Verdict::New => Some(Color::Blue),
        Verdict::Unchanged => None,
    }
}

fn colored(text: String, color: Option<Color>) -> Cell {
    match color {
        Some(color) => Cell::new(text).fg(color),
        None => Cell::new(text),
    }
}

fn add_entry(table: &mut Table, entry: &Entry) {
    let color = verdict_color(entry.verdict());
    let verdict = colored(entry.verdict().as_str().to_owned(), color);
    let name = sanitize_terminal(&entry.id);
    if let Some(probe) = entry.probe() {
        let change = match (probe.baseline_total, probe.current_total) {
            (Some(before), Some(after)) => format_count_change(before, after),
            _ => "-".to_owned(),
        };
        table.add_row(vec![
            // Probes are often named after their endpoint: show it once then.
            Cell::new(probe_name(&entry.id, &probe.endpoint)),
            Cell::new(format!("{} stmt", format_count(probe.baseline_total))),
            Cell::new(format!("{} stmt", format_count(probe.current_total))),
            colored(change, color),
            verdict,
        ]);
        for diff in &probe.changed {
            table.add_row(vec![
                Cell::new(format!(
                    "  └ {}",
                    clip_chars(&sanitize_terminal(&diff.readable), NAME_COLUMN - 4)
                )),
                Cell::new(diff.before.to_string()),
                Cell::new(diff.after.to_string()),
                colored(format_count_change(diff.before, diff.after), color),
                Cell::new(if diff.n_plus_one { "N+1" } else { "" }),
            ]);
        }
        for growth in probe.growth.iter().filter(|g| !g.known) {
            table.add_row(vec![
                Cell::new(format!(
                    "  └ {}",
                    clip_chars(&sanitize_terminal(&growth.readable), NAME_COLUMN - 4)
                )),
                Cell::new(format!("{} @{}", growth.counts[0], growth.scales[0])),
                Cell::new(format!(
                    "{} @{}",
                    growth.counts.last().copied().unwrap_or_default(),
                    growth.scales.last().copied().unwrap_or_default()
                )),
                colored("grows".to_owned(), color),
                Cell::new("N+1"),
            ]);
        }
        if probe.excluded_before > 0 || probe.excluded_after > 0 {
            let excluded_before = probe.baseline_total.map(|_| probe.excluded_before);
            table.add_row(vec![
                Cell::new("  └ excluded (pings, transactions, SET)"),
                Cell::new(format_count(excluded_before)),
                Cell::new(probe.excluded_after.to_string()),
                Cell::new(""),
                Cell::new(""),
            ]);
        }
    } else if let Some(load) = entry.load() {
        add_load(table, entry, load, color, verdict);
    } else {
        let (baseline, current, change) = match entry.bench() {
            Some(bench) => super::bench_figures(bench),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        table.add_row(vec![
            Cell::new(clip_chars(&name, NAME_COLUMN)),
            Cell::new(baseline),
            Cell::new(current),
            colored(change, color),
            verdict,
        ]);
    }
}

/// A load probe: the quantile base and head, then throughput, failures and
/// what the database did per request.
fn add_load(
    table: &mut Table,
    entry: &Entry,
    load: &crate::comparison::LoadChange,
    color: Option<Color>,
    verdict: Cell,
) {
    let ms = |value: f64| super::format_duration_ns(value * 1e6);
    let change = super::load_reason(entry).map_or_else(
        || "-".to_owned(),
        |r| super::format_change(r.latency.ratio, r.latency.ratio_low, r.latency.ratio_high),
    );
    let (base, head) = (&load.base, &load.head);
    table.add_row(vec![
        Cell::new(probe_name(&entry.id, &load.endpoint)),
        Cell::new(format!("{} {}", load.quantile, ms(base.quantile_all_ms))),
        Cell::new(format!("{} {}", load.quantile, ms(head.quantile_all_ms))),
        colored(change, color),
        verdict,
    ]);
    let mut detail = |what: String, before: String, after: String| {
        table.add_row(vec![
            Cell::new(format!("  └ {what}")),
            Cell::new(before),
            Cell::new(after),
            Cell::new(""),
            Cell::new(""),
        ]);
    };
    detail(
        format!("requests/s ({})", load.traffic),
        format!("{:.0}", base.throughput),
        format!("{:.0}", head.throughput),
    );
    if base.errors > 0 || head.errors > 0 {
        detail(
            "failed".to_owned(),
            format!("{:.1}%", base.error_rate() * 100.0),
            format!("{:.1}%", head.error_rate() * 100.0),
        );
    }
    if let (Some(b), Some(h)) = (base.statements_per_request, head.statements_per_request) {
        detail(
            "statements/request".to_owned(),
            format!("{b:.1}"),
            format!("{h:.1}"),
        );
    }
    if let (Some(b), Some(h)) = (base.database_ms_per_request, head.database_ms_per_request) {
        detail("database time/request".to_owned(), ms(b), ms(h));
    }
}

/// Why each entry a reader must look at got its verdict: the rule, the probe's
/// budget, the acceptance.
fn notes(comparison: &Comparison) -> Vec<(Verdict, &str, String)> {
    let mut notes = Vec::new();
    for entry in comparison.entries() {
        if matches!(entry.verdict(), Verdict::Unchanged | Verdict::Improved) {
            continue;
        }
        let mut note = sanitize_terminal(&entry.rule());
        if let Some(max_queries) = entry.probe().and_then(|probe| probe.max_queries) {
            note.push_str(&format!(" (budget {max_queries} statements)"));
        }
        if let Some(acceptance) = entry.accepted() {
            note.push_str(&format!(
                "; accepted in {} by {}: {}",
                short_sha(&acceptance.commit).unwrap_or_default(),
                sanitize_terminal(&acceptance.author),
                sanitize_terminal(&acceptance.reason)
            ));
        }
        notes.push((entry.verdict(), entry.id.as_str(), note));
    }
    notes
}

fn verdict_ansi(verdict: Verdict) -> Option<AnsiColor> {
    match verdict {
        Verdict::Regressed => Some(AnsiColor::Red),
        Verdict::Improved => Some(AnsiColor::Green),
        Verdict::Inconclusive | Verdict::Missing => Some(AnsiColor::Yellow),
        Verdict::Accepted => Some(AnsiColor::Cyan),
        Verdict::New => Some(AnsiColor::Blue),
        Verdict::Unchanged => None,
    }
}
