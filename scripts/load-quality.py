#!/usr/bin/env python3
"""Verdict quality and cost of load probes on the shop fixture.

Copies fixtures/shop into a temporary git repository whose perfguard.toml has
only load probes (PostgreSQL through the counting proxy), then runs
`perfguard check` on branches:

- A/A: a branch that changes only a comment (the two builds are of the same
  code; since 4bd0f38 built at one path, before that in two folders);
- injected slowdowns: a sleep at the top of the recommendations handler,
  sized from the A/A checks' base p95 to add +20%, +50% and +100% (2x);
- an extra query: the handler runs its COUNT query twice.

Prints one line per check (exit code, verdict, p95 base -> head, change,
rounds, wall time) and a table at the end, with the machine's load average.

    cargo build --release
    python3 scripts/load-quality.py --aa 20 --effects 20,50,100 --trials 3

Needs PostgreSQL (PERFGUARD_TEST_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PERFGUARD = ROOT / "target" / "release" / "perfguard"
HANDLER = "src/recommend.rs"
ANCHOR = "    let id = positive_id(path, \"product\")?;\n"

CONFIG = """\
[gate]
base_ref = "main"

[app]
build = "cargo build --release -q -p shop"
command = "cargo run --release -q -p shop"
env = {{ PORT = "{{port}}", DATABASE_URL = "{{database_url}}" }}
ready = "/health"
startup_timeout = "300s"

[database]
kind = "postgres"
url = "{url}"
setup = "SHOP_SEED_ORDERS=2400 cargo run --release -q -p shop -- seed"

[[load]]
name = "recommendations under load"
path = "/products/42/recommendations"
{traffic}
duration = "{duration}"
threshold = "{threshold}"
quantile = "p95"
"""


def git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=perfguard", "-c", "user.email=q@perfguard.invalid",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def load_average():
    return float(open("/proc/loadavg").read().split()[0])


def make_repo(work, args):
    repo = work / "shop"
    shutil.copytree(ROOT / "fixtures" / "shop", repo,
                    ignore=shutil.ignore_patterns("target", "baselines", "baselines-postgres"))
    with open(repo / "Cargo.toml", "a") as f:
        f.write("\n[workspace]\n")
    shutil.copy(ROOT / "Cargo.lock", repo / "Cargo.lock")
    database = os.environ.get("PERFGUARD_TEST_POSTGRES_URL",
                              "postgres://postgres@127.0.0.1:5432/postgres")
    server = database.rsplit("/", 1)[0]
    (repo / "perfguard.toml").write_text(CONFIG.format(
        url=f"{server}/shopload",
        traffic=f"rate = {args.rate}" if args.rate else f"clients = {args.clients}",
        duration=args.duration,
        threshold=args.threshold))
    subprocess.run(["cargo", "metadata", "--quiet", "--format-version", "1"], cwd=repo,
                   check=True, stdout=subprocess.DEVNULL)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "shop")
    return repo


def branch(repo, name, edit):
    git(repo, "checkout", "--quiet", "main")
    git(repo, "checkout", "--quiet", "-B", name)
    path = repo / HANDLER
    path.write_text(edit(path.read_text()))
    git(repo, "commit", "--quiet", "--all", "--message", name)


def comment_only(text):
    return text.replace(ANCHOR, ANCHOR + f"    // comment {time.time_ns()}\n", 1)


def sleep_for(micros):
    """A timer sleep: tokio's timer has millisecond granularity, so short
    sleeps last longer than asked."""
    def edit(text):
        return text.replace(ANCHOR, ANCHOR +
                            f"    tokio::time::sleep(std::time::Duration::from_micros({micros})).await;\n", 1)
    return edit


def spin_for(micros):
    """CPU work of an exact length: the handler spins for `micros`."""
    def edit(text):
        return text.replace(ANCHOR, ANCHOR +
                            f"    let until = std::time::Instant::now() + std::time::Duration::from_micros({micros});\n"
                            "    while std::time::Instant::now() < until {\n"
                            "        std::hint::spin_loop();\n"
                            "    }\n", 1)
    return edit


def extra_query(text):
    marker = "    let anchor = Anchor {\n"
    duplicate = """    let _again: (i64,) = counter
        .fetch_one(
            &state.pool,
            counter
                .query_as("SELECT COUNT(DISTINCT order_id) FROM order_lines WHERE product_id = $1")
                .bind(product_id),
        )
        .await?;
"""
    return text.replace(marker, duplicate + marker, 1)


def check(repo, label, extra_args):
    report = repo / "comparison.json"
    started = time.monotonic()
    load_before = load_average()
    result = subprocess.run([str(PERFGUARD), "check", "--report", f"json={report}", *extra_args],
                            cwd=repo, capture_output=True, text=True)
    seconds = time.monotonic() - started
    row = {"label": label, "exit": result.returncode, "seconds": round(seconds, 1),
           "load_before": load_before, "load_after": load_average()}
    if report.exists():
        comparison = json.loads(report.read_text())
        report.unlink()
        for entry in comparison["entries"]:
            if entry["kind"] != "load":
                continue
            load = entry["load"]
            reason = entry["reason"]
            row.update({
                "verdict": entry["verdict"],
                "base_ms": round(reason["base_ms"], 3),
                "head_ms": round(reason["head_ms"], 3),
                "ratio": round(reason["latency"]["ratio"], 4),
                "low": round(reason["latency"]["ratio_low"], 4),
                "high": round(reason["latency"]["ratio_high"], 4),
                "rounds": reason["latency"]["source"].get("rounds"),
                "base_rps": round(load["base"]["throughput"]),
                "head_rps": round(load["head"]["throughput"]),
                "base_stmt": load["base"].get("statements_per_request"),
                "head_stmt": load["head"].get("statements_per_request"),
                "base_db_ms": load["base"].get("database_ms_per_request"),
                "head_db_ms": load["head"].get("database_ms_per_request"),
                "base_rounds_ms": [round(v, 3) for v in load["base"]["quantile_ms"]],
                "head_rounds_ms": [round(v, 3) for v in load["head"]["quantile_ms"]],
            })
    else:
        row["error"] = (result.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", type=int, default=5, help="A/A checks")
    parser.add_argument("--effects", default="20,50,100", help="injected p95 increases, percent")
    parser.add_argument("--trials", type=int, default=2, help="checks per effect")
    parser.add_argument("--extra-query", type=int, default=1, help="extra-query checks")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, help="open loop at this many requests/s instead of clients")
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--threshold", default="10%")
    parser.add_argument("--hog", type=int, default=0, help="CPU hogs beside each check")
    parser.add_argument("--inject", choices=["sleep", "spin"], default="sleep",
                        help="how the +N%% slowdowns are made: a tokio sleep, or spinning the CPU")
    parser.add_argument("--out", help="append every row to this JSON-lines file")
    args = parser.parse_args()
    if not PERFGUARD.exists():
        sys.exit(f"{PERFGUARD} missing: run `cargo build --release` first")
    rows = []
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hog)]
    try:
        with tempfile.TemporaryDirectory(prefix="perfguard-load-") as work:
            repo = make_repo(pathlib.Path(work), args)
            os.environ.pop("GITHUB_BASE_REF", None)
            print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} load {load_average():.2f}, "
                  f"{os.cpu_count()} cores, "
                  f"{'rate ' + str(args.rate) if args.rate else 'clients ' + str(args.clients)}, duration {args.duration}, "
                  f"threshold {args.threshold}, hogs {args.hog}", flush=True)
            base_p95 = []
            for n in range(args.aa):
                branch(repo, f"aa-{n}", comment_only)
                row = check(repo, "A/A", [])
                rows.append(row)
                if "base_ms" in row:
                    base_p95.append(row["base_ms"])
            if not base_p95:
                branch(repo, "calibrate", comment_only)
                row = check(repo, "A/A (calibration)", [])
                rows.append(row)
                base_p95.append(row.get("base_ms", 10.0))
            p95 = statistics.median(base_p95)
            for effect in [int(e) for e in args.effects.split(",") if e]:
                micros = int(p95 * 1000 * effect / 100)
                for n in range(args.trials):
                    make = spin_for if args.inject == "spin" else sleep_for
                    branch(repo, f"slow-{effect}-{n}", make(micros))
                    rows.append(check(repo, f"+{effect}% ({args.inject} {micros} us)", []))
            for n in range(args.extra_query):
                branch(repo, f"extra-query-{n}", extra_query)
                rows.append(check(repo, "extra query", []))
    finally:
        for hog in hogs:
            hog.kill()
    if args.out:
        with open(args.out, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    print()
    print("| checks | exit 0 / 1 / 2 | regressed | median p95 base -> head | median change | median rounds | median wall time |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    labels = []
    for row in rows:
        label = re.sub(r" \((sleep|spin) \d+ us\)", "", row["label"])
        if label not in labels:
            labels.append(label)
    for label in labels:
        group = [r for r in rows if re.sub(r" \((sleep|spin) \d+ us\)", "", r["label"]) == label]
        exits = [sum(1 for r in group if r["exit"] == code) for code in (0, 1, 2)]
        regressed = sum(1 for r in group if r.get("verdict") == "regressed")
        measured = [r for r in group if "ratio" in r]
        med = lambda key: statistics.median(r[key] for r in measured) if measured else float("nan")
        print(f"| {label} ({len(group)}) | {exits[0]} / {exits[1]} / {exits[2]} | {regressed} | "
              f"{med('base_ms'):.2f} -> {med('head_ms'):.2f} ms | {100 * (med('ratio') - 1):+.1f}% | "
              f"{med('rounds') if measured else '-'} | {med('seconds') if group else 0:.0f} s |")


if __name__ == "__main__":
    main()
