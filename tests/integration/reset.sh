#!/bin/bash
# Integration: clean state, reset, named snapshots and evidence at teardown, on
# one real sandbox reused throughout (reset is cheap; the boot is not).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-reset
NOSNAP=test-reset-nosnap
DOM=airlock-$NAME
CANARY="canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
trap '"$AIRLOCK" destroy --force --no-evidence "$NAME" "$NOSNAP" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM
ax() { "$AIRLOCK" exec "$NAME" -- "$@"; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
printf 'API_KEY=%s\n' "$CANARY" > "$WORK/s.env"; chmod 600 "$WORK/s.env"

"$AIRLOCK" create "$NAME" --secrets "$WORK/s.env" --quiet; rc=$?
is "create (captures clean)" "$rc" 0
[ "$rc" = 0 ] || bail "create failed"
ok "clean snapshot listed" -- bash -c "$(printf '%q' "$AIRLOCK") snapshots $NAME | grep -q '^clean '"
ok "seed not in the clean state" -- bash -c "! grep -q seed.iso $AIRLOCK_STATE_DIR/sandboxes/$NAME/snapshots/clean/domain.xml"

# Dirty it: a file, a process, and note the random stream.
ax sh -c 'echo dirty > /root/after-snapshot; nohup sleep 1000 >/dev/null 2>&1 &'
ok "dirty file and process exist" -- bash -c "$(printf '%q' "$AIRLOCK") exec $NAME -- sh -c 'test -e /root/after-snapshot && pgrep -x sleep'"
t0=$(date +%s.%N)
"$AIRLOCK" reset "$NAME"; rc=$?
echo "# reset took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s (wall, CLI included)"
is "reset" "$rc" 0
ok "file written after the snapshot is gone" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- test -e /root/after-snapshot"
ok "process started after the snapshot is gone" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- pgrep -x sleep"
is "agent answers" "$(ax echo pong)" pong
is "secrets still there" "$(ax sh -c 'printf %s "$API_KEY"')" "$CANARY"
skew=$(( $(ax date +%s) - $(date +%s) ))
ok "guest clock right after reset (skew ${skew}s)" -- test "${skew#-}" -le 2
r1=$(ax sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"')
"$AIRLOCK" reset "$NAME" >/dev/null
r2=$(ax sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"')
ok "two resets never replay one random stream" -- test -n "$r1" -a "$r1" != "$r2"

# The clock and RNG fix: through the in-guest helper (airlock-guest) on its own port;
# through the agent when told to (the fallback for guests without the port); a stopped
# helper is restarted when the next snapshot is taken.
"$AIRLOCK" reset "$NAME" --json > "$WORK/reset.json"
ok "reset fixes clock and RNG through the helper" -- grep -q '"fixup_via" : "helper"' "$WORK/reset.json"
ok "helper (airlock-guest) runs in the guest" -- bash -c "$(printf '%q' "$AIRLOCK") exec $NAME -- pgrep -x airlock-guest"
AIRLOCK_FIXUP=exec "$AIRLOCK" reset "$NAME" --json > "$WORK/reset.json"
ok "AIRLOCK_FIXUP=exec: through the agent" -- grep -q '"fixup_via" : "exec"' "$WORK/reset.json"
skew=$(( $(ax date +%s) - $(date +%s) ))
ok "fallback: guest clock right (skew ${skew}s)" -- test "${skew#-}" -le 2
r3=$(ax sh -c 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n"')
ok "fallback: random stream fresh" -- test -n "$r3" -a "$r3" != "$r2" -a "$r3" != "$r1"
AIRLOCK_GUEST=agent ax pkill -STOP -x airlock-guest  # not through it: it would stop mid-answer
"$AIRLOCK" snapshot "$NAME" helper-stopped; is "snapshot with the helper stopped" "$?" 0
"$AIRLOCK" reset "$NAME" --to helper-stopped --json > "$WORK/reset.json"
ok "stopped helper was replaced at the snapshot" -- grep -q '"fixup_via" : "helper"' "$WORK/reset.json"
"$AIRLOCK" snapshot "$NAME" --delete helper-stopped >/dev/null

# Named snapshots.
ax sh -c 'echo one > /root/marker'
"$AIRLOCK" snapshot "$NAME" step-one; is "snapshot step-one" "$?" 0
is "still running after snapshot" "$(ax cat /root/marker)" one
ax sh -c 'echo two > /root/marker'
"$AIRLOCK" reset "$NAME" --to step-one; is "reset --to step-one" "$?" 0
is "back at step-one" "$(ax cat /root/marker)" one
"$AIRLOCK" reset "$NAME"; is "reset to clean after a named snapshot" "$?" 0
ok "clean has no marker" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- test -e /root/marker"
"$AIRLOCK" snapshots "$NAME" --json > "$WORK/snaps.json"
ok "snapshots --json lists both" -- bash -c "grep -q '\"clean\"' $WORK/snaps.json && grep -q '\"step-one\"' $WORK/snaps.json"
"$AIRLOCK" snapshot "$NAME" step-one 2>/dev/null; is "snapshot tag taken twice exits 3" "$?" 3
"$AIRLOCK" snapshot "$NAME" "Bad/Tag" 2>/dev/null; is "invalid tag exits 2" "$?" 2
"$AIRLOCK" reset "$NAME" --to nope 2>"$WORK/err"; is "reset to unknown tag exits 2" "$?" 2
ok "unknown tag: one clear line" -- bash -c "[ \$(wc -l < $WORK/err) = 1 ] && grep -q \"no snapshot 'nope'\" $WORK/err"
"$AIRLOCK" reset no-such-sandbox 2>/dev/null; is "reset of unknown sandbox exits 2" "$?" 2
"$AIRLOCK" snapshot "$NAME" --delete step-one; is "snapshot --delete" "$?" 0
ok "deleted tag gone" -- bash -c "! $(printf '%q' "$AIRLOCK") snapshots $NAME | grep -q step-one"
"$AIRLOCK" snapshot "$NAME" --delete clean 2>/dev/null; is "clean cannot be deleted" "$?" 2

# A stopped sandbox: reset starts it at the snapshot.
virsh -q destroy "$DOM" >/dev/null
ok "stopped" -- bash -c "$(printf '%q' "$AIRLOCK") list | grep -q '^$NAME  *stopped'"
"$AIRLOCK" reset "$NAME"; is "reset of a stopped sandbox" "$?" 0
is "running again" "$(ax echo up)" up

# --no-snapshot: reset says so.
"$AIRLOCK" create "$NOSNAP" --no-snapshot --network none --quiet; is "create --no-snapshot" "$?" 0
"$AIRLOCK" reset "$NOSNAP" 2>"$WORK/err"; rc=$?
is "reset without clean exits 2" "$rc" 2
ok "reset without clean says why" -- grep -q -- "--no-snapshot" "$WORK/err"
"$AIRLOCK" destroy --no-evidence "$NOSNAP"

# Evidence at teardown.
ax sh -c 'echo "left by the agent" > /root/evidence.txt'
AIRLOCK_ARCHIVE_KEEP=100 "$AIRLOCK" destroy "$NAME"; is "destroy with evidence" "$?" 0
id=$("$AIRLOCK" archive list --json | python3 -c "import json,sys; print([a['id'] for a in json.load(sys.stdin) if a['name']=='$NAME'][-1])")
ok "archive listed ($id)" -- test -n "$id"
dir=$AIRLOCK_STATE_DIR/archive/$id
ok "archive holds disk, console, events, manifest" -- bash -c "cd $dir && test -s disk.qcow2 -a -s console.log -a -s events.jsonl -a -s manifest.json"
ok "manifest sha256s match the files" -- python3 -c "
import hashlib, json, sys
m = json.load(open('$dir/manifest.json'))
for f, v in m['files'].items():
    h = hashlib.sha256(open('$dir/' + f, 'rb').read()).hexdigest()
    if h != v['sha256']: sys.exit(f + ' differs')
"
ok "archived disk holds only the sandbox's own changes (backed by the image)" -- bash -c "qemu-img info --output=json $dir/disk.qcow2 | grep -q backing-filename"
ok "what the agent left behind is in the archived disk" -- bash -c "grep -qa 'left by the agent' $dir/disk.qcow2"
ok "canary not in the archive (logs, events, disk)" -- bash -c "! grep -rqa '$CANARY' $dir"
ok "archive show" -- bash -c "$(printf '%q' "$AIRLOCK") archive show $id | grep -q '\"image_digest\"'"
"$AIRLOCK" archive rm "$id"; is "archive rm" "$?" 0
ok "archive gone" -- test ! -e "$dir"
ok "nothing of $NAME left in libvirt" -- bash -c "! virsh list --all --name | grep -qx '$DOM' && ! virsh net-list --all --name | grep -qx '$DOM'"

done_testing
