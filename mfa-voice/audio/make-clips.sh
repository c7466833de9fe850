#!/usr/bin/env bash
# Regenerates the built-in prompt clips: 8 kHz mono A-law WAV, spoken by espeak-ng,
# with leading and trailing silence trimmed by sox, without dither (so a rerun gives the
# same files). Needs the packages espeak-ng and sox.
#
#   bash mfa-voice/audio/make-clips.sh
#
# Organisations can record their own clips with the same names (see Prompts::from_dir).
set -euo pipefail
cd "$(dirname "$0")"

speak() { # voice, file, text
    espeak-ng -v "$1" -s 165 --stdout "$3" |
        sox -D -t wav - -r 8000 -c 1 -e a-law -b 8 "$2" \
            silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0 0.15
}

clips() { # voice, dir, then the 18 texts: digits 0-9, hello, confirm, transfer, key, code, goodbye, match, wrong
    local voice=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    local names=(0 1 2 3 4 5 6 7 8 9 hello confirm transfer key code goodbye match wrong)
    local i=0
    for text in "$@"; do
        speak "$voice" "$dir/${names[$i]}.wav" "$text"
        i=$((i + 1))
    done
}

clips en-us en zero one two three four five six seven eight nine \
    "Hello, this is a verification call." \
    "Press pound to confirm. If this was not you, press zero, then pound." \
    "Please transfer this call, and press pound, at extension" \
    "Press any key to hear your code." \
    "Your code is" \
    "Thank you. Goodbye." \
    "Enter the two digit number shown on your sign-in screen. If this was not you, press zero, then pound." \
    "That is not the number on your screen. The request was denied. Goodbye."

clips nb nb null en to tre fire fem seks sju åtte ni \
    "Hei, dette er en bekreftelse." \
    "Trykk firkant for å bekrefte. Var det ikke deg, trykk null, og så firkant." \
    "Sett samtalen over, og trykk firkant, på internnummer" \
    "Trykk en tast for å høre koden." \
    "Koden din er" \
    "Takk. Ha det." \
    "Tast inn tallet på påloggingssiden. Var det ikke deg, trykk null, og så firkant." \
    "Det er ikke tallet på skjermen din. Forespørselen er avvist. Ha det."
