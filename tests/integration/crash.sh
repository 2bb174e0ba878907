#!/bin/bash
# Integration: crash safety. A create killed (SIGKILL) at each stage, a snapshot,
# reset or destroy killed half-way, leave leftovers that `airlock gc` removes
# completely (domain, network, nft tables, files, journal intent) and no secret
# value on disk; a sandbox whose qemu is killed shows as crashed and comes back
# with reset, restored from its memory image (not rebooted); exec survives a
# libvirtd restart that really happened; the audit chain holds.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-crash
TABLE=airlock_${NAME//-/_}
SBX=$AIRLOCK_STATE_DIR/sandboxes/$NAME
WORK=$(mktemp -d /tmp/airlock-test-crash-XXXXXX)
GCOUT=$WORK/gc.out
trap '"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
command -v nft >/dev/null || bail "nft not installed"
q() { printf '%q' "$1"; }

# What the host looks like for $NAME: domains, networks, nft tables, files, intents.
# find, not ls: an empty leftover directory shows too.
host_state() {
    {
        virsh list --all --name | grep -x "airlock-$NAME"
        virsh net-list --all --name | grep -x "airlock-$NAME"
        nft list tables | grep -E " $TABLE\$"
        find "$SBX" "$AIRLOCK_STATE_DIR/journal/$NAME.json" 2>/dev/null
    } | sort
}

# A secrets file whose value must never stay on disk after gc: searched in plain
# text and in base64 (once, as the seed's write_files, and twice, as its multipart
# part) at the three byte alignments, without the edge characters.
SECRET="crashcanary-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'CRASH_KEY=%s\n' "$SECRET" > "$WORK/secrets.env"
chmod 600 "$WORK/secrets.env"
b64_fragments() {
    local s=$1 p enc
    for p in "" "x" "xy"; do
        enc=$(printf '%s%s' "$p" "$s" | base64 -w0)
        enc=${enc:4}; enc=${enc%????}
        echo "${enc%?}"
    done
}
{
    echo "$SECRET"
    for f in $(b64_fragments "$SECRET"); do echo "$f"; b64_fragments "$f"; done
} | awk 'length($0) >= 16' > "$WORK/patterns"
# Where secrets could stay: airlock's state (base images aside), libvirt's state and logs.
SEARCHED=("$AIRLOCK_STATE_DIR" /var/log/libvirt /var/lib/libvirt/qemu /run/libvirt/qemu)
[ -f /var/log/airlock-libvirtd.log ] && SEARCHED+=(/var/log/airlock-libvirtd.log)
for d in "${SEARCHED[@]}"; do [ -e "$d" ] || bail "$d missing: the secret search would search nothing"; done
# secret_files PATH...: files holding the secret (grep exit 2, an unreadable tree, fails).
secret_files() {
    local rc
    grep -rlaF --exclude-dir=images -f "$WORK/patterns" "$@" 2>"$WORK/grep.err"; rc=$?
    [ "$rc" -le 1 ] || { echo "grep failed: $(head -1 "$WORK/grep.err")"; return 2; }
}

# secret_in FILE: the secret search finds the secret in the sandbox's FILE.
secret_in() { secret_files "$SBX" | grep -q "/$1\$"; }

before=$(host_state)
is "nothing of $NAME before" "$before" ""

# crash_create STAGE [ARGS...]: a create with the secrets file, killed at STAGE.
crash_create() {
    local stage=$1 rc; shift
    AIRLOCK_CRASH_AT=$stage "$AIRLOCK" create "$NAME" --quiet --secrets "$WORK/secrets.env" "$@" \
        >/dev/null 2>&1; rc=$?
    is "create killed at $stage (SIGKILL)" "$rc" 137
    ok "journal has the unfinished create ($stage)" -- test -e "$AIRLOCK_STATE_DIR/journal/$NAME.json"
}
# gc_cleans WHAT OP: gc rolls back the unfinished OP; the host is as before, no secret left.
gc_cleans() {
    local what=$1 op=$2
    "$AIRLOCK" gc > "$GCOUT" 2>&1
    ok "gc rolls back the $op killed at $what" -- grep -q "^$NAME .*rolled-back.*unfinished $op" "$GCOUT"
    is "host exactly as before after crash at $what + gc" "$(host_state)" "$before"
    is "secret nowhere on disk after crash at $what + gc" "$(secret_files "${SEARCHED[@]}")" ""
}

for stage in overlay network seed define boot ready snapshot-save snapshot; do
    crash_create "$stage"
    state=$(host_state)
    # The listing sees what each stage leaves, so "as before" below means removed.
    case $stage in
        network|seed|define|boot|ready|snapshot-save|snapshot)
            ok "host_state lists the nft tables left at $stage" -- grep -qx "table inet $TABLE" <<<"$state" ;;
    esac
    case $stage in
        define|boot|ready|snapshot-save|snapshot)
            ok "host_state lists the domain left at $stage" -- grep -qx "airlock-$NAME" <<<"$state" ;;
    esac
    case $stage in
        seed|define|boot|ready)
            ok "seed.iso is on disk at $stage" -- test -e "$SBX/seed.iso"
            ok "the secret search finds the secret in it at $stage (control)" -- secret_in seed.iso ;;
        snapshot-save|snapshot)
            ok "memory image on disk at $stage" -- test -e "$SBX/snapshots/clean/memory.save"
            ok "the secret search finds the secret in it at $stage (control)" -- secret_in memory.save ;;
    esac
    gc_cleans "$stage" create
done

# A whole sandbox: kill its qemu, see it crashed, bring it back with reset.
"$AIRLOCK" create "$NAME" --quiet; is "create" "$?" 0
BOOT_ID=$("$AIRLOCK" exec "$NAME" -- cat /proc/sys/kernel/random/boot_id)
ok "read the guest's boot id" -- test -n "$BOOT_ID"
# Synced: a reset that booted the dirty disk again would find the file.
"$AIRLOCK" exec "$NAME" -- sh -c 'echo gone > /root/after-clean && sync'
is "the dirty file is there before the kill" \
    "$("$AIRLOCK" exec "$NAME" -- sh -c 'test -e /root/after-clean && echo dirty || echo clean')" dirty
pid=$(pgrep -f "guest=airlock-$NAME," | head -1)
ok "found qemu of $NAME" -- test -n "$pid"
kill -9 "$pid"
for i in $(seq 50); do virsh domstate "airlock-$NAME" 2>/dev/null | grep -q "shut off" && break; sleep 0.2; done
ok "list shows crashed" -- bash -c "$(q "$AIRLOCK") list | grep -q '^$NAME  *crashed'"
ok "events record the crash" -- bash -c "$(q "$AIRLOCK") events $NAME --json | grep -q '\"event\":\"crashed\"'"
"$AIRLOCK" gc >/dev/null 2>&1
ok "gc leaves a crashed but whole sandbox alone" -- virsh dominfo "airlock-$NAME"
"$AIRLOCK" reset "$NAME"; is "reset brings it back" "$?" 0
is "running after reset" "$("$AIRLOCK" exec "$NAME" -- echo alive)" alive
is "reset went back to clean (synced file gone)" \
    "$("$AIRLOCK" exec "$NAME" -- sh -c 'test -e /root/after-clean && echo dirty || echo clean')" clean
is "reset restored the saved memory, not a reboot (same boot id)" \
    "$("$AIRLOCK" exec "$NAME" -- cat /proc/sys/kernel/random/boot_id)" "$BOOT_ID"
# Monitoring: stats, logs, and libvirt's live events.
ok "stats --json has the sandbox's CPU time" -- bash -c "$(q "$AIRLOCK") stats $NAME --json | grep -q '\"cpu_ns\"'"
ok "logs --events has the create record" -- bash -c "$(q "$AIRLOCK") logs $NAME --events | grep -q '\"event\":\"create\".*\"result\":\"ok\"'"
ok "logs --console has the boot" -- bash -c "test -n \"\$($(q "$AIRLOCK") logs $NAME --console)\""
FOLLOW=$WORK/follow
"$AIRLOCK" events "$NAME" --follow --json > "$FOLLOW" 2>&1 &
fpid=$!
sleep 2
"$AIRLOCK" reset "$NAME" >/dev/null
sleep 2
kill -INT "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
ok "events --follow shows libvirt's live lifecycle events" -- grep -q '"source":"libvirt".*"lifecycle"' "$FOLLOW"

# libvirtd restarted during a long exec: airlock fails with one clear line (or
# finishes), and the sandbox keeps running.
EXECERR=$WORK/exec.err
old_pid=$(pgrep -xo libvirtd)
"$AIRLOCK" exec "$NAME" -- sleep 8 2> "$EXECERR" &
epid=$!
sleep 2
if [ -d /run/systemd/system ]; then
    systemctl restart libvirtd
else
    kill "$old_pid"; for i in $(seq 50); do kill -0 "$old_pid" 2>/dev/null || break; sleep 0.1; done
    "$HERE/../../scripts/start-libvirt" >/dev/null
fi
new_pid=$(pgrep -xo libvirtd)
ok "libvirtd really restarted (pid ${old_pid:-none} -> ${new_pid:-none})" -- \
    test -n "$old_pid" -a -n "$new_pid" -a "$old_pid" != "$new_pid"
wait "$epid"; rc=$?
echo "# exec across a libvirtd restart: exit $rc: $(head -1 "$EXECERR")"
ok "exec across a libvirtd restart finishes or fails with one clear line" -- \
    bash -c "[ $rc = 0 ] || { [ $rc = 4 ] && [ \$(wc -l < $EXECERR) = 1 ] && grep -q 'lost the connection to libvirtd' $EXECERR; }"
ok "the sandbox kept running through the restart" -- bash -c "virsh domstate airlock-$NAME | grep -q running"
is "its agent answers after the restart" "$("$AIRLOCK" exec "$NAME" -- echo still-here)" still-here

# A reset killed half-way (domain stopped, overlay deleted): the sandbox is still
# whole, gc leaves it, and the next reset brings it back clean.
"$AIRLOCK" exec "$NAME" -- sh -c 'echo gone > /root/after-clean && sync'
AIRLOCK_CRASH_AT=reset "$AIRLOCK" reset "$NAME" >/dev/null 2>&1
is "reset killed half-way (SIGKILL)" "$?" 137
ok "the overlay is gone at that point" -- test ! -e "$SBX/overlay.qcow2"
"$AIRLOCK" gc >/dev/null 2>&1
ok "gc leaves a sandbox whose reset died alone" -- virsh dominfo "airlock-$NAME"
"$AIRLOCK" reset "$NAME"; is "the next reset brings it back" "$?" 0
is "clean after the interrupted reset" \
    "$("$AIRLOCK" exec "$NAME" -- sh -c 'test -e /root/after-clean && echo dirty || echo clean')" clean

ok "audit chain intact" -- "$AIRLOCK" audit verify
ok "sandbox audit chain intact" -- "$AIRLOCK" audit verify "$NAME"

# A destroy killed half-way (domain gone, network, tables and files left).
AIRLOCK_CRASH_AT=destroy "$AIRLOCK" destroy --no-evidence "$NAME" >/dev/null 2>&1
is "destroy killed half-way (SIGKILL)" "$?" 137
state=$(host_state)
ok "the destroy left the nft tables behind" -- grep -qx "table inet $TABLE" <<<"$state"
ok "the destroy left the sandbox directory behind" -- grep -qx "$SBX" <<<"$state"
gc_cleans destroy destroy

# TTL: an expired sandbox is destroyed by gc, evidence kept.
"$AIRLOCK" create "$NAME" --quiet --no-snapshot --ttl 1s; is "create with --ttl 1s" "$?" 0
sleep 1
"$AIRLOCK" gc > "$GCOUT" 2>&1
ok "gc destroys the expired sandbox" -- grep -q "^$NAME .*expired" "$GCOUT"
is "nothing of $NAME after expiry" "$(host_state)" ""
ok "evidence of the expired sandbox kept" -- bash -c "$(q "$AIRLOCK") archive list | grep -q '^$NAME-'"

done_testing
