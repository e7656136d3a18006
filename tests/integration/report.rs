//! The reporters: snapshots of the Markdown comment, JUnit and terminal table
//! for a comparison with every verdict and an N+1 probe; escaping of hostile
//! names in every format; the comment size cap; JUnit against its schema; the
//! GitHub step files; the HTML page in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use perfguard::comparison::{
    Acceptance, BenchChange, Comparison, Entry, FingerprintDiff, ProbeChange, Reason, Side,
    Subject, TimingMode, Verdict,
};
use perfguard::report::{
    COMMENT_LIMIT_BYTES, COMMENT_MARKER, Format, ReportOptions, render_to_string,
};
use perfguard::results::{Machine, Revision};

use crate::util::repo_root;

const HOSTILE: &str = "<img src=x onerror=alert(1)> @everyone `tick` a|b\nline2";

fn side(commit: &str, branch: &str) -> Side {
    Side {
        revision: Revision {
            commit: Some(commit.to_owned()),
            branch: Some(branch.to_owned()),
            dirty: false,
        },
        machine: Machine {
            cpu_model: "Test CPU".to_owned(),
            cores: 2,
            os: "linux".to_owned(),
            rustc: "1.90.0".to_owned(),
        },
        source: "measured".to_owned(),
    }
}

/// Per-iteration samples spread evenly around `center_ns`, for the plots.
fn samples(center_ns: f64, count: usize) -> Vec<f64> {
    (0..count)
        .map(|index| center_ns * (0.96 + 0.08 * index as f64 / count as f64))
        .collect()
}

/// A reason in given words: the reporters render whatever words the model holds.
fn described(verdict: Verdict, text: &str) -> Reason {
    Reason::Described {
        verdict,
        text: text.to_owned(),
        accepted: None,
    }
}

fn bench(id: &str, verdict: Verdict, baseline_ns: f64, ratio: f64, rule: &str) -> Entry {
    Entry {
        id: id.to_owned(),
        reason: described(verdict, rule),
        subject: Subject::Bench {
            suite: id.split('/').next().unwrap_or("core").to_owned(),
            change: Some(BenchChange {
                mode: TimingMode::Stored,
                baseline_ns,
                current_ns: baseline_ns * ratio,
                ratio,
                ratio_low: ratio - 0.03,
                ratio_high: ratio + 0.03,
                confidence: 0.95,
                p_value: 0.001,
                p_adjusted: 0.004,
                threshold: 0.05,
                baseline_runs: 3,
                current_runs: 3,
                baseline_samples_ns: samples(baseline_ns, 20),
                current_samples_ns: samples(baseline_ns * ratio, 20),
                confirmed: None,
                measure: Default::default(),
                counts: None,
            }),
        },
    }
}

/// The entry without its timing change (as `new` and `missing` benchmarks are).
fn without_change(mut entry: Entry) -> Entry {
    if let Subject::Bench { change, .. } = &mut entry.subject {
        *change = None;
    }
    entry
}

fn diff(readable: &str, before: u64, after: u64) -> FingerprintDiff {
    FingerprintDiff {
        fingerprint: readable.replace("...", "id, name, price"),
        readable: readable.to_owned(),
        before,
        after,
        n_plus_one: after >= 5,
    }
}

fn probe(id: &str, verdict: Verdict, endpoint: &str, fingerprints: Vec<FingerprintDiff>) -> Entry {
    let before: u64 = fingerprints.iter().map(|d| d.before).sum();
    let after: u64 = fingerprints.iter().map(|d| d.after).sum();
    let changed: Vec<FingerprintDiff> = fingerprints
        .iter()
        .filter(|d| d.before != d.after)
        .cloned()
        .collect();
    let rule = if changed.is_empty() {
        "statement counts are equal".to_owned()
    } else {
        format!("statements grew from {before} to {after}")
    };
    Entry {
        id: id.to_owned(),
        reason: described(verdict, &rule),
        subject: Subject::Probe(ProbeChange {
            endpoint: endpoint.to_owned(),
            baseline_total: Some(before),
            current_total: Some(after),
            max_queries: Some(10),
            allow: 0,
            changed,
            unstable: Vec::new(),
            excluded_before: 0,
            excluded_after: 0,
            fingerprints,
            growth: Vec::new(),
        }),
    }
}

/// A comparison with every verdict, an N+1 probe and a warning.
fn mixed_comparison() -> Comparison {
    let mut accepted = bench(
        "core/serialize",
        Verdict::Accepted,
        5_000.0,
        1.2,
        "+20.0% is above the 5% threshold (p = 0.004)",
    );
    accepted.reason = Reason::Described {
        verdict: Verdict::Accepted,
        text: "+20.0% is above the 5% threshold (p = 0.004)".to_owned(),
        accepted: Some(Acceptance {
            pattern: "core/serialize".to_owned(),
            reason: "new field doubles the payload".to_owned(),
            commit: "fedcba9876543210fedcba9876543210fedcba98".to_owned(),
            author: "Dev Eloper".to_owned(),
        }),
    };
    let new = without_change(bench(
        "core/new_parser",
        Verdict::New,
        1_000.0,
        1.0,
        "no baseline",
    ));
    let missing = without_change(bench(
        "core/old_parser",
        Verdict::Missing,
        1_000.0,
        1.0,
        "in the baseline, not measured now",
    ));
    let mut comparison = Comparison::new(
        side("1111111111111111111111111111111111111111", "main"),
        side("2222222222222222222222222222222222222222", "feature/recs"),
        0.05,
        vec![
            bench(
                "core/parse",
                Verdict::Regressed,
                1_234.0,
                1.18,
                "+18.0% is above the 5% threshold (p = 0.004)",
            ),
            bench(
                "core/fast",
                Verdict::Improved,
                2_000_000.0,
                0.7,
                "-30.0% (p = 0.001)",
            ),
            bench(
                "core/steady",
                Verdict::Unchanged,
                450.0,
                1.01,
                "interval includes 0%",
            ),
            bench(
                "core/noisy",
                Verdict::Inconclusive,
                80_000.0,
                1.06,
                "interval [+3.0%, +9.0%] crosses the 5% threshold",
            ),
            accepted,
            new,
            missing,
            probe(
                "recommendations",
                Verdict::Regressed,
                "GET /products/42/recommendations",
                vec![
                    diff("SELECT ... FROM products WHERE id = ?", 1, 49),
                    diff("SELECT ... FROM recommendations WHERE product_id = ?", 1, 1),
                    diff("SELECT ... FROM users WHERE id = ?", 1, 1),
                ],
            ),
            probe(
                "cart",
                Verdict::Unchanged,
                "GET /cart",
                vec![diff("SELECT ... FROM carts WHERE user_id = ?", 1, 1)],
            ),
        ],
    );
    comparison.base_ref = Some("origin/main".to_owned());
    comparison.reproduce = Some("perfguard check --against origin/main".to_owned());
    comparison.warnings =
        vec!["the baseline was recorded on another machine (Other CPU)".to_owned()];
    comparison
}

fn render(format: Format, comparison: &Comparison) -> String {
    render_to_string(format, comparison, &ReportOptions::default()).expect("rendering succeeds")
}

#[test]
fn mixed_fixture_matches_the_comparison_built_in_code() {
    let path = repo_root().join("fixtures/comparisons/mixed.json");
    let expected = mixed_comparison();
    if std::env::var_os("PERFGUARD_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, expected.to_json()).expect("fixture is writable");
    }
    let stored = Comparison::read(&path).expect("fixture parses");
    assert_eq!(stored, expected);
}

#[test]
fn markdown_comment_snapshot() {
    insta::assert_snapshot!(render(Format::Markdown, &mixed_comparison()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(render(Format::Junit, &mixed_comparison()));
}

#[test]
fn terminal_table_snapshot_without_colour() {
    let text = render(Format::Text, &mixed_comparison());
    assert!(!text.contains('\u{1b}'), "no ANSI escape without colour");
    insta::assert_snapshot!(text);
}

#[test]
fn terminal_colours_only_when_asked() {
    let options = ReportOptions {
        color: true,
        ..ReportOptions::default()
    };
    let text = render_to_string(Format::Text, &mixed_comparison(), &options).unwrap();
    assert!(text.contains("\u{1b}["), "colour escapes are written");
}

#[test]
fn json_report_is_the_comparison_document() {
    let comparison = mixed_comparison();
    let text = render(Format::Json, &comparison);
    let parsed: Comparison = serde_json::from_str(&text).expect("valid comparison JSON");
    assert_eq!(parsed, comparison);
}

#[test]
fn markdown_headline_counts_every_verdict_and_regressions_come_first() {
    let text = render(Format::Markdown, &mixed_comparison());
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(COMMENT_MARKER));
    let headline = lines.next().unwrap();
    assert!(headline.contains("fail"), "{headline}");
    for count in [
        "2 regressed",
        "1 improved",
        "2 unchanged",
        "1 inconclusive",
        "1 new",
        "1 missing",
        "1 accepted",
    ] {
        assert!(headline.contains(count), "{count} missing from {headline}");
    }
    let regressions = text.find("Regressions (2)").unwrap();
    let improvements = text.find("Improvements (1)").unwrap();
    let unchanged = text.find("<details><summary>✅ Unchanged (2)").unwrap();
    assert!(regressions < improvements && improvements < unchanged);
    assert!(text.contains("`SELECT ... FROM products WHERE id = ?` 1 → 49 **N+1**"));
    assert!(text.contains("`1111111`") && text.contains("`2222222`"));
}

/// The hostile name as a benchmark and a probe with a hostile endpoint.
fn hostile_comparison() -> Comparison {
    let mut comparison = mixed_comparison();
    comparison.update_entries(|entries| {
        entries.push(bench(HOSTILE, Verdict::Regressed, 1_000.0, 1.5, HOSTILE));
        entries.push(probe(
            HOSTILE,
            Verdict::Regressed,
            HOSTILE,
            vec![diff(HOSTILE, 1, 9)],
        ));
    });
    comparison.warnings.push(HOSTILE.to_owned());
    comparison.current.revision.branch = Some(HOSTILE.to_owned());
    comparison
}

/// The HTML our own Markdown may contain; anything else came from a name.
const OWN_HTML: [&str; 5] = [
    COMMENT_MARKER,
    "<br>",
    "<details>",
    "<summary>",
    "</summary>",
];

#[test]
fn hostile_names_are_escaped_in_markdown() {
    use pulldown_cmark::{Event, Options, Parser, Tag};

    let text = render(Format::Markdown, &hostile_comparison());
    assert!(
        !text.lines().any(|line| line.starts_with("line2")),
        "a newline in a name started a new Markdown line"
    );
    // Parse as GitHub does (CommonMark + tables) and look at what a reader gets.
    // GFM ignores excess cells, so a `|` that splits a name shows as a cut name.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut visible = String::new();
    for event in Parser::new_ext(&text, Options::ENABLE_TABLES) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => {
                let html = html.trim();
                assert!(
                    OWN_HTML.iter().any(|own| html.starts_with(own)) || html == "</details>",
                    "HTML from a name reached the comment: {html}"
                );
            }
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => {
                panic!("a name produced a link or an image")
            }
            Event::Start(Tag::TableRow | Tag::TableHead) => rows.push(Vec::new()),
            Event::Start(Tag::TableCell) => rows.last_mut().unwrap().push(String::new()),
            Event::Text(part) | Event::Code(part) => {
                visible.push_str(&part);
                if let Some(cell) = rows.last_mut().and_then(|row| row.last_mut()) {
                    cell.push_str(&part);
                }
            }
            _ => {}
        }
    }
    assert!(
        !visible.contains("@everyone"),
        "a mention reached the comment"
    );
    // Each hostile entry's first cell is the whole name, readable again.
    let readable = "<img src=x onerror=alert(1)> @\u{200D}everyone `tick` a|b line2";
    let hostile_rows = rows.iter().filter(|row| row[0] == readable).count();
    assert_eq!(
        hostile_rows, 2,
        "the benchmark and the probe rows keep the whole name"
    );
    let endpoint_cells = rows.iter().filter(|row| row[1] == readable).count();
    assert_eq!(
        endpoint_cells, 1,
        "the probe's endpoint cell keeps the whole endpoint"
    );
}

#[test]
fn hostile_names_are_escaped_in_html_junit_and_github() {
    let comparison = hostile_comparison();
    let html = render(Format::Html, &comparison);
    assert!(!html.contains("<img"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let junit = render(Format::Junit, &comparison);
    assert!(!junit.contains("<img"));
    assert!(
        junit
            .contains("name=\"&lt;img src=x onerror=alert(1)&gt; @everyone `tick` a|b&#10;line2\"")
    );
    let github = render(Format::Github, &comparison);
    for line in github.lines() {
        assert!(
            line.starts_with("::") || line.starts_with("perfguard: "),
            "a newline in a name started a new workflow command line: {line}"
        );
    }
    assert!(github.contains(
        "title=perfguard regression%3A <img src=x onerror=alert(1)> @everyone `tick` a|b%0Aline2::"
    ));
}

#[test]
fn a_5000_benchmark_comment_stays_under_the_limit_and_keeps_every_regression() {
    let mut comparison = mixed_comparison();
    let mut entries = Vec::new();
    for index in 0..5_000 {
        let verdict = match index % 100 {
            0 => Verdict::Regressed,
            1..=9 => Verdict::Improved,
            _ => Verdict::Unchanged,
        };
        let ratio = match verdict {
            Verdict::Regressed => 1.25,
            Verdict::Improved => 0.8,
            _ => 1.0,
        };
        entries.push(bench(
            &format!(
                "suite_{}/a_rather_long_benchmark_name_number_{index:05}",
                index % 7
            ),
            verdict,
            1_000.0 + index as f64,
            ratio,
            "decided by the threshold rule",
        ));
    }
    comparison.update_entries(|all| *all = entries);
    let text = render(Format::Markdown, &comparison);
    assert!(text.len() < COMMENT_LIMIT_BYTES, "{} bytes", text.len());
    for entry in comparison
        .entries()
        .iter()
        .filter(|e| e.verdict() == Verdict::Regressed)
    {
        let escaped = perfguard::report::escape_markdown(&entry.id);
        assert!(
            text.contains(&escaped),
            "regression {} was dropped",
            entry.id
        );
    }
    // What was left out is counted: shown rows plus the note's count are all entries.
    let shown_rows = text
        .lines()
        .filter(|line| line.starts_with("| suite"))
        .count();
    let note = text
        .lines()
        .find(|line| line.contains("more entries are not shown"))
        .expect("a truncation note");
    let omitted: usize = note
        .trim_start_matches('_')
        .split(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .expect("the note starts with a count");
    assert_eq!(shown_rows + omitted, 5_000, "{note}");
    assert!(text.starts_with(COMMENT_MARKER));
    if let Ok(dir) = std::env::var("PERFGUARD_KEEP_MARKDOWN") {
        std::fs::write(Path::new(&dir).join("5000.md"), &text).unwrap();
    }
}

#[test]
fn a_comment_whose_regressions_alone_overflow_still_fits_and_counts_the_rest() {
    let mut comparison = mixed_comparison();
    let entries = (0..5_000)
        .map(|index| {
            bench(
                &format!("suite/regressed_benchmark_{index:05}"),
                Verdict::Regressed,
                1_000.0,
                1.3,
                "decided by the threshold rule",
            )
        })
        .collect();
    comparison.update_entries(|all| *all = entries);
    let text = render(Format::Markdown, &comparison);
    assert!(text.len() < COMMENT_LIMIT_BYTES, "{} bytes", text.len());
    let shown = text
        .lines()
        .filter(|line| line.starts_with("| suite"))
        .count();
    assert!(shown > 100, "only {shown} regressions shown");
    assert!(
        text.contains(&format!("_{} more entries are not shown", 5_000 - shown)),
        "the note does not count the regressions left out"
    );
    assert!(text.contains(&format!("({} regressed)", 5_000 - shown)));
    assert!(
        text.contains("fail — 5000 regressed"),
        "the headline counts all"
    );
}

#[test]
fn github_format_writes_annotations_step_summary_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let options = ReportOptions {
        color: false,
        github_step_summary: Some(summary.clone()),
        github_output: Some(output.clone()),
    };
    let text = render_to_string(Format::Github, &mixed_comparison(), &options).unwrap();
    assert!(text.contains(
        "::error title=perfguard regression%3A core/parse::regressed: 1.23 µs -> 1.46 µs"
    ));
    assert!(text.contains("::warning title=perfguard inconclusive%3A core/noisy::"));
    assert!(text.contains("::notice title=perfguard accepted regression%3A core/serialize::"));
    let summary_text = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary_text.starts_with("earlier step\n"),
        "the summary is appended to"
    );
    assert!(summary_text.contains(COMMENT_MARKER));
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("verdict=fail\n"));
    assert!(outputs.contains("regressed=2\n") && outputs.contains("unchanged=2\n"));
    assert!(outputs.contains("counts={\"accepted\":1,"));
}

#[test]
fn format_names_round_trip() {
    for format in Format::ALL {
        assert_eq!(format.to_string().parse::<Format>().unwrap(), format);
    }
    let error = "yaml".parse::<Format>().unwrap_err().to_string();
    assert!(
        error.contains("yaml") && error.contains("markdown"),
        "{error}"
    );
}

#[test]
fn junit_is_valid_against_the_junit_schema() {
    let Some(xmllint) = which("xmllint") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but xmllint is not on PATH (apt-get install libxml2-utils)"
        );
        eprintln!("skipped: xmllint is not on PATH (apt-get install libxml2-utils)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, comparison) in [
        ("mixed", mixed_comparison()),
        ("hostile", hostile_comparison()),
    ] {
        let xml_path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&xml_path, render(Format::Junit, &comparison)).unwrap();
        let result = Command::new(&xmllint)
            .arg("--noout")
            .arg("--schema")
            .arg(repo_root().join("fixtures/junit/junit.xsd"))
            .arg(&xml_path)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
}

#[test]
fn html_renders_in_headless_chromium() {
    let script = repo_root().join("scripts/html-screenshot.sh");
    let browser_present = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .any(|name| which(name).is_some());
    if !browser_present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no chromium, chromium-browser or google-chrome on PATH"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let png = dir.path().join("report.png");
    std::fs::write(&html, render(Format::Html, &hostile_comparison())).unwrap();
    let result = Command::new("bash")
        .arg(&script)
        .arg(&html)
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "the screenshot is nearly empty: {} bytes",
        bytes.len()
    );
    // To look at the page: PERFGUARD_KEEP_HTML=DIR keeps report.html and report.png.
    if let Some(keep) = std::env::var_os("PERFGUARD_KEEP_HTML") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&html, keep.join("report.html")).unwrap();
        std::fs::copy(&png, keep.join("report.png")).unwrap();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| Path::new(candidate).is_file())
    })
}
