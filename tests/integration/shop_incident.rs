//! The incident perfguard exists for, end to end: the shop committed as `main`
//! with its baselines, a branch with the new recommendation algorithm (an N+1
//! query and a quadratic ranking) fails the gate, and the fix passes it.
//! `cargo test seed_incident` runs exactly these three tests: one on SQLite
//! with header counting (it also times the ranking benchmark), one on
//! PostgreSQL counted on the wire through the proxy, and one where the pull request *adds* the recommendations endpoint's
//! probe, so no baseline exists for it, and the N+1 is caught because its
//! statement count grows with the data (fresh databases at two scales).

use crate::db::{POSTGRES_DEFAULT_URL, PgDatabase, server};
use crate::shop_fixture::ShopRepo;
use crate::util::{fixture_target_dir, shop_lock, text};

const RECOMMENDATIONS: &str = "GET /products/{id}/recommendations";
const REPEATED: &str = "SELECT ... FROM products WHERE id = ?";

fn perfguard(repo: &ShopRepo, config: &str) -> assert_cmd::Command {
    let mut command = repo.project.perfguard();
    command
        .env("CARGO_TARGET_DIR", fixture_target_dir().join("shop"))
        .args(["--config", config]);
    command
}

/// `perfguard check` that must fail the gate (exit 1), with a markdown report
/// in report.md; its JSON comparison and the recommendations probe's entry.
fn failing_check(
    repo: &ShopRepo,
    config: &str,
    extra: &[&str],
    why: &str,
) -> (serde_json::Value, serde_json::Value) {
    let output = perfguard(repo, config)
        .arg("check")
        .args(extra)
        .args(["--format", "json", "--report", "markdown=report.md"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{why}:\n{}",
        text(&output.stderr)
    );
    let comparison: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let probe = comparison["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == RECOMMENDATIONS)
        .expect("the recommendations probe")
        .clone();
    (comparison, probe)
}

/// Whether a test measures the shop's ranking benchmark too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timing {
    Measured,
    Skipped,
}

/// Record on main, commit the baselines, then gate the incident branch and its fix.
fn incident_is_caught_and_fix_passes(
    repo: &ShopRepo,
    config: &str,
    baselines: &str,
    timing: Timing,
) {
    let only_probes: &[&str] = match timing {
        Timing::Measured => &[],
        Timing::Skipped => &["--no-benches"],
    };
    perfguard(repo, config)
        .args(["baseline", "record"])
        .args(only_probes)
        .assert()
        .code(0);
    repo.git(&["add", "--all"]);
    repo.git(&[
        "commit",
        "--quiet",
        "--message",
        "Record perfguard baselines",
    ]);

    repo.branch("recommendations-v2");
    repo.commit_patch("incident.patch", "New recommendation algorithm");
    let (comparison, probe) =
        failing_check(repo, config, only_probes, "the incident must fail the gate");
    let entries = comparison["entries"].as_array().unwrap();
    assert_eq!(probe["verdict"], "regressed", "{probe}");
    assert_eq!(probe["probe"]["baseline_total"], 3, "{probe}");
    assert_eq!(probe["probe"]["current_total"], 51, "{probe}");
    let repeated = probe["probe"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["readable"] == REPEATED)
        .expect("the repeated fingerprint is named");
    assert_eq!(repeated["after"], 49, "{repeated}");
    assert_eq!(repeated["n_plus_one"], true);
    let ranking = entries.iter().find(|e| e["kind"] == "bench");
    if timing == Timing::Measured {
        let ranking = ranking.expect("the ranking benchmark");
        assert_eq!(
            ranking["verdict"], "regressed",
            "the quadratic ranking is slower: {ranking}"
        );
        assert!(
            ranking["bench"]["ratio"].as_f64().unwrap() > 2.0,
            "{ranking}"
        );
    } else {
        assert!(ranking.is_none(), "--no-benches measured {ranking:?}");
    }

    // What the reviewer reads.
    let markdown = std::fs::read_to_string(repo.path().join("report.md")).unwrap();
    assert!(markdown.contains("recommendations"), "{markdown}");
    assert!(markdown.contains("N+1"), "{markdown}");
    assert!(markdown.contains("products WHERE id"), "{markdown}");

    repo.commit_patch("fix.patch", "Recommendations: one joined query again");
    let fixed = perfguard(repo, config)
        .arg("check")
        .args(only_probes)
        .output()
        .unwrap();
    assert_eq!(
        fixed.status.code(),
        Some(0),
        "the fix must pass the gate:\n{}\n{}",
        text(&fixed.stdout),
        text(&fixed.stderr)
    );
    assert!(repo.path().join(baselines).join("probes.json").is_file());
}

#[test]
fn seed_incident_sqlite_with_header_counting() {
    let _turn = shop_lock();
    let repo = ShopRepo::new();
    incident_is_caught_and_fix_passes(&repo, "perfguard.toml", "baselines", Timing::Measured);
}

/// The shop's PostgreSQL config pointed at the test server, edited by `edit`, committed.
fn postgres_repo(database: &PgDatabase, edit: impl Fn(String) -> String) -> ShopRepo {
    let repo = ShopRepo::new();
    let config_path = repo.path().join("perfguard-postgres.toml");
    let config = std::fs::read_to_string(&config_path).unwrap().replace(
        "postgres://postgres@127.0.0.1:5432/shop_perfguard",
        &database.url(),
    );
    assert!(
        config.contains(&database.name),
        "the test database replaces the fixture's"
    );
    std::fs::write(&config_path, edit(config)).unwrap();
    repo.git(&[
        "commit",
        "--quiet",
        "--all",
        "--message",
        "Point the gate at the test database",
    ]);
    repo
}

/// Names of the databases on the test server that start with `prefix`.
fn databases_named(database: &PgDatabase, prefix: &str) -> Vec<String> {
    let (host, port) = database.server_host_port.rsplit_once(':').unwrap();
    let config = format!(
        "host={host} port={port} user={} dbname=postgres",
        database.user
    );
    crate::db::runtime().block_on(async {
        let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .query("SELECT datname FROM pg_database", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .filter(|name| name.starts_with(prefix))
            .collect()
    })
}

#[test]
fn seed_incident_postgres_through_the_proxy() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "perfguard_shop");
    let _turn = shop_lock();
    let repo = postgres_repo(&database, |config| config);
    // The ranking benchmark does not touch the database: the SQLite test
    // times it; this one is about counting on the wire.
    incident_is_caught_and_fix_passes(
        &repo,
        "perfguard-postgres.toml",
        "baselines-postgres",
        Timing::Skipped,
    );
    let probes =
        std::fs::read_to_string(repo.path().join("baselines-postgres/probes.json")).unwrap();
    assert!(probes.contains("\"scale\": 600"), "{probes}");
    assert_eq!(
        databases_named(&database, &format!("{}_perfguard_", database.name)),
        Vec::<String>::new(),
        "every fresh database is dropped"
    );
}

/// The recommendations probe, as the pull request adds it (no budget guessed).
const RECOMMENDATIONS_PROBE: &str = "[[probe]]\nname = \"GET /products/{id}/recommendations\"\npath = \"/products/42/recommendations\"\ncount = \"proxy\"\nmax_queries = 10\n";

#[test]
fn seed_incident_new_endpoint_caught_by_growth_with_no_baseline() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let database = PgDatabase::create(&server, "perfguard_shop");
    let _turn = shop_lock();
    let repo = postgres_repo(&database, |config| {
        assert!(config.contains(RECOMMENDATIONS_PROBE));
        config.replace(RECOMMENDATIONS_PROBE, "")
    });
    // Probes only: the ranking benchmark is the other tests' business.
    perfguard(&repo, "perfguard-postgres.toml")
        .args(["baseline", "record", "--no-benches"])
        .assert()
        .code(0);
    repo.git(&["add", "--all"]);
    repo.git(&[
        "commit",
        "--quiet",
        "--message",
        "Record perfguard baselines",
    ]);

    repo.branch("recommendations-v2");
    repo.commit_patch("incident.patch", "New recommendation algorithm");
    let config_path = repo.path().join("perfguard-postgres.toml");
    let mut config = std::fs::read_to_string(&config_path).unwrap();
    config.push('\n');
    config.push_str(&RECOMMENDATIONS_PROBE.replace("max_queries = 10\n", ""));
    std::fs::write(&config_path, config).unwrap();
    repo.git(&[
        "commit",
        "--quiet",
        "--all",
        "--message",
        "Probe the recommendations",
    ]);

    let (_, probe) = failing_check(
        &repo,
        "perfguard-postgres.toml",
        &["--no-benches"],
        "a new endpoint with an N+1 must fail the gate",
    );
    assert_eq!(probe["verdict"], "regressed", "{probe}");
    assert!(probe["probe"]["baseline_total"].is_null(), "{probe}");
    assert_eq!(probe["probe"]["current_total"], 51, "{probe}");
    let growth = probe["probe"]["growth"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["readable"] == REPEATED)
        .expect("the repeated fingerprint grows with data");
    assert_eq!(growth["scales"], serde_json::json!([600, 2400]), "{growth}");
    assert_eq!(growth["counts"], serde_json::json!([16, 49]), "{growth}");
    assert_eq!(growth["known"], false, "{growth}");
    let markdown = std::fs::read_to_string(repo.path().join("report.md")).unwrap();
    assert!(markdown.contains("grows with data"), "{markdown}");
    assert_eq!(
        databases_named(&database, &format!("{}_perfguard_", database.name)),
        Vec::<String>::new(),
        "every fresh database is dropped"
    );
}
