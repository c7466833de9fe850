# Kannel 1.4 for the SMS tests: bearerbox with a fake SMSC and smsbox with a
# sendsms user, all on free loopback ports in $MFA_TEST_TMP/kannel. Exports:
#   MFA_KANNEL_SENDSMS_URL   http://127.0.0.1:PORT/cgi-bin/sendsms
#   MFA_KANNEL_USER, MFA_KANNEL_PASS   the sendsms user's credentials
#   MFA_KANNEL_SMSC_PORT     the fake SMSC's port: a test connects there and reads one
#                            line per message, "sender receiver text message"
# shellcheck shell=bash

kannel_packages="kannel"
kannel_pip=""

_kannel_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something listens on 127.0.0.1:$1 (up to $2 tenths of a second).
_kannel_wait_port() {
    local port=$1 tries=${2:-100}
    while [ "$tries" -gt 0 ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# Stops a process: SIGTERM, then SIGKILL after about 5 seconds.
_kannel_stop_pid() {
    local pid=$1 tries=50
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && [ "$tries" -gt 0 ]; do
        sleep 0.1
        tries=$((tries - 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

start_kannel() {
    local dir="$MFA_TEST_TMP/kannel" admin_port smsbox_port smsc_port sendsms_port password
    command -v bearerbox >/dev/null && command -v smsbox >/dev/null \
        || { echo "kannel: bearerbox/smsbox are missing (apt package kannel)" >&2; return 1; }
    mkdir -p "$dir"
    admin_port=$(_kannel_free_port) && smsbox_port=$(_kannel_free_port) \
        && smsc_port=$(_kannel_free_port) && sendsms_port=$(_kannel_free_port) || return 1
    password="pw-$RANDOM$RANDOM"
    cat >"$dir/kannel.conf" <<CONF
group = core
admin-port = $admin_port
admin-password = admin-$RANDOM$RANDOM
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
smsbox-port = $smsbox_port
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-file = "$dir/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = $smsc_port
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $smsbox_port
sendsms-port = $sendsms_port
sendsms-interface = 127.0.0.1
log-file = "$dir/smsbox.log"
log-level = 1

group = sendsms-user
username = mfa
password = $password
default-sender = 22222
max-messages = 3
concatenation = true

group = sms-service
keyword = default
text = "This number does not take replies."
CONF
    bearerbox "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
    _kannel_bearerbox_pid=$!
    if ! _kannel_wait_port "$smsbox_port" 100; then
        echo "kannel: bearerbox did not start:" >&2
        tail -n 20 "$dir/bearerbox.out" "$dir/bearerbox.log" >&2 2>/dev/null
        stop_kannel
        return 1
    fi
    smsbox "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
    _kannel_smsbox_pid=$!
    if ! _kannel_wait_port "$sendsms_port" 100; then
        echo "kannel: smsbox did not start:" >&2
        tail -n 20 "$dir/smsbox.out" "$dir/smsbox.log" >&2 2>/dev/null
        stop_kannel
        return 1
    fi
    export MFA_KANNEL_SENDSMS_URL="http://127.0.0.1:$sendsms_port/cgi-bin/sendsms"
    export MFA_KANNEL_USER=mfa
    export MFA_KANNEL_PASS="$password"
    export MFA_KANNEL_SMSC_PORT="$smsc_port"
}

stop_kannel() {
    _kannel_stop_pid "${_kannel_smsbox_pid:-}"
    _kannel_stop_pid "${_kannel_bearerbox_pid:-}"
    _kannel_smsbox_pid=""
    _kannel_bearerbox_pid=""
    unset MFA_KANNEL_SENDSMS_URL MFA_KANNEL_USER MFA_KANNEL_PASS MFA_KANNEL_SMSC_PORT
}
