//! Every output format of perfguard, one module per format behind the
//! [`Reporter`] trait. Reporters read only the [`Comparison`] model: none
//! recomputes a statistic, they choose words, units and layout.

mod escape;
mod github;
mod html;
mod human;
mod json;
mod junit;
mod markdown;
mod terminal;

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;

use crate::comparison::Comparison;

pub use escape::{
    escape_html, escape_markdown, escape_workflow_data, escape_workflow_property,
    markdown_code_span, sanitize_terminal,
};
pub use github::GithubReporter;
pub use html::HtmlReporter;
pub use human::{
    LoadFigures, bench_figures, format_change, format_duration_ns, format_instructions,
    format_percent, load_figures, load_reason, short_sha,
};
pub use json::JsonReporter;
pub use junit::JunitReporter;
pub use markdown::{COMMENT_LIMIT_BYTES, COMMENT_MARKER, MarkdownReporter};
pub use terminal::TerminalReporter;

/// The one-line verdict: `perfguard: fail (2 regressed, 1 improved, ...)`,
/// every verdict counted (what `-q` prints).
pub fn verdict_line(comparison: &Comparison) -> String {
    let counts: Vec<String> = crate::comparison::Verdict::ALL
        .iter()
        .map(|verdict| format!("{} {}", comparison.count(*verdict), verdict.as_str()))
        .collect();
    format!(
        "perfguard: {} ({})",
        comparison.outcome().as_str(),
        counts.join(", ")
    )
}

/// An output format, as named on the command line (`--format`, `--report FORMAT=PATH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The human table for a terminal.
    Text,
    /// The `perfguard.comparison.v1` document.
    Json,
    /// The pull-request comment.
    Markdown,
    /// JUnit XML: one testcase per benchmark and probe.
    Junit,
    /// GitHub Actions workflow commands, step summary and step outputs.
    Github,
    /// A self-contained HTML page with plots.
    Html,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Github,
        Format::Html,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Github => "github",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that perfguard does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?}: expected one of text, json, markdown, junit, github, html")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Format, UnknownFormat> {
        Format::ALL
            .into_iter()
            .find(|format| format.as_str().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// Choices the command line makes for the reporters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Emit ANSI colours (the CLI decides from `--color`, `NO_COLOR` and the tty).
    pub color: bool,
    /// Where `--format github` appends the Markdown summary (`$GITHUB_STEP_SUMMARY`).
    pub github_step_summary: Option<PathBuf>,
    /// Where `--format github` writes `verdict=` and the counts (`$GITHUB_OUTPUT`).
    pub github_output: Option<PathBuf>,
}

impl ReportOptions {
    /// Fill the GitHub file paths from `$GITHUB_STEP_SUMMARY` and `$GITHUB_OUTPUT`
    /// when they are set and not empty.
    pub fn with_github_env(mut self) -> ReportOptions {
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        self.github_step_summary = path("GITHUB_STEP_SUMMARY");
        self.github_output = path("GITHUB_OUTPUT");
        self
    }
}

/// One output format.
pub trait Reporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()>;
}

/// Render `comparison` in `format` to `out`.
///
/// `--format github` also appends to and writes the files named in `options`.
pub fn render(
    format: Format,
    comparison: &Comparison,
    options: &ReportOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => TerminalReporter {
            color: options.color,
        }
        .render(comparison, out),
        Format::Json => JsonReporter.render(comparison, out),
        Format::Markdown => MarkdownReporter.render(comparison, out),
        Format::Junit => JunitReporter.render(comparison, out),
        Format::Github => GithubReporter {
            step_summary: options.github_step_summary.clone(),
            output: options.github_output.clone(),
        }
        .render(comparison, out),
        Format::Html => HtmlReporter.render(comparison, out),
    }
}

/// Render `comparison` in `format` into a string (for tests and for callers that
/// post the text somewhere).
pub fn render_to_string(
    format: Format,
    comparison: &Comparison,
    options: &ReportOptions,
) -> io::Result<String> {
    let mut buffer = Vec::new();
    render(format, comparison, options, &mut buffer)?;
    String::from_utf8(buffer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
