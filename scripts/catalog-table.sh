#!/usr/bin/env bash
# Prints, for every catalog scenario and seeds 1..N (default 3), the verdict, the checks
# the run made with their status, and the trace hash; then, for every planted bug on the
# scenario that catches it, the checks each seed failed. Two tables of the same code
# are identical; compare one before and one after a change that must keep behaviour:
#   scripts/catalog-table.sh 3 > before.tsv; ...; scripts/catalog-table.sh 3 > after.tsv
#   diff before.tsv after.tsv
# Usage: scripts/catalog-table.sh [N] [BIN]   (PLANTS=0: the catalog alone)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-3}"
bin="${2:-target/release/camproof}"
[ -x "$bin" ] || cargo build --release
command -v jq >/dev/null || { echo "catalog-table.sh: needs jq (apt-get install jq)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# shellcheck source=scripts/catalog-world.sh
. scripts/catalog-world.sh

printf 'scenario\tseed\tverdict\tchecks\ttrace\n'
for file in scenarios/catalog/*.toml; do
    name="$(basename "$file" .toml)"
    for seed in $(seq 1 "$seeds"); do
        dir="$out/$name-$seed"
        catalog_world "$name"
        "$bin" run "$file" --seed "$seed" "${extra[@]}" --out "$dir" >"$dir.out" || true
        # The trace hash is on the summary's `trace` line (result.json does not hold it).
        hash=$(sed -n 's/^  trace .* sha256 \([0-9a-f]*\)$/\1/p' "$dir.out")
        [ -n "$hash" ] || { echo "catalog-table.sh: no trace hash for $name seed $seed" >&2; exit 1; }
        jq -r --arg n "$name" --arg h "$hash" '[$n, (.seed|tostring), .verdict,
            ([.checks[] | "\(.name)=\(.status)"] | join(",")), $h] | @tsv' \
            "$dir/result.json"
    done
done

# PLANTS=0 leaves the planted bugs out (a quicker table of the catalog alone).
[ "${PLANTS:-1}" = 0 ] && exit 0
printf '\nplant\tscenario\tseed\tverdict\tfailed checks\ttrace\n'
while read -r plant scenario; do
    dir="$out/plant-$plant"
    # shellcheck disable=SC2046
    "$bin" sweep "scenarios/catalog/$scenario.toml" --seeds "1..$seeds" --jobs 2 \
        --plant "$plant" $(extra_for "$scenario") --out "$dir" >/dev/null || true
    jq -r --arg p "$plant" --arg s "$scenario" '.runs[] | [$p, $s, (.seed|tostring), .verdict,
        ([.failures[] | split(":")[0]] | unique | join(",")), .trace_hash] | @tsv' "$dir/sweep.json"
done <<'EOF'
ack-before-replication partition-heal
grant-every-vote partition-heal
slow-alerts zone-outage
app-leaks-password smoke
skip-ownership-check tenant-isolation
unusual-login-accepted credential-stuffing
lockout-everywhere credential-stuffing
replayable-resumption replay-attack
accept-unsigned-ota ota-rollout
accept-downgrade-ota ota-rollout
ota-chunk-off-by-one ota-rollout
accept-replayed-records replay-attack
ignore-bad-records replay-attack
cache-unproven-hellos hello-flood
EOF
