#!/bin/bash
# Integration: pause (memory to disk, qemu gone), resume (as it was: processes,
# files, clock), ttl, reset and destroy of a paused sandbox, on one real guest.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-pause
DOM=airlock-$NAME
PAUSED=$AIRLOCK_STATE_DIR/sandboxes/$NAME/paused
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
trap '"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM
ax() { "$AIRLOCK" exec "$NAME" -- "$@"; }
qa() { printf '%q' "$AIRLOCK"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
qemu_pid() { cat "/run/libvirt/qemu/$DOM.pid" 2>/dev/null; }
field() { # field JSON-FILE KEY: a top-level member, "null" when null
    python3 -c "import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print('null' if v is None else v)" "$1" "$2"
}
epoch() { date -d "$1" +%s; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"

"$AIRLOCK" create "$NAME" --quiet; rc=$?
is "create" "$rc" 0
[ "$rc" = 0 ] || bail "create failed"

# Before the pause: a background process, a file in /tmp.
MARK="mark-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SLEEP=$(ax sh -c "echo $MARK > /tmp/pause-mark; nohup sleep 100000 >/dev/null 2>&1 & echo \$!")
ok "background sleep started (pid $SLEEP)" -- test -n "$SLEEP"
QPID=$(qemu_pid)
RSS=$(ps -o rss= -p "$QPID" 2>/dev/null | tr -d ' ')
echo "# qemu RSS before pause: $((RSS / 1024)) MiB (pid $QPID)"

t0=$(now)
"$AIRLOCK" pause "$NAME" --json > "$WORK/pause.json"; rc=$?
echo "# pause took $(since "$t0") s (wall, CLI included); $(tr -d '\n ' < "$WORK/pause.json")"
is "pause" "$rc" 0
ok "qemu process is gone (RAM freed)" -- bash -c "! kill -0 $QPID 2>/dev/null"
ok "list says paused" -- bash -c "$(qa) list | grep -E '^$NAME +paused'"
"$AIRLOCK" inspect "$NAME" --json > "$WORK/inspect.json"
is "inspect --json says paused" "$(field "$WORK/inspect.json" state)" paused
ok "list --json says paused" -- bash -c "$(qa) list --json | python3 -c \"import json,sys; sys.exit(0 if [s for s in json.load(sys.stdin) if s['name']=='$NAME' and s['state']=='paused'] else 1)\""
ok "domain still defined" -- bash -c "virsh list --all --name | grep -qx $DOM"
ok "saved memory root's alone, in a root-only directory" -- bash -c \
    "[ \"\$(stat -c '%U %a' $PAUSED/memory.save)\" = 'root 600' ] && [ \"\$(stat -c '%U %a' $PAUSED)\" = 'root 710' ]"
ok "the live overlay stays (no new layer)" -- bash -c "test -f $AIRLOCK_STATE_DIR/sandboxes/$NAME/overlay.qcow2 && [ \$($(qa) snapshots $NAME --json | grep -c '\"tag\"') = 1 ]"

"$AIRLOCK" exec "$NAME" -- true 2>"$WORK/err"; rc=$?
is "exec on a paused sandbox exits 2" "$rc" 2
ok "exec says to resume, on one line" -- bash -c "[ \$(wc -l < $WORK/err) = 1 ] && grep -q 'airlock resume $NAME' $WORK/err"
"$AIRLOCK" cp /etc/hostname "$NAME:/tmp/x" 2>"$WORK/err"; is "cp on a paused sandbox exits 2" "$?" 2
"$AIRLOCK" snapshot "$NAME" t1 2>"$WORK/err"; is "snapshot of a paused sandbox exits 2" "$?" 2
ok "snapshot says to resume" -- grep -q "airlock resume $NAME" "$WORK/err"
"$AIRLOCK" pause "$NAME" 2>"$WORK/err"; is "pause of a paused sandbox exits 2" "$?" 2
ok "pause again says it is paused" -- grep -q "paused already" "$WORK/err"

sleep 5 # the guest clock stood still meanwhile: resume must step it
t0=$(now)
"$AIRLOCK" resume "$NAME" --json > "$WORK/resume.json"; rc=$?
echo "# resume took $(since "$t0") s (wall, CLI included); $(tr -d '\n ' < "$WORK/resume.json")"
is "resume" "$rc" 0
is "the same background process is alive" "$(ax sh -c "kill -0 $SLEEP && cat /proc/$SLEEP/comm")" sleep
is "the file written before the pause is there" "$(ax cat /tmp/pause-mark)" "$MARK"
skew=$(( $(ax date +%s) - $(date +%s) ))
ok "guest clock right after resume (skew ${skew}s)" -- test "${skew#-}" -le 2
ok "saved memory dropped" -- test ! -e "$PAUSED"
is "inspect says running" "$("$AIRLOCK" inspect "$NAME" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" running
"$AIRLOCK" resume "$NAME" 2>"$WORK/err"; is "resume of a running sandbox exits 2" "$?" 2
ok "resume of a running one says so" -- grep -q "running, not paused" "$WORK/err"
QPID=$(qemu_pid)
RSS=$(ps -o rss= -p "$QPID" 2>/dev/null | tr -d ' ')
echo "# qemu RSS after resume: $((RSS / 1024)) MiB"

# ttl: 30m from now, +1h more, none; inspect shows each.
"$AIRLOCK" ttl "$NAME" 30m >/dev/null; is "ttl 30m" "$?" 0
"$AIRLOCK" inspect "$NAME" --json > "$WORK/inspect.json"
e1=$(epoch "$(field "$WORK/inspect.json" expires)")
d=$(( e1 - $(date +%s) ))
ok "inspect: expires in 30 min (${d}s)" -- test "$d" -ge 1740 -a "$d" -le 1800
"$AIRLOCK" ttl "$NAME" +1h --json > "$WORK/ttl.json"; is "ttl +1h" "$?" 0
"$AIRLOCK" inspect "$NAME" --json > "$WORK/inspect.json"
is "inspect: expires 1 h later" "$(epoch "$(field "$WORK/inspect.json" expires)")" "$((e1 + 3600))"
is "ttl --json says the same expiry" "$(field "$WORK/ttl.json" expires)" "$(field "$WORK/inspect.json" expires)"
# Changed while paused: the resumed guest's live metadata has it (gc reads it).
"$AIRLOCK" pause "$NAME" >/dev/null && "$AIRLOCK" ttl "$NAME" none >/dev/null; is "ttl none while paused" "$?" 0
"$AIRLOCK" inspect "$NAME" --json > "$WORK/inspect.json"
is "inspect: no expiry while paused" "$(field "$WORK/inspect.json" expires)" null
"$AIRLOCK" resume "$NAME" >/dev/null; is "resume after ttl change" "$?" 0
"$AIRLOCK" inspect "$NAME" --json > "$WORK/inspect.json"
is "inspect: no expiry after resume (live metadata)" "$(field "$WORK/inspect.json" ttl_s)" 0
"$AIRLOCK" ttl "$NAME" 2x 2>"$WORK/err"; is "bad duration exits 2" "$?" 2
ok "bad duration: one line naming the forms" -- bash -c "[ \$(wc -l < $WORK/err) = 1 ] && grep -q '+2h' $WORK/err"

# A pause killed between the save and the rest: still paused, and resume brings it back.
AIRLOCK_CRASH_AT=pause "$AIRLOCK" pause "$NAME" 2>/dev/null; rc=$?
is "pause killed at the crash point" "$rc" 137
ok "killed pause: list says paused" -- bash -c "$(qa) list | grep -E '^$NAME +paused'"
"$AIRLOCK" gc >/dev/null 2>&1
ok "gc leaves a paused sandbox alone" -- test -f "$PAUSED/memory.save"
"$AIRLOCK" resume "$NAME" >/dev/null; is "resume after a killed pause" "$?" 0
is "killed pause: file still there" "$(ax cat /tmp/pause-mark)" "$MARK"

# reset of a paused sandbox: back to clean, the paused state dropped.
"$AIRLOCK" pause "$NAME" >/dev/null
"$AIRLOCK" reset "$NAME"; is "reset from paused" "$?" 0
ok "reset: the file is gone (clean)" -- bash -c "! $(qa) exec $NAME -- test -e /tmp/pause-mark"
ok "reset: saved memory dropped" -- test ! -e "$PAUSED"
is "reset: running" "$("$AIRLOCK" inspect "$NAME" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" running

# destroy of a paused sandbox leaves nothing.
"$AIRLOCK" pause "$NAME" >/dev/null; is "pause again" "$?" 0
"$AIRLOCK" destroy --no-evidence "$NAME"; is "destroy from paused" "$?" 0
ok "no saved memory, no directory" -- test ! -e "$AIRLOCK_STATE_DIR/sandboxes/$NAME"
ok "no domain, no network" -- bash -c "! virsh list --all --name | grep -qx '$DOM' && ! virsh net-list --all --name | grep -qx '$DOM'"
ok "no nft table" -- bash -c "! nft list tables | grep -q 'airlock_${NAME//-/_}\$'"

done_testing
