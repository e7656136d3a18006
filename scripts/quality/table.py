"""The verdict-quality table: flag rates with Wilson intervals from the trial
records the harness writes (one JSON object per trial and mode).

Run alone to re-render a table from a records file:

    python3 scripts/quality/table.py RECORDS.jsonl [--out results.md]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

# stored and paired: perfguard's defaults. suite: paired with whole-suite
# rounds (`cargo bench` run at each side from its own folder, the paired mode
# before direct runs), for side-by-side figures. aligned: paired with every
# build's functions and jump targets aligned to 64 bytes (RUSTFLAGS).
# reference: paired, by another perfguard binary (--reference), for a
# before/after comparison in one window.
MODES = ("stored", "paired", "suite", "aligned", "reference")
Z_95 = 1.959963984540054


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1 + Z_95**2 / n
    centre = (p + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / n + Z_95**2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, n: int) -> str:
    """`3/120 = 2.5% [0.9, 7.1]`, or `-` when nothing was counted."""
    if n == 0:
        return "-"
    low, high = wilson(successes, n)
    return f"{successes}/{n} = {100 * successes / n:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def effect_label(percent: int) -> str:
    return "A/A" if percent == 0 else f"+{percent}%"


def extra_rounds(records: list[dict], effect: int) -> tuple[int, int] | None:
    """(comparisons measured beyond the first pass, comparisons) of paired
    checks: a benchmark's rounds above the fewest of its check are the extra
    rounds perfguard gave an unsettled benchmark. None for records of a
    perfguard that did not report its rounds."""
    extra = total = 0
    for record in records:
        rounds = [e.get("rounds") for e in record["entries"]]
        if not rounds or any(r is None for r in rounds):
            return None
        first = min(rounds)
        for entry in record["entries"]:
            if entry["true_effect_percent"] == effect:
                total += 1
                extra += entry["rounds"] > first
    return extra, total


def cells(records: list[dict]) -> list[dict]:
    """One row per mode and true effect size, in a fixed order."""
    effects = sorted({e["true_effect_percent"] for r in records for e in r["entries"]})
    rows = []
    for mode in MODES:
        mode_records = [r for r in records if r["mode"] == mode and r["error"] is None]
        for effect in effects:
            comparisons = [
                e for r in mode_records for e in r["entries"] if e["true_effect_percent"] == effect
            ]
            if not comparisons:
                continue
            judged = [e for e in comparisons if e["criterion"] is not None]
            suites = [r for r in mode_records if r["trial_effect_percent"] == effect]
            row = {
                "extra_rounds": extra_rounds(mode_records, effect) if mode in ("paired", "reference") else None,
                "mode": mode,
                "effect": effect,
                "comparisons": len(comparisons),
                "perfguard_flagged": sum(e["verdict"] == "regressed" for e in comparisons),
                "perfguard_improved": sum(e["verdict"] == "improved" for e in comparisons),
                "criterion_judged": len(judged),
                "criterion_flagged": sum(e["criterion"]["verdict"] == "regressed" for e in judged),
                "trials": len(suites),
                "median_check_s": statistics.median(r["wall_s"] for r in suites) if suites else None,
                "confirmation_reruns": sum(r["confirmation_rerun"] for r in suites),
            }
            if effect == 0:
                row["suite_perfguard"] = sum(
                    any(e["verdict"] == "regressed" for e in r["entries"]) for r in suites
                )
                row["suite_criterion"] = sum(
                    any(e["criterion"] and e["criterion"]["verdict"] == "regressed" for e in r["entries"])
                    for r in suites
                )
            rows.append(row)
    return rows


def render(records: list[dict], meta: dict) -> str:
    """The markdown document: what was run, then the table."""
    errors = [r for r in records if r["error"] is not None]
    lines = [
        "# perfguard verdict quality on this machine",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"perfguard: {meta['perfguard']}  ",
        f"Started {meta['started']}, finished {meta['finished']} ({meta['elapsed_min']:.0f} min); "
        f"{meta['trials_per_effect']} trial(s) per effect size"
        + (f" planned, stopped by its time budget after {meta['stopped_after_trials']} trials" if meta.get("stopped_after_trials") is not None else "")
        + f", {len(records)} checks, "
        f"{len(errors)} failed (exit 2, not counted).  ",
        f"Baseline: {meta['baseline_runs']} recorded run(s) at `main`. "
        f"Each A/B trial slows {meta['affected']} of the {meta['benchmarks']} benchmarks"
        + (" (alternating halves); the others count as A/A comparisons." if meta["affected"] < meta["benchmarks"] else "."),
        "",
        "A benchmark is *flagged* when perfguard's verdict is `regressed` (after the paired "
        "confirmation in stored mode), or when criterion, shown the very same two samples "
        "(stored: the baseline's first run vs the check's run; paired: the first round's base "
        "and head runs), prints `Performance has regressed.` (Welch t-test p < 0.05 and the "
        "mean change's 95% interval entirely above its 1% noise threshold). Intervals are 95% "
        "Wilson score intervals. *Suite* counts A/A trials in which any benchmark was flagged.",
        "",
    ]
    if meta.get("hog"):
        lines += [f"Contention: {meta['hog']} CPU-bound process(es) ran beside every check.", ""]
    if meta.get("plain_run_s"):
        plain = meta["plain_run_s"]
        ratios = ", ".join(
            f"{row['mode']} {effect_label(row['effect'])} {row['median_check_s'] / plain:.1f}x"
            for row in cells(records)
            if row["median_check_s"] is not None
        )
        lines += [
            f"One plain suite run (`cargo bench`, built): {plain:.1f} s; median check / plain run: {ratios}.",
            "",
        ]
    lines += [
        "| mode | effect | comparisons | perfguard flagged | criterion flagged | A/A suites flagged (perfguard) | A/A suites flagged (criterion) | median check time | confirmation re-runs | extra rounds | claimed improved |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in cells(records):
        suite_pg = rate(row["suite_perfguard"], row["trials"]) if row["effect"] == 0 else ""
        suite_cr = rate(row["suite_criterion"], row["trials"]) if row["effect"] == 0 else ""
        median = f"{row['median_check_s']:.0f} s" if row["median_check_s"] is not None else "-"
        extra = f"{row['extra_rounds'][0]} of {row['extra_rounds'][1]}" if row["extra_rounds"] else "-"
        lines.append(
            f"| {row['mode']} | {effect_label(row['effect'])} | {row['comparisons']} "
            f"| {rate(row['perfguard_flagged'], row['comparisons'])} "
            f"| {rate(row['criterion_flagged'], row['criterion_judged'])} "
            f"| {suite_pg} | {suite_cr} | {median} | {row['confirmation_reruns']} of {row['trials']} "
            f"| {extra} | {row['perfguard_improved']} |"
        )
    lines += [
        "",
        "*effect*: the true slowdown of the compared benchmark (its work units scaled in "
        "`src/scale.rs`; the short benchmarks round to whole units, so their +2% is +2.5%). "
        "*median check time*: wall time of one `perfguard check` over the trials whose slowed "
        "benchmarks had this effect, builds included. *confirmation re-runs*: checks in which "
        "a stored-mode regression was re-measured paired before the verdict. *extra rounds*: "
        "paired comparisons of a benchmark the first rounds left unsettled, so perfguard "
        "measured it for more rounds (up to `--max-rounds`) before deciding. *claimed "
        "improved*: comparisons perfguard called `improved` (on an A/A or slowed benchmark, a "
        "false claim).",
    ]
    if errors:
        lines += ["", "Failed checks:", ""]
        lines += [f"- trial {r['trial']} {r['mode']}: {r['error']}" for r in errors[:20]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = args.records.read_text().splitlines()
    meta = json.loads(lines[0])["meta"]
    records = [json.loads(line) for line in lines[1:] if line.strip()]
    text = render(records, meta)
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
