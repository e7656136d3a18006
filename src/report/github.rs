//! GitHub Actions output: a workflow command per finding (`::error` for a
//! regression, `::warning` for what a reviewer must check, `::notice` for an
//! accepted regression), the Markdown comment appended to the step summary and
//! the verdict and counts written as step outputs.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Reporter;
use super::escape::{escape_workflow_data, escape_workflow_property};
use super::human::entry_summary;
use super::markdown::render_comment;
use crate::comparison::{Comparison, Outcome, Verdict};

/// Renders workflow commands to the output and writes the step files it is given.
pub struct GithubReporter {
    /// `$GITHUB_STEP_SUMMARY`: the Markdown comment is appended here.
    pub step_summary: Option<PathBuf>,
    /// `$GITHUB_OUTPUT`: `verdict=`, one line per count and `counts=` (JSON).
    pub output: Option<PathBuf>,
}

impl Reporter for GithubReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        for warning in &comparison.warnings {
            writeln!(
                out,
                "::warning title=perfguard::{}",
                escape_workflow_data(warning)
            )?;
        }
        for entry in comparison.entries() {
            let (command, title) = match entry.verdict() {
                Verdict::Regressed => ("error", "perfguard regression"),
                Verdict::Inconclusive => ("warning", "perfguard inconclusive"),
                Verdict::Missing => ("error", "perfguard missing"),
                Verdict::Accepted => ("notice", "perfguard accepted regression"),
                Verdict::Improved | Verdict::Unchanged | Verdict::New => continue,
            };
            writeln!(
                out,
                "::{command} title={}::{}",
                escape_workflow_property(&format!("{title}: {}", entry.id)),
                escape_workflow_data(&entry_summary(entry))
            )?;
        }
        writeln!(out, "{}", super::verdict_line(comparison))?;
        if let Some(path) = &self.step_summary {
            append(path, render_comment(comparison).as_bytes())?;
        }
        if let Some(path) = &self.output {
            append(path, step_outputs(comparison).as_bytes())?;
        }
        Ok(())
    }
}

fn outcome_word(outcome: Outcome) -> &'static str {
    outcome.as_str()
}

/// `verdict=fail`, `regressed=2`, ... and `counts={"accepted":0,...}`, one per line.
fn step_outputs(comparison: &Comparison) -> String {
    let mut text = format!("verdict={}\n", outcome_word(comparison.outcome()));
    let mut counts = serde_json::Map::new();
    for verdict in Verdict::ALL {
        let count = comparison.count(verdict);
        text.push_str(&format!("{}={count}\n", verdict.as_str()));
        counts.insert(verdict.as_str().to_owned(), count.into());
    }
    text.push_str(&format!("counts={}\n", serde_json::Value::Object(counts)));
    text
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(with_path)?;
    file.write_all(bytes).map_err(with_path)
}
