#!/usr/bin/env bash
# tests/run.sh - run every test suite and add up the results.
#
# Suites: the cmocka unit tests (one binary per engine module), the
# sample knowledge base's own tests ('amtsbot check' and 'amtsbot test'),
# the integration tests against a real 'amtsbot serve', and the browser
# tests in headless Chromium.  The last line is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/san}
BIN=${AMTSBOT_BIN:-$BUILD/amtsbot}
export AMTSBOT_BIN="$PWD/$BIN"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
failures=()

count() {	# name passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	if [ "$3" -gt 0 ]; then failures+=("$1"); fi
}

echo "== unit tests (cmocka)"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" 2>&1); rc=$?
	echo "$out" | grep -E '^\[ *(PASSED|FAILED|  ERROR) *\]|^\[  FAILED  \]|ERROR|runtime error|Sanitizer' | sed "s|^|$(basename "$t"): |"
	p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	p=${p:-0}; f=${f:-0}
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$out" | tail -30; fi
	count "$(basename "$t")" "$p" "$f"
done

echo "== knowledge base: amtsbot check intents"
if "$BIN" check intents >/tmp/amtsbot-check.$$ 2>&1; then
	tail -1 /tmp/amtsbot-check.$$; count check 1 0
else
	cat /tmp/amtsbot-check.$$; count check 0 1
fi
rm -f /tmp/amtsbot-check.$$

echo "== knowledge base: amtsbot test intents"
out=$("$BIN" test intents 2>&1); rc=$?
echo "$out" | grep -v '^ok ' | tail -40
p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
if [ -z "$p" ]; then p=0; f=1; fi
if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
count "amtsbot test" "$p" "$f"

for suite in tests/unit/*.sh; do
	[ -x "$suite" ] || continue
	echo "== $(basename "$suite")"
	out=$("$suite" 2>&1); rc=$?
	echo "$out" | tail -15
	p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
	if [ -z "$p" ]; then p=0; f=1; fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	count "$(basename "$suite")" "$p" "$f"
done

if [ -f tests/integration/run.py ]; then
	echo "== integration tests (real amtsbot serve)"
	out=$(python3 tests/integration/run.py 2>&1); rc=$?
	echo "$out" | grep -v '^ok ' | tail -40
	p=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
	if [ -z "$p" ]; then p=0; f=1; fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	count integration "$p" "$f"
fi

if [ -f tests/browser/package.json ]; then
	echo "== browser tests (headless Chromium)"
	# the browser suite talks to the optimised build: ASan slows Chromium's peer
	out=$(cd tests/browser && AMTSBOT_BIN="$PWD/../../amtsbot" node --test 2>&1); rc=$?
	echo "$out" | grep -E '^# |not ok|Error' | tail -30
	p=$(echo "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
	f=$(echo "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
	if [ -z "$p" ]; then p=0; f=1; fi
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	count browser "$p" "$f"
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
