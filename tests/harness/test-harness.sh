#!/bin/bash
# test-harness: the accounting of scripts/test (tests/harness/tap-count, suite-count,
# run.sh) and the helpers of tests/integration/tap.sh, fed fake TAP streams and fake
# scripts: a bail, a short plan, a bad exit status, a timeout each count as a failure
# with a named reason; a skip is listed by name and never counted as a pass.
# TAP_COUNT=other-accounting runs the same cases against another implementation.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"
TAP_COUNT=${TAP_COUNT:-$HERE/tap-count}
WORK=$(mktemp -d /tmp/airlock-test-harness-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# count NAME STATUS STREAM: accounts for STREAM (printf %b) ended by STATUS; sets REC
# (the records) and RC (the accounting's exit status).
count() { REC=$(printf '%b' "$3" | "$TAP_COUNT" --name "$1" --exit "$2"); RC=$?; }
nrec() { grep -c "^$1 " <<<"$REC"; }
npass() { local p; p=$(sed -n 's/^pass //p' <<<"$REC"); echo "${p:-none}"; }
has() { grep -qF -- "$1" <<<"$REC" || { printf '%s\n' "$REC"; false; }; }
# expect DESC FAILS SKIPS PASSES [WORDS...]: the last count gave these numbers, an exit
# status that says whether anything failed, and records containing each of WORDS.
expect() {
    local desc=$1 fails=$2 skips=$3 passes=$4 w; shift 4
    is "$desc: $fails failure(s)" "$(nrec fail)" "$fails"
    is "$desc: $skips skip(s)" "$(nrec skip)" "$skips"
    is "$desc: $passes pass(es)" "$(npass)" "$passes"
    is "$desc: exit status" "$RC" "$([ "$fails" = 0 ] && echo 0 || echo 1)"
    for w in "$@"; do ok "$desc: says '$w'" -- has "$w"; done
}

# --- tap-count on fake streams ------------------------------------------------------------
count clean 0 '1..2\nok 1 - a\nok 2 - b\n'
expect "plan first, all ok, exit 0" 0 0 2
count clean 0 'ok 1 - a\nok 2 - b\n1..2\n'
expect "plan last, all ok, exit 0" 0 0 2

count bailed 1 'ok 1 - first\nBail out! integration tests need root\n'
expect "ok, then Bail out! and exit 1" 1 0 1 "bailed: Bail out! integration tests need root"
count bailed 0 'ok 1 - first\nBail out! create failed\nok 2 - after\n1..2\n'
expect "Bail out! then exit 0 and more results" 1 0 1 "Bail out! create failed"

count short 0 '1..5\nok 1 - a\nok 2 - b\nok 3 - c\n'
expect "plan 1..5 with 3 results" 1 0 3 "short: planned 5, ran 3"
count long 0 '1..2\nok 1 - a\nok 2 - b\nok 3 - c\n'
expect "plan 1..2 with 3 results" 1 0 3 "planned 2, ran 3"
count noplan 0 'ok 1 - a\nok 2 - b\n'
expect "no plan, exit 0" 1 0 2 "noplan: no plan (1..N)"
count empty 0 ''
expect "no output at all, exit 0" 1 0 0 "no plan"
count twoplans 0 '1..1\nok 1 - a\n1..1\n'
expect "two plans" 1 0 1 "more than one plan"
count late 0 'ok 1 - a\n1..2\nok 2 - b\n'
expect "a result after the closing plan" 1 0 1 "result after the closing plan"
count seq 0 'ok 1 - a\nok 1 - a again\n1..2\n'
expect "a repeated test number" 1 0 2 "out of sequence"
count zero 0 '1..0\n'
expect "1..0 without a reason" 1 0 0 "no test ran"

count died 1 'ok 1 - a\nok 2 - b\n1..2\n'
expect "exit 1 with every test ok" 1 0 2 "died: exit status 1 with no failing test"
count died 3 'ok 1 - a\n'
expect "exit 3 after one ok, no plan" 1 0 1 "exit status 3" "no plan"
count failing 1 'ok 1 - a\nnot ok 2 - b\nnot ok 3 - c\n1..3\n'
expect "two not ok, exit 1: two failures, each named" 2 0 1 "failing: 2 - b" "failing: 3 - c"
count hidden 0 'ok 1 - a\nnot ok 2 - b\n1..2\n'
expect "not ok with exit 0 still fails" 1 0 1 "hidden: 2 - b"

count slow 124 'ok 1 - a\nok 2 - b\n'
expect "timeout (exit 124)" 1 0 2 "slow: " "timed out (exit 124)"
count slow 124 '1..1\nok 1 - a\n'
expect "timeout after a met plan" 1 0 1 "timed out"
count killed 137 'ok 1 - a\n'
expect "killed (exit 137)" 1 0 1 "killed (exit 137"

count skips 0 '1..4\nok 1 - a\nok 2 - seed iso # SKIP xorriso not installed\nok 3 - kernel check # skip no root\nok 4 - d\n'
expect "two skips" 0 2 2 "skip skips: 2 - seed iso (xorriso not installed)" \
    "skip skips: 3 - kernel check (no root)"
count skipnoreason 0 '1..1\nok 1 - a # SKIP\n'
expect "a skip without a reason" 0 1 0 "skipnoreason: 1 - a (no reason given)"
count skipall 0 '1..0 # SKIP needs /dev/kvm\n'
expect "1..0 # SKIP" 0 1 0 "skipall: all tests (needs /dev/kvm)"
count notokskip 1 '1..1\nnot ok 1 - a # SKIP nope\n'
expect "not ok # SKIP is a failure" 1 0 0 "(not ok # SKIP)"
count todo 0 '1..2\nnot ok 1 - a # TODO later\nok 2 - b # TODO later\n'
expect "TODO: an expected failure is listed, an unexpected pass fails" 1 1 0 \
    "skip todo: 1 - a (TODO, expected failure: later)" "fail todo: 2 - b (passed but marked TODO)"
count escaped 0 '1..1\nok 1 - a \\# SKIP is only words here\n'
expect "an escaped # in a description" 0 0 1
count stray 0 '1..1\nok  disk.qcow2 sha256:00\n# ok 7 - a comment\nok 1 - a\nnot okay\n'
expect "stray lines that are not numbered results" 0 0 1
count crlf 0 '1..1\r\nok 1 - a\r\n'
expect "CRLF line ends" 0 0 1

# --- tap.sh prints what the accounting expects -------------------------------------------
# fake BODY: a script that sources tap.sh and runs BODY; its stdout in $WORK/fake.out.
fake() {
    printf '. %q\n%s\n' "$HERE/../integration/tap.sh" "$1" > "$WORK/fake.sh"
    bash "$WORK/fake.sh" > "$WORK/fake.out" 2>/dev/null
    FRC=$?
    REC=$("$TAP_COUNT" --name fake --exit "$FRC" "$WORK/fake.out"); RC=$?
}
fake 'ok "a" -- true; [ 0 = 1 ] || bail "no libvirtd"; ok "b" -- true; done_testing'
is "tap.sh bail: exit status" "$FRC" 1
ok "tap.sh bail: prints 'Bail out!' at the start of a line" -- grep -qx 'Bail out! no libvirtd' "$WORK/fake.out"
expect "tap.sh bail" 1 0 1 "Bail out! no libvirtd"
fake 'ok "a" -- true; skip "b" "no xorriso"; is "c" 1 2; ok "d # SKIP not really" -- true; done_testing'
is "tap.sh: done_testing exits 1 after a failure" "$FRC" 1
ok "tap.sh: done_testing prints the plan" -- grep -qx '1\.\.4' "$WORK/fake.out"
ok "tap.sh: skip prints '# SKIP reason'" -- grep -qx 'ok 2 - b # SKIP no xorriso' "$WORK/fake.out"
expect "tap.sh ok, skip, a failing is, a # in a description" 1 1 2 "fail fake: 3 - c" \
    "skip fake: 2 - b (no xorriso)"
fake 'ok "a" -- true; ok "b" -- true; done_testing'
is "tap.sh: done_testing exits 0 when all passed" "$FRC" 0
expect "tap.sh all passed" 0 0 2
fake 'ok "a" -- true; exit 0'
expect "tap.sh without done_testing" 1 0 1 "no plan"
fake 'is "a" "$(printf "x\nok 9 - y\n1..9")" ""; ok "b
ok 8 - c" -- true; done_testing'
expect "tap.sh: multi-line values and descriptions print no result of their own" 1 0 1

# --- run.sh: the real exit status of a script reaches the accounting ----------------------
HARNESS_RECORDS=$WORK/records
. "$HERE/run.sh"
printf '#!/bin/bash\necho "ok 1 - a"; echo "ok 2 - b"; echo "1..2"; exit %s\n' 3 > "$WORK/exit3.sh"
printf '#!/bin/bash\necho "ok 1 - a"; exec sleep 30\n' > "$WORK/hang.sh"
printf '#!/bin/bash\necho "1..1"; echo "ok 1 - a"; echo "not ok 2 - stderr" >&2\n' > "$WORK/stderr.sh"
chmod +x "$WORK"/*.sh
harness_tap "exit3.sh" "$WORK/exit3.log" 60 -- "$WORK/exit3.sh" >/dev/null 2>&1
is "harness_tap returns the script's exit status" "$?" 3
harness_tap "hang.sh" "$WORK/hang.log" 1 -- "$WORK/hang.sh" >/dev/null 2>&1
is "harness_tap: a hung script is stopped by the timeout" "$?" 124
harness_tap "stderr.sh" "$WORK/stderr.log" 60 -- "$WORK/stderr.sh" >/dev/null 2>&1
REC=$(cat "$HARNESS_RECORDS")
ok "harness_tap: exit 3 after a met plan is a failure" -- has "fail exit3.sh: exit status 3 with no failing test"
ok "harness_tap: the timeout is a failure" -- has "fail hang.sh: no plan (1..N): stopped after 1 results; timed out (exit 124)"
ok "harness_tap: stderr is not read as TAP" -- bash -c "! grep -q 'stderr.sh' '$HARNESS_RECORDS'"
ok "harness_tap: stderr is kept apart" -- grep -q 'not ok 2' "$WORK/stderr.log.err"
harness_record "skip make check: tests/unit/test-seed 16 /seed/iso/files (xorriso not installed)"
summary=$(harness_summary); src=$?
is "harness_summary: fails when anything failed" "$src" 1
ok "harness_summary: totals" -- grep -qx '4 passed, 2 failed, 1 skipped' <<<"$summary"
ok "harness_summary: names each skip" -- \
    grep -qx '  make check: tests/unit/test-seed 16 /seed/iso/files (xorriso not installed)' <<<"$summary"
ok "harness_summary: names each failure" -- grep -q '^  hang.sh: .*timed out' <<<"$summary"
printf 'fuzz: spec for 5s\n#12 DONE\nfuzz: xml for 5s\nfuzz: xml FAILED (input saved)\n' > "$WORK/fuzz.log"
: > "$HARNESS_RECORDS"
harness_fuzz "$WORK/fuzz.log" 1
REC=$(cat "$HARNESS_RECORDS")
expect "harness_fuzz: one target passed, one crashed" 1 0 1 "fail fuzz xml: crashed"
: > "$HARNESS_RECORDS"
printf 'fuzz: spec for 5s\n' > "$WORK/fuzz.log"
harness_fuzz "$WORK/fuzz.log" 2
REC=$(cat "$HARNESS_RECORDS")
expect "harness_fuzz: a failing run with no failing target" 1 0 1 "tests/fuzz/run exit 2"

# --- suite-count on a fake test-suite.log ------------------------------------------------
cat > "$WORK/test-suite.log" <<'EOF'
=====================================
   airlock 0.1.0: ./test-suite.log
=====================================

# TOTAL: 9
# PASS:  5
# SKIP:  2
# XFAIL: 0
# FAIL:  1
# XPASS: 0
# ERROR: 1

.. contents:: :depth: 2

SKIP: tests/unit/test-seed
==========================

ok 1 /seed/a
PASS: tests/unit/test-seed 1 /seed/a
ok 2 /seed/iso/files # SKIP xorriso not installed
SKIP: tests/unit/test-seed 2 /seed/iso/files # SKIP xorriso not installed
SKIP: tests/unit/test-xml 3 /xml/schema # SKIP virt-xml-validate not found

FAIL: tests/unit/test-net
=========================

not ok 4 /net/rules
FAIL: tests/unit/test-net 4 /net/rules
ERROR: tests/unit/test-cli.sh - exited with status 1
EOF
suite() { REC=$("$HERE/suite-count" --exit "$1" "$WORK/test-suite.log"); RC=$?; }
suite 2
expect "suite-count: named failures and skips" 2 2 5 \
    "fail make check: tests/unit/test-net 4 /net/rules" \
    "fail make check: tests/unit/test-cli.sh - exited with status 1" \
    "skip make check: tests/unit/test-seed 2 /seed/iso/files (xorriso not installed)" \
    "skip make check: tests/unit/test-xml 3 /xml/schema (virt-xml-validate not found)"
sed -i -e '/^FAIL: tests\/unit\/test-net 4/d' "$WORK/test-suite.log"
suite 2
expect "suite-count: a counted failure it cannot name" 2 2 5 "counts 2 failures but names 1"
printf '# TOTAL: 1\n# PASS:  1\n# SKIP:  0\n# XFAIL: 0\n# FAIL:  0\n# XPASS: 0\n# ERROR: 0\n' \
    > "$WORK/test-suite.log"
suite 2
expect "suite-count: make failed with every test passing" 1 0 1 "exit status 2 with no failing test"
suite 0
expect "suite-count: all passed" 0 0 1
REC=$("$HERE/suite-count" "$WORK/none.log"); RC=$?
expect "suite-count: no log" 1 0 0 "no $WORK/none.log"

done_testing
