# Redis for the store tests: a throw-away server in $MFA_TEST_TMP on a free loopback
# port, with no persistence configured. Exports:
#   MFA_TEST_REDIS_URL    redis://127.0.0.1:PORT/0
#   MFA_TEST_REDIS_STOP   a shell command that saves the data set and stops the server
#   MFA_TEST_REDIS_START  a shell command that starts it again on the same port and directory
# The fault tests run the last two to stop and restart the server mid-journey.
# shellcheck shell=bash

redis_packages="redis-server redis-tools"
redis_pip=""

_redis_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_redis() {
    local dir="$MFA_TEST_TMP/redis" port
    port=$(_redis_free_port) || return 1
    mkdir -p "$dir"
    export MFA_TEST_REDIS_START="redis-server --bind 127.0.0.1 --port $port --dir $dir --save '' --appendonly no --daemonize yes --pidfile $dir/redis.pid --logfile $dir/redis.log"
    # SHUTDOWN SAVE writes a snapshot even with saving turned off, so a restart keeps the data.
    export MFA_TEST_REDIS_STOP="redis-cli -h 127.0.0.1 -p $port shutdown save"
    if ! sh -c "$MFA_TEST_REDIS_START"; then
        echo "redis: redis-server failed to start" >&2
        return 1
    fi
    local i
    for i in $(seq 1 50); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
            export MFA_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
            echo "redis: $MFA_TEST_REDIS_URL"
            return 0
        fi
        sleep 0.1
    done
    echo "redis: the server did not answer PING:" >&2
    tail -n 20 "$dir/redis.log" >&2
    return 1
}

stop_redis() {
    if [ -n "${MFA_TEST_REDIS_URL:-}" ]; then
        local port=${MFA_TEST_REDIS_URL##*:}
        port=${port%%/*}
        redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
}
