#!/bin/bash
# Integration: crash safety. A create killed (SIGKILL) at each stage leaves
# leftovers that `airlock gc` removes completely; a sandbox whose qemu is
# killed shows as crashed and comes back with reset; the audit chain holds.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-crash
trap '"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1' EXIT INT TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"

# What the host looks like for $NAME: domains, networks, filters, files, intents.
host_state() {
    {
        virsh list --all --name | grep "^airlock-$NAME\$"
        virsh net-list --all --name | grep "^airlock-$NAME\$"
        virsh nwfilter-list | awk '{print $2}' | grep "^airlock-$NAME"
        ls "$AIRLOCK_STATE_DIR/sandboxes/$NAME" "$AIRLOCK_STATE_DIR/journal/$NAME.json" 2>/dev/null
    } | sort
}
before=$(host_state)
is "nothing of $NAME before" "$before" ""

for stage in overlay network seed define boot snapshot; do
    AIRLOCK_CRASH_AT=$stage "$AIRLOCK" create "$NAME" --quiet >/dev/null 2>&1; rc=$?
    is "create killed at $stage (SIGKILL)" "$rc" 137
    ok "journal has the unfinished create ($stage)" -- test -e "$AIRLOCK_STATE_DIR/journal/$NAME.json"
    "$AIRLOCK" gc > /tmp/airlock-gc.$$ 2>&1
    ok "gc rolls back the create killed at $stage" -- grep -q "^$NAME .*rolled-back" /tmp/airlock-gc.$$
    is "host exactly as before after crash at $stage + gc" "$(host_state)" "$before"
done
rm -f /tmp/airlock-gc.$$

# A whole sandbox: kill its qemu, see it crashed, bring it back with reset.
"$AIRLOCK" create "$NAME" --quiet; is "create" "$?" 0
"$AIRLOCK" exec "$NAME" -- sh -c 'echo gone > /root/after-clean'
pid=$(pgrep -f "guest=airlock-$NAME," | head -1)
ok "found qemu of $NAME" -- test -n "$pid"
kill -9 "$pid"
for i in $(seq 50); do virsh domstate "airlock-$NAME" 2>/dev/null | grep -q "shut off" && break; sleep 0.2; done
ok "list shows crashed" -- bash -c "$(printf '%q' "$AIRLOCK") list | grep -q '^$NAME  *crashed'"
ok "events record the crash" -- bash -c "$(printf '%q' "$AIRLOCK") events $NAME --json | grep -q '\"event\":\"crashed\"'"
"$AIRLOCK" gc >/dev/null 2>&1
ok "gc leaves a crashed but whole sandbox alone" -- virsh dominfo "airlock-$NAME"
"$AIRLOCK" reset "$NAME"; is "reset brings it back" "$?" 0
is "running after reset" "$("$AIRLOCK" exec "$NAME" -- echo alive)" alive
ok "reset went back to clean" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- test -e /root/after-clean"
# Monitoring: stats, logs, and libvirt's live events.
ok "stats --json has the sandbox's CPU time" -- bash -c "$(printf '%q' "$AIRLOCK") stats $NAME --json | grep -q '\"cpu_ns\"'"
ok "logs --events has the ready record" -- bash -c "$(printf '%q' "$AIRLOCK") logs $NAME --events | grep -q '\"event\":\"ready\"'"
ok "logs --console has the boot" -- bash -c "test -n \"\$($(printf '%q' "$AIRLOCK") logs $NAME --console)\""
FOLLOW=$(mktemp /tmp/airlock-follow-XXXXXX)
"$AIRLOCK" events "$NAME" --follow --json > "$FOLLOW" 2>&1 &
fpid=$!
sleep 2
"$AIRLOCK" reset "$NAME" >/dev/null
sleep 2
kill -INT "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
ok "events --follow shows libvirt's live lifecycle events" -- grep -q '"source":"libvirt".*"lifecycle"' "$FOLLOW"
rm -f "$FOLLOW"

# libvirtd restarted during a long exec: airlock fails with one clear line (or
# finishes), and the sandbox keeps running.
EXECERR=$(mktemp /tmp/airlock-exec-XXXXXX)
"$AIRLOCK" exec "$NAME" -- sleep 8 2> "$EXECERR" &
epid=$!
sleep 2
if [ -d /run/systemd/system ]; then
    systemctl restart libvirtd
else
    pkill -x libvirtd; for i in $(seq 50); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
    "$HERE/../../scripts/start-libvirt" >/dev/null
fi
wait "$epid"; rc=$?
echo "# exec across a libvirtd restart: exit $rc: $(head -1 "$EXECERR")"
ok "exec across a libvirtd restart finishes or fails with one clear line" -- \
    bash -c "[ $rc = 0 ] || { [ $rc = 4 ] && [ \$(wc -l < $EXECERR) = 1 ] && grep -q 'lost the connection to libvirtd' $EXECERR; }"
rm -f "$EXECERR"
ok "the sandbox kept running through the restart" -- bash -c "virsh domstate airlock-$NAME | grep -q running"
is "its agent answers after the restart" "$("$AIRLOCK" exec "$NAME" -- echo still-here)" still-here

ok "audit chain intact" -- "$AIRLOCK" audit verify
ok "sandbox audit chain intact" -- "$AIRLOCK" audit verify "$NAME"

# TTL: an expired sandbox is destroyed by gc, evidence kept.
"$AIRLOCK" destroy --no-evidence "$NAME"
"$AIRLOCK" create "$NAME" --quiet --no-snapshot --ttl 1s; is "create with --ttl 1s" "$?" 0
sleep 1
"$AIRLOCK" gc > /tmp/airlock-gc.$$ 2>&1
ok "gc destroys the expired sandbox" -- grep -q "^$NAME .*expired" /tmp/airlock-gc.$$
is "nothing of $NAME after expiry" "$(host_state)" ""
ok "evidence of the expired sandbox kept" -- bash -c "$(printf '%q' "$AIRLOCK") archive list | grep -q '^$NAME-'"
rm -f /tmp/airlock-gc.$$

done_testing
