#!/usr/bin/env bash
# Runs `tributary code` as a user would and checks its output and its error cases.
# Usage: code_command_test.sh /path/to/tributary
set -u
bin="$1"
failures=0
out="$(mktemp)"
err="$(mktemp)"
trap 'rm -f "$out" "$err"' EXIT

fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; failures=$((failures + 1)); }

# run EXPECTED_STATUS ARGS...: runs the command, checks its exit status.
run() {
  local want="$1"; shift
  "$bin" code "$@" >"$out" 2>"$err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "tributary code $* exited $got, expected $want"
}

# The value on the line of its own that holds the word "residual".
residual() { awk '/residual/ { print $NF }' "$out"; }

# FRC n=6, s=1: B is block-diagonal ones; workers 0,3,4 (one per group) decode exactly.
run 0 --scheme frc --n 6 --s 1 --decode 0,3,4
grep -q "B (row i = worker i" "$out" || fail "frc: no matrix header"
[ "$(grep -cE '^ +1 +1 +0 +0 +0 +0$' "$out")" -eq 2 ] || fail "frc: rows of group 0"
[ "$(grep -c residual "$out")" -eq 1 ] || fail "frc: one residual line"
awk -v r="$(residual)" 'BEGIN { exit !(r + 0 < 1e-12) }' || fail "frc: residual $(residual)"
grep -A1 "^decoding vector" "$out" | tail -1 | awk '{ exit !($1 == 1 && $2 == 0 && $4 == 1 && $5 == 1) }' \
  || fail "frc: decoding vector"

# Without --decode: only the matrix, no residual.
run 0 --scheme cyclic --n 7 --s 2 --seed 3
[ "$(grep -cE '^ +[-0-9]' "$out")" -eq 7 ] || fail "cyclic: 7 matrix rows"
grep -q residual "$out" && fail "cyclic: residual without --decode"

# Cyclic n=12, s=3, 3 stragglers: exact.
run 0 --scheme cyclic --n 12 --s 3 --decode 0,1,2,4,5,7,8,10,11
awk -v r="$(residual)" 'BEGIN { exit !(r + 0 < 1e-9) }' || fail "cyclic: residual $(residual)"

# Undecodable: group {0,1} lost entirely. Approximate decoding printed, error bound, status 1.
run 1 --scheme frc --n 6 --s 1 --decode 2,3,4,5
grep -q "cannot decode the exact sum" "$err" || fail "undecodable: no message"
grep -q "^approximate decoding" "$out" || fail "undecodable: no approximate decoding"
grep -q "error bound" "$out" || fail "undecodable: no error bound"
awk -v r="$(residual)" 'BEGIN { exit !(r > 1.41 && r < 1.42) }' || fail "undecodable: residual $(residual) != sqrt(2)"

# Bad arguments: clear message on stderr, status 1, no matrix printed.
run 1 --scheme cyclic --n 5 --s 5
grep -q "0 <= s < n" "$err" || fail "s >= n message"
run 1 --scheme frc --n 10 --s 3
grep -q "(s+1) to divide n" "$err" || fail "frc divisibility message"
run 1 --scheme frc --n 6 --s 1 --decode 0,6
grep -q "out of range" "$err" || fail "out-of-range message"
[ -s "$out" ] && fail "out-of-range: printed output"
run 1 --scheme frc --n 6 --s 1 --decode 0,2,2
grep -q "repeated" "$err" || fail "repeated-id message"
run 1 --scheme frc --n 6 --s 1 --decode 0,x
grep -q "comma-separated" "$err" || fail "parse message"
run 105 --scheme mds --n 6 --s 1   # CLI11 validation error

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all tributary code checks passed"
