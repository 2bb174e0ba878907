# tap.sh: a few TAP helpers for the integration scripts (sourced).
TAP_N=0
TAP_FAILED=0
TAP_SKIPPED=0

ok() { # ok DESCRIPTION -- COMMAND...: pass when the command succeeds
    local desc=$1; shift; [ "${1:-}" = "--" ] && shift
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
    TAP_N=$((TAP_N + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $TAP_N - $1"
    else
        echo "not ok $TAP_N - $1"
        echo "#   got:      '$2'"
        echo "#   expected: '$3'"
        TAP_FAILED=$((TAP_FAILED + 1))
    fi
}

skip() { # skip DESCRIPTION REASON
    TAP_N=$((TAP_N + 1))
    TAP_SKIPPED=$((TAP_SKIPPED + 1))
    echo "ok $TAP_N - $1 # SKIP $2"
}

bail() {
    echo "Bail out! $*"
    exit 1
}

done_testing() {
    echo "1..$TAP_N"
    [ "$TAP_FAILED" -eq 0 ]
}
