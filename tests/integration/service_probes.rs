//! Probing a service as it is: a build step outside the start timer, a fixed
//! address (checked free first), logins whose tokens flow to later probes and
//! never into a report, and a fresh database per check on PostgreSQL and
//! MariaDB, created by `setup`, dropped afterwards, leftovers of killed runs
//! removed.

use std::net::TcpListener;

use crate::db::{MYSQL_DEFAULT_URL, POSTGRES_DEFAULT_URL, Server, runtime, server, unique_name};
use crate::util::{Project, assert_exit_2, repo_root, text};

fn tiny_app() -> String {
    repo_root()
        .join("fixtures/probe-apps/tiny_app.py")
        .display()
        .to_string()
}

const HEADER_PROBE: &str =
    "[[probe]]\nname = \"items\"\npath = \"/items\"\ncount = \"header:X-Query-Count\"\n";

fn run_ok(project: &Project) -> serde_json::Value {
    let output = project.run(&["run", "--out", "r.json"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_str(&project.read("r.json")).unwrap()
}

#[test]
fn build_runs_first_outside_the_startup_timeout() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\nbuild = \"sleep 2 && echo built > built.txt\"\ncommand = \"python3 {} {{port}} ok\"\nready = \"/health\"\nstartup_timeout = \"1500ms\"\n\n{HEADER_PROBE}",
            tiny_app()
        ),
    );
    let results = run_ok(&project);
    assert_eq!(results["probes"]["items"]["total_statements"], 3);
    assert_eq!(project.read("built.txt").trim(), "built");
}

#[test]
fn failing_build_is_exit_2_with_its_output() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\nbuild = \"echo compiling shop; echo 'error[E0425]: cannot find value' >&2; exit 101\"\ncommand = \"python3 {} {{port}} ok\"\nready = \"/health\"\n\n{HEADER_PROBE}",
            tiny_app()
        ),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &["[app] build", "failed", "compiling shop", "error[E0425]"],
    );
}

/// A port that was free a moment ago.
fn released_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fixed_port_config(port: u16) -> String {
    format!(
        "[app]\ncommand = \"python3 {} {port} ok\"\nurl = \"http://127.0.0.1:{port}\"\nready = \"/health\"\n\n{HEADER_PROBE}",
        tiny_app()
    )
}

#[test]
fn fixed_address_is_probed_when_free() {
    let port = released_port();
    let project = Project::empty();
    project.write("perfguard.toml", &fixed_port_config(port));
    let results = run_ok(&project);
    assert_eq!(results["probes"]["items"]["total_statements"], 3);
}

#[test]
fn fixed_address_in_use_names_the_process_holding_it() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let project = Project::empty();
    project.write("perfguard.toml", &fixed_port_config(port));
    let output = project.run(&["run", "--out", "r.json"]);
    let this_test = format!("pid {}", std::process::id());
    assert_exit_2(
        &output,
        &[
            &format!("port {port} is already in use"),
            &this_test,
            "[app].url",
        ],
    );
}

#[test]
fn app_listening_elsewhere_is_named_with_the_url_to_set() {
    let port = released_port();
    let project = Project::empty();
    // The app ignores {port}: it listens on its own fixed port.
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\ncommand = \"python3 {} {port} ok\"\nready = \"/health\"\nstartup_timeout = \"2s\"\n\n{HEADER_PROBE}",
            tiny_app()
        ),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &[
            "perfguard polled http://127.0.0.1:",
            &format!("listens on port {port}"),
            &format!("[app] url = \"http://127.0.0.1:{port}\""),
        ],
    );
}

const LOGIN_PROBE: &str = "[[probe]]\nname = \"login\"\nmethod = \"POST\"\npath = \"/login\"\nbody = '{\"user\": \"alice\"}'\ncount = \"header:X-Query-Count\"\n";

fn auth_config(capture: &str, items_headers: &str) -> String {
    format!(
        "[app]\ncommand = \"python3 {} {{port}} auth\"\nready = \"/health\"\n\n{LOGIN_PROBE}{capture}\n\n[[probe]]\nname = \"my items\"\npath = \"/items\"\ncount = \"header:X-Query-Count\"\n{items_headers}\n",
        tiny_app()
    )
}

#[test]
fn captured_token_logs_in_later_probes_and_never_reaches_a_report() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &auth_config(
            "capture = { token = \"/token\", user_id = \"/user/id\" }",
            "headers = { authorization = \"Bearer {token}\", x-user = \"{user_id}\" }",
        ),
    );
    let results = run_ok(&project);
    assert_eq!(results["probes"]["my items"]["total_statements"], 3);
    assert_eq!(results["probes"]["login"]["total_statements"], 1);
    let written = project.read("r.json");
    assert!(!written.contains("tiny-s3cret"), "{written}");

    // Only the probe asked for is measured; the login it needs still runs.
    let output = project
        .perfguard()
        .args(["run", "--only", "my items", "--out", "only.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let only: serde_json::Value = serde_json::from_str(&project.read("only.json")).unwrap();
    assert_eq!(only["probes"]["my items"]["total_statements"], 3);
    assert!(only["probes"].get("login").is_none(), "{only}");
    for stream in [&output.stdout, &output.stderr] {
        assert!(!text(stream).contains("tiny-s3cret"));
    }
}

#[test]
fn missing_credentials_suggest_capture_and_headers() {
    let project = Project::empty();
    project.write("perfguard.toml", &auth_config("", ""));
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &["\"my items\"", "HTTP 401", "wants credentials", "capture"],
    );
}

#[test]
fn a_pointer_that_finds_nothing_names_the_probe_and_the_pointer() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &auth_config(
            "capture = { token = \"/access_token\" }",
            "headers = { authorization = \"Bearer {token}\" }",
        ),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &[
            "\"login\"",
            "capture token = \"/access_token\"",
            "top-level keys: token, user",
        ],
    );
    assert!(!text(&output.stderr).contains("tiny-s3cret"));
}

#[test]
fn a_template_nobody_captures_is_a_config_error() {
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &auth_config("", "headers = { authorization = \"Bearer {token}\" }"),
    );
    let output = project.run(&["run", "--out", "r.json"]);
    assert_exit_2(
        &output,
        &[
            "perfguard.toml",
            "\"my items\"",
            "{token} is not captured by an earlier probe",
        ],
    );
}

/// A database server for the fresh-database tests, with the admin client to list names.
enum Backend {
    Postgres(Server),
    Mysql(Server),
}

impl Backend {
    fn url(&self, database: &str) -> String {
        match self {
            Backend::Postgres(s) => format!("postgres://{}@{}/{database}", s.user, s.host_port),
            Backend::Mysql(s) => format!("mysql://{}@{}/{database}", s.user, s.host_port),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Mysql(_) => "mysql",
        }
    }

    /// Run one statement on the server; the first column of its rows.
    fn admin(&self, sql: &str) -> Vec<String> {
        match self {
            Backend::Postgres(s) => {
                let (host, port) = s.host_port.rsplit_once(':').unwrap();
                let config = format!("host={host} port={port} user={} dbname=postgres", s.user);
                runtime().block_on(async {
                    let (client, connection) =
                        tokio_postgres::connect(&config, tokio_postgres::NoTls)
                            .await
                            .unwrap();
                    tokio::spawn(connection);
                    client
                        .simple_query(sql)
                        .await
                        .unwrap()
                        .into_iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(row) => {
                                row.get(0).map(str::to_string)
                            }
                            _ => None,
                        })
                        .collect()
                })
            }
            Backend::Mysql(s) => {
                use mysql_async::prelude::Queryable;
                let url = format!("mysql://{}@{}", s.user, s.host_port);
                runtime().block_on(async {
                    let mut connection = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
                    let rows: Vec<String> = connection.query(sql).await.unwrap();
                    connection.disconnect().await.unwrap();
                    rows
                })
            }
        }
    }

    fn databases_starting(&self, prefix: &str) -> Vec<String> {
        let all = match self {
            Backend::Postgres(_) => self.admin("SELECT datname FROM pg_database"),
            Backend::Mysql(_) => self.admin("SHOW DATABASES"),
        };
        all.into_iter().filter(|n| n.starts_with(prefix)).collect()
    }

    /// A shell command that fails unless the database `DATABASE_URL` names exists.
    fn touch_database(&self) -> String {
        match self {
            Backend::Postgres(_) => {
                "psql -X -q \"$DATABASE_URL\" -c 'CREATE TABLE seeded (x int)'".to_string()
            }
            Backend::Mysql(s) => {
                let (host, port) = s.host_port.rsplit_once(':').unwrap();
                format!(
                    "mariadb --protocol=tcp -h {host} -P {port} -u {} -e 'CREATE TABLE seeded (x INT)' \"${{DATABASE_URL##*/}}\"",
                    s.user
                )
            }
        }
    }

    fn client(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "psql",
            Backend::Mysql(_) => "mariadb",
        }
    }
}

/// A pid that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn has_program(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn fresh_databases_are_created_set_up_and_dropped(backend: Backend) {
    if !has_program(backend.client()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is needed in CI",
            backend.client()
        );
        eprintln!(
            "skipped: no {} client for the setup command",
            backend.client()
        );
        return;
    }
    let base = unique_name("pg_fresh");
    let prefix = format!("{base}_perfguard_");
    let leftover = format!("{prefix}{}_0", dead_pid());
    backend.admin(&format!("CREATE DATABASE {leftover}"));
    let project = Project::empty();
    let config = format!(
        "[app]\ncommand = \"python3 {} {{port}} ok\"\nready = \"/health\"\n\n\
         [database]\nkind = \"{}\"\nurl = \"{}\"\n\
         setup = \"echo '{{scale}} {{database_url}}' >> setup.log && {}\"\n\n\
         [probes]\nscales = [10, 40]\n\n{HEADER_PROBE}",
        tiny_app(),
        backend.kind(),
        backend.url(&base),
        backend
            .touch_database()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    );
    project.write("perfguard.toml", &config);
    let results = run_ok(&project);
    let log = project.read("setup.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with("10 ") && lines[1].starts_with("40 "),
        "{log}"
    );
    assert!(lines[0].contains(&prefix), "{log}");
    assert_ne!(
        lines[0][3..],
        lines[1][3..],
        "one database per scale: {log}"
    );
    assert_eq!(
        results["probes"]["items"]["scales"][1]["scale"], 40,
        "{results}"
    );
    assert_eq!(
        backend.databases_starting(&prefix),
        Vec::<String>::new(),
        "the fresh databases and the killed run's leftover are gone"
    );

    // A failing setup is exit 2 with its output, and leaves nothing behind.
    project.write(
        "perfguard.toml",
        &config.replace(
            "setup = \"",
            "setup = \"echo 'migration 0002 failed: relation missing' >&2; exit 4; ",
        ),
    );
    let output = project.run(&["run", "--out", "r2.json"]);
    assert_exit_2(
        &output,
        &["[database] setup", "at scale 10", "migration 0002 failed"],
    );
    assert_eq!(backend.databases_starting(&prefix), Vec::<String>::new());
    assert!(!project.path().join("r2.json").exists());
}

#[test]
fn fresh_databases_on_postgres() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    fresh_databases_are_created_set_up_and_dropped(Backend::Postgres(server));
}

#[test]
fn fresh_databases_on_mariadb() {
    let Some(server) = server("PERFGUARD_TEST_MYSQL_URL", MYSQL_DEFAULT_URL) else {
        return;
    };
    fresh_databases_are_created_set_up_and_dropped(Backend::Mysql(server));
}

#[test]
fn ctrl_c_drops_the_fresh_database() {
    let Some(server) = server("PERFGUARD_TEST_POSTGRES_URL", POSTGRES_DEFAULT_URL) else {
        return;
    };
    let backend = Backend::Postgres(server);
    let base = unique_name("pg_interrupted");
    let prefix = format!("{base}_perfguard_");
    let project = Project::empty();
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\ncommand = \"sleep 60\"\nready = \"/health\"\nstartup_timeout = \"60s\"\n\n\
             [database]\nkind = \"postgres\"\nurl = \"{}\"\nsetup = \"echo set up > setup.log\"\n\n{HEADER_PROBE}",
            backend.url(&base)
        ),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_perfguard"))
        .current_dir(project.path())
        .args(["run", "--out", "r.json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !project.path().join("setup.log").exists() {
        assert!(std::time::Instant::now() < deadline, "setup never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(backend.databases_starting(&prefix).len(), 1, "created");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_ne!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        backend.databases_starting(&prefix),
        Vec::<String>::new(),
        "Ctrl-C drops the fresh database: {}",
        text(&output.stderr)
    );
}

#[test]
fn connections_are_closed_before_the_app_is_asked_to_stop() {
    let project = Project::empty();
    let stop_log = project.path().join("stop.log");
    project.write(
        "perfguard.toml",
        &format!(
            "[app]\ncommand = \"python3 {} {{port}} drain\"\nenv = {{ TINY_APP_STOP_LOG = \"{}\" }}\nready = \"/health\"\n\n{HEADER_PROBE}",
            tiny_app(),
            stop_log.display()
        ),
    );
    run_ok(&project);
    // A server that drains on SIGTERM waits for perfguard's keep-alive
    // connection unless perfguard closed it first.
    assert_eq!(project.read("stop.log").trim(), "open 2 s after SIGTERM: 0");
}
