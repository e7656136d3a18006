#!/usr/bin/env python3
"""Measure perfguard's false alarms and detection power on this machine, side by
side with criterion's own verdict on the same measurements.

Creates a temporary git repository holding fixtures/quality (branch `main`,
baselines recorded there with `perfguard baseline record`), then for every
trial commits a branch that slows chosen benchmarks by a known percentage and
runs the real `perfguard check --format json` in stored-baseline mode and in
paired mode (`--paired`), with default settings. Writes a JSON-lines record of
every check and the table (scripts/quality/table.py) to --out.

    python3 scripts/quality/harness.py --trials 5          # the full run
    python3 scripts/quality/harness.py --smoke              # 2 trials, for CI
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "quality"
EFFECTS_PERCENT = (0, 2, 5, 10, 20)
MAX_CONSECUTIVE_FAILURES = 4
SMOKE_BENCHMARKS = ("arith_xorshift", "hash_sip", "short_multiply", "alloc_vec_push")
# Nominal work units of each benchmark, in the order of SCALE_PERMILLE: read
# from the fixture's src/lib.rs so the true effect is computed from whole units.
BENCH_LINE = re.compile(r'bench\("(\w+)", ([\d_]+),')


class HarnessError(Exception):
    """A step of the harness failed; the message says which and why."""


SUITE_CONFIG = "perfguard-suite.toml"
ALIGNED_RUSTFLAGS = "-C llvm-args=-align-all-functions=6 -C llvm-args=-align-all-nofallthru-blocks=6"


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if check and completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-25:])
        raise HarnessError(f"`{' '.join(command)}` in {cwd} failed ({completed.returncode}):\n{tail}")
    return completed


def benchmarks() -> list[tuple[str, int]]:
    found = BENCH_LINE.findall((FIXTURE / "src" / "lib.rs").read_text())
    if len(found) != 20:
        raise HarnessError(f"expected 20 benchmarks in {FIXTURE / 'src/lib.rs'}, found {len(found)}")
    return [(name, int(units.replace("_", ""))) for name, units in found]


def scaled_units(nominal: int, permille: int) -> int:
    """The fixture's `units()`: nominal * permille / 1000, rounded half up."""
    return (nominal * permille + 500) // 1000


def scale_source(permille: list[int], trial: int = 0) -> str:
    values = ", ".join(str(p) for p in permille)
    return (
        "//! Work of each benchmark in permille of its nominal size (1000 = nominal).\n"
        "//! Written by scripts/quality/harness.py for a trial commit.\n\n"
        "/// Indexed like [`crate::BENCHMARKS`].\n"
        f"pub const SCALE_PERMILLE: [u32; 20] = [{values}];\n\n"
        "/// The trial: read outside the measured loops, so that every trial's bench\n"
        "/// executable differs from the base's and is measured, even for A/A.\n"
        f"pub const TRIAL: u32 = {trial + 1};\n"
    )


def perfguard_binary(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    print("building perfguard (cargo build --bin perfguard)", file=sys.stderr)
    run(["cargo", "build", "--quiet", "--bin", "perfguard"], ROOT)
    return target / "debug" / "perfguard"


class Trials:
    """The temporary repository and everything measured in it."""

    def __init__(self, args: argparse.Namespace, work: Path, perfguard: Path):
        self.args = args
        self.work = work
        self.repo = work / "repo"
        self.perfguard = perfguard
        self.benchmarks = benchmarks()
        selected = SMOKE_BENCHMARKS if args.smoke else tuple(name for name, _ in self.benchmarks)
        self.selected = [i for i, (name, _) in enumerate(self.benchmarks) if name in selected]
        self.env = dict(os.environ)
        fixture_target = Path(
            args.fixture_target
            or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "quality-fixture"
        )
        self.env["CARGO_TARGET_DIR"] = str(fixture_target.resolve())
        self.env.pop("CRITERION_HOME", None)
        # The trial repositories have no origin: a pull request's base (set
        # when this runs in GitHub Actions) must not replace their base_ref.
        self.env.pop("GITHUB_BASE_REF", None)
        if args.copies > 1:
            self.env["QUALITY_FIXTURE_COPIES"] = str(args.copies)
        if args.smoke:
            self.env["QUALITY_FIXTURE_ONLY"] = ",".join(SMOKE_BENCHMARKS)
            self.env["QUALITY_FIXTURE_QUICK"] = "1"
        self.bench_executable: Path | None = None
        self.last_runs: list[dict] = []

    @property
    def samples_path(self) -> Path:
        return self.args.samples

    def git(self, *arguments: str) -> str:
        return run(["git", *arguments], self.repo, self.env).stdout.strip()

    def create_repository(self) -> None:
        shutil.copytree(FIXTURE, self.repo, ignore=shutil.ignore_patterns("target", "baselines"))
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "perfguard quality harness")
        self.git("config", "user.email", "quality@perfguard.invalid")
        self.git("config", "commit.gpgsign", "false")
        (self.repo / ".gitignore").write_text("/target\n")
        config = (self.repo / "perfguard.toml").read_text()
        (self.repo / SUITE_CONFIG).write_text(
            config.replace('command = "cargo bench --bench quality"', 'command = "env cargo bench --bench quality --"')
        )
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "quality fixture at nominal work")
        print("building the fixture and recording the baseline", file=sys.stderr)
        built = run(
            ["cargo", "bench", "--bench", "quality", "--no-run", "--message-format=json"],
            self.repo,
            self.env,
        )
        for line in built.stdout.splitlines():
            message = json.loads(line)
            if message.get("executable") and message.get("target", {}).get("name") == "quality":
                self.bench_executable = Path(message["executable"])
        if self.bench_executable is None:
            raise HarnessError("cargo did not report the quality bench executable")
        run(
            [str(self.perfguard), "-q", "baseline", "record", "--runs", str(self.args.baseline_runs)],
            self.repo,
            self.env,
        )
        self.git("add", "baselines")
        self.git("commit", "-q", "-m", "baselines recorded on this machine")

    def commit_trial(self, trial: int, effect: int, affected: list[int]) -> None:
        permille = [1000] * len(self.benchmarks)
        for index in affected:
            permille[index] = 1000 + 10 * effect
        self.git("checkout", "-q", "-B", f"trial-{trial}", "main")
        (self.repo / "src" / "scale.rs").write_text(scale_source(permille, trial))
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", f"trial {trial}: +{effect}% on {len(affected)}")

    def plain_run_s(self) -> float:
        """Wall time of one plain `cargo bench` run of the built suite."""
        with tempfile.TemporaryDirectory(prefix="perfguard-plain-") as home:
            env = dict(self.env, CRITERION_HOME=home)
            started = time.monotonic()
            run(["cargo", "bench", "--bench", "quality"], self.repo, env)
            return time.monotonic() - started

    def check(self, mode: str) -> tuple[int, float, dict | None, str]:
        # reference: the same paired check by another perfguard binary
        # (--reference), an earlier build, side by side in the same window.
        binary = self.args.reference if mode == "reference" else self.perfguard
        command = [str(binary), "check", "--format", "json"]
        kept = self.work / "kept"
        shutil.rmtree(kept, ignore_errors=True)
        env = dict(self.env, PERFGUARD_KEEP_CRITERION_HOME=str(kept))
        if mode in ("paired", "aligned", "reference"):
            command.append("--paired")
        command += shlex.split(self.args.check_args)
        if mode == "suite":
            # A command perfguard cannot take apart as `cargo bench` is run
            # whole at each side, round after round, the rounds of before.
            command[1:1] = ["--config", SUITE_CONFIG]
            command += ["--paired", "--rounds", "5"]
        if mode == "aligned":
            env["RUSTFLAGS"] = ALIGNED_RUSTFLAGS
            env["CARGO_TARGET_DIR"] = str(self.work / "aligned-target")
        # --hog N: N busy processes beside the check, as a busy runner's
        # neighbours (other jobs, builds) would be.
        hogs = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(self.args.hog)
        ]
        started = time.monotonic()
        try:
            completed = run(command, self.repo, env, check=False)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        wall_s = time.monotonic() - started
        self.last_runs = kept_runs(kept, self.repo)
        log = completed.stderr
        if completed.returncode not in (0, 1):
            return completed.returncode, wall_s, None, log
        return completed.returncode, wall_s, json.loads(completed.stdout), log

    def criterion_verdicts(self, entries: list[dict]) -> dict[str, dict]:
        """criterion's own verdict on each entry's two samples, by replaying them
        through the fixture's criterion binary (`--load-baseline head --baseline base`)."""
        home = self.work / "criterion-replay"
        shutil.rmtree(home, ignore_errors=True)
        for entry in entries:
            bench = entry.get("bench") or {}
            if not bench.get("baseline_samples_ns") or not bench.get("current_samples_ns"):
                continue
            for side, samples in (("base", bench["baseline_samples_ns"]), ("head", bench["current_samples_ns"])):
                folder = home / entry["id"] / side
                folder.mkdir(parents=True)
                # Per-iteration times as samples of one iteration: criterion's
                # t-test and mean-change bootstrap read only times / iters.
                sample = {"sampling_mode": "Flat", "iters": [1.0] * len(samples), "times": samples}
                (folder / "sample.json").write_text(json.dumps(sample))
                (folder / "estimates.json").write_text(json.dumps(display_estimates(samples)))
        if not home.exists():
            return {}
        env = dict(self.env, CRITERION_HOME=str(home))
        completed = run(
            [str(self.bench_executable), "--bench", "--load-baseline", "head", "--baseline", "base",
             "--noplot", "--color", "never", "--nresamples", "100000"],
            self.repo,
            env,
        )
        return parse_criterion_output(completed.stdout)


def kept_runs(kept: Path, repo: Path) -> list[dict]:
    """Every suite run of the last check, in order, from the criterion homes
    perfguard kept (PERFGUARD_KEEP_CRITERION_HOME): side and per-iteration ns."""
    runs = []
    for home in sorted(kept.iterdir()) if kept.exists() else []:
        # A whole suite's sides share one folder and say which they are;
        # direct runs are told apart by folder (the head's is the repository).
        side_file = home / "side.txt"
        if side_file.exists():
            side = side_file.read_text().strip()
        else:
            working_dir = Path((home / "working_dir.txt").read_text().strip())
            side = "head" if working_dir.resolve() == repo.resolve() else "base"
        samples = {}
        for sample_file in sorted(home.glob("*/new/sample.json")):
            sample = json.loads(sample_file.read_text())
            samples[sample_file.parent.parent.name] = [
                t / i for t, i in zip(sample["times"], sample["iters"])
            ]
        runs.append({"side": side, "samples": samples})
    return runs


def display_estimates(samples: list[float]) -> dict:
    """criterion's `estimates.json` for a saved baseline. Only its reports read
    it (not the change test), so point estimates without intervals suffice."""
    mean = statistics.fmean(samples)
    median = statistics.median(samples)
    mad = statistics.median(abs(s - median) for s in samples) * 1.4826
    deviation = statistics.stdev(samples) if len(samples) > 1 else 0.0

    def estimate(value: float) -> dict:
        interval = {"confidence_level": 0.95, "lower_bound": value, "upper_bound": value}
        return {"confidence_interval": interval, "point_estimate": value, "standard_error": 0.0}

    return {
        "mean": estimate(mean),
        "median": estimate(median),
        "median_abs_dev": estimate(mad),
        "slope": None,
        "std_dev": estimate(deviation),
    }


CHANGE_LINE = re.compile(r"change:\s+\[(\S+)%\s+(\S+)%\s+(\S+)%\]\s+\(p = ([\d.]+)")
VERDICT_LINES = {
    "Performance has regressed.": "regressed",
    "Performance has improved.": "improved",
    "Change within noise threshold.": "within-noise",
    "No change in performance detected.": "unchanged",
}


def parse_criterion_output(stdout: str) -> dict[str, dict]:
    """criterion's per-benchmark change line and verdict from its terminal output."""
    verdicts: dict[str, dict] = {}
    current = None
    for line in stdout.splitlines():
        if line and not line[0].isspace() and not line.startswith(("Benchmarking", "Warning", "Found")):
            current = line.split()[0]
            verdicts[current] = {"verdict": None}
        elif current is None:
            continue
        elif match := CHANGE_LINE.search(line):
            # criterion prints a typographic minus sign.
            low, mean, high, p_value = (g.replace("\u2212", "-") for g in match.groups())
            verdicts[current].update(
                mean_change_percent=float(mean), low_percent=float(low), high_percent=float(high),
                p_value=float(p_value),
            )
        elif line.strip() in VERDICT_LINES:
            verdicts[current]["verdict"] = VERDICT_LINES[line.strip()]
    return {k: v for k, v in verdicts.items() if v["verdict"] is not None}


def failed_record(trial: int, effect: int, mode: str, error: str) -> dict:
    return {
        "trial": trial, "mode": mode, "trial_effect_percent": effect, "exit_code": None,
        "wall_s": 0.0, "error": error.replace("\n", " | ")[-600:], "entries": [], "confirmation_rerun": False,
    }


def trial_record(trials: Trials, trial: int, effect: int, affected: list[int], mode: str) -> dict:
    code, wall_s, comparison, log = trials.check(mode)
    record = {
        "trial": trial, "mode": mode, "trial_effect_percent": effect, "exit_code": code,
        "wall_s": round(wall_s, 2), "error": None, "entries": [], "confirmation_rerun": False,
    }
    if comparison is None:
        record["error"] = f"exit {code}: " + " | ".join(log.strip().splitlines()[-5:])
        return record
    with gzip.open(trials.samples_path, "at") as samples:
        runs = {"trial": trial, "mode": mode, "trial_effect_percent": effect, "runs": trials.last_runs}
        samples.write(json.dumps(runs) + "\n")
    criterion = trials.criterion_verdicts(comparison["entries"])
    for entry in comparison["entries"]:
        if entry.get("kind") != "bench":
            continue
        # Copies (--copies) are `id_c1`, `id_c2`, ...: the same workload and scale.
        name = re.sub(r"_c[0-9]+$", "", entry["id"])
        index = next(i for i, (known, _) in enumerate(trials.benchmarks) if known == name)
        nominal = trials.benchmarks[index][1]
        units = scaled_units(nominal, 1000 + 10 * effect) if index in affected else nominal
        bench = entry.get("bench") or {}
        record["confirmation_rerun"] |= bench.get("confirmed") is not None
        record["entries"].append({
            "id": entry["id"],
            "true_effect_percent": effect if index in affected else 0,
            "true_ratio": units / nominal,
            "verdict": entry["verdict"],
            "ratio": bench.get("ratio"),
            "ratio_low": bench.get("ratio_low"),
            "ratio_high": bench.get("ratio_high"),
            "p_adjusted": bench.get("p_adjusted"),
            "confirmed": bench.get("confirmed"),
            # Paired rounds behind the verdict (the first pass, or more for an
            # unsettled benchmark); stored: the baseline's runs.
            "rounds": bench.get("baseline_runs"),
            "criterion": criterion.get(entry["id"]),
        })
    return record


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per effect size (A/A, +2, +5, +10, +20%%)")
    parser.add_argument("--smoke", action="store_true", help="2 trials (A/A, +20%%) of 4 quick benchmarks, for CI")
    parser.add_argument("--modes", default="stored,paired", help="comma-separated: stored, paired")
    parser.add_argument("--effects", default=",".join(str(e) for e in EFFECTS_PERCENT),
                        help="comma-separated slowdowns in percent, 0 for A/A (default: %(default)s)")
    parser.add_argument("--baseline-runs", type=int, default=3, help="runs recorded in the baseline")
    parser.add_argument("--perfguard", help="the perfguard binary (default: cargo build --bin perfguard)")
    parser.add_argument("--reference", type=Path, metavar="BINARY",
                        help="another perfguard binary for --modes reference (paired checks by it, side by side)")
    parser.add_argument("--fixture-target", help="cargo target dir for the fixture (default: <target>/quality-fixture)")
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "quality" / "results.md")
    parser.add_argument("--records", type=Path, help="JSON lines of every check (default: next to --out)")
    parser.add_argument("--samples", type=Path, help="gzipped JSON lines of every suite run's samples, for re-analysis (default: next to --records)")
    parser.add_argument("--affected", choices=("half", "all"), default="half",
                        help="benchmarks slowed in an A/B trial: alternating halves (the rest count as A/A), or all")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repository")
    parser.add_argument("--copies", type=int, default=1, metavar="N",
                        help="register every benchmark N times (N = 3: a 60-benchmark suite)")
    parser.add_argument("--hog", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes beside every check (deliberate contention)")
    parser.add_argument("--check-args", default="", metavar="ARGS",
                        help="more arguments for every `perfguard check`, e.g. \"--rounds 2\"")
    parser.add_argument("--budget-min", type=float, metavar="MIN",
                        help="start no new trial after MIN minutes (the records say how many ran)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in table.MODES for m in modes):
        parser.error(f"--modes takes {', '.join(table.MODES)}")
    if ("reference" in modes) != (args.reference is not None):
        parser.error("--modes reference and --reference BINARY go together")
    effects = (0, 20) if args.smoke else tuple(int(e) for e in args.effects.split(",") if e.strip())
    trials_per_effect = 1 if args.smoke else args.trials
    records_path = args.records or args.out.with_suffix(".jsonl")
    args.samples = args.samples or records_path.with_suffix(".samples.jsonl.gz")
    for path in (args.out, records_path, args.samples):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.samples.unlink(missing_ok=True)
    command = "python3 scripts/quality/harness.py " + " ".join(sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)

    perfguard = perfguard_binary(args.perfguard)
    version = run([str(perfguard), "--version"], ROOT).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="perfguard-quality-"))
    records: list[dict] = []
    meta = {
        "command": command, "machine": machine(), "perfguard": version, "started": started.isoformat(timespec="seconds"),
        "finished": None, "elapsed_min": 0.0, "trials_per_effect": trials_per_effect,
        "baseline_runs": args.baseline_runs, "benchmarks": 0, "affected": 0,
        "hog": args.hog, "check_args": args.check_args, "plain_run_s": None,
    }
    try:
        trials = Trials(args, work, perfguard)
        meta["benchmarks"] = len(trials.selected) * max(args.copies, 1)
        meta["affected"] = ((len(trials.selected) + 1) // 2 if args.affected == "half" else len(trials.selected)) * max(args.copies, 1)
        trials.create_repository()
        meta["plain_run_s"] = trials.plain_run_s()
        plan = [(round_, effect) for round_ in range(trials_per_effect) for effect in effects]
        for trial, (round_, effect) in enumerate(plan):
            elapsed_min = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60
            if args.budget_min is not None and elapsed_min >= args.budget_min:
                print(f"budget of {args.budget_min:g} min spent: stopping after {trial} of {len(plan)} trials", file=sys.stderr)
                meta["stopped_after_trials"] = trial
                break
            # A/B trials slow alternating halves of the suite, so every benchmark
            # is slowed in some trials and compared A/A in others.
            half = trials.selected[round_ % 2 :: 2]
            slowed = half if args.affected == "half" else trials.selected
            affected = slowed if effect else []
            order = modes if trial % 2 == 0 else list(reversed(modes))
            try:
                trials.commit_trial(trial, effect, affected)
                committed = None
            except HarnessError as error:
                committed = str(error)
            for mode in order:
                try:
                    if committed is not None:
                        raise HarnessError(f"the trial commit failed: {committed}")
                    record = trial_record(trials, trial, effect, affected, mode)
                except HarnessError as error:
                    # An infrastructure fault (a full disk, a git lock) spoils
                    # this check, not the run: record it and go on.
                    record = failed_record(trial, effect, mode, str(error))
                records.append(record)
                recent = records[-MAX_CONSECUTIVE_FAILURES:]
                if len(recent) == MAX_CONSECUTIVE_FAILURES and all(r["error"] for r in recent):
                    raise HarnessError(f"{MAX_CONSECUTIVE_FAILURES} checks in a row failed; last: {record['error']}")
                flagged = sum(e["verdict"] == "regressed" for e in record["entries"])
                slowed = sum(e["true_effect_percent"] > 0 for e in record["entries"])
                print(
                    f"trial {trial + 1}/{len(plan)} {table.effect_label(effect):>4} {mode:6}: "
                    f"exit {record['exit_code']}, {record['wall_s']:.0f} s, {flagged} flagged, {slowed} slowed"
                    + (f", ERROR {record['error']}" if record["error"] else ""),
                    file=sys.stderr,
                )
                write_records(records_path, meta, records, started)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    write_records(records_path, meta, records, started)
    text = table.render(records, meta)
    args.out.write_text(text)
    sys.stdout.write(text)
    failed = [r for r in records if r["error"]]
    return 1 if failed and args.smoke else 0


def write_records(path: Path, meta: dict, records: list[dict], started: datetime.datetime) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    meta["finished"] = now.isoformat(timespec="seconds")
    meta["elapsed_min"] = (now - started).total_seconds() / 60
    lines = [json.dumps({"meta": meta})] + [json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as error:
        print(f"harness: {error}", file=sys.stderr)
        sys.exit(2)
