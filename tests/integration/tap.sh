# tap.sh: a few TAP helpers for the integration scripts (sourced). What they print is
# what tests/harness/tap-count (scripts/test) accounts for: numbered results, skips as
# `ok N - DESC # SKIP REASON`, the plan `1..N` from done_testing (a script that stops
# before it runs short and fails), `Bail out! REASON` and a non-zero exit from bail.
TAP_N=0
TAP_FAILED=0
TAP_SKIPPED=0

# tap_desc TEXT: TEXT on one line, its '#' escaped, so that no description reads as a
# directive (a test named "x # SKIP y" is not a skip) and no part of it as a result.
tap_desc() {
    local d=${1//$'\n'/ }
    printf '%s' "${d//#/\\#}"
}

ok() { # ok DESCRIPTION -- COMMAND...: pass when the command succeeds
    local desc; desc=$(tap_desc "$1"); shift; [ "${1:-}" = "--" ] && shift
    TAP_N=$((TAP_N + 1))
    if "$@" >/tmp/airlock-tap.$$ 2>&1; then
        echo "ok $TAP_N - $desc"
    else
        echo "not ok $TAP_N - $desc"
        sed 's/^/# /' /tmp/airlock-tap.$$ | tail -20
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
    rm -f /tmp/airlock-tap.$$
}

is() { # is DESCRIPTION ACTUAL EXPECTED
    local desc; desc=$(tap_desc "$1")
    TAP_N=$((TAP_N + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $TAP_N - $desc"
    else
        echo "not ok $TAP_N - $desc"
        # Every line a comment: a multi-line value must not print a result of its own.
        printf '%s\n' "#   got:      '$2'" | sed '2,$s/^/#   /'
        printf '%s\n' "#   expected: '$3'" | sed '2,$s/^/#   /'
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
}

skip() { # skip DESCRIPTION REASON: a check that did not run; listed by name, never a pass
    TAP_N=$((TAP_N + 1))
    TAP_SKIPPED=$((TAP_SKIPPED + 1))
    echo "ok $TAP_N - $(tap_desc "$1") # SKIP ${2//$'\n'/ }"
}

# bail REASON: a precondition failed; stop here. The whole script counts as failed
# (call it from the script itself, not from a $(...) subshell: it must end the script).
bail() {
    local why=$*
    echo "Bail out! ${why//$'\n'/ }"
    exit 1
}

# done_testing: prints the plan (1..N); returns non-zero when a test failed, so that a
# script ending in it exits with that status.
done_testing() {
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
}
