# Redis for the store tests: a throw-away server in $MFA_TEST_TMP on a free loopback
# port, with no persistence configured. Exports:
#   MFA_TEST_REDIS_URL    redis://127.0.0.1:PORT/0
#   MFA_TEST_REDIS_STOP   a shell command that saves the data set and stops the server
#   MFA_TEST_REDIS_START  a shell command that starts it again on the same port and directory
#   MFA_TEST_REDIS_CLUSTER  a Redis Cluster of three primaries (no replicas), its nodes'
#                           URLs separated by commas: redis://127.0.0.1:P1,redis://127.0.0.1:P2,...
# The fault tests run the STOP and START commands to stop and restart the server mid-journey.
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
            if ! _start_redis_cluster; then
                # test.sh stops only what started: leave nothing running.
                stop_redis
                return 1
            fi
            return 0
        fi
        sleep 0.1
    done
    echo "redis: the server did not answer PING:" >&2
    tail -n 20 "$dir/redis.log" >&2
    return 1
}

# A free port P below 55536 with P + 10000 free too: a cluster node also listens on
# its port + 10000 for the cluster bus.
_redis_cluster_free_port() {
    python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    print(p); break
else:
    raise SystemExit("no free port pair")
'
}

# Three cluster-enabled servers, each on a free port with its own directory, joined
# with `redis-cli --cluster create`; waits until every node says cluster_state:ok.
_redis_cluster_ports=()

_start_redis_cluster() {
    local base="$MFA_TEST_TMP/redis-cluster" port dir i urls=() nodes=()
    _redis_cluster_ports=()
    for i in 1 2 3; do
        port=$(_redis_cluster_free_port) || return 1
        dir="$base/$port"
        mkdir -p "$dir"
        if ! redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
            --cluster-config-file "$dir/nodes.conf" --dir "$dir" --save '' --appendonly no \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"; then
            echo "redis cluster: redis-server on port $port failed to start" >&2
            return 1
        fi
        _redis_cluster_ports+=("$port")
        nodes+=("127.0.0.1:$port")
        urls+=("redis://127.0.0.1:$port")
    done
    for port in "${_redis_cluster_ports[@]}"; do
        for i in $(seq 1 51); do
            [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ] && break
            if [ "$i" = 51 ]; then
                echo "redis cluster: the node on port $port did not answer PING:" >&2
                tail -n 5 "$base/$port/redis.log" >&2
                return 1
            fi
            sleep 0.1
        done
    done
    if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$base/create.log" 2>&1; then
        echo "redis cluster: redis-cli --cluster create failed:" >&2
        tail -n 20 "$base/create.log" >&2
        return 1
    fi
    local ok
    for i in $(seq 1 100); do
        ok=1
        for port in "${_redis_cluster_ports[@]}"; do
            redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
        done
        if [ "$ok" = 1 ]; then
            MFA_TEST_REDIS_CLUSTER=$(IFS=,; echo "${urls[*]}")
            export MFA_TEST_REDIS_CLUSTER
            echo "redis cluster: $MFA_TEST_REDIS_CLUSTER"
            return 0
        fi
        sleep 0.1
    done
    echo "redis cluster: cluster_state did not become ok:" >&2
    redis-cli -h 127.0.0.1 -p "${_redis_cluster_ports[0]}" cluster info >&2 || true
    return 1
}

stop_redis() {
    if [ -n "${MFA_TEST_REDIS_URL:-}" ]; then
        local port=${MFA_TEST_REDIS_URL##*:}
        port=${port%%/*}
        redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
    local p
    for p in "${_redis_cluster_ports[@]}"; do
        redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true
    done
    _redis_cluster_ports=()
}
