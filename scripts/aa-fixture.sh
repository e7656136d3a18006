#!/usr/bin/env bash
# A/A false alarms of the gate with its default settings: in a git repository
# holding the workload fixture, record the baseline on `main` and commit it,
# then run `perfguard check` at the same work; TRIALS times (default 20).
# Defaults mean: one recorded run against one measured run, 5% threshold, and a
# benchmark that looks regressed is re-measured paired against the merge-base
# before it can fail the gate. MODE=no-confirm measures without that
# confirmation (`--no-confirm`), i.e. the raw stored-baseline comparison.
#
#   scripts/aa-fixture.sh [TRIALS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-20}
mode=${MODE:-default}
if [[ -z "${PERFGUARD:-}" ]]; then
    (cd "$root" && cargo build --release --quiet)
    PERFGUARD=$root/target/release/perfguard
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fixtures}
work=$(mktemp -d "${TMPDIR:-/tmp}/perfguard-aa-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$root/fixtures/workload/." "$work/"
rm -rf "$work/baselines" "$work/target"
# Default gate settings; only the base ref is local.
printf '[gate]\nbase_ref = "main"\n\n[[bench]]\nname = "work"\ncommand = "cargo bench --bench work"\n' > "$work/perfguard.toml"
cd "$work"
git() { command git -c user.name=aa -c user.email=aa@perfguard.invalid -c commit.gpgsign=false "$@"; }
printf 'target/\n' > .gitignore
cargo bench --quiet --bench work --no-run >/dev/null 2>&1
git init --quiet --initial-branch=main && git add --all && git commit --quiet -m fixture
extra=()
[[ $mode == no-confirm ]] && extra=(--no-confirm)
alarms=0
for trial in $(seq "$trials"); do
    "$PERFGUARD" -q baseline record
    git add --all && git commit --quiet -m "baseline $trial"
    start=$(date +%s.%N)
    set +e
    "$PERFGUARD" check "${extra[@]}" --format json > ../check-$$.json 2>/dev/null
    code=$?
    set -e
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    summary=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print(" ".join("%s=%s(%+.1f%%%s)" % (e["id"], e["verdict"], (e["bench"]["ratio"] - 1) * 100, {None: "", True: ", confirmed", False: ", dismissed"}[e["bench"].get("confirmed")]) if e.get("bench") else "%s=%s" % (e["id"], e["verdict"]) for e in c["entries"]))' ../check-$$.json)
    [[ $code == 1 ]] && alarms=$((alarms + 1))
    printf 'trial %2d: exit %d, %5.1fs, %s\n' "$trial" "$code" "$seconds" "$summary"
done
rm -f ../check-$$.json
printf 'A/A false alarms (%s): %d of %d trials\n' "$mode" "$alarms" "$trials"
