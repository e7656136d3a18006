//! Load probes end to end: a small Python application (fixtures/probe-apps/
//! load_app.py) in a temporary git repository, its base and head builds
//! started alternately by the real binary, under real HTTP load; with
//! PostgreSQL, through the counting proxy.

use std::process::{Command, Output};

use crate::util::{Project, repo_root, text, timing_lock};

/// A git repository holding the load app and a perfguard.toml with one load probe.
struct LoadRepo {
    project: Project,
}

const CONFIG: &str = r#"
[gate]
base_ref = "main"

[app]
command = "python3 load_app.py {port}"
env = { DATABASE_URL = "{database_url}" }
ready = "/health"

[[load]]
name = "work under load"
path = "/work"
clients = 4
duration = "1s"
threshold = "20%"
"#;

impl LoadRepo {
    fn new(config: &str) -> LoadRepo {
        let project = Project::empty();
        std::fs::copy(
            repo_root().join("fixtures/probe-apps/load_app.py"),
            project.path().join("load_app.py"),
        )
        .unwrap();
        project.write("perfguard.toml", config);
        project.write("delay.txt", "0.010\n");
        project.write("README.md", "The load app.\n");
        let repo = LoadRepo { project };
        repo.git(&["init", "--quiet", "--initial-branch", "main"]);
        repo.commit("The load app");
        repo
    }

    fn git(&self, args: &[&str]) {
        let output = Command::new("git")
            .current_dir(self.project.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(["-c", "user.name=t", "-c", "user.email=t@perfguard.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            text(&output.stderr)
        );
    }

    /// The commit `name` names.
    fn rev(&self, name: &str) -> String {
        let output = Command::new("git")
            .current_dir(self.project.path())
            .args(["rev-parse", name])
            .output()
            .unwrap();
        text(&output.stdout).trim().to_owned()
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", message]);
    }

    /// A branch off main with `file` set to `contents`.
    fn branch(&self, name: &str, file: &str, contents: &str) {
        self.git(&["checkout", "--quiet", "main"]);
        self.git(&["checkout", "--quiet", "-b", name]);
        self.project.write(file, contents);
        self.commit(name);
    }

    fn check(&self, extra: &[&str]) -> (Output, serde_json::Value) {
        let report = self.project.path().join("comparison.json");
        let _ = std::fs::remove_file(&report);
        let output = self
            .project
            .perfguard()
            .args(["check", "--rounds", "3", "--max-rounds", "6"])
            .arg(format!("--report=json={}", report.display()))
            .args(extra)
            .output()
            .unwrap();
        let json = std::fs::read_to_string(&report)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        // Not left in the working tree for the next branch to commit.
        let _ = std::fs::remove_file(&report);
        (output, json)
    }
}

fn has_python() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 is needed by the load-probe tests"
        );
        eprintln!("skipped: python3 is not installed");
    }
    found
}

fn load_entry(json: &serde_json::Value) -> &serde_json::Value {
    json["entries"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["kind"] == "load"))
        .unwrap_or_else(|| panic!("no load entry in {json}"))
}

#[test]
fn a_slower_head_regresses_and_an_unchanged_one_passes() {
    if !has_python() {
        return;
    }
    let _lock = timing_lock();
    // Every build and every start writes down the folder it ran in, and
    // every start the commit git says is checked out there; a build leaves
    // its delay.txt in its target directory, and a start whose target
    // directory is not its folder's does not come up.
    let logs = tempfile::tempdir().unwrap();
    let (builds, starts, revs) = (
        logs.path().join("builds"),
        logs.path().join("starts"),
        logs.path().join("revs"),
    );
    let config = CONFIG.replace(
        "command = \"python3 load_app.py {port}\"",
        &format!(
            "build = 'mkdir -p \"$CARGO_TARGET_DIR\" && cp delay.txt \"$CARGO_TARGET_DIR/\" && pwd >> {}'\n\
             command = \"sh -c 'pwd >> {}; git rev-parse HEAD >> {}; cmp -s delay.txt $CARGO_TARGET_DIR/delay.txt && exec python3 load_app.py {{port}}'\"",
            builds.display(),
            starts.display(),
            revs.display()
        ),
    );
    let repo = LoadRepo::new(&config);
    let lines = |path: &std::path::Path| -> Vec<String> {
        let lines = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        let _ = std::fs::remove_file(path);
        lines
    };

    // The head's tree is the base's: one build serves both sides.
    let (output, _) = repo.check(&[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(lines(&builds).len(), 1, "one build for an unchanged tree");
    assert!(lines(&starts).len() >= 6, "3 rounds, 2 starts each");
    lines(&revs);

    repo.branch("docs", "README.md", "The load app, documented.\n");
    let (output, json) = repo.check(&[]);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stderr}\n{}",
        text(&output.stdout)
    );
    // Both builds were made in one folder, not the user's, and every start
    // of either ran there: the two programs differ only by their sources.
    let built_in = lines(&builds);
    assert_eq!(built_in.len(), 2, "{built_in:?}");
    assert_eq!(built_in[0], built_in[1], "{built_in:?}");
    let repo_dir = repo.project.path().canonicalize().unwrap();
    assert_ne!(std::path::Path::new(&built_in[0]), repo_dir);
    let started_in = lines(&starts);
    assert!(started_in.len() >= 6, "{started_in:?}");
    assert!(
        started_in.iter().all(|dir| *dir == built_in[0]),
        "{started_in:?} vs {built_in:?}"
    );
    // Each start saw its own side's commit (the worktree's HEAD goes with
    // its folder), in the rounds' order: base, head, then head, base, ...
    let (base, head) = (repo.rev("main"), repo.rev("docs"));
    let seen = lines(&revs);
    assert_eq!(seen.len(), started_in.len(), "{seen:?}");
    for (start, rev) in seen.iter().enumerate() {
        let base_first = (start / 2) % 2 == 0;
        let expected = if (start % 2 == 0) == base_first {
            &base
        } else {
            &head
        };
        assert_eq!(
            rev, expected,
            "start {start} of {seen:?} (base {base}, head {head})"
        );
    }
    let entry = load_entry(&json);
    assert_ne!(entry["verdict"], "regressed", "{entry}");
    let load = &entry["load"];
    assert_eq!(load["endpoint"], "GET /work");
    assert_eq!(load["traffic"], "4 clients");
    assert!(load["base"]["requests"].as_u64().unwrap() > 50, "{load}");
    assert_eq!(load["base"]["errors"], 0);
    // No database: nothing to say per request.
    assert!(
        load["base"].get("statements_per_request").is_none(),
        "{load}"
    );

    // Three times the handler's delay: p95 about 10 ms -> 30 ms.
    repo.branch("slow", "delay.txt", "0.030\n");
    let (output, json) = repo.check(&["--format", "markdown"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    let entry = load_entry(&json);
    assert_eq!(entry["verdict"], "regressed", "{entry}");
    let ratio = entry["reason"]["latency"]["ratio"].as_f64().unwrap();
    assert!(ratio > 1.2, "p95 ratio {ratio}");
    assert!(
        stdout.contains("| load probe | endpoint | latency |"),
        "{stdout}"
    );
    assert!(stdout.contains("work under load"), "{stdout}");
    // The base's build ran from the same folder as the head's, with the
    // merge-base's delay in place.
    let (base_ms, head_ms) = (
        entry["reason"]["base_ms"].as_f64().unwrap(),
        entry["reason"]["head_ms"].as_f64().unwrap(),
    );
    assert!(head_ms > 1.2 * base_ms, "p95 {base_ms} -> {head_ms} ms");
}

#[test]
fn a_head_that_fails_requests_regresses_whatever_its_latency() {
    if !has_python() {
        return;
    }
    let _lock = timing_lock();
    let repo = LoadRepo::new(CONFIG);
    // Every 20th request answers 500: 5% errors, none at the base.
    repo.branch("flaky", "fail_every.txt", "20\n");
    let (output, json) = repo.check(&["--format", "text"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    let entry = load_entry(&json);
    assert_eq!(entry["verdict"], "regressed");
    let errors = &entry["reason"]["errors"];
    assert_eq!(errors["base_rate"], 0.0, "{errors}");
    assert!(errors["head_rate"].as_f64().unwrap() > 0.03, "{errors}");
    assert!(
        errors["kinds"][0]
            .as_str()
            .unwrap()
            .starts_with("HTTP 500 x"),
        "{errors}"
    );
    assert!(stdout.contains("failed"), "{stdout}");
}

#[test]
fn a_load_probe_that_fails_everywhere_is_exit_2_naming_it() {
    if !has_python() {
        return;
    }
    let _lock = timing_lock();
    let repo = LoadRepo::new(&CONFIG.replace("path = \"/work\"", "path = \"/wrok\""));
    repo.branch("docs", "README.md", "The load app, documented.\n");
    let (output, _) = repo.check(&[]);
    crate::util::assert_exit_2(
        &output,
        &[
            "[[load]] \"work under load\"",
            "every request failed",
            "HTTP 404",
        ],
    );
}

#[test]
fn without_a_merge_base_load_probes_are_exit_2_not_skipped() {
    // Outside a git repository there is no base build to compare with.
    let project = Project::empty();
    project.write("perfguard.toml", CONFIG);
    let output = project.run(&["check"]);
    crate::util::assert_exit_2(
        &output,
        &["1 load probe(s)", "no merge-base", "--no-probes"],
    );
}

#[test]
fn statements_and_database_time_per_request_come_from_the_proxy() {
    if !has_python() {
        return;
    }
    let Some(server) = crate::db::server(
        "PERFGUARD_TEST_POSTGRES_URL",
        crate::db::POSTGRES_DEFAULT_URL,
    ) else {
        return;
    };
    let has_psql = Command::new("psql").arg("--version").output().is_ok();
    if !has_psql {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "psql is needed");
        eprintln!("skipped: psql is not installed");
        return;
    }
    let _lock = timing_lock();
    let database = crate::db::PgDatabase::create(&server, "perfguard_load");
    let config = format!(
        "{}\n[database]\nkind = \"postgres\"\nurl = \"{}\"\n",
        // Per-request ratios need enough requests a window that the few cut
        // by its edges stay small beside them, on a busy machine too.
        CONFIG.replace("duration = \"1s\"", "duration = \"2s\""),
        database.url()
    );
    let repo = LoadRepo::new(&config);
    repo.project.write("queries.sql", "SELECT 1\n");
    repo.commit("One query a request");
    repo.branch("two-queries", "queries.sql", "SELECT 1\nSELECT 2\n");
    let (output, json) = repo.check(&[]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        text(&output.stderr)
    );
    let load = &load_entry(&json)["load"];
    let per_request = |side: &str| load[side]["statements_per_request"].as_f64().unwrap();
    // Requests straddling a window's edges: the proxy's totals are divided by
    // the requests that ended in the window's time, so close to 1 and 2.
    let (base, head) = (per_request("base"), per_request("head"));
    assert!((base - 1.0).abs() < 0.15, "{load}");
    assert!((head - 2.0).abs() < 0.25, "{load}");
    assert!(head - base > 0.7, "{load}");
    assert!(load["head"]["database_ms_per_request"].as_f64().unwrap() > 0.0);
}
