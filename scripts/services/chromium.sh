# Headless Chromium driven over WebDriver, for mfa-web's browser test: chromedriver on a
# free loopback port. Exports:
#   MFA_TEST_WEBDRIVER_URL   http://127.0.0.1:PORT (chromedriver's WebDriver endpoint)
#   MFA_TEST_CHROMIUM_ARGS   the browser flags a session must use, space-separated; each
#                            session adds its own fresh --user-data-dir
#   MFA_TEST_CHROMIUM_BIN    the browser binary
# The install is about 15 s once; starting chromedriver well under a second.
# shellcheck shell=bash

chromium_packages="chromium chromium-driver"
chromium_pip=""

_chromium_pid=""

start_chromium() {
    local dir="$MFA_TEST_TMP/chromium" port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
    mkdir -p "$dir"
    local bin
    bin=$(command -v chromium || true)
    if [ -z "$bin" ] || ! command -v chromedriver >/dev/null; then
        echo "chromium: chromium or chromedriver is not installed" >&2
        return 1
    fi
    chromedriver --port="$port" --allowed-ips=127.0.0.1 >"$dir/chromedriver.log" 2>&1 &
    _chromium_pid=$!
    local i
    for i in $(seq 1 100); do
        if python3 -c 'import json, sys, urllib.request
sys.exit(0 if json.load(urllib.request.urlopen(sys.argv[1], timeout=1))["value"]["ready"] else 1)' \
            "http://127.0.0.1:$port/status" 2>/dev/null; then
            export MFA_TEST_WEBDRIVER_URL="http://127.0.0.1:$port"
            export MFA_TEST_CHROMIUM_BIN="$bin"
            export MFA_TEST_CHROMIUM_ARGS="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking --disable-component-update --disable-sync --no-first-run --window-size=1000,1000"
            echo "chromium: chromedriver at $MFA_TEST_WEBDRIVER_URL"
            return 0
        fi
        if ! kill -0 "$_chromium_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "chromium: chromedriver did not become ready:" >&2
    tail -n 20 "$dir/chromedriver.log" >&2
    stop_chromium
    return 1
}

stop_chromium() {
    if [ -n "$_chromium_pid" ]; then
        kill "$_chromium_pid" 2>/dev/null || true
        wait "$_chromium_pid" 2>/dev/null || true
        _chromium_pid=""
    fi
}
