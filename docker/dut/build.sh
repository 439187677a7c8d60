#!/usr/bin/env bash
# Builds the certification DUT image `camproof-dut:TAG` (default: latest) from this
# checkout: a statically linked camproof (glibc, crt-static; the musl target cannot be
# installed offline) copied into an empty image.
#   docker/dut/build.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-latest}"
target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" --bin camproof
bin="${CARGO_TARGET_DIR:-target}/$target/release/camproof"
if ldd "$bin" 2>&1 | grep -q '=>'; then
    echo "build.sh: $bin is not static" >&2
    exit 1
fi
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp docker/dut/Dockerfile "$ctx/"
cp "$bin" "$ctx/camproof"
strip "$ctx/camproof" 2>/dev/null || true
docker build -q -t "camproof-dut:$tag" "$ctx"
echo "built camproof-dut:$tag"
