#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a short, bounded time on a copy of its
# checked-in seeds, and fails if any crashes, printing the input that did it.
# Installs cargo-fuzz if missing; needs the nightly toolchain.
#
#   bash scripts/fuzz.sh                   # every target, 10 s each
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh sip_message sdp_answer
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-10}

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Our crates forbid unsafe code, so AddressSanitizer would find nothing a panic does
# not; without it the build and the runs are much faster. Debug assertions turn
# integer overflow into a panic the fuzzer reports.
flags=(--sanitizer none --debug-assertions)
cargo +nightly fuzz build "${flags[@]}"
bin=target/x86_64-unknown-linux-gnu/release

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

work=$(mktemp -d /tmp/mfa-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

failed=()
for target in "${targets[@]}"; do
    # The fuzzer adds what it finds to its corpus folder: a copy keeps the seeds as they are.
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "corpus/$target" ]; then
        cp "corpus/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    log="$work/$target.log"
    # The binary itself, as `cargo fuzz run` would start it, without a cargo run per target.
    if RUST_BACKTRACE=0 "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
        printf '%-18s %ss: %s runs, %s new inputs\n' "$target" "$seconds" \
            "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
            "$(sed -n 's/^stat::new_units_added: *//p' "$log")"
    else
        failed+=("$target")
        echo "==> $target crashed:"
        grep -v -E '^(INFO|#[0-9])' "$log" | tail -n 30
        for artifact in "$artifacts"/*; do
            [ -e "$artifact" ] || continue
            mkdir -p "artifacts/$target"
            cp "$artifact" "artifacts/$target/"
            echo "--- the input, base64: $(base64 -w 0 "$artifact")"
            echo "kept as fuzz/artifacts/$target/$(basename "$artifact"); replay in fuzz/ with"
            echo "  cargo +nightly fuzz run ${flags[*]} $target artifacts/$target/$(basename "$artifact")"
        done
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that crashed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a crash"
