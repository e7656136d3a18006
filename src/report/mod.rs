//! Output formats (temporary minimal version until the report module lands).

pub mod units;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::comparison::Comparison;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Junit,
    Github,
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "markdown" => Ok(Format::Markdown),
            "junit" => Ok(Format::Junit),
            "github" => Ok(Format::Github),
            "html" => Ok(Format::Html),
            other => Err(format!("unknown format {other:?}")),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub color: bool,
    pub github_step_summary: Option<PathBuf>,
    pub github_output: Option<PathBuf>,
}

pub fn render(
    format: Format,
    comparison: &Comparison,
    _options: &ReportOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Json => out.write_all(comparison.to_json().as_bytes()),
        _ => {
            for entry in &comparison.entries {
                writeln!(
                    out,
                    "{}\t{}\t{}",
                    entry.id,
                    entry.verdict.as_str(),
                    entry.rule
                )?;
            }
            writeln!(out, "{:?}", comparison.outcome)
        }
    }
}
