#!/usr/bin/env bash
# A/A false alarms of the stored-baseline gate: record the workload fixture's
# baseline and check it at the same work, TRIALS times (default 20), with
# perfguard's default settings (5% threshold). Prints one line per trial and
# the number of trials in which any benchmark was flagged as regressed.
#
#   scripts/aa-fixture.sh [TRIALS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-20}
perfguard=${PERFGUARD:-$root/target/release/perfguard}
[[ -x $perfguard ]] || (cd "$root" && cargo build --release --quiet)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/fixtures}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/fixtures/workload/." "$work/"
rm -rf "$work/baselines"
# Default settings: no threshold override.
printf '[[bench]]\nname = "work"\ncommand = "cargo bench --bench work"\n' > "$work/perfguard.toml"
cd "$work"
(cargo bench --quiet --bench work --no-run >/dev/null 2>&1)
# Stored-baseline mode from the working tree, without a paired confirmation.
extra=()
if "$perfguard" check --help | grep -q -- --baselines-from; then extra=(--baselines-from worktree --no-confirm); fi
alarms=0
for trial in $(seq "$trials"); do
    "$perfguard" -q baseline record
    start=$(date +%s.%N)
    set +e
    "$perfguard" check "${extra[@]}" --format json > check.json 2>/dev/null
    code=$?
    set -e
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    summary=$(python3 -c 'import json; c=json.load(open("check.json")); print(" ".join("%s=%s(%+.1f%%)" % (e["id"], e["verdict"], (e["bench"]["ratio"] - 1) * 100) if e.get("bench") else "%s=%s" % (e["id"], e["verdict"]) for e in c["entries"]))')
    [[ $code == 1 ]] && alarms=$((alarms + 1))
    printf 'trial %2d: exit %d, %.1fs, %s\n' "$trial" "$code" "$seconds" "$summary"
done
printf 'A/A false alarms: %d of %d trials (default 5%% threshold, one recorded run vs one measured run)\n' "$alarms" "$trials"
