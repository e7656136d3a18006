//! The gate in real git repositories made in temporary directories: baselines
//! read from the merge-base, paired runs and confirmation, `Perf-Accepted`
//! trailers, `--rev`, shards, and the git faults that must exit 2.
//!
//! The workload fixture's work is scaled by `WORK_PERCENT` in its src/lib.rs;
//! a branch commits a new value, so each side of a paired run measures its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{Project, repo_root, text, timing_lock};

/// A project committed on branch `main` of a fresh repository.
struct Repo {
    project: Project,
}

impl Repo {
    /// The workload fixture crate gated against `main`, its package renamed
    /// after the test. Cargo names a crate's artifacts by its name and its path
    /// relative to the workspace, and judges freshness by modification times:
    /// without the rename, tests running at once would share (and run) each
    /// other's bench binaries in the shared target directory.
    fn workload(test: &str) -> Repo {
        let project = Project::fixture("workload");
        let package = "name = \"perfguard-fixture-workload\"";
        let renamed = format!("name = \"perfguard-fixture-workload-{test}\"");
        let manifest = project.read("Cargo.toml").replacen(package, &renamed, 1);
        assert!(manifest.contains(&renamed), "{manifest}");
        let manifest = manifest.replacen(
            "\n[dev-dependencies]",
            "\n[lib]\nname = \"perfguard_fixture_workload\"\n\n[dev-dependencies]",
            1,
        );
        project.write("Cargo.toml", &manifest);
        let lock = project.read("Cargo.lock").replacen(package, &renamed, 1);
        project.write("Cargo.lock", &lock);
        let config = project.read("perfguard.toml").replace(
            "baselines = \"baselines\"",
            "baselines = \"baselines\"\nbase_ref = \"main\"",
        );
        project.write("perfguard.toml", &config);
        Repo::init(project)
    }

    /// A project whose suite replays a captured criterion tree (fast).
    fn replaying() -> Repo {
        Repo::replaying_with(
            "[gate]\nbase_ref = \"main\"\n\n[[bench]]\nname = \"work\"\ncommand = \"sh fake-bench.sh\"\n",
        )
    }

    /// A project with this perfguard.toml, whose `sh fake-bench.sh [DIR]`
    /// replays the captured criterion tree (or its folder DIR).
    fn replaying_with(config: &str) -> Repo {
        let project = Project::empty();
        project.write(
            "fake-bench.sh",
            // perfguard appends criterion's own flags (`--noplot`): not a folder.
            "case \"$1\" in -*) dir= ;; *) dir=\"$1\" ;; esac\n\
             mkdir -p \"$CRITERION_HOME/$dir\"\n\
             cp -r \"$PERFGUARD_TEST_TREE/$dir\"/. \"$CRITERION_HOME/$dir\"/\n",
        );
        project.write("perfguard.toml", config);
        Repo::init(project)
    }

    fn init(project: Project) -> Repo {
        let repo = Repo { project };
        repo.git(&["init", "--quiet", "--initial-branch", "main"]);
        repo.commit("Add the project");
        repo
    }

    fn path(&self) -> &Path {
        self.project.path()
    }

    /// Run git with a fixed identity, ignoring the user's configuration.
    fn git(&self, args: &[&str]) -> String {
        let output = git_command(self.path()).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_string()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn set_work_percent(&self, percent: u32) {
        let lib = self.project.read("src/lib.rs");
        let line = "pub const WORK_PERCENT: u64 = ";
        let start = lib.find(line).expect("the fixture declares WORK_PERCENT") + line.len();
        let end = start + lib[start..].find(';').unwrap();
        let edited = format!("{}{percent}{}", &lib[..start], &lib[end..]);
        self.project.write("src/lib.rs", &edited);
    }

    /// perfguard in this repository (criterion trees replayed from the fixture).
    fn perfguard(&self) -> assert_cmd::Command {
        let mut command = self.project.perfguard();
        command.env("PERFGUARD_TEST_TREE", replayed_tree());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.perfguard().args(args).output().unwrap()
    }

    /// Record the baselines through `run` (perfguard with a test's own
    /// environment), commit them on `main` and start the branch `head`.
    fn record_and_branch(&self, run: impl Fn(&[&str]) -> Output) {
        assert_code(&run(&["baseline", "record", "-q"]), 0);
        self.commit("Record the baselines");
        self.git(&["checkout", "--quiet", "-b", "head"]);
    }

    fn record(&self) {
        let output = self.run(&["baseline", "record", "-q"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
}

fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args([
            "-c",
            "user.name=Dev Eloper",
            "-c",
            "user.email=dev@example.com",
        ]);
    command
}

fn replayed_tree() -> String {
    repo_root()
        .join("fixtures/criterion/criterion-0.8")
        .display()
        .to_string()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

fn assert_code(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn assert_exit_2(output: &Output, needles: &[&str]) {
    assert_code(output, 2);
    let stderr = text(&output.stderr);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

fn entry<'a>(comparison: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    comparison["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id}: {comparison:#}"))
}

#[test]
fn a_pull_request_that_lowers_its_own_baseline_still_fails() {
    let _machine = timing_lock();
    let repo = Repo::workload("lowered");
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "slower"]);
    repo.set_work_percent(200);
    // The pull request doubles the work and re-records the bar to match.
    repo.record();
    repo.commit("Double the work and lower the bar");

    let output = repo.run(&["check", "--rounds", "4", "--format", "json"]);
    assert_code(&output, 1);
    let comparison = json(&output);
    let first_warning = comparison["warnings"][0].as_str().unwrap();
    assert!(
        first_warning.starts_with("this pull request edits its own baselines: baselines/work.json"),
        "{first_warning}"
    );
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "regressed", "{large:#}");
    assert_eq!(large["bench"]["confirmed"], true, "{large:#}");
    assert!(
        comparison["baseline"]["source"]
            .as_str()
            .unwrap()
            .contains("merge-base"),
        "{comparison:#}"
    );
    assert_eq!(comparison["base_ref"], "main");
    let reproduce = comparison["reproduce"].as_str().unwrap();
    let merge_base = repo.git(&["merge-base", "HEAD", "main"]);
    assert!(
        reproduce.contains(&format!("--against {merge_base}")) && reproduce.contains("--rounds 4"),
        "{reproduce}"
    );
}

#[test]
fn a_perf_accepted_trailer_passes_and_the_comparison_lists_it() {
    let _machine = timing_lock();
    let repo = Repo::workload("accepted");
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "accepted"]);
    repo.set_work_percent(200);
    let commit = repo.commit(
        "Check every item twice\n\nPerf-Accepted: checksum/*: correctness first, the second pass is intended",
    );

    let output = repo.run(&["check", "--no-confirm", "--format", "json"]);
    assert_code(&output, 0);
    let comparison = json(&output);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "accepted", "{large:#}");
    assert_eq!(
        large["accepted"]["reason"],
        "correctness first, the second pass is intended"
    );
    assert_eq!(large["accepted"]["commit"], commit.as_str());
    assert_eq!(large["accepted"]["author"], "Dev Eloper <dev@example.com>");
    assert_eq!(comparison["outcome"], "pass");
}

#[test]
fn paired_mode_passes_unchanged_work_and_detects_doubled_work() {
    let _machine = timing_lock();
    let repo = Repo::workload("paired");
    repo.record();
    // Baselines from another kind of machine: timing switches to paired on its own.
    let baseline = repo.project.read("baselines/work.json");
    let moved = regex_free_replace(
        &baseline,
        "\"cpu_model\": \"",
        "\"cpu_model\": \"Another CPU ",
    );
    repo.project.write("baselines/work.json", &moved);
    repo.commit("Record the baselines elsewhere");
    repo.git(&["checkout", "--quiet", "-b", "docs"]);
    repo.project.write("NOTES.md", "Nothing that runs.\n");
    repo.commit("Add notes");

    let unchanged = repo.run(&["check", "--rounds", "3", "--format", "json"]);
    assert_code(&unchanged, 0);
    let comparison = json(&unchanged);
    let large = entry(&comparison, "checksum/large");
    // Both sides are built from one folder: a change that touches no code
    // gives the same executable, unchanged without a run.
    assert_eq!(large["verdict"], "unchanged", "{large:#}");
    assert_eq!(large["reason"]["kind"], "identical", "{large:#}");
    assert!(
        large["rule"].as_str().unwrap().contains("byte for byte"),
        "{large:#}"
    );
    assert!(
        comparison["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("another kind of machine")),
        "{comparison:#}"
    );

    repo.set_work_percent(200);
    repo.commit("Double the work");
    let doubled = repo.run(&["check", "--paired", "--rounds", "3", "--format", "json"]);
    assert_code(&doubled, 1);
    let comparison = json(&doubled);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "regressed", "{large:#}");
    assert_eq!(large["bench"]["mode"], "paired");
    assert!(large["bench"]["ratio"].as_f64().unwrap() > 1.2, "{large:#}");

    // A budget spent before the first pair (the builds take longer) leaves
    // every benchmark `inconclusive`, says so, and does not fail the gate.
    let hurried = repo.run(&["check", "--paired", "--budget", "1s", "--format", "json"]);
    assert_code(&hurried, 0);
    let comparison = json(&hurried);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "inconclusive", "{large:#}");
    assert_eq!(large["reason"]["kind"], "out_of_budget", "{large:#}");
    assert!(
        comparison["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("time budget ran out")),
        "{comparison:#}"
    );
}

#[test]
fn a_check_of_the_base_itself_dismisses_stored_changes_without_building_the_base() {
    let _machine = timing_lock();
    let repo = Repo::workload("same_source");
    // A baseline recorded for half the work the committed code does: against
    // it the stored comparison sees every benchmark about twice as slow.
    repo.set_work_percent(50);
    repo.record();
    repo.set_work_percent(100);
    repo.commit("Record the baselines, then change the work");

    // HEAD is `main`, its own merge-base: there is no change to pair.
    let output = repo.run(&["check", "--format", "json"]);
    assert_code(&output, 0);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("nothing to re-run") && !stderr.contains("building ["),
        "{stderr}"
    );
    let comparison = json(&output);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "unchanged", "{large:#}");
    assert_eq!(large["reason"]["kind"], "confirmation", "{large:#}");
    assert_eq!(large["reason"]["outcome"], "dismissed", "{large:#}");
    assert_eq!(
        large["reason"]["paired"]["kind"], "same_source",
        "{large:#}"
    );
    assert!(
        large["rule"].as_str().unwrap().contains("same tree"),
        "{large:#}"
    );
}

fn regex_free_replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in {text}");
    text.replacen(from, to, 1)
}

/// Every file under `dir` with its bytes, except git's worktree bookkeeping.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let skip = dir.join(".git").join("worktrees");
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path == skip {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn run_rev_measures_that_commit_and_leaves_the_working_tree_byte_for_byte_unchanged() {
    let _machine = timing_lock();
    let repo = Repo::workload("rev");
    let older = repo.git(&["rev-parse", "HEAD"]);
    repo.set_work_percent(200);
    repo.commit("Double the work");
    // Uncommitted and untracked changes that --rev must not touch.
    repo.set_work_percent(300);
    repo.project.write("scratch.txt", "work in progress\n");
    let before = snapshot(repo.path());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("older.json");

    let output = repo.run(&["run", "--rev", "HEAD~1", "--out", out.to_str().unwrap()]);
    assert_code(&output, 0);
    assert_eq!(snapshot(repo.path()), before);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(results["revision"]["commit"], older.as_str());
    assert_eq!(results["revision"]["dirty"], false);
    assert!(
        results["benches"]["checksum/large"].is_object(),
        "{results:#}"
    );
    assert_eq!(
        repo.git(&["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count(),
        1
    );
}

fn ids(results: &serde_json::Value) -> BTreeSet<String> {
    results["benches"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn shards_merged_hold_the_ids_of_an_unsharded_run_and_gate_like_it() {
    // Two suites that land in different shards of 2 ("small" in 1/2, "big" in
    // 2/2), each replaying one benchmark of a captured criterion run: the ids
    // are the subject here, and replayed timings make the gate's verdict exact.
    let repo = Repo::replaying_with(
        "[gate]\nbase_ref = \"main\"\n\n\
         [[bench]]\nname = \"small\"\ncommand = \"sh fake-bench.sh checksum_small\"\n\n\
         [[bench]]\nname = \"big\"\ncommand = \"sh fake-bench.sh checksum\"\n",
    );
    let out_dir = tempfile::tempdir().unwrap();
    let file = |name: &str| out_dir.path().join(name).display().to_string();

    assert_code(&repo.run(&["run", "--out", &file("all.json")]), 0);
    assert_code(
        &repo.run(&["run", "--shard", "1/2", "--out", &file("1.json")]),
        0,
    );
    assert_code(
        &repo.run(&["run", "--shard", "2/2", "--out", &file("2.json")]),
        0,
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(file(name)).unwrap()).unwrap()
    };
    assert_eq!(
        ids(&read("1.json")),
        BTreeSet::from(["checksum/small".to_string()])
    );
    assert_eq!(
        ids(&read("2.json")),
        BTreeSet::from(["checksum/large".to_string()])
    );

    let merged = repo.run(&[
        "merge",
        &file("1.json"),
        &file("2.json"),
        "--out",
        &file("merged.json"),
    ]);
    assert_code(&merged, 0);
    assert_eq!(ids(&read("merged.json")), ids(&read("all.json")));

    // The merged file gates like a measurement, against baselines from git.
    repo.record();
    repo.commit("Record the baselines");
    let gated = repo.run(&[
        "check",
        "--results",
        &file("merged.json"),
        "--format",
        "json",
    ]);
    assert_code(&gated, 0);
    let comparison = json(&gated);
    assert_eq!(comparison["counts"]["unchanged"], 2, "{comparison:#}");
    assert_eq!(
        comparison["current"]["source"],
        file("merged.json").as_str()
    );

    // Shards of different commits are refused.
    let mut other = read("2.json");
    other["revision"]["commit"] = serde_json::json!("0123456789abcdef0123456789abcdef01234567");
    std::fs::write(file("other.json"), other.to_string()).unwrap();
    let refused = repo.run(&[
        "merge",
        &file("1.json"),
        &file("other.json"),
        "--out",
        &file("bad.json"),
    ]);
    assert_exit_2(&refused, &["shards must all run on the same commit"]);
    assert!(!out_dir.path().join("bad.json").exists());

    // A lost shard is not a pass: neither merged nor gated alone.
    let incomplete = repo.run(&["merge", &file("1.json"), "--out", &file("bad.json")]);
    assert_exit_2(&incomplete, &["shard 2/2 of the set is missing"]);
    assert!(!out_dir.path().join("bad.json").exists());
    let one_shard = repo.run(&["check", "--results", &file("1.json")]);
    assert_exit_2(
        &one_shard,
        &[
            "holds only shard 1/2",
            "shards 2/2 are not in it",
            "perfguard merge",
        ],
    );
    let shard = &read("1.json")["shard"];
    assert_eq!(shard["index"], 1);
    assert_eq!(shard["count"], 2);
    assert_eq!(shard["selected"], serde_json::json!(["small", "big"]));
}

#[test]
fn a_base_revision_that_does_not_build_is_exit_2_with_the_build_error() {
    let _machine = timing_lock();
    let repo = Repo::workload("broken");
    repo.record();
    repo.commit("Record the baselines");
    let lib = repo.project.read("src/lib.rs");
    repo.project.write(
        "src/lib.rs",
        &lib.replace(
            "pub const WORK_PERCENT: u64 = 100;",
            "pub const WORK_PERCENT: u64 = ;",
        ),
    );
    repo.commit("Break the build on main");
    repo.git(&["checkout", "--quiet", "-b", "fix"]);
    repo.project.write("src/lib.rs", &lib);
    repo.commit("Fix the build");

    let output = repo.run(&["check", "--paired", "--rounds", "1"]);
    assert_exit_2(
        &output,
        &[
            "does not build",
            "cargo bench --no-run",
            "--bench work",
            "expected expression",
        ],
    );
}

#[test]
fn only_matching_no_suite_is_exit_2_naming_the_suites_in_every_mode() {
    let repo = Repo::replaying();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "topic"]);
    // A benchmark id where a suite name belongs used to measure nothing and pass.
    for args in [
        &["check", "--paired", "--only", "header/*"][..],
        &["check", "--only", "header/*"],
        &["run", "--only", "header/*"],
    ] {
        assert_exit_2(
            &repo.run(args),
            &[
                "--only \"header/*\" matches no [[bench]] suite",
                "their names: work",
                "not the benchmarks inside a suite",
            ],
        );
    }
}

#[test]
fn paired_and_rev_outside_git_are_exit_2_and_plain_check_falls_back_with_a_note() {
    let project = Project::empty();
    project.write(
        "fake-bench.sh",
        "cp -r \"$PERFGUARD_TEST_TREE\"/. \"$CRITERION_HOME\"/\n",
    );
    project.write(
        "perfguard.toml",
        "[[bench]]\nname = \"work\"\ncommand = \"sh fake-bench.sh\"\n",
    );
    let run = |args: &[&str]| {
        project
            .perfguard()
            .args(args)
            .env("PERFGUARD_TEST_TREE", replayed_tree())
            .output()
            .unwrap()
    };
    assert_exit_2(
        &run(&["check", "--paired"]),
        &["--paired needs a git repository"],
    );
    assert_exit_2(
        &run(&["run", "--rev", "HEAD"]),
        &["--rev needs a git repository"],
    );
    assert_code(&run(&["baseline", "record", "-q"]), 0);
    let plain = run(&["check"]);
    assert_code(&plain, 0);
    assert!(
        text(&plain.stderr).contains("is not in a git repository, so the baselines are read from"),
        "{}",
        text(&plain.stderr)
    );
}

#[test]
fn an_unknown_base_ref_is_exit_2_and_suggests_git_fetch() {
    let repo = Repo::replaying();
    let output = repo.run(&["check", "--against", "origin/release"]);
    assert_exit_2(
        &output,
        &["revision `origin/release` not found", "git fetch"],
    );
}

#[test]
fn a_shallow_clone_without_the_merge_base_says_how_deep_to_fetch() {
    let repo = Repo::replaying();
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    repo.project.write("feature.txt", "1\n");
    repo.commit("Feature, part 1");
    repo.project.write("feature.txt", "2\n");
    repo.commit("Feature, part 2");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.project.write("main.txt", "1\n");
    repo.commit("Main moves on");
    let clones = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    let clone = clones.path().join("clone");
    let output = git_command(clones.path())
        .args([
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--no-single-branch",
            "--branch",
            "feature",
        ])
        .arg(&url)
        .arg(&clone)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));

    let checked = crate::util::perfguard()
        .current_dir(&clone)
        .args(["check", "--against", "origin/main"])
        .output()
        .unwrap();
    assert_exit_2(
        &checked,
        &["shallow clone", "git fetch --deepen=", "fetch-depth: 0"],
    );
}

#[test]
fn a_detached_head_is_gated_and_says_so() {
    let repo = Repo::replaying();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "--detach", "HEAD"]);
    let output = repo.run(&["check"]);
    assert_code(&output, 0);
    assert!(
        text(&output.stderr).contains("detached HEAD at"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_worktree_that_cannot_be_created_is_exit_2() {
    let repo = Repo::replaying();
    let output = repo
        .perfguard()
        .args(["run", "--rev", "HEAD", "--out", "-"])
        .env("TMPDIR", repo.path().join("no/such/dir"))
        .output()
        .unwrap();
    assert_exit_2(&output, &["cannot create a temporary worktree", "TMPDIR"]);
}

#[test]
fn baselines_missing_at_the_merge_base_are_exit_2_even_when_the_branch_has_them() {
    let repo = Repo::replaying();
    repo.git(&["checkout", "--quiet", "-b", "adopt"]);
    repo.record();
    repo.commit("Adopt perfguard with its first baselines");
    let output = repo.run(&["check"]);
    assert_exit_2(
        &output,
        &["baselines does not exist at", "--baselines-from worktree"],
    );
    // The escape hatch for local experiments gates against the branch's files.
    let local = repo.run(&["check", "--baselines-from", "worktree"]);
    assert_code(&local, 0);
}

/// A suite of two synthetic benchmarks whose per-iteration times the test
/// chooses: `clear` and `noisy` take 1,000 ns at the side whose `side.txt`
/// says `base`; at `head`, `clear` takes 1,300 ns and `noisy` follows
/// `NOISY_FACTORS`, one factor per run of the head that measures it (the
/// first is the warm-up run perfguard makes of a non-cargo command). A
/// criterion filter (`^(?:noisy)$`) restricts the run to the named ones.
const SYNTHETIC_BENCH: &str = r#"set -eu
: "${PERFGUARD_TEST_COUNTER:?no counter file}"
side=$(cat side.txt)
wanted=""
for arg in "$@"; do
  case "$arg" in
    --*) ;;
    *) wanted="$arg" ;;
  esac
done
emit() {
  name=$1; ns=$2
  case "$wanted" in
    ""|*"$name"*) ;;
    *) return 0 ;;
  esac
  mkdir -p "$CRITERION_HOME/$name/new"
  printf '{"group_id":"%s","function_id":null,"value_str":null,"throughput":null,"full_id":"%s","directory_name":"%s","title":"%s"}' \
    "$name" "$name" "$name" "$name" > "$CRITERION_HOME/$name/new/benchmark.json"
  awk -v ns="$ns" 'BEGIN {
    printf "{\"sampling_mode\":\"Linear\",\"iters\":["
    for (i = 1; i <= 10; i++) printf "%s%d.0", (i > 1 ? "," : ""), i * 100
    printf "],\"times\":["
    for (i = 1; i <= 10; i++) printf "%s%.1f", (i > 1 ? "," : ""), i * 100 * ns * (1 + 0.001 * (i % 3))
    printf "]}"
  }' > "$CRITERION_HOME/$name/new/sample.json"
}
if [ "$side" = base ]; then
  emit clear 1000
  emit noisy 1000
  exit 0
fi
emit clear 1300
case "$wanted" in
  ""|*noisy*)
    runs=$(( $(cat "$PERFGUARD_TEST_COUNTER" 2>/dev/null || echo 0) + 1 ))
    echo "$runs" > "$PERFGUARD_TEST_COUNTER"
    factor=$(echo "$NOISY_FACTORS" | awk -v n="$runs" '{ print (n <= NF ? $n : 1.05) }')
    emit noisy "$(awk -v f="$factor" 'BEGIN { print 1000 * f }')"
    ;;
esac
"#;

#[test]
fn paired_runs_measure_an_unsettled_benchmark_again_and_only_it() {
    let repo = Repo::replaying_with(
        "[gate]\nbase_ref = \"main\"\n\n[[bench]]\nname = \"synthetic\"\ncommand = \"sh synthetic-bench.sh\"\n",
    );
    repo.project.write("synthetic-bench.sh", SYNTHETIC_BENCH);
    repo.project.write("side.txt", "base\n");
    let counter = tempfile::NamedTempFile::new().unwrap();
    let run = |args: &[&str]| -> Output {
        repo.perfguard()
            .env("PERFGUARD_TEST_COUNTER", counter.path())
            // Warm-up, then five rounds swinging by +-10% around +4%.
            .env("NOISY_FACTORS", "1.0 1.14 0.94 1.12 0.96 1.04")
            .args(args)
            .output()
            .unwrap()
    };
    repo.record_and_branch(run);
    repo.project.write("side.txt", "head\n");
    repo.commit("Head side");

    let output = run(&["check", "--paired", "--rounds", "5", "--format", "json"]);
    assert_code(&output, 1);
    let comparison = json(&output);
    let clear = entry(&comparison, "clear");
    assert_eq!(clear["verdict"], "regressed", "{clear:#}");
    assert_eq!(clear["bench"]["baseline_runs"], 5, "{clear:#}");
    // After five rounds `noisy` is slower, not significantly, and its
    // interval still reaches 5%: five more rounds of it alone.
    let noisy = entry(&comparison, "noisy");
    assert_eq!(noisy["bench"]["baseline_runs"], 10, "{noisy:#}");
    assert_eq!(noisy["bench"]["current_runs"], 10, "{noisy:#}");
    assert!(
        noisy["rule"].as_str().unwrap().contains("over 10 rounds"),
        "{noisy:#}"
    );
    let head_runs: u32 = std::fs::read_to_string(counter.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        head_runs,
        1 + 10,
        "warm-up plus ten rounds of noisy at head"
    );

    // --max-rounds equal to --rounds: no second look.
    std::fs::write(counter.path(), "0").unwrap();
    let output = run(&["check", "--paired", "--max-rounds", "5", "--format", "json"]);
    assert_code(&output, 1);
    let noisy = entry(&json(&output), "noisy").clone();
    assert_eq!(noisy["bench"]["baseline_runs"], 5, "{noisy:#}");

    let output = run(&["check", "--paired", "--rounds", "4", "--max-rounds", "3"]);
    assert_exit_2(
        &output,
        &["--max-rounds 3 is fewer than --rounds 4", "at least 4"],
    );
}

/// Paired timing of a suite it cannot take apart (not a plain `cargo
/// bench`) runs both sides whole, from one folder that is not the user's,
/// each side with its own files (the head's uncommitted change included) and
/// its own target directory in place, in the rounds' A B, B A order.
#[test]
fn a_suite_run_whole_runs_both_sides_from_one_folder_with_its_own_files() {
    let repo = Repo::replaying_with(
        "[gate]\nbase_ref = \"main\"\n\n[[bench]]\nname = \"work\"\ncommand = \"sh logged-bench.sh\"\n",
    );
    // Each run logs its folder, the side its files say, its target
    // directory, and which side's run first left a mark in that target
    // directory (named for this test's log, so no other run's marks count).
    repo.project.write(
        "logged-bench.sh",
        "mark=\"$CARGO_TARGET_DIR/mark-$(basename \"$PERFGUARD_TEST_LOG\")\"\n\
         if [ -f \"$mark\" ]; then built=$(cat \"$mark\"); \
         else mkdir -p \"$CARGO_TARGET_DIR\"; cat side.txt > \"$mark\"; built=fresh; fi\n\
         echo \"$(pwd -P) $(cat side.txt) $CARGO_TARGET_DIR $built\" >> \"$PERFGUARD_TEST_LOG\"\n\
         exec sh fake-bench.sh \"$@\"\n",
    );
    repo.project.write("side.txt", "base\n");
    let log = tempfile::NamedTempFile::new().unwrap();
    let run = |args: &[&str]| -> Output {
        repo.perfguard()
            .env("PERFGUARD_TEST_LOG", log.path())
            .args(args)
            .output()
            .unwrap()
    };
    repo.record_and_branch(run);
    repo.project.write("NOTES.md", "Nothing that runs.\n");
    repo.commit("Head side");
    // The head's side is an uncommitted change.
    repo.project.write("side.txt", "head\n");
    std::fs::write(log.path(), "").unwrap();

    let output = run(&["check", "--paired", "--rounds", "2", "--format", "json"]);
    assert_code(&output, 0);
    let logged = std::fs::read_to_string(log.path()).unwrap();
    let runs: Vec<Vec<&str>> = logged
        .lines()
        .map(|line| line.split(' ').collect())
        .collect();
    assert!(
        runs.len() >= 6 && runs.iter().all(|r| r.len() == 4),
        "{logged}"
    );
    let folder = runs[0][0];
    let repository = repo.path().canonicalize().unwrap();
    assert_ne!(
        Path::new(folder),
        repository,
        "not the user's folder: {logged}"
    );
    assert!(
        runs.iter().all(|r| r[0] == folder && r[2] == runs[0][2]),
        "every run in one folder, with one target directory path: {logged}"
    );
    assert!(runs[0][2].ends_with("perfguard-suite"), "{logged}");
    let sides: Vec<&str> = runs.iter().map(|r| r[1]).collect();
    // A warm-up run per side, then round 1 (A B) and round 2 (B A).
    assert_eq!(
        sides[..6],
        ["base", "head", "base", "head", "head", "base"],
        "{logged}"
    );
    // Each side's first run finds a target directory of its own, and every
    // later run finds the one its own side first ran with.
    assert_eq!([runs[0][3], runs[1][3]], ["fresh", "fresh"], "{logged}");
    assert!(runs[2..].iter().all(|r| r[3] == r[1]), "{logged}");
    assert_eq!(repo.project.read("side.txt"), "head\n");
    assert_eq!(repo.git(&["status", "--porcelain"]), "M side.txt");
}

/// Copy the captured criterion tree to `to` with every sample twice as slow.
fn slowed_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            slowed_tree(&entry.path(), &target);
        } else if entry.file_name() == "sample.json" {
            let mut sample: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
            for time in sample["times"].as_array_mut().unwrap() {
                *time = serde_json::json!(time.as_f64().unwrap() * 2.0);
            }
            std::fs::write(&target, sample.to_string()).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_pull_request_that_raises_its_own_threshold_still_fails() {
    let repo = Repo::replaying();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "slower"]);
    // The branch's code is twice as slow (its bench replays a doubled tree)...
    slowed_tree(Path::new(&replayed_tree()), &repo.path().join("slow"));
    repo.project.write(
        "fake-bench.sh",
        "mkdir -p \"$CRITERION_HOME\"\ncp -r slow/. \"$CRITERION_HOME\"/\n",
    );
    // ...and it raises the threshold to pass anyway.
    repo.project.write(
        "perfguard.toml",
        "[gate]\nbase_ref = \"main\"\nthreshold = \"500%\"\n\n[[bench]]\nname = \"work\"\ncommand = \"sh fake-bench.sh\"\n",
    );
    repo.commit("Double the work and raise the threshold");

    // (The replayed suite takes no criterion filter, so no paired re-run.)
    let output = repo.run(&["check", "--no-confirm", "--format", "json"]);
    let comparison = json(&output);
    assert_code(&output, 1);
    let first_warning = comparison["warnings"][0].as_str().unwrap();
    assert_eq!(
        first_warning,
        "perfguard.toml changes `[gate].threshold` from 5% to 500%: the merge-base's 5% applies (a branch may tighten its own check, never loosen it)"
    );
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "regressed", "{large:#}");
    assert_eq!(large["bench"]["threshold"], 0.05, "{large:#}");
}

/// Two suites replayed from the captured criterion tree; `big` measures
/// `checksum/large`, `small` measures `checksum/small`.
fn two_suites() -> Repo {
    Repo::replaying_with(
        "[gate]\nbase_ref = \"main\"\n\n\
         [[bench]]\nname = \"small\"\ncommand = \"sh fake-bench.sh checksum_small\"\n\n\
         [[bench]]\nname = \"big\"\ncommand = \"sh fake-bench.sh checksum\"\n",
    )
}

#[test]
fn a_suite_the_branch_deletes_or_narrows_is_still_measured_with_the_base_command() {
    let repo = two_suites();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "narrow"]);
    repo.project.write(
        "perfguard.toml",
        "[gate]\nbase_ref = \"main\"\n\n\
         [[bench]]\nname = \"small\"\ncommand = \"sh fake-bench.sh checksum_small --narrowed\"\n",
    );
    repo.commit("Measure less");

    let output = repo.run(&["check", "--format", "json"]);
    assert_code(&output, 0);
    let comparison = json(&output);
    let warnings: Vec<&str> = comparison["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings[0].starts_with(
            "perfguard.toml changes `[[bench]] \"small\"`.command from `sh fake-bench.sh checksum_small` to `sh fake-bench.sh checksum_small --narrowed`: the merge-base's"
        ),
        "{warnings:#?}"
    );
    assert!(
        warnings[1].starts_with("perfguard.toml removes `[[bench]] \"big\"`: it is still measured"),
        "{warnings:#?}"
    );
    assert_eq!(entry(&comparison, "checksum/large")["verdict"], "unchanged");
    assert_eq!(entry(&comparison, "checksum/small")["verdict"], "unchanged");
}

#[test]
fn a_benchmark_the_branch_stops_measuring_fails_until_a_trailer_accepts_it() {
    // One suite replaying the whole tree: checksum/large and checksum/small.
    let repo = Repo::replaying();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "drop-large"]);
    // The suite no longer has checksum/large.
    repo.project.write(
        "fake-bench.sh",
        "mkdir -p \"$CRITERION_HOME/checksum_small\"\n\
         cp -r \"$PERFGUARD_TEST_TREE/checksum_small\"/. \"$CRITERION_HOME/checksum_small\"/\n",
    );
    repo.commit("Drop the large checksum");

    let output = repo.run(&["check", "--format", "json"]);
    let comparison = json(&output);
    assert_code(&output, 1);
    assert_eq!(comparison["outcome"], "fail");
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "missing", "{large:#}");
    assert!(
        large["rule"].as_str().unwrap().contains("Perf-Accepted"),
        "{large:#}"
    );

    repo.commit(
        "Stop measuring the large checksum\n\nPerf-Accepted: checksum/large: the large input is no longer supported",
    );
    let output = repo.run(&["check", "--format", "json"]);
    assert_code(&output, 0);
    let comparison = json(&output);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "accepted", "{large:#}");
    assert_eq!(
        large["accepted"]["reason"],
        "the large input is no longer supported"
    );
}

#[test]
fn a_suite_the_branch_deletes_whose_command_no_longer_runs_is_missing_until_accepted() {
    let repo = two_suites();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["checkout", "--quiet", "-b", "drop-big"]);
    // The branch removes the `big` suite and the bench it ran.
    repo.project.write(
        "perfguard.toml",
        "[gate]\nbase_ref = \"main\"\n\n\
         [[bench]]\nname = \"small\"\ncommand = \"sh fake-bench.sh checksum_small\"\n",
    );
    let script = repo.project.read("fake-bench.sh");
    repo.project.write(
        "fake-bench.sh",
        &format!("[ \"$1\" = checksum ] && {{ echo 'no bench target named checksum' >&2; exit 101; }}\n{script}"),
    );
    repo.commit("Remove the big suite");

    let output = repo.run(&["check", "--format", "json"]);
    let comparison = json(&output);
    assert_code(&output, 1);
    let large = entry(&comparison, "checksum/large");
    assert_eq!(large["verdict"], "missing", "{large:#}");
    assert!(
        comparison["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("`[[bench]] \"big\"` no longer runs on this branch")),
        "{comparison:#}"
    );

    repo.commit("Drop the big benchmarks\n\nPerf-Accepted: checksum/large: the big suite is gone");
    let output = repo.run(&["check", "--format", "json"]);
    assert_code(&output, 0);
    let comparison = json(&output);
    assert_eq!(entry(&comparison, "checksum/large")["verdict"], "accepted");
}

#[test]
fn on_a_github_pull_request_the_base_is_the_pull_requests() {
    let repo = Repo::replaying();
    repo.record();
    repo.commit("Record the baselines");
    repo.git(&["branch", "release"]);
    repo.git(&["checkout", "--quiet", "-b", "feature"]);
    // The branch points its own base_ref at itself...
    repo.project.write(
        "perfguard.toml",
        "[gate]\nbase_ref = \"feature\"\n\n[[bench]]\nname = \"work\"\ncommand = \"sh fake-bench.sh\"\n",
    );
    repo.commit("Gate against myself");
    repo.git(&["update-ref", "refs/remotes/origin/release", "release"]);
    // ...but GitHub says the pull request targets `release`.
    let output = repo
        .perfguard()
        .env("GITHUB_BASE_REF", "release")
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_code(&output, 0);
    let comparison = json(&output);
    assert_eq!(comparison["base_ref"], "origin/release", "{comparison:#}");
    assert!(
        comparison["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("perfguard.toml changes `[gate].base_ref` from \"main\" to \"feature\""),
        "{comparison:#}"
    );
}

/// `perfguard hook install` writes an executable pre-push hook where
/// `core.hooksPath` says, again is a no-op, leaves a foreign hook alone
/// without `--force`, and uninstall restores what `--force` replaced.
#[test]
fn the_pre_push_hook_installs_idempotently_and_keeps_a_foreign_hook() {
    let repo = Repo::replaying();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    let hook = repo.path().join(".githooks/pre-push");
    let first = repo.run(&["hook", "install"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let written = std::fs::read_to_string(&hook).unwrap();
    assert!(written.contains("check --budget 2m"), "{written}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
        0o111
    );
    let again = repo.run(&["hook", "install"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("already installed"));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), written);

    let removed = repo.run(&["hook", "uninstall"]);
    assert_eq!(removed.status.code(), Some(0));
    assert!(!hook.exists());

    std::fs::write(&hook, "#!/bin/sh\necho the team's own hook\n").unwrap();
    let refused = repo.run(&["hook", "install"]);
    crate::util::assert_exit_2(&refused, &["pre-push", "did not write", "--force"]);
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("team's own")
    );
    let forced = repo.run(&["hook", "install", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced.stderr));
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("check --budget 2m")
    );
    let restored = repo.run(&["hook", "uninstall"]);
    assert_eq!(restored.status.code(), Some(0));
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("team's own")
    );
    let foreign = repo.run(&["hook", "uninstall"]);
    crate::util::assert_exit_2(&foreign, &["did not write"]);
}

/// `git push` runs the installed hook: the gate runs from the project's
/// folder; when it cannot decide (here: a configuration error) the push goes
/// on with the reason, and CI decides again.
#[test]
fn git_push_runs_the_gate_through_the_hook() {
    let repo = Repo::replaying();
    let remote = tempfile::tempdir().unwrap();
    let status = git_command(remote.path())
        .args(["init", "--quiet", "--bare"])
        .status()
        .unwrap();
    assert!(status.success());
    repo.git(&[
        "remote",
        "add",
        "origin",
        &remote.path().display().to_string(),
    ]);
    let installed = repo.run(&["hook", "install"]);
    assert_eq!(
        installed.status.code(),
        Some(0),
        "{}",
        text(&installed.stderr)
    );
    repo.project
        .write("perfguard.toml", "[gate\nbase_ref = \"main\"\n");
    repo.commit("Break the configuration");
    let push = git_command(repo.path())
        .args(["push", "--quiet", "origin", "main"])
        .output()
        .unwrap();
    let stderr = text(&push.stderr);
    assert!(push.status.success(), "{stderr}");
    assert!(stderr.contains("perfguard.toml"), "{stderr}");
    assert!(stderr.contains("could not decide (exit 2"), "{stderr}");
}
