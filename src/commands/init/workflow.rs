//! The pull-request workflow `perfguard init` writes into a user's project:
//! it installs this very perfguard (pinned to the commit it was built from),
//! runs the gate with a read-only token, and uploads the report for the
//! comment workflow. A project whose probes talk to PostgreSQL or MySQL gets
//! that database as a service container, reachable where `[database].url`
//! points on the runner.

use std::fmt::Write as _;

use crate::config::{Config, DatabaseKind};

/// The repository perfguard is installed from.
pub const REPOSITORY: &str = "https://github.com/perfguard/perfguard";

/// How the workflow installs perfguard: `cargo install` pinned to the commit
/// this binary was built from, else to its version's release tag.
pub fn install_command() -> String {
    match option_env!("PERFGUARD_SOURCE_COMMIT") {
        Some(commit) => {
            format!("cargo install --locked --git {REPOSITORY} --rev {commit} perfguard")
        }
        None => format!(
            "cargo install --locked --git {REPOSITORY} --tag v{} perfguard",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// Host, port and database name of a `postgres://` or `mysql://` URL.
fn url_parts(url: &str) -> Option<(String, u16, String)> {
    let rest = url.split_once("://")?.1;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().ok()?),
        None => (host_port.to_string(), 0),
    };
    let database = path
        .split(['?', '/'])
        .next()
        .unwrap_or_default()
        .to_string();
    Some((host, port, database))
}

/// The `services:` block for the configured database, if the probes need one.
fn service(config: &Config) -> Option<String> {
    config.app.as_ref()?;
    let database = config.database.as_ref()?;
    let url = database.url.as_deref().unwrap_or_default();
    let (_, port, name) = url_parts(url).unwrap_or_default();
    let mut text = String::from("    services:\n");
    match database.kind {
        DatabaseKind::Postgres => {
            let port = if port == 0 { 5432 } else { port };
            let _ = write!(
                text,
                "      postgres:\n\
                 \x20       image: postgres:15\n\
                 \x20       env:\n\
                 \x20         POSTGRES_HOST_AUTH_METHOD: trust # the runner's loopback only\n\
                 \x20         POSTGRES_DB: {db}\n\
                 \x20       ports:\n\
                 \x20         - {port}:5432\n\
                 \x20       options: >-\n\
                 \x20         --health-cmd \"pg_isready -U postgres\"\n\
                 \x20         --health-interval 2s --health-timeout 5s --health-retries 30\n",
                db = if name.is_empty() { "postgres" } else { &name },
            );
        }
        DatabaseKind::Mysql => {
            let port = if port == 0 { 3306 } else { port };
            let _ = write!(
                text,
                "      mysql:\n\
                 \x20       image: mariadb:11\n\
                 \x20       env:\n\
                 \x20         MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: \"1\" # the runner's loopback only\n\
                 \x20         MARIADB_DATABASE: {db}\n\
                 \x20       ports:\n\
                 \x20         - {port}:3306\n\
                 \x20       options: >-\n\
                 \x20         --health-cmd \"healthcheck.sh --connect --innodb_initialized\"\n\
                 \x20         --health-interval 2s --health-timeout 5s --health-retries 30\n",
                db = if name.is_empty() { "test" } else { &name },
            );
        }
        DatabaseKind::None => return None,
    }
    Some(text)
}

/// The workflow for a project with this configuration (`config_path` relative
/// to the repository root).
pub fn render(config: &Config, config_path: &str) -> String {
    let mut text = String::from(
        "# The perfguard gate on pull requests, written by `perfguard init`.\n\
         #\n\
         # This job runs the pull request's code, so it gets a read-only token and no\n\
         # secrets (safe for pull requests from forks). It uploads the report as an\n\
         # artifact; perfguard-comment.yml, which never runs the pull request's code,\n\
         # posts it as one comment and updates it on every push.\n\
         name: perfguard\n\
         \n\
         on:\n\
         \x20 pull_request:\n\
         \n\
         permissions: {}\n\
         \n\
         concurrency:\n\
         \x20 group: perfguard-${{ github.event.pull_request.number }}\n\
         \x20 cancel-in-progress: true\n\
         \n\
         jobs:\n\
         \x20 check:\n\
         \x20   name: perfguard check\n\
         \x20   runs-on: ubuntu-latest\n\
         \x20   permissions:\n\
         \x20     contents: read\n",
    );
    if let Some(service) = service(config) {
        text.push_str(&service);
    }
    let _ = write!(
        text,
        "    steps:\n\
         \x20     - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n\
         \x20       with:\n\
         \x20         fetch-depth: 0 # baselines and gate settings come from the merge-base\n\
         \x20         persist-credentials: false\n\
         \x20     - name: Install perfguard (pinned)\n\
         \x20       run: {install}\n\
         \x20     # Exit 1 (a regression) or 2 (could not decide) fails the job; the report is uploaded either way.\n\
         \x20     - name: perfguard check\n\
         \x20       env:\n\
         \x20         BASE_REF: origin/${{{{ github.base_ref }}}}\n\
         \x20       run: >-\n\
         \x20         perfguard check --config {config_path} --against \"$BASE_REF\" --format github\n\
         \x20         --report markdown=report.md --report json=comparison.json\n\
         \x20     - name: Record which pull request the report belongs to\n\
         \x20       if: always()\n\
         \x20       env:\n\
         \x20         PR_NUMBER: ${{{{ github.event.pull_request.number }}}}\n\
         \x20       run: printf '%s\\n' \"$PR_NUMBER\" > pr-number.txt\n\
         \x20     - uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2\n\
         \x20       if: always()\n\
         \x20       with:\n\
         \x20         name: perfguard-report\n\
         \x20         path: |\n\
         \x20           report.md\n\
         \x20           comparison.json\n\
         \x20           pr-number.txt\n\
         \x20         if-no-files-found: warn\n\
         \x20         retention-days: 14\n",
        install = install_command(),
        config_path = shell_words::quote(config_path),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_give_host_port_and_name() {
        assert_eq!(
            url_parts("postgres://postgres@127.0.0.1:5433/shop?sslmode=disable"),
            Some(("127.0.0.1".into(), 5433, "shop".into()))
        );
        assert_eq!(
            url_parts("mysql://root@localhost/app"),
            Some(("localhost".into(), 0, "app".into()))
        );
    }
}
