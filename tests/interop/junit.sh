#!/usr/bin/env bash
# Interop: the junit.xml that camproof writes, validated against tests/data/junit.xsd
# (xmlschema) and read by two third-party JUnit readers from PyPI (junitparser, and
# junit2html, which also renders it as HTML), for a failing run, a passing run, a
# failing sweep and a failing certification; the counts they read must be the ones in
# camproof's own JSON. Planted invalid documents must be rejected by the schema, so the
# check can fail. Offline once the venv exists; about 15 s.
set -euo pipefail
bin=${1:?usage: tests/interop/junit.sh PATH/TO/camproof}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
cd "$root"
xsd="$root/tests/data/junit.xsd"
venv=${CAMPROOF_JUNIT_VENV:-$root/target/interop-junit-venv}
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    xmlschema==4.3.2 junitparser==5.0.3 junit2html==31.1.4
check() { "$venv/bin/python" "$here/junit_check.py" "$xsd" "$@"; }

out="$root/target/interop-junit"
rm -rf "$out"
mkdir -p "$out"
# Test keys cached across runs of this script (generating them is most of a cold run).
export CAMPROOF_KEY_CACHE=${CAMPROOF_KEY_CACHE:-$root/target/interop-junit-keys}

# Runs camproof with the remaining arguments, its output in $out/$1.log, and fails
# unless it exits with $2.
expect() {
    local name=$1 want=$2 rc=0
    shift 2
    "$bin" "$@" >"$out/$name.log" 2>&1 || rc=$?
    if [[ "$rc" != "$want" ]]; then
        echo "camproof $* exited $rc, not $want:"
        cat "$out/$name.log"
        return 1
    fi
}

small=(--cameras 24 --sites 4 --duration 30s)
expect run-fail 1 run scenarios/catalog/smoke.toml "${small[@]}" \
    --plant app-leaks-password --out "$out/run-fail"
expect run-pass 0 run scenarios/catalog/smoke.toml "${small[@]}" --out "$out/run-pass"
expect sweep-fail 1 sweep tests/data/zone-split.toml --seeds 1..2 \
    --plant ack-before-replication --out "$out/sweep-fail"
expect certify-fail 1 certify --profile empty-admin-password --out "$out/certify" \
    --signing-key "$out/signing.key"

check run "$out/run-fail/junit.xml" "$out/run-fail/result.json"
check run "$out/run-pass/junit.xml" "$out/run-pass/result.json"
check sweep "$out/sweep-fail/junit.xml" "$out/sweep-fail/sweep.json"
check certify "$out/certify/junit.xml" "$out/certify/report.json"

# junit2html renders every file as a page that shows the failed check.
for f in run-fail sweep-fail certify; do
    "$venv/bin/junit2html" "$out/$f/junit.xml" "$out/$f/junit.html"
done
grep -q "no-plaintext-secret" "$out/run-fail/junit.html"
grep -q "no-acked-write-lost" "$out/sweep-fail/junit.html"

# The schema can fail: a failure without its type, skips counted as `disabled`, and a
# test case without its time are each rejected.
fail_xml="$out/run-fail/junit.xml"
sed '0,/<failure type="[^"]*" /s//<failure /' "$fail_xml" >"$out/planted-no-type.xml"
sed '0,/ skipped="/s// disabled="/' "$fail_xml" >"$out/planted-disabled.xml"
sed '0,/\(<testcase [^>]*\) time="[^"]*"/s//\1/' "$fail_xml" >"$out/planted-no-time.xml"
for planted in no-type disabled no-time; do
    if cmp -s "$fail_xml" "$out/planted-$planted.xml"; then
        echo "planting $planted changed nothing in $fail_xml"
        exit 1
    fi
    check invalid "$out/planted-$planted.xml"
done
echo "interop: junit.xml of runs, sweeps and certification read by xmlschema, junitparser and junit2html: pass"
