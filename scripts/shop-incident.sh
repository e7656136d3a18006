#!/usr/bin/env bash
# The incident, as a reviewer would see it: the shop is copied into a temporary
# git repository, baselines are recorded on `main`, then the incident's pull
# request (fixtures/shop/incident.patch: N+1 recommendations and a quadratic
# ranking) is committed on a branch and gated. Prints the Markdown comment and
# exits with perfguard's code (1: the gate stopped the pull request).
#
#   scripts/shop-incident.sh            # SQLite, no database server needed
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && cargo build --release --quiet)
perfguard=$root/target/release/perfguard
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/shop-demo}
work=$(mktemp -d "${TMPDIR:-/tmp}/perfguard-shop-XXXXXX")
trap 'rm -rf "$work"' EXIT

cp -r "$root/fixtures/shop/." "$work/"
rm -rf "$work/baselines" "$work/baselines-postgres" "$work/target"
printf '\n[workspace]\n' >> "$work/Cargo.toml"
cp "$root/Cargo.lock" "$work/Cargo.lock"
cd "$work"
git() { command git -c user.name="perfguard demo" -c user.email=demo@perfguard.invalid -c commit.gpgsign=false "$@"; }
cargo metadata --quiet --format-version 1 >/dev/null    # prune the lock to the shop's packages
git init --quiet --initial-branch=main
git add --all && git commit --quiet --message "shop"

echo "== main: recording baselines" >&2
"$perfguard" -q baseline record
git add --all && git commit --quiet --message "Record perfguard baselines"

echo "== branch recommendations-v2: the incident's pull request" >&2
git checkout --quiet -b recommendations-v2
git apply incident.patch
git commit --quiet --all --message "New recommendation algorithm"
set +e
"$perfguard" check --format markdown
status=$?
set -e
echo "== perfguard exited $status" >&2
exit "$status"
