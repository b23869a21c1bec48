#!/usr/bin/env bash
# The whole fast suite: type check, then every `bun test` file. Ends with the line
# `tests: N passed, N failed, N skipped` (a failed type check counts as one failure).
# Tests that need root, network namespaces, Debian's xen packages or ../shared/xen print
# why they skip; `.ci/run` installs what they need first.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

failed_extra=0
echo "== type check"
if tsc --noEmit -p .; then echo "type check: ok"; else echo "type check: FAILED"; failed_extra=1; fi

echo "== bun test"
log=$(mktemp)
bun test --timeout 30000 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

count() { grep -Eo "^ *[0-9]+ $1\$" "$log" | tail -1 | tr -dc '0-9'; }
pass=$(count pass); fail=$(count fail); skip=$(count skip)
pass=${pass:-0}; fail=${fail:-0}; skip=${skip:-0}
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi   # the runner itself failed (no test ran, crash)
fail=$((fail + failed_extra))
echo "tests: ${pass} passed, ${fail} failed, ${skip} skipped"
[ "$fail" -eq 0 ]
