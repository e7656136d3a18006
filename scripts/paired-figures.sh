#!/usr/bin/env bash
# Figures for docs/figures.md: how often `perfguard check --paired` raises a false
# alarm on an A/A comparison (base and head identical), and how often it
# detects a 10% slowdown, on the workload fixture crate on this machine.
#
#   scripts/paired-figures.sh            # 20 + 20 runs, default rounds, 5% threshold
#   RUNS=20 ROUNDS=5 THRESHOLD=5% SLOWDOWN_PERCENT=110 scripts/paired-figures.sh
#
# PERFGUARD names the perfguard binary (default: build it with cargo). Each
# check builds nothing new after the first and runs the suite 2 x ROUNDS times:
# expect about 40 s per check. Not part of the test suite.
set -euo pipefail

RUNS=${RUNS:-20}
ROUNDS=${ROUNDS:-5}
THRESHOLD=${THRESHOLD:-5%}
SLOWDOWN_PERCENT=${SLOWDOWN_PERCENT:-110}
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "${PERFGUARD:-}" ]]; then
    cargo build --quiet --manifest-path "$REPO_ROOT/Cargo.toml"
    target=$(cargo metadata --no-deps --format-version 1 --manifest-path "$REPO_ROOT/Cargo.toml" |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    PERFGUARD="$target/debug/perfguard"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/perfguard-figures-XXXXXX")
# KEEP=1 keeps the repository, target folder and every check's output.
[[ -n "${KEEP:-}" ]] || trap 'rm -rf "$WORK"' EXIT
PROJECT="$WORK/workload"
mkdir -p "$PROJECT"
cp -r "$REPO_ROOT/fixtures/workload/." "$PROJECT/"
rm -rf "$PROJECT/target" "$PROJECT/baselines"
sed -i "s/^threshold = .*/threshold = \"$THRESHOLD\"\nbase_ref = \"main\"/" "$PROJECT/perfguard.toml"
export CARGO_TARGET_DIR="$WORK/target"
unset WORKLOAD

git_() { git -C "$PROJECT" -c user.name=perfguard -c user.email=figures@example.com "$@"; }
git_ init --quiet --initial-branch main
git_ add --all
git_ commit --quiet -m "Workload fixture"
(cd "$PROJECT" && "$PERFGUARD" baseline record -q)
git_ add --all
git_ commit --quiet -m "Record the baselines"

# Run `check --paired` RUNS times on the current branch; print counts of exit codes.
series() {
    local name=$1 ones=0 zeros=0 twos=0 code
    for i in $(seq 1 "$RUNS"); do
        set +e
        (cd "$PROJECT" && "$PERFGUARD" check --paired --rounds "$ROUNDS" --format json -q \
            >"$WORK/$name-$i.json" 2>"$WORK/$name-$i.err")
        code=$?
        set -e
        case $code in
            0) zeros=$((zeros + 1)) ;;
            1) ones=$((ones + 1)) ;;
            *) twos=$((twos + 1)); tail -3 "$WORK/$name-$i.err" >&2 ;;
        esac
        ratio=$(grep -o '"ratio": [0-9.]*' "$WORK/$name-$i.json" | head -2 | awk '{print $2}' | paste -sd' ' - || true)
        echo "$name run $i: exit $code, ratios (first two benchmarks) $ratio" >&2
    done
    echo "$ones $zeros $twos"
}

git_ checkout --quiet -b same
echo "notes" >"$PROJECT/NOTES.md"
git_ add --all
git_ commit --quiet -m "A/A: nothing that runs changes"
read -r aa_fail aa_pass aa_error < <(series aa)

git_ checkout --quiet -b slower main
sed -i "s/pub const WORK_PERCENT: u64 = 100;/pub const WORK_PERCENT: u64 = $SLOWDOWN_PERCENT;/" "$PROJECT/src/lib.rs"
git_ commit --quiet -am "Scale the work to $SLOWDOWN_PERCENT%"
read -r slow_fail slow_pass slow_error < <(series slow)

cat <<REPORT
machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)
command: perfguard check --paired --rounds $ROUNDS   (threshold $THRESHOLD, fixtures/workload, 2 benchmarks)
A/A (identical code):          $aa_fail false alarms in $RUNS runs ($aa_error could not decide)
slowdown to $SLOWDOWN_PERCENT% of the work:  $slow_fail detected in $RUNS runs ($slow_error could not decide)
reproduce: RUNS=$RUNS ROUNDS=$ROUNDS THRESHOLD=$THRESHOLD SLOWDOWN_PERCENT=$SLOWDOWN_PERCENT scripts/paired-figures.sh
REPORT
