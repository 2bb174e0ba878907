#!/bin/bash
# Integration: a guest that fills its disk does not fill the host.
#   1. create refuses, leaving nothing behind, when the state directory's
#      filesystem cannot hold what the sandbox may write (a small tmpfs);
#   2. a real guest writes until ENOSPC: its overlay stops at its virtual
#      size, the guest still answers, the host lost no more than that;
#   3. destroy with evidence keeps the archive under its cap.
# Needs root, libvirtd running and the base image in $AIRLOCK_STATE_DIR.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-fill
SMALL=test-fill-small
WORK=$(mktemp -d /tmp/airlock-test-fill-XXXXXX)
SMALL_STATE=$WORK/state

cleanup() {
    "$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
    AIRLOCK_STATE_DIR=$SMALL_STATE "$AIRLOCK" destroy --force --no-evidence "$SMALL" >/dev/null 2>&1
    umount "$SMALL_STATE/sandboxes" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
[ -f "$AIRLOCK_STATE_DIR/images/debian-12/manifest.json" ] || bail "no base image in $AIRLOCK_STATE_DIR"

# --- 1. a state directory that cannot hold the promise ---------------------------
mkdir -p "$SMALL_STATE/images" "$SMALL_STATE/sandboxes"
chmod 0755 "$WORK" "$SMALL_STATE"
cp -al "$AIRLOCK_STATE_DIR/images/debian-12" "$SMALL_STATE/images/" ||
    cp -a "$AIRLOCK_STATE_DIR/images/debian-12" "$SMALL_STATE/images/"
mount -t tmpfs -o size=300m,mode=0711 airlock-test-fill "$SMALL_STATE/sandboxes" ||
    bail "cannot mount a tmpfs for the small state directory"
out=$(AIRLOCK_STATE_DIR=$SMALL_STATE "$AIRLOCK" create "$SMALL" --network none 2>&1); rc=$?
is "create on a 300 MiB filesystem is refused (exit 7, host)" "$rc" 7
ok "the error says what is missing and what to do" -- grep -q "not enough disk for another sandbox:.*MiB free.*destroy sandboxes" <<<"$out"
is "the error is one line" "$(printf '%s\n' "$out" | wc -l)" 1
ok "nothing left behind: no domain" -- bash -c "! virsh dominfo airlock-$SMALL >/dev/null 2>&1"
is "nothing left behind: no files" "$(ls -A "$SMALL_STATE/sandboxes" "$SMALL_STATE/journal" 2>/dev/null | grep -v ':$' | grep -c .)" 0
umount "$SMALL_STATE/sandboxes"

# --- 2. a guest writes until its disk is full -------------------------------------
"$AIRLOCK" create "$NAME" --network none --json > "$WORK/create.json"; rc=$?
is "create $NAME" "$rc" 0
[ "$rc" = 0 ] || bail "create failed"
OVERLAY=$AIRLOCK_STATE_DIR/sandboxes/$NAME/overlay.qcow2
VIRT=$(qemu-img info --force-share --output=json "$OVERLAY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
free0=$(df -B1 --output=avail "$AIRLOCK_STATE_DIR" | tail -1)
echo "# overlay virtual size $VIRT bytes; host free before: $free0"
t0=$(date +%s)
out=$("$AIRLOCK" exec "$NAME" --timeout 900 -- sh -c 'dd if=/dev/zero of=/root/fill bs=4M 2>&1; sync; echo "rc=$?"; df -B1 --output=avail / | tail -1' 2>&1)
echo "# filled in $(($(date +%s) - t0)) s"
ok "the guest's write ended in ENOSPC" -- grep -q "No space left on device" <<<"$out"
avail=$(tail -1 <<<"$out" | tr -d ' ')
ok "the guest's root filesystem is full (avail $avail)" -- test "${avail:-999999999}" -lt $((64 * 1024 * 1024))
used=$(($(stat -c '%b * %B' "$OVERLAY")))
echo "# overlay now occupies $used bytes"
ok "the overlay stopped at its virtual size (+ qcow2 metadata)" -- test "$used" -le $((VIRT + VIRT / 50 + 16 * 1024 * 1024))
free1=$(df -B1 --output=avail "$AIRLOCK_STATE_DIR" | tail -1)
ok "the host lost no more than the promise ($((free0 - free1)) bytes)" -- test $((free0 - free1)) -le $((VIRT + VIRT / 50 + 64 * 1024 * 1024))
is "the guest still answers" "$("$AIRLOCK" exec "$NAME" -- echo alive)" alive
ok "the guest can free its own space" -- "$AIRLOCK" exec "$NAME" -- rm -f /root/fill

# --- 3. evidence has a cap ----------------------------------------------------------
AIRLOCK_ARCHIVE_MAX_MIB=64 "$AIRLOCK" destroy "$NAME"; rc=$?
is "destroy with evidence, cap 64 MiB" "$rc" 0
id=$("$AIRLOCK" archive list --json | python3 -c 'import json,sys
a = [x for x in json.load(sys.stdin) if x["name"] == sys.argv[1]]
print(sorted(a, key=lambda x: x["id"])[-1]["id"] if a else "")' "$NAME")
dir=$AIRLOCK_STATE_DIR/archive/$id
ok "an archive was kept ($id)" -- test -n "$id" -a -d "$dir"
size=$(du -sb "$dir" 2>/dev/null | cut -f1)
ok "the archive is under its cap ($size bytes)" -- test "${size:-999999999999}" -le $((64 * 1024 * 1024 + 1024 * 1024))
ok "its manifest says the disk was left out and why" -- grep -q '"disk.qcow2".*' "$dir/manifest.json"
ok "... over the archive cap" -- grep -q "over the archive cap" "$dir/manifest.json"
"$AIRLOCK" archive rm "$id" >/dev/null 2>&1

done_testing
