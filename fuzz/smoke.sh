#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 10) on stable Rust and fails on any crash.
#
# cargo-fuzz needs nightly only for sanitizers, so targets are built with
# `--sanitizer none` (libFuzzer's coverage guidance and our own asserts stay on).
# Set FUZZ_ASAN=1 to build with AddressSanitizer through RUSTC_BOOTSTRAP=1 instead.
set -euo pipefail

secs=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
    exit 2
fi

sanitizer=(-s none)
if [[ "${FUZZ_ASAN:-0}" == 1 ]]; then
    export RUSTC_BOOTSTRAP=1
    sanitizer=(-s address)
fi

cargo fuzz build "${sanitizer[@]}"
# Generate the shared test PKI's RSA keys once (cached in fuzz/.pki-cache), so no
# target spends its budget on key generation; a crash here shows up in the loop below.
cargo fuzz run "${sanitizer[@]}" cdp_server_handshake -- -runs=1 >/dev/null 2>&1 || true
mapfile -t targets < <(cargo fuzz list)
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    seeds=()
    [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
    # The scenario reader starts from the catalog's files.
    [[ "$t" == scenario_file ]] && seeds+=("../scenarios/catalog")
    log=$(mktemp)
    if cargo fuzz run "${sanitizer[@]}" "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
        rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
        printf 'ok    %-24s %10s execs %8s exec/s\n' "$t" "$execs" "$rate"
    else
        printf 'CRASH %-24s (log follows; reproducer under fuzz/artifacts/%s)\n' "$t" "$t"
        tail -n 60 "$log"
        failed=1
    fi
    rm -f "$log"
done
exit "$failed"
