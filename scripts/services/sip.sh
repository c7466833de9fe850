# SIP phones for the mfa-voice SIP backend tests. Each test starts its own short-lived
# SIPp (the office phone, as a UAS with a scenario from mfa-voice/tests/sipp/) on a free
# loopback port, so this only checks that the tools are there and exports:
#   MFA_SIPP        the sipp binary (SIPp 3.6, package sip-tester)
#   MFA_SIPP_PCAPS  the folder of its RFC 4733 DTMF recordings (dtmf_2833_*.pcap)
# Playing those recordings opens raw sockets, so the tests need root (as CI runs).
# shellcheck shell=bash

sip_packages="sip-tester"
sip_pip=""

start_sip() {
    local sipp pcaps=/usr/share/sip-tester
    sipp=$(command -v sipp) || { echo "sip: sipp is missing (apt package sip-tester)" >&2; return 1; }
    if [ ! -r "$pcaps/dtmf_2833_pound.pcap" ] || [ ! -r "$pcaps/dtmf_2833_0.pcap" ]; then
        echo "sip: the DTMF recordings are missing from $pcaps" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "sip: SIPp plays RTP recordings through raw sockets: run the tests as root" >&2
        return 1
    fi
    case "$("$sipp" -v 2>/dev/null || true)" in
        *PCAP*) ;;
        *) echo "sip: $sipp was built without pcap playback" >&2; return 1 ;;
    esac
    export MFA_SIPP="$sipp"
    export MFA_SIPP_PCAPS="$pcaps"
}

stop_sip() {
    # Each test stops its own sipp; nothing runs between tests.
    unset MFA_SIPP MFA_SIPP_PCAPS
}
