//! JUnit XML, so any CI system lists perfguard's verdicts: one `<testsuite>` per
//! bench suite (and `probes`), one `<testcase>` per entry, regressions as
//! `<failure>` with the numbers in the message, missing entries as `<skipped>`.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::Reporter;
use super::escape::escape_xml;
use super::human::{entry_summary, short_sha};
use crate::comparison::{Comparison, Entry, Verdict};

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
    for entry in &comparison.entries {
        match suites.iter_mut().find(|(suite, _)| *suite == entry.suite) {
            Some((_, entries)) => entries.push(entry),
            None => suites.push((&entry.suite, vec![entry])),
        }
    }
    let failures = |entries: &[&Entry]| {
        entries
            .iter()
            .filter(|entry| entry.verdict == Verdict::Regressed)
            .count()
    };
    let skipped = |entries: &[&Entry]| {
        entries
            .iter()
            .filter(|entry| entry.verdict == Verdict::Missing)
            .count()
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"perfguard\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
        comparison.entries.len(),
        comparison.count(Verdict::Regressed),
    );
    for (suite, entries) in &suites {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            escape_xml(suite),
            entries.len(),
            failures(entries),
            skipped(entries),
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

fn testcase(xml: &mut String, entry: &Entry) {
    let _ = write!(
        xml,
        "    <testcase name=\"{}\" classname=\"{}\"",
        escape_xml(&entry.id),
        escape_xml(&entry.suite)
    );
    let summary = entry_summary(entry);
    match entry.verdict {
        Verdict::Regressed => {
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{}\" type=\"regressed\">{}</failure>\n    </testcase>",
                escape_xml(&summary),
                escape_xml(&details(entry))
            );
        }
        Verdict::Missing => {
            let _ = writeln!(
                xml,
                ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                escape_xml(&summary)
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
    if let Some(acceptance) = &entry.accepted {
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
