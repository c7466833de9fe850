# PostgreSQL 15 for the store tests: a throw-away cluster in $MFA_TEST_TMP, on a free
# loopback port, trusting local connections. Exports:
#   MFA_TEST_POSTGRES_URL    postgres://mfa@127.0.0.1:PORT/mfa_test
#   MFA_TEST_POSTGRES_STOP   a shell command that stops the server at once (as a crash would)
#   MFA_TEST_POSTGRES_START  a shell command that starts it again on the same port and data
# The fault tests run the last two to stop and restart the server mid-journey.
# pg_stat_statements is preloaded (and created in mfa_test), so the round-trip test can
# count the statements a store runs.
# shellcheck shell=bash

postgres_packages="postgresql-15"
postgres_pip=""

_postgres_bin=/usr/lib/postgresql/15/bin

_postgres_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_postgres() {
    local dir="$MFA_TEST_TMP/postgres" port as=""
    port=$(_postgres_free_port) || return 1
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        # initdb refuses root: run the server as the postgres user (created by the package).
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres || return 1
        fi
        chmod o+x "$MFA_TEST_TMP"
        chown postgres "$dir"
        as="runuser -u postgres --"
    fi
    if ! $as "$_postgres_bin/initdb" -D "$dir/data" -U mfa --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
        echo "postgres: initdb failed:" >&2
        cat "$dir/initdb.log" >&2
        return 1
    fi
    # setsid: the server gets a session of its own, so it outlives the shell or test
    # that (re)started it until stop_postgres.
    export MFA_TEST_POSTGRES_START="setsid -w $as $_postgres_bin/pg_ctl -D $dir/data -l $dir/server.log -w -t 30 -o '-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_preload_libraries=pg_stat_statements' start"
    export MFA_TEST_POSTGRES_STOP="$as $_postgres_bin/pg_ctl -D $dir/data -w -t 30 -m immediate stop"
    if ! sh -c "$MFA_TEST_POSTGRES_START" >/dev/null 2>&1; then
        echo "postgres: the server did not start:" >&2
        tail -n 20 "$dir/server.log" >&2
        return 1
    fi
    if ! "$_postgres_bin/createdb" -h 127.0.0.1 -p "$port" -U mfa mfa_test; then
        echo "postgres: createdb failed" >&2
        return 1
    fi
    if ! "$_postgres_bin/psql" -q -h 127.0.0.1 -p "$port" -U mfa -d mfa_test -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null; then
        echo "postgres: CREATE EXTENSION pg_stat_statements failed" >&2
        return 1
    fi
    export MFA_TEST_POSTGRES_URL="postgres://mfa@127.0.0.1:$port/mfa_test"
    echo "postgres: $MFA_TEST_POSTGRES_URL"
}

stop_postgres() {
    if [ -n "${MFA_TEST_POSTGRES_START:-}" ]; then
        sh -c "${MFA_TEST_POSTGRES_STOP/-m immediate/-m fast}" >/dev/null 2>&1 || true
    fi
}
