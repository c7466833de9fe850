# Authenticator peers for the mfa-totp interop tests: oathtool computes codes,
# pyotp parses otpauth:// URIs, zbarimg decodes QR codes. Nothing runs in the
# background: start only checks the tools are there and exports where they are.
# shellcheck shell=bash

otp_peers_packages="oathtool zbar-tools"
otp_peers_pip="pyotp"

start_otp_peers() {
    local oathtool zbarimg python
    oathtool=$(command -v oathtool) || { echo "otp-peers: oathtool is missing (apt package oathtool)" >&2; return 1; }
    zbarimg=$(command -v zbarimg) || { echo "otp-peers: zbarimg is missing (apt package zbar-tools)" >&2; return 1; }
    python=$(command -v python3) || { echo "otp-peers: python3 is missing" >&2; return 1; }
    "$python" -c "import pyotp" 2>/dev/null || { echo "otp-peers: pyotp is missing (pip install pyotp)" >&2; return 1; }
    "$oathtool" --totp --now=@59 -d 8 3132333435363738393031323334353637383930 | grep -qx 94287082 \
        || { echo "otp-peers: oathtool does not compute the RFC 6238 vector" >&2; return 1; }
    export MFA_OTP_PEERS=1 MFA_OATHTOOL="$oathtool" MFA_ZBARIMG="$zbarimg" MFA_PYTHON="$python"
}

stop_otp_peers() {
    unset MFA_OTP_PEERS MFA_OATHTOOL MFA_ZBARIMG MFA_PYTHON
}
