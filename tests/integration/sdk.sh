#!/bin/bash
# Integration: the Python SDK and the Inspect provider on ONE real sandbox. Starts its
# own airlockd on qemu:///system (a private socket), then sdk/python/tests/real_guest.py
# creates airlock-test-sdk through the SDK, execs (stdout, stderr, exit code, stdin,
# timeout, streaming), writes and reads files (binary, a few MB), resets, runs an
# Inspect-style loop of 10 samples through the provider on it, destroys it, and checks
# that the canary secret given at create is in no SDK return value or exception.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

TOP=$(cd "$HERE/../.." && pwd)
AIRLOCK=${AIRLOCK:-$TOP/airlock}
AIRLOCKD=${AIRLOCKD:-$(dirname "$AIRLOCK")/airlockd}
URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
[ "$URI" = test:///default ] && URI=qemu:///system
STATE=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
PY=${PYTHON3:-/usr/bin/python3}
NAME=airlock-test-sdk
WORK=$(mktemp -d /tmp/airlock-test-sdk-XXXXXX)
S=$WORK/airlockd.sock
DPID=

[ "$(id -u)" = 0 ] || bail "integration tests need root"
[ -x "$AIRLOCKD" ] || bail "airlockd not built ($AIRLOCKD)"
[ -x "$PY" ] || bail "$PY not found"
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    AIRLOCK_STATE_DIR=$STATE LIBVIRT_DEFAULT_URI=$URI "$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! virsh -c "$URI" version >/dev/null 2>&1 || [ ! -f "$STATE/images/debian-12/manifest.json" ]; then
    skip "the SDK on a real sandbox" "no libvirtd at $URI or no debian-12 image in $STATE"
    done_testing
    exit
fi
LIBVIRT_DEFAULT_URI=$URI AIRLOCK_STATE_DIR=$STATE AIRLOCK_ACCEL=${AIRLOCK_ACCEL:-} \
    "$AIRLOCKD" --socket "$S" --web "$TOP/web" >"$WORK/airlockd.log" 2>&1 &
DPID=$!
for _ in $(seq 50); do [ -S "$S" ] && break; sleep 0.1; done
[ -S "$S" ] || { cat "$WORK/airlockd.log" >&2; bail "airlockd did not start on $URI"; }

# real_guest.py prints TAP; its plan line is folded into this script's own count.
"$PY" "$TOP/sdk/python/tests/real_guest.py" "$S" "$NAME" >"$WORK/tap" 2>"$WORK/err"
rc=$?
while IFS= read -r line; do
    case $line in
        "ok "*) is "${line#ok * - }" ok ok ;;
        "not ok "*) is "${line#not ok * - }" "not ok" ok ;;
        "#"*) echo "$line" ;;
    esac
done <"$WORK/tap"
is "real_guest.py exit status" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/# stderr: /' "$WORK/err" | tail -30
# An Inspect run killed midway (after sample_init made its sandbox, before any cleanup),
# then `inspect sandbox cleanup airlock` (cli_cleanup): nothing of it is left.
"$PY" "$TOP/sdk/python/tests/killed_run.py" "$S" run >"$WORK/killed" 2>"$WORK/killed.err" &
kpid=$!
for _ in $(seq 600); do [ -s "$WORK/killed" ] || ! kill -0 $kpid 2>/dev/null && break; sleep 0.5; done
KNAME=$(head -n 1 "$WORK/killed")
kill -KILL $kpid 2>/dev/null; wait $kpid 2>/dev/null
ok "a killed Inspect run left its sandbox ($KNAME; control)" -- \
    bash -c "[ -n '$KNAME' ] && virsh -c $URI dominfo airlock-$KNAME >/dev/null 2>&1"
[ -n "$KNAME" ] || sed 's/^/# stderr: /' "$WORK/killed.err" | tail -10
left=$("$PY" "$TOP/sdk/python/tests/killed_run.py" "$S" cleanup 2>"$WORK/cleanup.err")
is "cli_cleanup: no inspect sandbox is left" "$left" 0
ok "... its domain, network and directory are gone" -- bash -c "[ -n '$KNAME' ] && ! virsh -c $URI dominfo airlock-$KNAME >/dev/null 2>&1 && ! virsh -c $URI net-info airlock-$KNAME >/dev/null 2>&1 && test ! -e $STATE/sandboxes/$KNAME"
[ -n "$KNAME" ] && AIRLOCK_STATE_DIR=$STATE LIBVIRT_DEFAULT_URI=$URI "$AIRLOCK" destroy --force --no-evidence "$KNAME" >/dev/null 2>&1
ok "nothing left behind: no domain" -- bash -c "! virsh -c $URI dominfo airlock-$NAME >/dev/null 2>&1"
ok "nothing left behind: no sandbox directory" -- test ! -e "$STATE/sandboxes/$NAME"
done_testing
