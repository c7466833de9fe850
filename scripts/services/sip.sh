# SIP phones for the mfa-voice SIP backend tests. Each test starts its own short-lived
# phone on free loopback ports, so this only checks that the tools are there and exports:
#   MFA_SIPP             the sipp binary (SIPp 3.6, package sip-tester): the office phone,
#                        as a UAS running a scenario from mfa-voice/tests/sipp/
#   MFA_SIPP_PCAPS       the folder of its RFC 4733 DTMF recordings (dtmf_2833_*.pcap)
#   MFA_BARESIP          the baresip binary (package baresip-core): an auto-answering
#                        softphone that records what it hears
#   MFA_BARESIP_MODULES  baresip's module folder
#   MFA_KAMAILIO         the kamailio binary (Kamailio 5.6, package kamailio): the
#                        company's SIP proxy between the backend and the office phone
#   MFA_KAMAILIO_MODULES Kamailio's module folder, with its TLS module (package
#                        kamailio-tls-modules) for the calls over TLS through it
# SIPp plays its recordings through raw sockets, so the tests need root (as CI runs).
# shellcheck shell=bash

sip_packages="sip-tester baresip-core kamailio kamailio-tls-modules"
sip_pip=""

start_sip() {
    local sipp baresip kamailio kamailio_modules pcaps=/usr/share/sip-tester
    local modules=/usr/lib/baresip/modules m
    sipp=$(command -v sipp) || { echo "sip: sipp is missing (apt package sip-tester)" >&2; return 1; }
    baresip=$(command -v baresip) || { echo "sip: baresip is missing (apt package baresip-core)" >&2; return 1; }
    if [ ! -r "$pcaps/dtmf_2833_pound.pcap" ] || [ ! -r "$pcaps/dtmf_2833_0.pcap" ]; then
        echo "sip: the DTMF recordings are missing from $pcaps" >&2
        return 1
    fi
    case "$("$sipp" -v 2>/dev/null || true)" in
        *PCAP*) ;;
        *) echo "sip: $sipp was built without pcap playback" >&2; return 1 ;;
    esac
    if [ "$(id -u)" -ne 0 ]; then
        echo "sip: SIPp plays RTP recordings through raw sockets: run the tests as root" >&2
        return 1
    fi
    for m in g711 aufile alsa sndfile cons account menu srtp; do
        [ -r "$modules/$m.so" ] || { echo "sip: baresip module $m is missing from $modules" >&2; return 1; }
    done
    kamailio=$(command -v kamailio || echo /usr/sbin/kamailio)
    [ -x "$kamailio" ] || { echo "sip: kamailio is missing (apt package kamailio)" >&2; return 1; }
    kamailio_modules=$(dirname "$(ls /usr/lib/*/kamailio/modules/tm.so /usr/lib/kamailio/modules/tm.so 2>/dev/null | head -n 1)")
    [ -r "$kamailio_modules/rr.so" ] || { echo "sip: Kamailio's modules are missing" >&2; return 1; }
    [ -r "$kamailio_modules/tls.so" ] || { echo "sip: Kamailio's TLS module is missing (apt package kamailio-tls-modules)" >&2; return 1; }
    export MFA_SIPP="$sipp" MFA_SIPP_PCAPS="$pcaps"
    export MFA_KAMAILIO="$kamailio" MFA_KAMAILIO_MODULES="$kamailio_modules"
    export MFA_BARESIP="$baresip" MFA_BARESIP_MODULES="$modules"
}

stop_sip() {
    # Each test stops its own phone; nothing runs between tests.
    unset MFA_SIPP MFA_SIPP_PCAPS MFA_BARESIP MFA_BARESIP_MODULES MFA_KAMAILIO MFA_KAMAILIO_MODULES
}
