# tests/harness/run.sh: the accounting of scripts/test (sourced; bash). Every step adds
# records to $HARNESS_RECORDS in the format of tests/harness/tap-count:
#   pass N | fail WHAT: WHY | skip WHAT (WHY)
# and harness_summary adds them up and names every failure and every skip.
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${HARNESS_RECORDS:=$(mktemp /tmp/airlock-harness-XXXXXX)}"

# harness_record RECORD...: adds records by hand ("pass 1", "fail leftovers: ...").
harness_record() { printf '%s\n' "$@" >> "$HARNESS_RECORDS"; }

# harness_tap [--exit-note TEXT] NAME LOG SECONDS -- CMD...: runs CMD under timeout(1)
# (TERM after SECONDS, KILL 30 s later); its stdout (TAP) is shown and kept in LOG, its
# stderr shown and kept in LOG.err, apart, so that nothing it prints there reads as a
# result. Accounts for the stream together with CMD's own exit status, and returns it.
harness_tap() {
    local note=() name log secs rc errfd errpid
    if [ "$1" = --exit-note ]; then note=(--exit-note "$2"); shift 2; fi
    name=$1 log=$2 secs=$3; shift 3; [ "${1:-}" = -- ] && shift
    exec {errfd}> >(tee "$log.err" >&2)
    errpid=$!
    timeout -k 30 "$secs" "$@" 2>&"$errfd" {errfd}>&- | tee "$log"
    rc=${PIPESTATUS[0]}
    exec {errfd}>&-
    wait "$errpid" # LOG.err is whole before anyone reads it
    "${TAP_COUNT:-$HARNESS_DIR/tap-count}" --name "$name" --exit "$rc" "${note[@]}" "$log" >> "$HARNESS_RECORDS"
    return "$rc"
}

# harness_suite LOG STATUS: accounts for automake's test-suite.log and make's status.
harness_suite() {
    "$HARNESS_DIR/suite-count" --name "make check" --exit "$2" "$1" >> "$HARNESS_RECORDS"
}

# harness_fuzz LOG STATUS: one record per fuzz target in the output of tests/fuzz/run.
harness_fuzz() {
    ${AWK:-awk} -v rc="$2" '
    /^fuzz: [A-Za-z0-9_-]+ for / { t = $2; if (!(t in seen)) order[++n] = t; seen[t] = 1 }
    /^fuzz: [A-Za-z0-9_-]+ FAILED/ { bad[$2] = 1 }
    /^fuzz: build of / { print "fail fuzz " $4 ": build failed"; f++ }
    /^fuzz: clang not installed/ { print "fail fuzz: clang is not installed (scripts/setup installs it)"; f++ }
    END {
        for (i = 1; i <= n; i++)
            if (bad[order[i]]) { print "fail fuzz " order[i] ": crashed or leaked (input in tests/fuzz/crashes/)"; f++ }
            else p++
        print "pass " p + 0
        if (rc != 0 && f == 0) print "fail fuzz: tests/fuzz/run exit " rc " with no failing target"
        if (rc == 0 && n == 0) print "fail fuzz: no target ran"
    }' "$1" >> "$HARNESS_RECORDS"
}

# harness_summary: prints every skip and every failure by name, then the totals.
# Returns 1 when anything failed.
harness_summary() {
    local pass fail skip
    pass=$(${AWK:-awk} '$1 == "pass" { s += $2 } END { print s + 0 }' "$HARNESS_RECORDS")
    fail=$(grep -c '^fail ' "$HARNESS_RECORDS")
    skip=$(grep -c '^skip ' "$HARNESS_RECORDS")
    if [ "$skip" -gt 0 ]; then
        echo "skipped ($skip, not counted as passed):"
        sed -n 's/^skip /  /p' "$HARNESS_RECORDS"
    fi
    if [ "$fail" -gt 0 ]; then
        echo "failed ($fail):"
        sed -n 's/^fail /  /p' "$HARNESS_RECORDS"
    fi
    echo "$pass passed, $fail failed, $skip skipped"
    [ "$fail" -eq 0 ]
}
