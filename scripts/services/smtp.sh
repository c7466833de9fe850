# SMTP servers for the mfa-email tests: aiosmtpd (PyPI) on free loopback ports, each
# writing what it accepts into a Maildir under $MFA_TEST_TMP/smtp. Three servers:
#   plain      python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR
#   starttls   STARTTLS required, then AUTH (scripts/services/smtp_server.py)
#   tls        TLS from the first byte, then AUTH (same script)
# The TLS servers use a certificate for localhost and 127.0.0.1 signed by a throw-away CA.
# Exports:
#   MFA_TEST_SMTP_PORT, MFA_TEST_SMTP_MAILDIR                  the plain server
#   MFA_TEST_SMTP_STARTTLS_PORT, MFA_TEST_SMTP_TLS_PORT        the authenticating servers
#   MFA_TEST_SMTP_AUTH_MAILDIR                                 their Maildir (shared)
#   MFA_TEST_SMTP_USER, MFA_TEST_SMTP_PASSWORD, MFA_TEST_SMTP_CA (PEM of the CA)
#   MFA_TEST_DKIM_KEY (a throw-away RSA key, PKCS#1 PEM), MFA_TEST_DKIM_PUBLIC (its
#   public key, base64 DER), MFA_TEST_DKIM_VERIFY (dkim_verify.py: dkimpy checks a
#   message's signature against that key)
# shellcheck shell=bash

smtp_packages="openssl"
smtp_pip="aiosmtpd dkimpy"

_smtp_pids=()

_smtp_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until PORT takes TCP connections, or the process PID is gone.
_smtp_wait() {
    local name=$1 port=$2 pid=$3 log=$4 i
    for i in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
            echo "smtp: $name on 127.0.0.1:$port"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "smtp: the $name server did not come up:" >&2
    tail -n 20 "$log" >&2
    return 1
}

_smtp_certificates() {
    local dir=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj /CN=mfa-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
        >/dev/null 2>&1 || return 1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=localhost >/dev/null 2>&1 || return 1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -out "$dir/server.pem" -extfile "$dir/server.ext" >/dev/null 2>&1
}

start_smtp() {
    local dir="$MFA_TEST_TMP/smtp" here port pid mode
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    # aiosmtpd's Mailbox creates a Maildir's subfolders only when it creates the Maildir.
    mkdir -p "$dir/plain/"{tmp,new,cur} "$dir/auth/"{tmp,new,cur}
    python3 -c "import aiosmtpd" 2>/dev/null || { echo "smtp: aiosmtpd is missing (pip install aiosmtpd)" >&2; return 1; }
    _smtp_certificates "$dir" || { echo "smtp: openssl could not make the test certificates" >&2; return 1; }
    python3 -c "import dkim" 2>/dev/null || { echo "smtp: dkimpy is missing (pip install dkimpy)" >&2; return 1; }
    openssl genrsa -traditional -out "$dir/dkim.pem" 2048 >/dev/null 2>&1 \
        || { echo "smtp: openssl could not make the DKIM key" >&2; return 1; }
    export MFA_TEST_DKIM_KEY="$dir/dkim.pem" MFA_TEST_DKIM_VERIFY="$here/dkim_verify.py" MFA_TEST_DKIM_PUBLIC
    MFA_TEST_DKIM_PUBLIC=$(openssl rsa -in "$dir/dkim.pem" -pubout -outform DER 2>/dev/null | base64 -w0)

    port=$(_smtp_free_port) || return 1
    python3 -m aiosmtpd -n -l "127.0.0.1:$port" -c aiosmtpd.handlers.Mailbox "$dir/plain" \
        >"$dir/plain.log" 2>&1 &
    pid=$!
    _smtp_pids+=("$pid")
    _smtp_wait plain "$port" "$pid" "$dir/plain.log" || { stop_smtp; return 1; }
    export MFA_TEST_SMTP_PORT=$port MFA_TEST_SMTP_MAILDIR="$dir/plain"

    export MFA_TEST_SMTP_USER="mfa-test" MFA_TEST_SMTP_PASSWORD
    MFA_TEST_SMTP_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    for mode in starttls tls; do
        port=$(_smtp_free_port) || return 1
        python3 "$here/smtp_server.py" --mode "$mode" --port "$port" --maildir "$dir/auth" \
            --cert "$dir/server.pem" --key "$dir/server.key" \
            --user "$MFA_TEST_SMTP_USER" \
            >"$dir/$mode.log" 2>&1 &
        pid=$!
        _smtp_pids+=("$pid")
        _smtp_wait "$mode" "$port" "$pid" "$dir/$mode.log" || { stop_smtp; return 1; }
        if [ "$mode" = starttls ]; then
            export MFA_TEST_SMTP_STARTTLS_PORT=$port
        else
            export MFA_TEST_SMTP_TLS_PORT=$port
        fi
    done
    export MFA_TEST_SMTP_AUTH_MAILDIR="$dir/auth" MFA_TEST_SMTP_CA="$dir/ca.pem"
}

stop_smtp() {
    local pid i
    for pid in "${_smtp_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${_smtp_pids[@]}"; do
        for i in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    _smtp_pids=()
    unset MFA_TEST_SMTP_PORT MFA_TEST_SMTP_MAILDIR MFA_TEST_SMTP_STARTTLS_PORT MFA_TEST_SMTP_TLS_PORT \
        MFA_TEST_SMTP_AUTH_MAILDIR MFA_TEST_SMTP_USER MFA_TEST_SMTP_PASSWORD MFA_TEST_SMTP_CA \
        MFA_TEST_DKIM_KEY MFA_TEST_DKIM_PUBLIC MFA_TEST_DKIM_VERIFY
}
