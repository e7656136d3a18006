#!/usr/bin/env python3
"""Instruction counts on fixtures/quality: A/A jitter per benchmark, detection
of +1%, +2% and +5% work, the cost of a stored instruction check against one
plain timing run, and where counts and wall time disagree.

Copies fixtures/quality to a temporary folder (outside git, so the baselines
are the folder's own), records an instruction baseline with
`perfguard baseline record --measure instructions --runs 3`, then runs the
real `perfguard check --measure instructions --format json` on unchanged code
(A/A) and with every benchmark's work raised by 1%, 2% and 5%
(src/scale.rs). Prints markdown tables.

    cargo build --release
    python3 scripts/quality/instructions.py [--perfguard target/release/perfguard]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "quality"
EFFECTS_PERCENT = (1, 2, 5)


def run(cmd, cwd, env, check=True):
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if check and done.returncode not in (0, 1):
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done, took


def set_scale(project: Path, permille: int):
    path = project / "src" / "scale.rs"
    text = path.read_text()
    values = ", ".join([str(permille)] * 20)
    text = re.sub(r"\[u32; 20\] = \[[^\]]*\]", f"[u32; 20] = [{values}]", text, flags=re.S)
    path.write_text(text)


def units_change(project: Path, permille: int) -> dict[str, bool]:
    """Whether a benchmark's work units change at this scale (small nominal
    sizes round back to the same number of units)."""
    lib = (project / "src" / "lib.rs").read_text()
    changed = {}
    for name, units in re.findall(r'bench\("(\w+)", ([\d_]+),', lib):
        nominal = int(units.replace("_", ""))
        changed[name] = (nominal * permille + 500) // 1000 != nominal
    return changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--perfguard", default=str(ROOT / "target" / "release" / "perfguard"))
    parser.add_argument("--threshold", default="", help="a threshold for the suite (default: perfguard's default for instructions, 0.5%%)")
    args = parser.parse_args()
    perfguard = str(Path(args.perfguard).resolve())
    work = Path(tempfile.mkdtemp(prefix="perfguard-instructions-"))
    project = work / "quality"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("target", "baselines"))
    env = dict(os.environ, CARGO_TARGET_DIR=str(work / "target"), NO_COLOR="1")
    config = project / "perfguard.toml"
    text = config.read_text()
    if args.threshold:
        text = re.sub(r'(command = "cargo bench[^"]*")', rf'\1\nthreshold = "{args.threshold}"', text, count=1)
    config.write_text(text)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    run(["cargo", "bench", "--no-run", "-q"], project, env)
    _, plain = run(["cargo", "bench", "-q"], project, env)
    times = {}
    for path in (work / "target" / "criterion").glob("*/new/estimates.json"):
        estimates = json.loads(path.read_text())
        times[path.parent.parent.name] = estimates["median"]["point_estimate"]

    _, record = run([perfguard, "baseline", "record", "--measure", "instructions", "--runs", "3"], project, env)
    baseline = json.loads((project / "baselines" / "quality.json").read_text())["benches"]

    def check(label):
        done, took = run([perfguard, "check", "--measure", "instructions", "--format", "json"], project, env)
        comparison = json.loads(done.stdout)
        return comparison, took, done.returncode

    aa = [check("A/A") for _ in range(2)]
    effects = {}
    for percent in EFFECTS_PERCENT:
        set_scale(project, 1000 + 10 * percent)
        effects[percent] = (check(f"+{percent}%"), units_change(project, 1000 + 10 * percent))
    set_scale(project, 1000)

    print(f"\none plain `cargo bench` of the suite: {plain:.1f} s; `baseline record --measure instructions --runs 3`: {record:.1f} s")
    for index, (_, took, code) in enumerate(aa):
        print(f"A/A stored instruction check {index + 1}: {took:.1f} s ({took / plain:.2f}x the plain run), exit {code}")

    def entries(comparison):
        return {e["id"]: e for e in comparison["entries"]}

    print("\n| benchmark | instructions | est. cycles | A/A jitter (3 runs) | A/A checks | " + " | ".join(f"+{p}% work" for p in EFFECTS_PERCENT) + " | ns per instruction | ns per est. cycle |")
    print("|---|--:|--:|--:|---|" + "---|" * len(EFFECTS_PERCENT) + "--:|--:|")
    flagged_aa = 0
    caught = {p: [0, 0] for p in EFFECTS_PERCENT}
    for bench_id in sorted(baseline):
        runs = [r["counts"] for r in baseline[bench_id]["runs"]]
        instructions = sorted(r["instructions"] for r in runs)
        cycles = sorted(r["estimated_cycles"] for r in runs)
        jitter = max((instructions[-1] - instructions[0]) / instructions[1], (cycles[-1] - cycles[0]) / cycles[1])
        aa_verdicts = [entries(c)[bench_id]["verdict"] for c, _, _ in aa]
        flagged_aa += sum(v != "unchanged" for v in aa_verdicts)
        cells = []
        for percent in EFFECTS_PERCENT:
            (comparison, _, _), changed = effects[percent]
            entry = entries(comparison)[bench_id]
            change = entry["bench"]["counts"]
            ratio = change["current"]["instructions"] / change["baseline"]["instructions"]
            if not changed.get(bench_id, True):
                cells.append(f"{(ratio - 1) * 100:+.2f}% (work unchanged by rounding)")
                continue
            caught[percent][1] += 1
            caught[percent][0] += entry["verdict"] == "regressed"
            cells.append(f"{(ratio - 1) * 100:+.2f}% {entry['verdict']}")
        ns = times.get(bench_id)
        print(
            f"| {bench_id} | {instructions[1]:,.0f} | {cycles[1]:,.0f} | {jitter * 100:.4f}% | {', '.join(aa_verdicts)} | "
            + " | ".join(cells)
            + (f" | {ns / instructions[1]:.3f} | {ns / cycles[1]:.3f} |" if ns else " | - | - |")
        )
    print(f"\nA/A: {flagged_aa} of {2 * len(baseline)} verdicts not `unchanged`")
    for percent, (hit, of) in caught.items():
        print(f"+{percent}% work: {hit} of {of} benchmarks whose work changed caught as regressed")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
