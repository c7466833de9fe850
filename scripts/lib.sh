# Shared by scripts/test.sh and scripts/bench.sh (sourced, not run).

# Build dependencies, not services: mfa-passkey's webauthn-rs links the system OpenSSL.
# shellcheck disable=SC2034 # read by the scripts that source this one
build_packages="libssl-dev pkg-config"

# Installs, with apt, those of the given Debian packages the machine lacks.
apt_install() {
    local needed=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || needed+=("$p")
    done
    [ ${#needed[@]} -gt 0 ] || return 0
    printf '\n==> apt-get install %s\n' "${needed[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
}
