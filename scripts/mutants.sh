#!/usr/bin/env bash
# Mutation testing of the security core (.cargo/mutants.toml), module by module, with
# cargo-mutants: each mutant is one changed comparison, constant or function body, and
# the crate's own tests must fail on it.
#
#   scripts/mutants.sh [--record] [MODULE...]   score modules (default: all), print the
#                                                table; --record writes it into
#                                                docs/measurements.md
#   scripts/mutants.sh --in-diff REV             only the mutants on lines changed since
#                                                REV (CI: the last commit), in the release
#                                                profile CI's tests just built
#                                                (MUTANTS_DIFF_PROFILE=mutants by hand)
#
# Exits 1 when a module misses its target (95% of viable mutants caught) or, with
# --in-diff, when any mutant of a changed line survives. The tree is mutated in place
# and restored by cargo-mutants; results are under target/mutation/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-mutants >/dev/null 2>&1; then
    echo "cargo-mutants is not installed: cargo install cargo-mutants --locked" >&2
    exit 2
fi

# Lints capped for our crates only (scripts/mutants-rustc): a mutant that leaves a
# variable unused is tested, not counted unviable; dependencies keep CI's build.
export RUSTFLAGS="-D warnings"
export RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/mutants-rustc"
# Property tests at 64 cases instead of 256: a mutant of the core fails the unit tests
# or the first cases; this keeps one mutant near 25 s instead of 45 s.
export PROPTEST_CASES="${PROPTEST_CASES:-64}"
# A property test failing under a mutant must not leave a regression file in the tree.
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
out=target/mutation
mkdir -p "$out"

# Modules of the security core: a name and the files cargo-mutants examines.
declare -A files=(
    [cdp]="protocol/src/cdp/*.rs"
    [pki]="protocol/src/pki.rs protocol/src/sig.rs"
    [ota]="protocol/src/ota.rs"
    [video]="protocol/src/video.rs protocol/src/relay.rs"
    [netip]="protocol/src/netip/*.rs"
    [accounts]="platform/src/accounts/mod.rs platform/src/accounts/password.rs platform/src/accounts/totp.rs platform/src/accounts/limiter.rs"
    [registry]="platform/src/registry/mod.rs"
    [ota-signing]="platform/src/ota/catalog.rs platform/src/ota/mod.rs"
    [store-recovery]="platform/src/store/backend.rs"
    [verdicts]="conformance/src/checks.rs conformance/src/outcome.rs"
)
order=(cdp pki ota video netip accounts registry ota-signing store-recovery verdicts)

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }

if [ "${1:-}" = "--in-diff" ]; then
    rev=${2:?"--in-diff needs a revision, e.g. HEAD~1"}
    if ! git rev-parse --verify -q "$rev^{commit}" >/dev/null; then
        echo "mutants: $rev is not a commit here (a shallow clone?): nothing to compare, no mutant tested"
        exit 0
    fi
    git diff "$rev" -- >"$out/in-diff.patch"
    # No outcome of an earlier run may be counted: with no mutant, nothing is written.
    rm -rf "$out/in-diff"
    echo "mutants: lines changed since $(git rev-parse --short "$rev"): $(grep -c '^+[^+]' "$out/in-diff.patch" || true) added"
    # --baseline skip: CI's own test step has just passed on this tree. The release
    # profile reuses that build, so a mutant costs one crate's rebuild.
    set +e
    timeout "${MUTANTS_DIFF_TIMEOUT:-600}" cargo mutants --workspace --in-place --no-shuffle \
        --profile "${MUTANTS_DIFF_PROFILE:-release}" --baseline skip --timeout 300 --in-diff "$out/in-diff.patch" -o "$out/in-diff"
    rc=$?
    set -e
    r="$out/in-diff/mutants.out"
    echo "mutants: caught $(count "$r/caught.txt"), missed $(count "$r/missed.txt"), timeout $(count "$r/timeout.txt"), unviable $(count "$r/unviable.txt")"
    case $rc in
        0) echo "mutants: every mutant of the changed lines was caught (or there were none)" ;;
        124) echo "mutants: not finished in ${MUTANTS_DIFF_TIMEOUT:-600} s: the change is too large to test here; run scripts/mutants.sh by hand" >&2; exit 1 ;;
        2) echo "mutants: these mutants of the changed lines survived the tests:" >&2; cat "$r/missed.txt" >&2; exit 1 ;;
        3) echo "mutants: these mutants made the tests hang (caught by timeout, but check them):" >&2; cat "$r/timeout.txt" >&2; exit 1 ;;
        *) echo "mutants: cargo mutants failed (exit $rc); see $r/debug.log" >&2; exit 1 ;;
    esac
    exit 0
fi

record=0
if [ "${1:-}" = "--record" ]; then record=1; shift; fi
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${order[@]}")
for m in "${modules[@]}"; do
    [ -n "${files[$m]:-}" ] || { echo "unknown module $m (one of: ${order[*]})" >&2; exit 2; }
done

table="$out/scores.md"
{
    echo "| module | files | mutants | caught | missed | timeout | unviable | score (caught / viable) |"
    echo "|---|---|---|---|---|---|---|---|"
} >"$table"
failed=0
for m in "${modules[@]}"; do
    # cargo-mutants adds --file globs to the config's scope rather than narrowing it, so
    # a module is selected by excluding every other module's files.
    args=()
    for other in "${order[@]}"; do
        [ "$other" = "$m" ] && continue
        for f in ${files[$other]}; do args+=(--exclude "$f"); done
    done
    echo "== mutants: $m (${files[$m]})"
    set +e
    rm -rf "${out:?}/$m"
    cargo mutants --workspace --in-place --no-shuffle "${args[@]}" -o "$out/$m"
    rc=$?
    set -e
    case $rc in 0 | 2 | 3) ;; *) echo "mutants: cargo mutants failed on $m (exit $rc)" >&2; exit 1 ;; esac
    r="$out/$m/mutants.out"
    caught=$(count "$r/caught.txt") missed=$(count "$r/missed.txt")
    timeout=$(count "$r/timeout.txt") unviable=$(count "$r/unviable.txt")
    # A timeout is a caught mutant (the tests did not pass), as cargo-mutants counts it.
    viable=$((caught + missed + timeout))
    score=$(awk -v c=$((caught + timeout)) -v v=$viable 'BEGIN { if (v == 0) print "n/a"; else printf "%.1f%%", 100 * c / v }')
    echo "| $m | ${files[$m]} | $((viable + unviable)) | $caught | $missed | $timeout | $unviable | $score |" >>"$table"
    if [ "$viable" -gt 0 ] && [ $((100 * (caught + timeout))) -lt $((95 * viable)) ]; then
        failed=1
    fi
    if [ "$missed" -gt 0 ]; then
        echo "missed in $m:"
        sed 's/^/    /' "$r/missed.txt"
    fi
done
echo
cat "$table"
if [ $record = 1 ]; then
    python3 - "$table" <<'EOF'
import re, sys, datetime, subprocess
table = open(sys.argv[1]).read().strip()
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
path = "docs/measurements.md"
doc = open(path).read()
block = (f"<!-- mutants:start -->\nScores of `scripts/mutants.sh` at `{commit}` "
         f"({datetime.date.today().isoformat()}):\n\n{table}\n<!-- mutants:end -->")
if "<!-- mutants:start -->" in doc:
    doc = re.sub(r"<!-- mutants:start -->.*?<!-- mutants:end -->", lambda _: block, doc, flags=re.S)
else:
    doc = doc.rstrip() + "\n\n## Mutation testing of the security core\n\n" + block + "\n"
open(path, "w").write(doc)
print(f"recorded in {path}")
EOF
fi
if [ $failed = 1 ]; then
    echo "mutants: a module is below its target of 95% of viable mutants caught" >&2
    exit 1
fi
