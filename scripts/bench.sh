#!/usr/bin/env bash
# The figures of BENCHMARKS.md in one run: the criterion benches (sign-in through
# Mfa, the stores over PostgreSQL and Redis on loopback, TOTP against its peers) and
# the servers' own tools on the same servers (pgbench, redis-benchmark), with the
# machine and its load printed first. Not part of the test command: it takes about
# ten minutes and wants a quiet machine.
#
#   bash scripts/bench.sh            # everything
#   bash scripts/bench.sh signin     # one criterion bench (signin, stores, totp, sms_render)
set -euo pipefail
cd "$(dirname "$0")/.."
export MFA_TEST_TMP
MFA_TEST_TMP=$(mktemp -d /tmp/mfa-bench.XXXXXX)
# shellcheck source=/dev/null
source scripts/services/postgres.sh
# shellcheck source=/dev/null
source scripts/services/redis.sh
cleanup() {
    stop_redis || true
    stop_postgres || true
    rm -rf "$MFA_TEST_TMP"
}
trap cleanup EXIT INT TERM

# The servers' packages, on a machine that has not run the test command yet.
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck disable=SC2154,SC2086 # set by the service scripts sourced above; lists
apt_install $build_packages $postgres_packages $redis_packages

benches=("${@:-signin totp sms_render stores}")
# shellcheck disable=SC2206
benches=(${benches[*]})

echo "== machine"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|L2|L3)' || true
rustc --version
uptime

start_postgres >/dev/null
start_redis >/dev/null
export MFA_TEST_POSTGRES_URL MFA_TEST_REDIS_URL

log="$MFA_TEST_TMP/criterion.log"
# Everything is built first and written out, so no bench runs beside the end of the
# build (the first one measured 10 to 30 % slow when it did).
if ! cargo bench --features sqlite,postgres,redis --no-run >"$log" 2>&1; then
    tail -40 "$log"
    exit 1
fi
sync
sleep 5
# One bench at a time, in the order given: one `cargo bench` with several `--bench`
# runs them alphabetically, which put `totp` right after `stores`, while PostgreSQL
# was still vacuuming and checkpointing what `stores` wrote.
for b in "${benches[@]}"; do
    if ! cargo bench --features sqlite,postgres,redis --bench "$b" -- \
        --warm-up-time 1 --measurement-time 4 >>"$log" 2>&1; then
        tail -40 "$log"
        exit 1
    fi
done
grep -E '^[a-z_0-9-]+/|time:|thrpt:' "$log"

if [[ " ${benches[*]} " == *" stores "* ]]; then
    echo "== the servers' own tools, same servers"
    pg_port=${MFA_TEST_POSTGRES_URL##*:}
    pg_port=${pg_port%%/*}
    redis_port=${MFA_TEST_REDIS_URL##*:}
    redis_port=${redis_port%%/*}
    pgbin=/usr/lib/postgresql/15/bin
    as=()
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U mfa pgbench_mfa
    "${as[@]}" "$pgbin/pgbench" -h 127.0.0.1 -p "$pg_port" -U mfa -q -i -s 1 pgbench_mfa >/dev/null 2>&1
    guarded="$MFA_TEST_TMP/guarded.sql"
    printf '%s\n' '\set aid random(1, 100000)' \
        'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid AND abalance < 1000000000;' \
        >"$guarded"
    chmod o+r "$guarded"
    for c in 1 32; do
        j=$((c > 1 ? 2 : 1))
        printf 'pgbench guarded UPDATE, %s clients: ' "$c"
        "${as[@]}" "$pgbin/pgbench" -h 127.0.0.1 -p "$pg_port" -U mfa -M prepared -T 6 \
            -f "$guarded" -c "$c" -j "$j" pgbench_mfa 2>/dev/null | grep -E '^(tps|latency average)' | tr '\n' ' '
        echo
    done
    # The round trip alone, beside store_round_trip/redis_loopback.
    printf 'redis-benchmark PING, 1 client: '
    redis-benchmark -h 127.0.0.1 -p "$redis_port" -c 1 -n 100000 -q -t ping_mbulk | tr '\r' '\n' | grep -v '^ *$' | tail -1
    script="local h = redis.call('HMGET', KEYS[1], 'status', 'attempts') if h[1] == false then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end return 1"
    for c in 1 32; do
        printf 'redis-benchmark EVAL, %s clients: ' "$c"
        redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$c" -n 100000 -q \
            EVAL "$script" 1 bench:guarded | tr '\r' '\n' | tail -1
    done
fi
uptime
