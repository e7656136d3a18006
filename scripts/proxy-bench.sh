#!/usr/bin/env bash
# Round-trip overhead of perfguard's counting proxy, for docs/figures.md:
# `pgbench -S` with 1, 8 and 32 clients for a fixed time, directly against
# PostgreSQL, through perfguard's proxy, and through pgbouncer in session mode
# (Debian's package, installed with apt-get when missing), all in one run.
#
# Usage: scripts/proxy-bench.sh            (DURATION=10 seconds per run)
# Besides TPS and latency it reports the relay's own CPU time per transaction
# (from /proc), which stays comparable when other work shares the machine.
# Env:   PGHOST PGPORT PGUSER (default 127.0.0.1 5432 postgres), DURATION, SCALE (1),
#        ROUNDS (1): repeat the whole matrix, interleaved (the targets' order
#        turns each round), and report medians,
#        CLIENTS ("1 8 32"): the client counts,
#        HOGS (0): busy-looping processes kept running beside every run (a
#        loaded machine: the proxy and pgbouncer share the cores with them),
#        CARGO_TARGET_DIR (where the example binary is built).
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
DURATION=${DURATION:-10}
SCALE=${SCALE:-1}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-"1 8 32"}
HOGS=${HOGS:-0}
DATABASE="perfguard_proxy_bench_$$"
REPO_ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
WORK_DIR=$(mktemp -d)
PIDS=()
HOG_PIDS=()

cleanup() {
    for pid in "${HOG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
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
PROXY_PID=$!
PIDS+=("$PROXY_PID")
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
default_pool_size = 40
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
BOUNCER_PID=$!
PIDS+=("$BOUNCER_PID")
wait_for_port "$BOUNCER_PORT" "$WORK_DIR/pgbouncer.log"

cpu_ticks() { # pid -> user+system CPU time in clock ticks (0 for none)
    if [[ -z $1 ]]; then echo 0; return; fi
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run_pgbench() { # port clients pid -> "tps latency_ms cpu_us_per_transaction"
    local output before after
    before=$(cpu_ticks "$3")
    output=$(pgbench -h 127.0.0.1 -p "$1" -U "$PGUSER" -n -S -c "$2" -j "$(( $2 < 2 ? $2 : 2 ))" \
        -T "$DURATION" "$DATABASE" 2>&1) || { echo "pgbench failed: $output" >&2; exit 2; }
    after=$(cpu_ticks "$3")
    local tps latency transactions
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$output" | tail -1)
    latency=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$output")
    transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$output")
    echo "$tps $latency $(awk -v t="$(( after - before ))" -v hz="$(getconf CLK_TCK)" -v n="$transactions" \
        'BEGIN { printf "%.2f", t * 1000000 / hz / n }')"
}

for _ in $(seq 1 "$HOGS"); do
    sh -c 'while :; do :; done' &
    HOG_PIDS+=("$!")
done

for round in $(seq 1 "$ROUNDS"); do
    # The order turns every round, so no target always runs first (on a
    # fresh cache) or last (after the others warmed the server).
    case $(( round % 3 )) in
        1) order="direct perfguard pgbouncer" ;;
        2) order="pgbouncer direct perfguard" ;;
        0) order="perfguard pgbouncer direct" ;;
    esac
    for clients in $CLIENTS; do
        for target in $order; do
            case $target in
                direct) port=$PGPORT pid="" ;;
                perfguard) port=$PROXY_PORT pid=$PROXY_PID ;;
                pgbouncer) port=$BOUNCER_PORT pid=$BOUNCER_PID ;;
            esac
            echo "round $round/$ROUNDS: $target, $clients clients..." >&2
            echo "$clients $target $(run_pgbench "$port" "$clients" "$pid")" >>"$WORK_DIR/results"
        done
    done
done

median() { # column -> median of that column over stdin
    sort -n -k1,1 <(awk -v c="$1" '{ print $c }') | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "pgbench -S, ${DURATION}s per run, median of $ROUNDS round(s), scale $SCALE, $HOGS busy loop(s) beside, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), PostgreSQL $(psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -Atc 'SHOW server_version' postgres)"
printf '%-22s %8s %10s %14s %22s\n' "target" "clients" "TPS" "latency (ms)" "relay CPU (us/txn)"
for clients in $CLIENTS; do
    for target in direct perfguard pgbouncer; do
        case $target in
            direct) label="PostgreSQL direct" ;;
            perfguard) label="perfguard proxy" ;;
            pgbouncer) label="pgbouncer (session)" ;;
        esac
        rows=$(awk -v c="$clients" -v t="$target" '$1 == c && $2 == t' "$WORK_DIR/results")
        tps=$(median 3 <<<"$rows")
        latency=$(median 4 <<<"$rows")
        cpu=$(median 5 <<<"$rows")
        [[ $target == direct ]] && cpu="-"
        printf '%-22s %8s %10.0f %14.3f %22s\n' "$label" "$clients" "$tps" "$latency" "$cpu"
    done
done
