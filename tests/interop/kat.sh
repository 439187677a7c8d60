#!/usr/bin/env bash
# Interop: Annex A of docs/protocol.md (known-answer traces of CDP/1 and of a signed
# firmware manifest) recomputed by Python's `cryptography`, a second implementation:
# every derived value from the inputs the annex states. The Rust test
# `cargo test -p camproof-protocol --test kat` keeps the annex equal to what our code
# does; this keeps it equal to what the protocol says. `--self-test` also plants a
# one-digit change in a copy of each section and expects every copy to be refused.
# Offline once the venv exists; about 2 s (9 s with a fresh venv).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
doc=${1:-$root/docs/protocol.md}
venv=${CAMPROOF_KAT_VENV:-$root/target/interop-kat-venv}
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check cryptography==48.0.0
"$venv/bin/python" "$here/kat_check.py" --self-test "$doc"
echo "interop: Annex A recomputed by Python's cryptography: pass"
