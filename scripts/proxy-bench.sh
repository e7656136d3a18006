#!/usr/bin/env bash
# Round-trip overhead of perfguard's counting proxy, for the README:
# `pgbench -S` with 1 and 8 clients for a fixed time, directly against
# PostgreSQL, through perfguard's proxy, and through pgbouncer in session mode
# (Debian's package, installed with apt-get when missing), all in one run.
#
# Usage: scripts/proxy-bench.sh            (DURATION=10 seconds per run)
# Env:   PGHOST PGPORT PGUSER (default 127.0.0.1 5432 postgres), DURATION, SCALE (1),
#        CARGO_TARGET_DIR (where the example binary is built).
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
DURATION=${DURATION:-10}
SCALE=${SCALE:-1}
DATABASE="perfguard_proxy_bench_$$"
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
WORK_DIR=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -INT "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    dropdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" --if-exists "$DATABASE" 2>/dev/null || true
    [[ -n ${KEEP_WORK_DIR:-} ]] || rm -rf "$WORK_DIR"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1; see $2" >&2
    exit 2
}

PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
if [[ ! -x $PGBOUNCER ]]; then
    echo "installing pgbouncer (Debian package)..." >&2
    SUDO=$([[ $(id -u) -eq 0 ]] && echo "" || echo sudo)
    $SUDO apt-get install -y -q pgbouncer >/dev/null
    PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
fi

echo "building the proxy example (release)..." >&2
(cd "$REPO_ROOT" && cargo build --release --quiet --example proxy)
PROXY_BIN="$TARGET_DIR/release/examples/proxy"

createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$DATABASE"
pgbench -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -i -q -s "$SCALE" "$DATABASE" >/dev/null 2>&1

# perfguard's proxy, counting every statement (no terminal output in the loop).
PROXY_PORT=$(free_port)
"$PROXY_BIN" --quiet "postgres://$PGUSER@$PGHOST:$PGPORT" "127.0.0.1:$PROXY_PORT" >"$WORK_DIR/proxy.log" 2>&1 &
PIDS+=($!)
wait_for_port "$PROXY_PORT" "$WORK_DIR/proxy.log"

# pgbouncer in session mode, trusting local connections like the server does.
BOUNCER_PORT=$(free_port)
chmod 755 "$WORK_DIR"
printf '"%s" ""\n' "$PGUSER" >"$WORK_DIR/userlist.txt"
cat >"$WORK_DIR/pgbouncer.ini" <<EOF
[databases]
* = host=$PGHOST port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK_DIR/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $WORK_DIR/pgbouncer.log
pidfile = $WORK_DIR/pgbouncer.pid
EOF
BOUNCER_USER=()
if [[ $(id -u) -eq 0 ]]; then
    # pgbouncer refuses to run as root: it runs as postgres and writes its log here.
    BOUNCER_USER=(-u postgres)
    chown -R postgres "$WORK_DIR"
fi
"$PGBOUNCER" "${BOUNCER_USER[@]}" "$WORK_DIR/pgbouncer.ini" >"$WORK_DIR/pgbouncer.out" 2>&1 &
PIDS+=($!)
wait_for_port "$BOUNCER_PORT" "$WORK_DIR/pgbouncer.log"

run_pgbench() { # port clients -> "tps latency_ms"
    local output
    output=$(pgbench -h 127.0.0.1 -p "$1" -U "$PGUSER" -n -S -c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" \
        -T "$DURATION" "$DATABASE" 2>&1) || { echo "pgbench failed: $output" >&2; exit 2; }
    local tps latency
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$output" | tail -1)
    latency=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$output")
    echo "$tps $latency"
}

echo
echo "pgbench -S, ${DURATION}s per run, scale $SCALE, $(nproc) cores, $(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -Atc 'SHOW server_version' postgres)"
printf '%-26s %8s %12s %14s\n' "target" "clients" "TPS" "latency (ms)"
for clients in 1 8; do
    for target in direct perfguard pgbouncer; do
        case $target in
            direct) port=$PGPORT; label="PostgreSQL direct" ;;
            perfguard) port=$PROXY_PORT; label="perfguard proxy" ;;
            pgbouncer) port=$BOUNCER_PORT; label="pgbouncer (session)" ;;
        esac
        read -r tps latency < <(run_pgbench "$port" "$clients")
        printf '%-26s %8s %12.0f %14s\n' "$label" "$clients" "$tps" "$latency"
    done
done
