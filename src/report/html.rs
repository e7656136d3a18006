//! A single self-contained HTML page: the verdict, a summary table, and per
//! entry a plot drawn with plotters' SVG backend and inlined: for a benchmark a
//! strip plot of baseline and current per-iteration samples with the location
//! the change is computed from (their fastest sample),
//! for a probe a bar chart of statements per fingerprint before and after,
//! for a load probe the base and head latency distributions on one chart.
//! No script, no external resource; every name is escaped.

use std::fmt::Write as _;
use std::io::{self, Write};

use plotters::prelude::*;

use super::Reporter;
use super::escape::escape_html;
use super::human::{format_change, format_count, format_duration_ns, short_sha};
use crate::comparison::{BenchChange, Comparison, Entry, Outcome, ProbeChange, Side, Verdict};

/// Entries drawn as plots; the rest appear in the summary table only, so a
/// comparison of thousands of benchmarks stays a page a browser opens.
const MAX_PLOTS: usize = 300;
/// Fingerprints drawn per probe chart.
const MAX_BARS: usize = 25;

const BASELINE_COLOR: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const CURRENT_COLOR: RGBColor = RGBColor(0xdd, 0x84, 0x52);

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
td.num{text-align:right}code{background:#f4f4f4;padding:0 .2em}\
.regressed{color:#b00020}.improved{color:#1b7f3b}.inconclusive,.missing{color:#9a6700}\
.accepted{color:#0a6a8a}.new{color:#3557b7}.warning{background:#fff4d6;border-left:4px solid #e0a800;padding:.5em 1em}\
section{border-top:1px solid #ddd;margin-top:1.5em}svg{display:block;max-width:100%;height:auto}";

/// Renders the HTML page.
pub struct HtmlReporter;

impl Reporter for HtmlReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        let mut page = String::new();
        head(&mut page, comparison);
        summary_table(&mut page, comparison);
        for entry in comparison.entries().iter().take(MAX_PLOTS) {
            entry_section(&mut page, entry)?;
        }
        if comparison.entries().len() > MAX_PLOTS {
            let _ = writeln!(
                page,
                "<p>{} more entries are listed in the table above without a plot.</p>",
                comparison.entries().len() - MAX_PLOTS
            );
        }
        page.push_str("</body>\n</html>\n");
        out.write_all(page.as_bytes())
    }
}

fn head(page: &mut String, comparison: &Comparison) {
    let word = comparison.outcome().as_str();
    let _ = writeln!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>perfguard: {word}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1 class=\"{}\">perfguard: {word}</h1>",
        match comparison.outcome() {
            Outcome::Fail => "regressed",
            Outcome::Undecided => "inconclusive",
            Outcome::Pass => "improved",
        }
    );
    let counts: Vec<String> = Verdict::ALL
        .iter()
        .map(|verdict| {
            format!(
                "<span class=\"{0}\">{1} {0}</span>",
                verdict.as_str(),
                comparison.count(*verdict)
            )
        })
        .collect();
    let _ = writeln!(page, "<p>{}</p>", counts.join(" · "));
    let base_ref = comparison
        .base_ref
        .as_deref()
        .map(|base_ref| format!(" from <code>{}</code>", escape_html(base_ref)))
        .unwrap_or_default();
    let _ = writeln!(
        page,
        "<p>Compared {} with the baseline {}{base_ref}.</p>",
        describe_side(&comparison.current),
        describe_side(&comparison.baseline)
    );
    if let Some(command) = &comparison.reproduce {
        let _ = writeln!(
            page,
            "<p>Reproduce locally: <code>{}</code></p>",
            escape_html(command)
        );
    }
    for warning in &comparison.warnings {
        let _ = writeln!(page, "<p class=\"warning\">{}</p>", escape_html(warning));
    }
    let known = comparison.known_n_plus_ones();
    if !known.is_empty() {
        let _ = writeln!(
            page,
            "<section class=\"known\"><h2>Known N+1</h2><p>In the baseline too; not failing this check.</p><ul>"
        );
        for n_plus_one in &known {
            let _ = writeln!(
                page,
                "<li><strong>{}</strong>: {}</li>",
                escape_html(&n_plus_one.id),
                escape_html(&n_plus_one.description)
            );
        }
        let _ = writeln!(page, "</ul></section>");
    }
}

fn describe_side(side: &Side) -> String {
    let commit = side
        .revision
        .commit
        .as_deref()
        .and_then(short_sha)
        .map_or_else(
            || "an unknown revision".to_owned(),
            |sha| format!("<code>{sha}</code>"),
        );
    match &side.revision.branch {
        Some(branch) => format!("{commit} (<code>{}</code>)", escape_html(branch)),
        None => commit,
    }
}

fn summary_table(page: &mut String, comparison: &Comparison) {
    page.push_str(
        "<table>\n<tr><th>benchmark / probe</th><th>baseline</th><th>current</th>\
         <th>change</th><th>verdict</th></tr>\n",
    );
    for entry in comparison.entries() {
        let (baseline, current, change) = cells(entry);
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"num\">{baseline}</td><td class=\"num\">{current}</td>\
             <td class=\"num\">{change}</td><td class=\"{1}\">{1}</td></tr>",
            escape_html(&entry.id),
            entry.verdict().as_str()
        );
    }
    page.push_str("</table>\n");
}

/// Baseline, current and change cells, already safe for HTML.
fn cells(entry: &Entry) -> (String, String, String) {
    if let Some(bench) = entry.bench() {
        super::bench_figures(bench)
    } else if let Some(probe) = entry.probe() {
        (
            format!("{} statements", format_count(probe.baseline_total)),
            format!("{} statements", format_count(probe.current_total)),
            String::new(),
        )
    } else if let Some(load) = entry.load() {
        let figures = super::load_figures(load, super::load_reason(entry));
        (
            format!(
                "{} {}",
                load.quantile,
                format_duration_ns(load.base.quantile_all_ms * 1e6)
            ),
            format!(
                "{} {}",
                load.quantile,
                format_duration_ns(load.head.quantile_all_ms * 1e6)
            ),
            figures.change,
        )
    } else {
        ("-".to_owned(), "-".to_owned(), "-".to_owned())
    }
}

fn entry_section(page: &mut String, entry: &Entry) -> io::Result<()> {
    let _ = writeln!(
        page,
        "<section>\n<h2>{} <span class=\"{1}\">{1}</span></h2>\n<p>{2}</p>",
        escape_html(&entry.id),
        entry.verdict().as_str(),
        escape_html(&entry.rule())
    );
    if let Some(acceptance) = entry.accepted() {
        let _ = writeln!(
            page,
            "<p class=\"accepted\">Accepted in <code>{}</code> by {}: {}</p>",
            short_sha(&acceptance.commit).unwrap_or_default(),
            escape_html(&acceptance.author),
            escape_html(&acceptance.reason)
        );
    }
    if let Some(bench) = entry.bench()
        && let Some(counts) = &bench.counts
    {
        let _ = writeln!(
            page,
            "<p>measured by instructions: {} → {} instructions and {} → {} estimated cycles per iteration ({} baseline and {} current runs; the baseline's runs agree within {:.3}%)</p>",
            super::format_instructions(counts.baseline.instructions),
            super::format_instructions(counts.current.instructions),
            super::format_instructions(counts.baseline.estimated_cycles),
            super::format_instructions(counts.current.estimated_cycles),
            bench.baseline_runs,
            bench.current_runs,
            counts.jitter * 100.0
        );
    } else if let Some(bench) = entry.bench() {
        let _ = writeln!(
            page,
            "<p>baseline {} → current {}, change {} ({:.0}% interval, {} baseline and {} current runs)</p>",
            format_duration_ns(bench.baseline_ns),
            format_duration_ns(bench.current_ns),
            format_change(bench.ratio, bench.ratio_low, bench.ratio_high),
            bench.confidence * 100.0,
            bench.baseline_runs,
            bench.current_runs
        );
        if bench.baseline_samples_ns.is_empty() && bench.current_samples_ns.is_empty() {
            page.push_str("<p>No per-iteration samples were recorded.</p>\n");
        } else {
            page.push_str(&strip_plot(bench).map_err(plot_error)?);
        }
    }
    if let Some(probe) = entry.probe() {
        let _ = writeln!(
            page,
            "<p><code>{}</code>: statements {} → {}</p>",
            escape_html(&probe.endpoint),
            format_count(probe.baseline_total),
            format_count(probe.current_total)
        );
        if probe.excluded_before > 0 || probe.excluded_after > 0 {
            let _ = writeln!(
                page,
                "<p>Excluded from the count (pings, transaction control, SET): {} → {}</p>",
                probe.excluded_before, probe.excluded_after
            );
        }
        for growth in &probe.growth {
            let _ = writeln!(
                page,
                "<p class=\"warning\">{}N+1 by evidence: {}</p>",
                if growth.known { "Known " } else { "" },
                escape_html(&growth.describe())
            );
        }
        if !probe.fingerprints.is_empty() {
            page.push_str(&bar_chart(probe).map_err(plot_error)?);
            fingerprint_table(page, probe);
        }
    }
    if let Some(load) = entry.load() {
        let figures = super::load_figures(load, super::load_reason(entry));
        let _ = writeln!(
            page,
            "<p><code>{}</code> under {} ({:.0} s per round and side): {}; {}</p>",
            escape_html(&load.endpoint),
            escape_html(&load.traffic),
            load.duration_s,
            escape_html(&figures.latency),
            escape_html(&figures.throughput)
        );
        for extra in [&figures.errors, &figures.database] {
            if !extra.is_empty() {
                let _ = writeln!(page, "<p>{}</p>", escape_html(extra));
            }
        }
        if !load.base.distribution.is_empty() || !load.head.distribution.is_empty() {
            page.push_str(&latency_plot(load).map_err(plot_error)?);
        }
    }
    page.push_str("</section>\n");
    Ok(())
}

/// Where a percentile goes on a latency plot's horizontal axis: `-log10(1 -
/// p)`, so the tail (p90, p99, p99.9) gets as much room as the body.
fn percentile_position(percentile: f64) -> f64 {
    -(1.0 - (percentile / 100.0).min(0.999)).log10()
}

/// Latency against percentile, base and head on one chart, with the
/// verdict's quantile marked.
fn latency_plot(load: &crate::comparison::LoadChange) -> PlotResult<String> {
    // Up to p99.9: the slowest request alone would flatten the rest.
    let plotted = |side: &crate::comparison::LoadSide| -> Vec<(f64, f64)> {
        side.distribution
            .iter()
            .filter(|point| point[0] < 100.0 && point[1].is_finite())
            .map(|point| (percentile_position(point[0]), point[1]))
            .collect()
    };
    let highest = plotted(&load.base)
        .iter()
        .chain(&plotted(&load.head))
        .map(|point| point.1)
        .fold(0.0_f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..3.05, 0.0..(highest * 1.15).max(1e-3))?;
        chart
            .configure_mesh()
            .x_labels(4)
            .x_label_formatter(&|position| {
                let percentile = 100.0 * (1.0 - 10f64.powf(-position));
                format!("p{}", (percentile * 10.0).round() / 10.0)
            })
            .y_label_formatter(&|ms| format_duration_ns(ms * 1e6))
            .x_desc("percentile of requests")
            .y_desc("latency")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (side, color, label) in [
            (&load.base, BASELINE_COLOR, "base build"),
            (&load.head, CURRENT_COLOR, "head build"),
        ] {
            let points = plotted(side);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    points,
                    color.stroke_width(3),
                )))?
                .label(format!(
                    "{label} ({} {})",
                    load.quantile,
                    format_duration_ns(side.quantile_all_ms * 1e6)
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3))
                });
        }
        let quantile: f64 = load
            .quantile
            .trim_start_matches('p')
            .parse()
            .unwrap_or(95.0);
        let marker = percentile_position(quantile);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(marker, 0.0), (marker, highest * 1.1)],
            BLACK.mix(0.35).stroke_width(1),
        )))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn fingerprint_table(page: &mut String, probe: &ProbeChange) {
    page.push_str(
        "<table>\n<tr><th>#</th><th>fingerprint</th><th>before</th><th>after</th><th></th></tr>\n",
    );
    for (index, diff) in probe.fingerprints.iter().enumerate() {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            index + 1,
            escape_html(&diff.readable),
            diff.before,
            diff.after,
            if diff.n_plus_one { "N+1" } else { "" }
        );
    }
    page.push_str("</table>\n");
}

type PlotResult<T> = Result<T, Box<dyn std::error::Error>>;

fn plot_error(error: Box<dyn std::error::Error>) -> io::Error {
    io::Error::other(format!("cannot draw a plot: {error}"))
}

/// A point's vertical offset in its band: an even, deterministic spread
/// (multiples of the golden ratio modulo 1), so the page is reproducible.
fn jitter(index: usize) -> f64 {
    ((index as f64 * 0.618_033_988_75) % 1.0 - 0.5) * 0.7
}

/// Baseline samples in the upper band, current samples in the lower band, each
/// band with a vertical line at the location the model reports (the fastest
/// sample, or its geometric mean over runs), labelled as such.
fn strip_plot(bench: &BenchChange) -> PlotResult<String> {
    let all = bench
        .baseline_samples_ns
        .iter()
        .chain(&bench.current_samples_ns)
        .chain([&bench.baseline_ns, &bench.current_ns])
        .copied()
        .filter(|value| value.is_finite());
    let (low, high) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let pad = ((high - low) * 0.05).max(high.abs() * 0.01).max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 260)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(10)
            // 2.0..2.6 stays empty: room for the legend above the points.
            .build_cartesian_2d((low - pad)..(high + pad), 0.0..2.6)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_labels(8)
            .x_label_formatter(&|value| format_duration_ns(*value))
            .x_desc("time per iteration")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (samples, location, runs, center, color, label) in [
            (
                &bench.baseline_samples_ns,
                bench.baseline_ns,
                bench.baseline_runs,
                1.5,
                BASELINE_COLOR,
                "baseline",
            ),
            (
                &bench.current_samples_ns,
                bench.current_ns,
                bench.current_runs,
                0.5,
                CURRENT_COLOR,
                "current",
            ),
        ] {
            chart
                .draw_series(samples.iter().enumerate().map(|(index, value)| {
                    Circle::new(
                        (*value, center + jitter(index)),
                        3,
                        color.mix(0.55).filled(),
                    )
                }))?
                .label(format!(
                    "{label} ({}: {})",
                    BenchChange::location_label(runs),
                    format_duration_ns(location)
                ))
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(location, center - 0.45), (location, center + 0.45)],
                color.stroke_width(3),
            )))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Horizontal bars per fingerprint (numbered as in the table under the chart):
/// the baseline count above, the current count below.
fn bar_chart(probe: &ProbeChange) -> PlotResult<String> {
    let shown: Vec<_> = probe.fingerprints.iter().take(MAX_BARS).collect();
    let rows = shown.len() as f64;
    let largest = shown
        .iter()
        .map(|diff| diff.before.max(diff.after))
        .max()
        .unwrap_or(0) as f64;
    let height = 110 + 40 * shown.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..(largest * 1.4 + 1.0), 0.0..rows)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_label_formatter(&|value| format!("{value:.0}"))
            .x_desc("statements per request")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        for (position, diff) in shown.iter().enumerate() {
            let top = rows - position as f64;
            let (left_px, middle_px) = chart.backend_coord(&(0.0, top - 0.5));
            root.draw(&Text::new(
                format!("#{}", position + 1),
                (left_px - 40, middle_px - 7),
                ("sans-serif", 14).into_font(),
            ))?;
            for (count, offset, color, label) in [
                (diff.before, 0.1, BASELINE_COLOR, "baseline"),
                (diff.after, 0.5, CURRENT_COLOR, "current"),
            ] {
                let bar = Rectangle::new(
                    [(0.0, top - offset - 0.38), (count as f64, top - offset)],
                    color.filled(),
                );
                let series = chart.draw_series(std::iter::once(bar))?;
                if position == 0 {
                    series.label(label).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
                }
                chart.draw_series(std::iter::once(Text::new(
                    count.to_string(),
                    (count as f64 + largest * 0.01, top - offset - 0.12),
                    ("sans-serif", 13).into_font(),
                )))?;
            }
            if diff.n_plus_one {
                chart.draw_series(std::iter::once(Text::new(
                    "N+1",
                    (diff.after as f64 + largest * 0.06 + 0.4, top - 0.62),
                    ("sans-serif", 13).into_font().color(&RED),
                )))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()?;
        root.present()?;
    }
    if probe.fingerprints.len() > MAX_BARS {
        let _ = write!(
            svg,
            "<p>The chart shows the first {MAX_BARS} of {} fingerprints.</p>",
            probe.fingerprints.len()
        );
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_inside_its_band() {
        assert!((0..1000).map(jitter).all(|offset| offset.abs() <= 0.35));
    }
}
