#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test (the service tests included),
# examples and benches built once, and a short run of every fuzz target. Installs and
# starts the services the ignored tests need, on loopback, and stops them on exit.
# Fails if a service does not start.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# One full build from scratch: incremental state would only add to the disk it needs.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export MFA_TEST_TMP
MFA_TEST_TMP=$(mktemp -d /tmp/mfa-test.XXXXXX)

# Each scripts/services/NAME.sh defines:
#   NAME_packages   apt packages it needs (a string; may be empty)
#   NAME_pip        PyPI packages it needs (may be empty)
#   start_NAME      starts the service and exports the environment its tests read
#   stop_NAME       stops it
services=()
for f in scripts/services/*.sh; do
    [ -e "$f" ] || continue
    # shellcheck source=/dev/null
    source "$f"
    services+=("$(basename "$f" .sh)")
done

started=()
cleanup() {
    local status=$?
    for ((i=${#started[@]}-1; i>=0; i--)); do
        "stop_${started[$i]}" || true
    done
    rm -rf "$MFA_TEST_TMP"
    exit $status
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

# A full run writes about 5 GB (target/ and fuzz/target): say so before a full disk
# fails the build halfway.
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: $((${free_kb:-0} / 1024 / 1024)) GB free here; a full run needs about 6 GB" >&2
fi

# --- install what the services need, once -----------------------------------
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck disable=SC2206 # a space-separated list
apt_wanted=($build_packages)
pip_needed=()
for s in "${services[@]}"; do
    pkgs_var="${s//-/_}_packages"
    pip_var="${s//-/_}_pip"
    # shellcheck disable=SC2206 # a service's packages are a space-separated string
    apt_wanted+=(${!pkgs_var:-})
    for p in ${!pip_var:-}; do
        python3 -c "import importlib.metadata as m; m.version('$p')" >/dev/null 2>&1 || pip_needed+=("$p")
    done
done
apt_install "${apt_wanted[@]}"
if [ ${#pip_needed[@]} -gt 0 ]; then
    step "pip install ${pip_needed[*]}"
    python3 -m pip install -q --disable-pip-version-check "${pip_needed[@]}"
fi

# --- static checks -----------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

# --- services ----------------------------------------------------------------
for s in "${services[@]}"; do
    step "start ${s}"
    "start_${s//-/_}"
    started+=("${s//-/_}")
done

# --- tests: one build for tests, doctests, examples and benches ----------------
# Benches are built by the same dev build and run once each in criterion's test
# mode; `cargo bench` (a release build) is for measuring, not for CI.
step "cargo build --examples"
cargo build --workspace --all-features --examples

step "cargo test (including the ignored service tests)"
cargo test --workspace --all-features --no-fail-fast --lib --bins --tests -- --include-ignored
cargo test --workspace --all-features --doc

step "benches, once each in test mode"
cargo test --workspace --all-features --benches

step "fuzz targets, ${FUZZ_SECONDS:-10} s each, on nightly (scripts/fuzz.sh)"
bash scripts/fuzz.sh

step "the main journey"
cargo run --quiet --all-features --example walkthrough >/dev/null

echo
echo "all checks passed"
