#!/usr/bin/env bash
# Sweeps every catalog scenario over seeds 1..N (default 20) on small worlds; exits
# non-zero if any seed of any scenario fails. Usage: scripts/sweep-catalog.sh [N] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/catalog-world.sh
. scripts/catalog-world.sh
seeds="${1:-20}"
jobs="${2:-2}"
bin=target/release/camproof
[ -x "$bin" ] || cargo build --release
failed=()
for file in scenarios/catalog/*.toml; do
    name="$(basename "$file" .toml)"
    catalog_world "$name"
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
