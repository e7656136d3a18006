//! JUnit XML, so any CI system lists perfguard's verdicts: one `<testsuite>` per
//! bench suite (and `probes`), one `<testcase>` per entry, regressions as
//! `<failure>` with the numbers in the message, missing entries as `<skipped>`.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Reporter;
use super::escape::escape_xml;
use super::human::{entry_summary, short_sha};
use crate::comparison::{Comparison, Entry, Outcome, Verdict};

/// Renders JUnit XML.
pub struct JunitReporter;

impl Reporter for JunitReporter {
    fn render(&self, comparison: &Comparison, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(render_junit(comparison).as_bytes())
    }
}

fn render_junit(comparison: &Comparison) -> String {
    // Suites in order of first appearance, so the output follows the model's order.
    let mut suites: Vec<(&str, Vec<&Entry>)> = Vec::new();
    for entry in comparison.entries() {
        match suites.iter_mut().find(|(suite, _)| *suite == entry.suite()) {
            Some((_, entries)) => entries.push(entry),
            None => suites.push((entry.suite(), vec![entry])),
        }
    }
    let count = |entries: &[&Entry], kind: Outcome| {
        entries
            .iter()
            .filter(|entry| case_outcome(entry) == Some(kind))
            .count()
    };
    let all: Vec<&Entry> = comparison.entries().iter().collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"perfguard\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        all.len(),
        count(&all, Outcome::Fail),
        count(&all, Outcome::Undecided),
    );
    for (suite, entries) in &suites {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">",
            escape_xml(suite),
            entries.len(),
            count(entries, Outcome::Fail),
            count(entries, Outcome::Undecided),
        );
        if let Some(commit) = comparison.current.revision.commit.as_deref() {
            let _ = writeln!(
                xml,
                "    <properties>\n      <property name=\"commit\" value=\"{}\"/>\n    </properties>",
                escape_xml(&short_sha(commit).unwrap_or_default())
            );
        }
        for entry in entries {
            testcase(&mut xml, entry);
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// A test case fails when its entry fails the gate (regressed, missing) and
/// is an error when no verdict could be reached (a probe whose counts
/// differed between repeats).
fn case_outcome(entry: &Entry) -> Option<Outcome> {
    match entry.verdict() {
        Verdict::Regressed | Verdict::Missing => Some(Outcome::Fail),
        Verdict::Inconclusive if entry.probe().is_some() => Some(Outcome::Undecided),
        _ => None,
    }
}

fn testcase(xml: &mut String, entry: &Entry) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\"",
        escape_xml(&entry.id),
        escape_xml(entry.suite())
    );
    let summary = entry_summary(entry);
    match case_outcome(entry) {
        Some(Outcome::Fail) => {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                escape_xml(&summary),
                entry.verdict().as_str(),
                escape_xml(&details(entry))
            );
        }
        Some(Outcome::Undecided) => {
            let _ = writeln!(
                xml,
                ">\n      <error message=\"{}\" type=\"undecided\">{}</error>\n    </testcase>",
                escape_xml(&summary),
                escape_xml(&details(entry))
            );
        }
        _ => {
            let _ = writeln!(
                xml,
                ">\n      <system-out>{}</system-out>\n    </testcase>",
                escape_xml(&details(entry))
            );
        }
    }
}

/// The summary plus the acceptance, when there is one.
fn details(entry: &Entry) -> String {
    let mut text = entry_summary(entry);
    if let Some(acceptance) = entry.accepted() {
        let _ = write!(
            text,
            "\naccepted by {} in {}: {}",
            acceptance.author,
            short_sha(&acceptance.commit).unwrap_or_default(),
            acceptance.reason
        );
    }
    text
}
