#!/usr/bin/env python3
"""How much a paired round's scatter grows when runs are shorter, from
recorded runs alone (no new measurement).

perfguard reduces a run to its fastest sample. Criterion's samples grow
linearly (d, 2d, ... 30d iterations), so the first m samples of a recorded
30-sample run are what a run of m samples with the same step would have
measured, in m(m+1)/2 / 465 of the time. For every benchmark, this prints the
standard deviation (%) of the paired log ratio head/base across a check's
rounds (deviations from that check's own mean, so a true effect does not
count), as if every run had stopped after m samples.

    python3 scripts/quality/run-length.py scripts/quality/five/results.samples.jsonl.gz ...

Runs with fewer than 30 samples (probe runs, slow benchmarks with fewer
samples) are left out: for them see --slow, which takes the runs of 11 to 29
samples and m up to 21.
"""
import argparse
import collections
import gzip
import json
import math
import statistics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("samples", nargs="+", help="results.samples.jsonl.gz files of paired checks")
    parser.add_argument("--slow", action="store_true", help="the runs of 11-29 samples instead")
    args = parser.parse_args()
    prefixes = [5, 8, 10, 12, 15, 18, 21] if args.slow else [8, 10, 12, 15, 18, 21, 25, 30]
    keep = (lambda n: 10 < n < 30) if args.slow else (lambda n: n >= 30)
    deviations = collections.defaultdict(lambda: collections.defaultdict(list))
    rounds = collections.Counter()
    for path in args.samples:
        with gzip.open(path, "rt") as records:
            for line in records:
                record = json.loads(line)
                if record.get("mode") not in ("paired", "aligned", "reference"):
                    continue
                runs = collections.defaultdict(lambda: {"head": [], "base": []})
                for run in record["runs"]:
                    for bench, samples in run["samples"].items():
                        if keep(len(samples)):
                            runs[bench][run["side"]].append(samples)
                for bench, sides in runs.items():
                    n = min(len(sides["head"]), len(sides["base"]))
                    if n < 2:
                        continue
                    rounds[bench] += n
                    for m in prefixes:
                        ratios = [
                            math.log(min(head[:m]) / min(base[:m]))
                            for head, base in zip(sides["head"][:n], sides["base"][:n])
                        ]
                        mean = statistics.fmean(ratios)
                        scale = math.sqrt(n / (n - 1))
                        deviations[bench][m].extend((r - mean) * scale for r in ratios)
    header = " ".join(f"m={m:<4}" for m in prefixes)
    print(f"{'benchmark':20s} {'rounds':>6s} {header}   (sd of a round's log ratio, %)")
    columns = collections.defaultdict(list)
    for bench in sorted(deviations):
        row = []
        for m in prefixes:
            values = deviations[bench][m]
            sd = math.sqrt(sum(v * v for v in values) / len(values)) * 100
            row.append(sd)
            columns[m].append(sd)
        print(f"{bench:20s} {rounds[bench]:6d} " + " ".join(f"{v:6.2f}" for v in row))
    print(f"{'median':27s} " + " ".join(f"{statistics.median(columns[m]):6.2f}" for m in prefixes))
    if not args.slow:
        print(f"{'share of the run time':27s} " + " ".join(f"{m * (m + 1) / 2 / 465 * 100:5.0f}%" for m in prefixes))


if __name__ == "__main__":
    main()
