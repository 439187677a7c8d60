#!/usr/bin/env bash
# Interop: python-dvr (a third-party DVRIP client from PyPI) against `camproof camera`,
# for the reference camera and for the empty-admin-password flaw. Loopback only,
# bounded: each camera stops by itself after 30 s.
set -euo pipefail
bin=${1:?usage: tests/interop/dvrip.sh PATH/TO/camproof}
here=$(cd "$(dirname "$0")" && pwd)
venv=${CAMPROOF_INTEROP_VENV:-${TMPDIR:-/tmp}/camproof-interop-venv}
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check python-dvr==0.0.1

run_case() {
    local expect=$1; shift
    local log
    log=$(mktemp)
    "$bin" camera --netip 127.0.0.1:0 --duration 30s --no-key-cache "$@" >"$log" 2>&1 &
    local pid=$!
    local addr=""
    for _ in $(seq 1 100); do
        addr=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 || true)
        [[ -n "$addr" ]] && break
        sleep 0.1
    done
    if [[ -z "$addr" ]]; then
        echo "camproof camera did not start:"; cat "$log"; kill "$pid" 2>/dev/null || true; return 1
    fi
    local status=0
    timeout 60 "$venv/bin/python" "$here/dvrip_client.py" "${addr##*:}" "${PASSWORD:-}" "$expect" || status=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
    return "$status"
}

PASSWORD='correct horse 42' run_case reference --admin-password 'correct horse 42'
run_case empty-admin --flaw empty-admin-password
echo "interop: python-dvr against camproof camera: pass"
