//! Query-count probes end to end: the nplus1 fixture behind the counting proxy
//! on the real PostgreSQL, header and Server-Timing counting, and the faults
//! that must exit 2 (the app not found, exiting, never ready, crashing, an
//! error status, the database unreachable or refusing the login).

use crate::db::{POSTGRES_DEFAULT_URL, PgDatabase, server};
use crate::util::{Project, assert_exit_2, repo_root, text};

fn tiny_app_config(mode: &str, extra_app: &str, probe: &str) -> String {
    let script = repo_root().join("fixtures/probe-apps/tiny_app.py");
    format!(
        "[app]\ncommand = \"python3 {} {{port}} {mode}\"\nready = \"http://127.0.0.1:{{port}}/health\"\n{extra_app}\n\n{probe}",
        script.display()
    )
}

const HEADER_PROBE: &str =
    "[[probe]]\nname = \"items\"\npath = \"/items\"\ncount = \"header:X-Query-Count\"\n";

#[test]
fn header_counting_reads_the_count_and_fingerprints_without_literals() {
    let project = Project::empty();
    project.write("perfguard.toml", &tiny_app_config("ok", "", HEADER_PROBE));
    project
        .perfguard()
        .args(["run", "--out", "r.json"])
        .assert()
        .code(0);
    let results: serde_json::Value = serde_json::from_str(&project.read("r.json")).unwrap();
    let probe = &results["probes"]["items"];
    assert_eq!(probe["total_statements"], 3);
    assert_eq!(probe["endpoint"], "GET /items");
    assert_eq!(probe["repeat_totals"], serde_json::json!([3, 3, 3]));
    let text = project.read("r.json");
    assert!(
        text.contains("SELECT ... FROM details WHERE item_id = ?"),
        "{text}"
    );
    assert!(
        !text.contains("alice") && !text.contains("17"),
        "literals must never be stored:\n{text}"
    );
}

#[test]
fn server_timing_counting_reads_db_entries() {
    let project = Project::empty();
    let probe = "[[probe]]\nname = \"items\"\npath = \"/items\"\ncount = \"server-timing\"\nmax_queries = 2\n";
    project.write("perfguard.toml", &tiny_app_config("ok", "", probe));
    project
        .perfguard()
        .args(["baseline", "record"])
        .assert()
        .code(0);
    // The budget of 2 is exceeded by the 3 statements: a regression naming the budget.
    let output = project.run(&["check", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("max_queries = 2"));
}

#[test]
fn app_command_not_found_names_the_program() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &format!("[app]\ncommand = \"no-such-app-binary {{port}}\"\nready = \"http://127.0.0.1:{{port}}/\"\n\n{HEADER_PROBE}"),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["no-such-app-binary", "[app].command"]);
}

#[test]
fn app_exiting_during_start_shows_its_log() {
    let project = Project::empty();
    project.write("perfguard.toml", &tiny_app_config("exit", "", HEADER_PROBE));
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["exited while starting", "configuration missing"]);
}

#[test]
fn app_never_ready_times_out_with_the_url() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\ncommand = \"sleep 30\"\nready = \"http://127.0.0.1:{{port}}/health\"\nstartup_timeout = \"1s\"\n\n{HEADER_PROBE}"
        ),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &[
            "never became ready",
            "perfguard polled http://127.0.0.1:",
            "/health",
            "never pass {port}",
        ],
    );
    // Given the port, an app that is only slow gets the timeout suggested.
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\ncommand = \"sh -c 'sleep 30; echo {{port}}'\"\nready = \"http://127.0.0.1:{{port}}/health\"\nstartup_timeout = \"1s\"\n\n{HEADER_PROBE}"
        ),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &["never became ready", "raise [app].startup_timeout"],
    );
}

#[test]
fn app_crashing_mid_probe_is_exit_2_with_its_log() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &tiny_app_config("crash", "", HEADER_PROBE),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["GET /items", "panicked while handling"]);
}

#[test]
fn error_status_is_exit_2_with_the_body_never_a_pass() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &tiny_app_config("error", "", HEADER_PROBE),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["HTTP 500", "expected 2xx", "kaboom"]);
}

/// A config for the nplus1 fixture against `url`.
fn nplus1_config(url: &str) -> String {
    let manifest = repo_root().join("fixtures/nplus1/Cargo.toml");
    format!(
        "[app]\ncommand = \"cargo run -q --manifest-path {}\"\nenv = {{ PORT = \"{{port}}\", DATABASE_URL = \"{{database_url}}\" }}\n\
         ready = \"http://127.0.0.1:{{port}}/health\"\nstartup_timeout = \"600s\"\n\n\
         [database]\nkind = \"postgres\"\nurl = \"{url}\"\n\n\
         [[probe]]\nname = \"GET /items\"\npath = \"/items\"\ncount = \"proxy\"\n",
        manifest.display()
    )
}

#[test]
fn nplus1_endpoint_passes_with_one_query_and_fails_with_one_plus_n() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "perfguard_nplus1");
    let project = Project::empty();
    project.write("perfguard.toml", &nplus1_config(&database.url()));

    project
        .perfguard()
        .args(["baseline", "record"])
        .env_remove("NPLUS1")
        .assert()
        .code(0);
    let probes = project.read("baselines/probes.json");
    assert!(probes.contains("\"total_statements\": 1"), "{probes}");

    let same = project
        .perfguard()
        .arg("check")
        .env_remove("NPLUS1")
        .output()
        .unwrap();
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}\n{}",
        text(&same.stdout),
        text(&same.stderr)
    );

    let bad = project
        .perfguard()
        .args(["check", "--format", "json"])
        .env("NPLUS1", "1")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    let entry = comparison["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "GET /items")
        .unwrap();
    assert_eq!(entry["verdict"], "regressed");
    assert_eq!(entry["probe"]["baseline_total"], 1);
    assert_eq!(entry["probe"]["current_total"], 11);
    let repeated = entry["probe"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["readable"] == "SELECT ... FROM details WHERE item_id = ?")
        .expect("the repeated fingerprint is named");
    assert_eq!(repeated["after"], 10);
    assert_eq!(repeated["n_plus_one"], true);
}

#[test]
fn unreachable_database_is_exit_2_saying_so() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &nplus1_config("postgres://postgres@127.0.0.1:1/nothing"),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["127.0.0.1:1", "unreachable"]);
}

#[test]
fn refused_login_is_exit_2_saying_so() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let url = format!(
        "postgres://no_such_role_perfguard@{}/postgres",
        server.host_port
    );
    let project = Project::empty();
    project.write("perfguard.toml", &nplus1_config(&url));
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["refused the login"]);
}

#[test]
fn database_url_of_another_kind_is_exit_2_before_starting_anything() {
    let project = Project::empty();
    let config = nplus1_config("postgres://postgres@127.0.0.1:5432/x")
        .replace("kind = \"postgres\"", "kind = \"mysql\"");
    project.write("perfguard.toml", &config);
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(&output, &["[database] url", "kind", "make them agree"]);
}
