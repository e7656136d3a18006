"""Re-analyse the harness's kept samples with perfguard's statistics (a Python
transcription of src/stats.rs) under other settings, to see what a change of
the defaults would buy on the very same measurements.

    python3 scripts/quality/reanalyse.py RECORDS.jsonl SAMPLES.jsonl.gz BASELINE.json

First it re-derives perfguard's own verdicts with the default settings and
reports how many agree with the recorded ones (the transcription's check),
then prints the flag rates of each variant per mode and true effect.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import table  # noqa: E402


# --- Student's t distribution, from the regularised incomplete beta function ---

def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated with the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    value = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            value *= c * d
        if abs(c * d - 1.0) < 1e-14:
            break
    return value


def regularised_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    return regularised_beta(df / 2.0, 0.5, df / (df + t * t))


def f_cdf(x: float, d1: float, d2: float) -> float:
    if x <= 0:
        return 0.0
    return regularised_beta(d1 / 2.0, d2 / 2.0, d1 * x / (d1 * x + d2))


def moderate(prior: float, data_ss: float, data_df: float, s: Settings) -> tuple[float, float]:
    """Smyth's moderated variance and its degrees of freedom; the data alone
    when their variance is an outlier against the prior."""
    if (
        s.outlier_quantile is not None
        and data_df >= 2
        and prior > 0
        and f_cdf(data_ss / data_df / prior, data_df, s.prior_df) > s.outlier_quantile
    ):
        return data_ss / data_df, data_df
    return (s.prior_df * prior + data_ss) / (s.prior_df + data_df), max(s.prior_df + data_df, 1.0)


def t_critical(df: float, confidence: float = 0.95) -> float:
    """The two-sided critical value, by bisection on the p-value."""
    low, high = 0.0, 100.0
    for _ in range(100):
        middle = (low + high) / 2
        if t_two_sided_p(middle, df) > 1 - confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- perfguard's statistics (src/stats.rs) ---

@dataclass(frozen=True)
class Settings:
    """perfguard's defaults, and the knobs a variant turns."""
    name: str
    noise_sd_log: float = 0.02
    prior_df: float = 8.0
    threshold: float = 0.05
    alpha: float = 0.05
    rounds: int = 5
    # Rounds at most for the benchmarks the first `rounds` leave unsettled
    # (perfguard: twice `rounds`). A re-analysis can only use the rounds that
    # were recorded.
    max_rounds: int = 10
    confirm: bool = True
    # Stored mode also re-runs benchmarks that look slower at the unadjusted level.
    screen: bool = True
    # Per-round statistic: "mean" (perfguard) or "trimmed" (the mean after
    # dropping the most extreme round).
    location: str = "mean"
    # A run's location: a quantile of its log per-iteration times; perfguard
    # takes the minimum (0.0), it took the median (0.5) before.
    run_quantile: float = 0.0
    # The within-run sampling variance of a run's location: none (perfguard;
    # the rounds' own spread and the prior decide), from the MAD of its samples
    # ("mad", perfguard with the median), or the bootstrap variance of the minimum.
    within: str = "none"
    # The rule on top of significance: "interval" (perfguard: the interval's
    # upper end reaches the threshold) or "estimate" (the estimate does).
    rule: str = "interval"
    # A paired comparison's floor: the standard deviation of the offset between
    # two builds of the same code (layout), which more rounds cannot shrink.
    build_sd_log: float = 0.01
    # A benchmark whose spread is beyond this quantile of the prior's F
    # distribution is not moderated (the prior evidently does not describe
    # it); None moderates every benchmark.
    outlier_quantile: float | None = 0.999
    # Paired: drop a round when one of its runs is disturbed, i.e. slower than
    # its side's median run by more than max(k * scaled MAD, floor); None keeps all.
    disturbed_k: float | None = 3.0
    disturbed_floor: float = 0.05
    # "ratio": a round whose ratio is an outlier either way (perfguard);
    # "side": a run slower than its side's median (the full run's perfguard).
    disturbed_by: str = "ratio"
    # Settled unless the interval reaches the threshold; "slower" also needs
    # the estimate above 1 (perfguard before), "any" does not.
    unsettled: str = "any"
    # Paired: a benchmark whose runs scatter on each side beyond this quantile
    # of what the prior predicts for a run is not moderated (perfguard: 0.99);
    # None moderates by the ratios' spread alone (the full run's perfguard).
    run_scatter_quantile: float | None = 0.99


def summarize(per_iteration_ns: list[float], quantile: float = 0.5, within: str = "mad") -> tuple[float, float]:
    logs = sorted(math.log(t) for t in per_iteration_ns)
    median = statistics.median(logs)
    robust_sd = 1.4826 * statistics.median(abs(v - median) for v in logs)
    if quantile == 0.5:
        location = median
    else:
        position = quantile * (len(logs) - 1)
        low = math.floor(position)
        high = min(low + 1, len(logs) - 1)
        location = logs[low] + (logs[high] - logs[low]) * (position - low)
    if within == "none":
        return location, 0.0
    if within == "bootstrap":
        # Exact bootstrap variance of the minimum: a resample's minimum is the
        # k-th smallest value with probability ((n-k+1)/n)^n - ((n-k)/n)^n.
        n = len(logs)
        weights = [((n - k) / n) ** n - ((n - k - 1) / n) ** n for k in range(n)]
        mean = sum(w * v for w, v in zip(weights, logs))
        return location, sum(w * (v - mean) ** 2 for w, v in zip(weights, logs))
    return location, math.pi / 2 * robust_sd * robust_sd / len(logs)


def sum_of_squares(values: list[float]) -> float:
    m = statistics.fmean(values)
    return sum((v - m) ** 2 for v in values)


def compare_runs(base: list[tuple[float, float]], head: list[tuple[float, float]], s: Settings):
    difference = statistics.fmean(h[0] for h in head) - statistics.fmean(b[0] for b in base)
    within = statistics.fmean(r[1] for r in base + head)
    prior = s.noise_sd_log**2 + within
    data_df = len(base) - 1 + len(head) - 1
    data_ss = sum_of_squares([b[0] for b in base]) + sum_of_squares([h[0] for h in head])
    variance, df = moderate(prior, data_ss, data_df, s)
    se = math.sqrt(variance * (1 / len(base) + 1 / len(head)))
    return math.exp(difference), t_two_sided_p(difference / se, df) if se > 0 else 1.0, math.exp(difference + t_critical(df) * se)


def runs_scatter(pairs: list, s: Settings) -> bool:
    """Whether each side's runs scatter beyond the prior (perfguard's
    runs_scatter_beyond_prior): their pooled variance beyond the
    `run_scatter_quantile` of F(2 (n - 1), d0) times noise_sd_log^2."""
    n = len(pairs)
    if s.run_scatter_quantile is None or n < 2 or s.noise_sd_log <= 0:
        return False
    df = 2 * (n - 1)
    variance = (sum_of_squares([b[0] for b, _ in pairs]) + sum_of_squares([h[0] for _, h in pairs])) / df
    return f_cdf(variance / s.noise_sd_log**2, df, s.prior_df) > s.run_scatter_quantile


def compare_paired(pairs: list, within: float, s: Settings):
    """`pairs`: the kept rounds' (base, head) run summaries."""
    log_ratios = [h[0] - b[0] for b, h in pairs]
    if s.location == "trimmed" and len(log_ratios) >= 4:
        centre = statistics.median(log_ratios)
        worst = max(range(len(log_ratios)), key=lambda i: abs(log_ratios[i] - centre))
        log_ratios = [r for i, r in enumerate(log_ratios) if i != worst]
    rounds = len(log_ratios)
    difference = statistics.fmean(log_ratios)
    prior = 2 * within + (s.noise_sd_log / 2) ** 2
    data_ss = sum_of_squares(log_ratios) if rounds > 1 else 0.0
    if rounds > 1 and runs_scatter(pairs, s):
        variance, df = data_ss / (rounds - 1), rounds - 1
    else:
        variance, df = moderate(prior, data_ss, rounds - 1, s)
    se = math.sqrt(variance / rounds + s.build_sd_log**2)
    return math.exp(difference), t_two_sided_p(difference / se, df) if se > 0 else 1.0, math.exp(difference + t_critical(df) * se)


def holm(p_values: list[float]) -> list[float]:
    order = sorted(range(len(p_values)), key=lambda i: (p_values[i], i))
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def regressed(ratio: float, p_adjusted: float, high: float, s: Settings) -> bool:
    reaches = high if s.rule == "interval" else ratio
    return p_adjusted < s.alpha and ratio > 1.0 and reaches >= 1.0 + s.threshold


def paired_rounds(runs: list[dict]) -> list[tuple[dict, dict]]:
    """(base, head) sample maps per round from consecutive kept runs."""
    rounds = []
    for first, second in zip(runs[0::2], runs[1::2]):
        sides = {first["side"]: first["samples"], second["side"]: second["samples"]}
        if set(sides) == {"base", "head"}:
            rounds.append((sides["base"], sides["head"]))
    return rounds


def undisturbed(pairs: list, s: Settings) -> list:
    """The rounds whose runs were not disturbed (see Settings.disturbed_k)."""
    if s.disturbed_k is None or len(pairs) < 4:
        return pairs

    def slow_flags(locations: list[float]) -> list[bool]:
        centre = statistics.median(locations)
        mad = 1.4826 * statistics.median(abs(v - centre) for v in locations)
        cut = max(s.disturbed_k * mad, math.log1p(s.disturbed_floor))
        return [v - centre > cut for v in locations]

    if s.disturbed_by == "ratio":
        # Symmetric: a round whose head/base ratio is an outlier either way.
        ratios = [h[0] - b[0] for b, h in pairs]
        centre = statistics.median(ratios)
        mad = 1.4826 * statistics.median(abs(r - centre) for r in ratios)
        cut = max(s.disturbed_k * mad, math.log1p(s.disturbed_floor))
        kept = [p for p, r in zip(pairs, ratios) if abs(r - centre) <= cut]
        return kept if len(kept) >= 3 else pairs
    base = slow_flags([b[0] for b, _ in pairs])
    head = slow_flags([h[0] for _, h in pairs])
    kept = [p for p, sb, sh in zip(pairs, base, head) if not (sb or sh)]
    return kept if len(kept) >= 3 else pairs


def paired_changes(rounds: list[tuple[dict, dict]], s: Settings, only: set[str] | None = None) -> dict[str, tuple]:
    """(ratio, p, upper end) per benchmark measured at both sides, before Holm."""
    ids = sorted(set().union(*(set(b) & set(h) for b, h in rounds))) if rounds else []
    changes = {}
    for bench_id in ids:
        if only is not None and bench_id not in only:
            continue
        pairs = [
            (summarize(b[bench_id], s.run_quantile, s.within), summarize(h[bench_id], s.run_quantile, s.within))
            for b, h in rounds
            if bench_id in b and bench_id in h
        ]
        pairs = undisturbed(pairs, s)
        within = statistics.fmean([v for b, h in pairs for v in (b[1], h[1])])
        changes[bench_id] = compare_paired(pairs, within, s)
    return changes


def paired_verdicts(rounds: list[tuple[dict, dict]], s: Settings) -> dict[str, bool]:
    """perfguard's paired verdicts: `s.rounds` rounds for every benchmark, then
    up to `s.max_rounds` (as recorded) for the unsettled ones, Holm over all."""
    changes = paired_changes(rounds[: s.rounds], s)
    ids = sorted(changes)
    adjusted = dict(zip(ids, holm([changes[i][1] for i in ids])))
    unsettled = {
        i for i in ids
        if not regressed(changes[i][0], adjusted[i], changes[i][2], s)
        and (s.unsettled == "any" or changes[i][0] > 1.0)
        and changes[i][2] >= 1.0 + s.threshold
    }
    if unsettled and s.max_rounds > s.rounds:
        more = paired_changes(rounds[: s.max_rounds], s, unsettled)
        UNMEASURED.extend(i for i in unsettled if len([1 for b, h in rounds[: s.max_rounds] if i in b and i in h]) <= s.rounds)
        changes.update(more)
        adjusted = dict(zip(ids, holm([changes[i][1] for i in ids])))
    return {i: regressed(changes[i][0], adjusted[i], changes[i][2], s) for i in ids}


def stored_verdicts(check_runs: list[dict], baseline: dict, s: Settings) -> dict[str, bool]:
    head = check_runs[0]["samples"]
    ids = sorted(set(head) & set(baseline))
    q, w = s.run_quantile, s.within
    changes = [compare_runs([summarize(r, q, w) for r in baseline[i]], [summarize(head[i], q, w)], s) for i in ids]
    adjusted = holm([c[1] for c in changes])
    verdicts = {i: regressed(r, p, h, s) for i, (r, _, h), p in zip(ids, changes, adjusted)}
    # perfguard re-runs its regressions and what looks slower at the
    # unadjusted level with an interval reaching the threshold.
    screened = {i for i, (r, p, h) in zip(ids, changes) if p < s.alpha and r > 1.0 and h >= 1.0 + s.threshold}
    suspects = [i for i, flagged in verdicts.items() if flagged or (s.screen and i in screened)]
    if s.confirm and suspects:
        # Only the suspects perfguard itself re-ran have confirmation rounds; a
        # suspect of other settings that perfguard did not re-run counts as
        # dismissed, so stored-mode rates of other settings are lower bounds
        # (see UNCONFIRMABLE).
        confirmation = paired_verdicts(paired_rounds(check_runs[1:]), s)
        for bench_id in suspects:
            if bench_id not in confirmation:
                UNCONFIRMABLE.append(bench_id)
            verdicts[bench_id] = confirmation.get(bench_id, False)
    return verdicts


UNCONFIRMABLE: list[str] = []
# Paired benchmarks a variant found unsettled that the recording has no extra
# rounds of (perfguard settled them on the first pass): their verdict here is
# the first pass's, where perfguard with that variant would have measured more.
UNMEASURED: list[str] = []


def evaluate(records: list[dict], samples: dict, baseline: dict, s: Settings) -> list[dict]:
    """Records as the table expects them, with verdicts recomputed under `s`."""
    out = []
    for record in records:
        if record["error"] is not None:
            continue
        runs = samples[(record["trial"], record["mode"])]
        if record["mode"] == "paired":
            verdicts = paired_verdicts(paired_rounds(runs), s)
        else:
            verdicts = stored_verdicts(runs, baseline, s)
        entries = [dict(e, verdict="regressed" if verdicts.get(e["id"]) else "not") for e in record["entries"]]
        out.append(dict(record, entries=entries))
    return out


def summary_rows(records: list[dict]) -> list[str]:
    rows = []
    for row in table.cells(records):
        suite = f"; suites {table.rate(row['suite_perfguard'], row['trials'])}" if row["effect"] == 0 else ""
        rows.append(
            f"  {row['mode']:6} {table.effect_label(row['effect']):>4}: "
            f"{table.rate(row['perfguard_flagged'], row['comparisons'])}{suite}"
        )
    return rows


def noise_summary(records: list[dict], samples: dict, run_quantile: float = 0.5) -> str:
    """How far one paired round's head/base ratio strays when nothing changed:
    quantiles of |ln ratio| over every A/A benchmark and round."""
    deviations = []
    for record in records:
        if record["mode"] != "paired" or record["error"] is not None:
            continue
        unchanged = {e["id"] for e in record["entries"] if e["true_effect_percent"] == 0}
        for base, head in paired_rounds(samples[(record["trial"], record["mode"])]):
            for bench_id in unchanged & set(base) & set(head):
                head_location = summarize(head[bench_id], run_quantile)[0]
                deviations.append(abs(head_location - summarize(base[bench_id], run_quantile)[0]))
    if not deviations:
        return "no A/A paired rounds"
    deviations.sort()

    def quantile(q: float) -> str:
        return f"{100 * (math.exp(deviations[min(len(deviations) - 1, int(q * len(deviations)))]) - 1):.1f}%"

    return (
        f"A/A paired rounds (run location: {run_quantile:.0%} quantile of the samples): {len(deviations)}; "
        f"|head/base - 1| median {quantile(0.5)}, "
        f"90th percentile {quantile(0.9)}, 99th {quantile(0.99)}, max {quantile(1.0)}; "
        f"rounds beyond 5%: {sum(d > math.log(1.05) for d in deviations)}"
    )


VARIANTS = [
    Settings("defaults (minimum, interval rule, noise 2%, build floor 1%, prior df 8, outliers and scattered runs unmoderated, disturbed rounds dropped, 5 rounds up to 10, confirm)"),
    Settings("no run-scatter rule (the full run's and the final A/A's perfguard)", run_scatter_quantile=None),
    Settings("run-scatter rule at 0.999", run_scatter_quantile=0.999),
    Settings("no extra rounds", max_rounds=5),
    Settings("keep disturbed rounds", disturbed_k=None),
    Settings("disturbed: a run slower than its side's median (and no run-scatter rule: the full run's perfguard)", disturbed_by="side", run_scatter_quantile=None),
    Settings("disturbed: ratio outliers beyond 5 MADs", disturbed_k=5.0),
    Settings("disturbed: floor 3%", disturbed_floor=0.03),
    Settings("unsettled only when slower", unsettled="slower"),
    Settings("no outlier rule", outlier_quantile=None),
    Settings("outlier rule at 0.99", outlier_quantile=0.99),
    Settings("no build floor", build_sd_log=0.0),
    Settings("build floor 1.5%", build_sd_log=0.015),
    Settings("build floor 2%", build_sd_log=0.02),
    Settings("estimate rule, no build floor", build_sd_log=0.0, rule="estimate"),
    Settings("3 rounds up to 5", rounds=3, max_rounds=5),
    Settings("3 rounds, no extra", rounds=3, max_rounds=3),
    Settings("estimate rule (the estimate reaches the threshold)", rule="estimate"),
    Settings("estimate rule, threshold 3%", rule="estimate", threshold=0.03),
    Settings("noise prior 3%", noise_sd_log=0.03),
    Settings("prior df 4", prior_df=4.0),
    Settings("paired: drop the most extreme round", location="trimmed"),
    Settings("stored without confirmation", confirm=False),
    Settings("bootstrap variance of the minimum", within="bootstrap"),
    Settings("before: run median, estimate rule, no build floor, 5 rounds", run_quantile=0.5, within="mad", rule="estimate", build_sd_log=0.0, max_rounds=5, screen=False, outlier_quantile=None, disturbed_k=None, run_scatter_quantile=None),
    Settings("run location: 10% quantile", run_quantile=0.1),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("samples", type=Path)
    parser.add_argument("baseline", type=Path, help="baselines/quality.json of the harness's repository")
    parser.add_argument("--table", metavar="NAME", help="print the markdown table of the variant with this name instead")
    args = parser.parse_args()
    lines = args.records.read_text().splitlines()
    meta = json.loads(lines[0])["meta"]
    records = [json.loads(line) for line in lines[1:] if line.strip()]
    samples = {}
    with gzip.open(args.samples, "rt") as lines:
        for line in lines:
            check = json.loads(line)
            samples[(check["trial"], check["mode"])] = check["runs"]
    records = [r for r in records if (r["trial"], r["mode"]) in samples]
    baseline = {
        bench_id: [run["per_iteration_ns"] for run in bench["runs"]]
        for bench_id, bench in json.loads(args.baseline.read_text())["benches"].items()
    }
    if args.table:
        chosen = next((v for v in VARIANTS if v.name == args.table), None)
        if chosen is None:
            parser.error(f"no variant named {args.table!r}; one of: {', '.join(v.name for v in VARIANTS)}")
        meta = dict(meta, command=meta["command"] + f" (re-analysed: {chosen.name})")
        sys.stdout.write(table.render(evaluate(records, samples, baseline, chosen), meta))
        return 0
    defaults = evaluate(records, samples, baseline, VARIANTS[0])
    recorded = {(r["trial"], r["mode"], e["id"]): e["verdict"] == "regressed" for r in records for e in r["entries"]}
    again = {(r["trial"], r["mode"], e["id"]): e["verdict"] == "regressed" for r in defaults for e in r["entries"]}
    agree = sum(recorded[k] == again[k] for k in again)
    print(f"transcription check: {agree} of {len(again)} verdicts agree with perfguard's")
    for run_quantile in (0.5, 0.1, 0.0):
        print(noise_summary(records, samples, run_quantile))
    for settings in VARIANTS:
        UNCONFIRMABLE.clear()
        UNMEASURED.clear()
        evaluated = evaluate(records, samples, baseline, settings)
        rows = summary_rows(evaluated)
        same = sum(
            recorded[(r["trial"], r["mode"], e["id"])] == (e["verdict"] == "regressed")
            for r in evaluated for e in r["entries"]
        )
        notes = [f"{same} of {len(recorded)} verdicts as recorded"]
        if UNCONFIRMABLE:
            notes.append(f"{len(UNCONFIRMABLE)} stored suspects had no re-run to confirm them")
        if UNMEASURED:
            notes.append(f"{len(UNMEASURED)} paired comparisons wanted extra rounds that were not recorded")
        print(f"{settings.name} ({'; '.join(notes)})")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
