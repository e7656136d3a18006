//! The command line itself: shell completions, man pages, and colour choice
//! from the environment.

use crate::util::{assert_exit_2, perfguard, repo_root, text};

#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = perfguard().args(["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = text(&output.stdout);
        for word in ["check", "baseline", "baselines-from", "max-rounds"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn a_bash_completion_script_is_valid_bash() {
    let output = perfguard().args(["completions", "bash"]).output().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("perfguard.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(checked.status.success(), "{}", text(&checked.stderr));
}

#[test]
fn man_pages_exist_for_perfguard_and_each_command() {
    let top = perfguard().arg("man").output().unwrap();
    assert_eq!(top.status.code(), Some(0));
    let page = text(&top.stdout);
    assert!(page.contains(".TH perfguard 1"), "{page}");
    let check = perfguard().args(["man", "check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(0));
    let page = text(&check.stdout);
    assert!(page.contains(".TH perfguard-check 1"), "{page}");
    assert!(page.contains("baselines\\-from"), "{page}");
}

#[test]
fn a_man_page_for_an_unknown_command_is_exit_2_naming_the_known_ones() {
    let output = perfguard().args(["man", "chekc"]).output().unwrap();
    assert_exit_2(&output, &["chekc", "check", "baseline"]);
}

/// `--color auto` (the default) reads the environment like other CLI tools:
/// CLICOLOR_FORCE colours even a pipe, NO_COLOR wins over it.
#[test]
fn auto_colour_follows_clicolor_force_and_no_color() {
    let dir = repo_root().join("fixtures/verdicts");
    let run = |envs: &[(&str, &str)]| {
        let mut command = perfguard();
        command
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE")
            .current_dir(&dir)
            .args([
                "--config",
                "absent.toml",
                "compare",
                "baseline.json",
                "current.json",
            ]);
        for (key, value) in envs {
            command.env(key, value);
        }
        text(&command.output().unwrap().stdout)
    };
    let escape = "\u{1b}[";
    assert!(!run(&[]).contains(escape), "a pipe is not coloured");
    assert!(run(&[("CLICOLOR_FORCE", "1")]).contains(escape));
    assert!(!run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains(escape));
}

/// A results file of the shared fixture `fixtures/verdicts/`, to edit.
fn verdicts_fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("fixtures/verdicts").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn compare_fixture() -> assert_cmd::Command {
    let mut command = perfguard();
    command
        .current_dir(repo_root().join("fixtures/verdicts"))
        .args(["--config", "absent.toml"]);
    command
}

#[test]
fn quiet_prints_the_verdict_line_only() {
    let output = compare_fixture()
        .args(["-q", "compare", "baseline.json", "current.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        "perfguard: fail (3 regressed, 2 improved, 4 unchanged, 2 inconclusive, 2 new, 2 missing, 0 accepted)\n"
    );
}

#[test]
fn a_panic_is_exit_2_and_says_it_is_a_perfguard_bug() {
    let output = perfguard()
        .env("PERFGUARD_DEBUG_PANIC", "1")
        .arg("--version")
        .output()
        .unwrap();
    assert_exit_2(
        &output,
        &["internal error at src/main.rs", "this is a perfguard bug"],
    );
}

#[test]
fn a_full_disk_behind_stdout_is_exit_2_naming_stdout_and_the_os_error() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        eprintln!("skipped: no /dev/full on this machine");
        return;
    };
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfguard"))
        .current_dir(repo_root().join("fixtures/verdicts"))
        .args([
            "--config",
            "absent.toml",
            "compare",
            "baseline.json",
            "current.json",
        ])
        .args(["--format", "json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_exit_2(
        &output,
        &["stdout: cannot write", "No space left on device"],
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_verdicts_exit_code() {
    use std::io::Read;
    // More than a pipe buffer (64 KiB) of JSON, so the write meets the closed end.
    let dir = tempfile::tempdir().unwrap();
    let mut results = verdicts_fixture("current.json");
    let template = results["benches"]["core/parse"].clone();
    for index in 0..2_000 {
        results["benches"][format!("bulk/{index:04}")] = template.clone();
    }
    let mut halves = Vec::new();
    for index in 1..=2 {
        let mut half = results.clone();
        half["shard"] =
            serde_json::json!({"index": index, "count": 2, "selected": ["core", "bulk"]});
        if index == 2 {
            half["benches"] = serde_json::json!({});
            half["probes"] = serde_json::json!({});
        }
        let path = dir.path().join(format!("{index}.json"));
        std::fs::write(&path, half.to_string()).unwrap();
        halves.push(path);
    }
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("perfguard"))
        .arg("merge")
        .args(&halves)
        .args(["--out", "-"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A probe whose counts differ between repeats decides nothing: exit 2
/// naming the probe, never a pass.
#[test]
fn an_unstable_probe_is_exit_2_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["baseline.json", "current.json"] {
        let mut results = verdicts_fixture(name);
        results["benches"] = serde_json::json!({});
        let search = results["probes"]["search"].clone();
        results["probes"] = serde_json::json!({ "search": search });
        std::fs::write(dir.path().join(name), results.to_string()).unwrap();
    }
    let output = perfguard()
        .current_dir(dir.path())
        .args([
            "--config",
            "absent.toml",
            "compare",
            "baseline.json",
            "current.json",
        ])
        .output()
        .unwrap();
    assert_exit_2(
        &output,
        &["probe \"search\"", "differed between repeats ([4, 5, 4])"],
    );
    assert!(
        text(&output.stdout).contains("perfguard: undecided"),
        "{}",
        text(&output.stdout)
    );
}

/// The reproduce line a report shows is a command a developer pastes: every
/// one in the fixtures and snapshots must parse with the real argument parser.
#[test]
fn every_reproduce_line_in_fixtures_and_snapshots_parses() {
    use clap::Parser;
    let mut lines = Vec::new();
    for dir in ["fixtures/comparisons", "tests/integration/snapshots"] {
        for file in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let path = file.unwrap().path();
            let content = std::fs::read_to_string(&path).unwrap();
            if path.extension().is_some_and(|e| e == "json") {
                let value: serde_json::Value = serde_json::from_str(&content).unwrap();
                if let Some(line) = value["reproduce"].as_str() {
                    lines.push((path.clone(), line.to_string()));
                }
            } else if path.extension().is_some_and(|e| e == "snap") {
                for line in content.lines() {
                    if let Some(rest) = line.split("Reproduce locally: `").nth(1) {
                        let command = rest.split('`').next().unwrap();
                        lines.push((path.clone(), command.to_string()));
                    }
                }
            }
        }
    }
    assert!(lines.len() >= 2, "found {lines:?}");
    for (path, line) in lines {
        let words = shell_words::split(&line).unwrap();
        if let Err(error) = perfguard::cli::Cli::try_parse_from(&words) {
            panic!("{}: `{line}` does not parse: {error}", path.display());
        }
    }
}

#[test]
fn a_one_shard_set_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = verdicts_fixture("current.json");
    results["shard"] = serde_json::json!({"index": 1, "count": 1, "selected": ["core", "io"]});
    std::fs::write(dir.path().join("current.json"), results.to_string()).unwrap();
    std::fs::copy(
        repo_root().join("fixtures/verdicts/baseline.json"),
        dir.path().join("baseline.json"),
    )
    .unwrap();
    let output = perfguard()
        .current_dir(dir.path())
        .args([
            "--config",
            "absent.toml",
            "compare",
            "baseline.json",
            "current.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
}
