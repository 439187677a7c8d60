#!/usr/bin/env bash
# Sweeps every catalog scenario over seeds 1..N (default 20) on small worlds; exits
# non-zero if any seed of any scenario fails. Usage: scripts/sweep-catalog.sh [N] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-20}"
jobs="${2:-2}"
bin=target/release/camproof
[ -x "$bin" ] || cargo build --release
failed=()
for file in scenarios/catalog/*.toml; do
    name="$(basename "$file" .toml)"
    # The larger worlds run on 24 cameras here; at scale with --cameras.
    extra=()
    case "$name" in
        smoke | partition-heal | region-failover | zone-outage | account-erasure) extra=(--cameras 24) ;;
    esac
    if ! "$bin" sweep "$file" --seeds "1..$seeds" --jobs "$jobs" "${extra[@]}" \
        --out "target/catalog/$name"; then
        failed+=("$name")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "catalog sweep: failing scenarios: ${failed[*]}" >&2
    exit 1
fi
echo "catalog sweep: every scenario passed seeds 1..$seeds"
