#!/usr/bin/env bash
# Runs every catalog scenario once with `--format json` and reads stdout with Python's
# json module: stdout must be the result document and nothing else, its verdict `pass`.
# Usage: scripts/catalog-json.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/catalog-world.sh
. scripts/catalog-world.sh
seed="${1:-1}"
bin=target/release/camproof
[ -x "$bin" ] || cargo build --release
for file in scenarios/catalog/*.toml; do
    name="$(basename "$file" .toml)"
    catalog_world "$name"
    "$bin" run "$file" --seed "$seed" "${extra[@]}" --format json |
        python3 -c '
import json, sys
name = sys.argv[1]
doc = json.load(sys.stdin)
assert doc["schema"] == "camproof.run/3", (name, doc.get("schema"))
assert doc["verdict"] == "pass", (name, doc["verdict"], doc["failures"])
print("ok  ", name, doc["verdict"], len(doc["checks"]), "checks")
' "$name"
done
echo "catalog json: every scenario printed one JSON result document"
