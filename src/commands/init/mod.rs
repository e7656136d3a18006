//! `perfguard init`: writes a commented perfguard.toml with the `[[bench]]`
//! targets of the current Cargo project (or keeps the one there), a
//! `baselines/` folder and the GitHub workflows that run the gate on pull
//! requests and post its comment, ready to commit unedited.

mod workflow;

use std::path::{Path, PathBuf};

use super::{Error, Global};
use crate::exit_codes;

pub struct Init {
    pub force: bool,
}

/// The comment workflow: the same file this repository ships. It posts the
/// gate's report from a separate `workflow_run` workflow that never runs the
/// pull request's code.
const COMMENT_WORKFLOW: &str = include_str!("../../../.github/workflows/perfguard-comment.yml");

/// Criterion bench targets of the Cargo package in `dir`: explicit `[[bench]]`
/// entries, else files in `benches/`.
pub fn detect_bench_targets(dir: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok();
    let parsed: Option<toml::Table> = manifest.as_deref().and_then(|text| text.parse().ok());
    let mut names: Vec<String> = parsed
        .as_ref()
        .and_then(|t| t.get("bench"))
        .and_then(|b| b.as_array())
        .map(|benches| {
            benches
                .iter()
                .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Ok(entries) = std::fs::read_dir(dir.join("benches"))
    {
        names = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
    }
    names.sort();
    names
}

/// The commented configuration for these bench targets.
pub fn render_config(targets: &[String]) -> String {
    let mut text = String::from(
        "# perfguard.toml: the performance gate's configuration.\n\
         # Reference: https://github.com/perfguard/perfguard#configuration\n\n\
         [gate]\n\
         # Folder of the stored baselines, relative to this file. Commit it.\n\
         baselines = \"baselines\"\n\
         # Baselines and paired runs come from this ref.\n\
         base_ref = \"origin/main\"\n\
         # Smallest slowdown the gate must catch.\n\
         threshold = \"5%\"\n\n",
    );
    if targets.is_empty() {
        text.push_str(
            "# No criterion bench target found: add one to Cargo.toml ([[bench]] name = \"core\",\n\
             # harness = false) and describe it here:\n\
             # [[bench]]\n\
             # name = \"core\"\n\
             # command = \"cargo bench --bench core\"\n\n",
        );
    }
    for target in targets {
        text.push_str(&format!(
            "[[bench]]\n\
             # A suite: one criterion bench target. Its baseline is baselines/{target}.json.\n\
             name = \"{target}\"\n\
             command = \"cargo bench --bench {target}\"\n\
             # threshold = \"3%\"   # optional per-suite override\n\n"
        ));
    }
    text.push_str(
        "# Query-count probes: start the application, call endpoints, count statements.\n\
         # [app]\n\
         # command = \"cargo run --release\"\n\
         # env = { DATABASE_URL = \"{database_url}\", PORT = \"{port}\" }\n\
         # ready = \"http://127.0.0.1:{port}/health\"\n\
         # startup_timeout = \"90s\"\n\
         #\n\
         # [database]\n\
         # kind = \"postgres\"   # postgres | mysql | none\n\
         # url = \"postgres://postgres@127.0.0.1:5432/app\"\n\
         #\n\
         # [[probe]]\n\
         # name = \"home\"\n\
         # method = \"GET\"\n\
         # path = \"/\"\n\
         # max_queries = 10\n",
    );
    text
}

fn write_new(
    path: &Path,
    contents: &str,
    force: bool,
    written: &mut Vec<PathBuf>,
) -> Result<(), Error> {
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists; rerun with --force to overwrite it",
            path.display()
        )));
    }
    crate::results::write_atomic(path, contents)?;
    written.push(path.to_path_buf());
    Ok(())
}

pub fn run(global: &Global, options: Init) -> Result<i32, Error> {
    let config_path = global.config.clone();
    let dir = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let targets = detect_bench_targets(&dir);
    let mut written = Vec::new();
    // Check every file first so init never writes half of its files.
    let workflow = dir.join(".github/workflows/perfguard.yml");
    let comment_workflow = dir.join(".github/workflows/perfguard-comment.yml");
    for path in [&workflow, &comment_workflow] {
        if path.exists() && !options.force {
            return Err(Error::Usage(format!(
                "{} already exists; rerun with --force to overwrite it",
                path.display()
            )));
        }
    }
    // An existing perfguard.toml is the user's: kept, and the workflow follows it
    // (a database service for its probes).
    let existing = config_path.exists();
    let config_text = if existing {
        crate::results::read_text(&config_path)?
    } else {
        render_config(&targets)
    };
    let config = crate::config::parse(&config_path, &config_text)?;
    if !existing {
        write_new(&config_path, &config_text, false, &mut written)?;
    }
    let config_name = config_path.file_name().map_or_else(
        || "perfguard.toml".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let keep = dir.join("baselines/.gitkeep");
    if !keep.exists() {
        write_new(&keep, "", true, &mut written)?;
    }
    write_new(
        &workflow,
        &workflow::render(&config, &config_name),
        options.force,
        &mut written,
    )?;
    write_new(
        &comment_workflow,
        COMMENT_WORKFLOW,
        options.force,
        &mut written,
    )?;
    if existing {
        eprintln!(
            "perfguard: kept {} (the workflows follow it)",
            config_path.display()
        );
    }
    for path in &written {
        eprintln!("perfguard: wrote {}", path.display());
    }
    eprintln!(
        "perfguard: found {} bench target(s){}; next: `perfguard baseline record`, commit baselines/, then `perfguard check`",
        targets.len(),
        if targets.is_empty() {
            String::new()
        } else {
            format!(" ({})", targets.join(", "))
        }
    );
    Ok(exit_codes::NO_REGRESSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_config_parses() {
        let text = render_config(&["core".to_string(), "io".to_string()]);
        let config = crate::config::parse(Path::new("perfguard.toml"), &text)
            .expect("init writes a valid config");
        assert_eq!(config.bench.len(), 2);
        assert_eq!(config.bench[1].command, "cargo bench --bench io");
        let empty = crate::config::parse(Path::new("perfguard.toml"), &render_config(&[])).unwrap();
        assert!(empty.bench.is_empty());
    }
}
