#!/bin/bash
# Integration: airlock-guest on one real sandbox. A conformance suite for exec and files
# modelled on what evaluation frameworks check of a sandbox provider (text, binary, UTF-8
# and empty files; nested and relative paths; not-found, permission and is-a-directory
# errors; a 50 MiB round trip; stdout, stderr, exit codes; timeouts that kill children;
# self-SIGTERM; env; stdin as text, binary and 1 MiB; long command lines; cwd; users),
# then Ctrl-C and a lost host leaving nothing running, several execs at once, a guest
# port fed garbage, directory trees, and `airlock shell` driven through tmux.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=airlock-test-guest
DOM=airlock-$NAME
TMUX_S=airlock-test-guest-$$
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
cleanup() {
    tmux kill-session -t "$TMUX_S" >/dev/null 2>&1
    "$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM
A=$(printf '%q' "$AIRLOCK")
ax() { "$AIRLOCK" exec "$NAME" -- "$@"; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
command -v tmux >/dev/null || bail "tmux not installed (scripts/setup installs it)"

# A secret with a quote, a backslash and spaces: read from the seed's files by the helper.
printf '%s\n' "API_KEY=it's a \\ \"key\"" > "$WORK/secrets.env"; chmod 600 "$WORK/secrets.env"
"$AIRLOCK" create "$NAME" --secrets "$WORK/secrets.env" --env MODE=guest-test --quiet; rc=$?
is "create" "$rc" 0
[ "$rc" = 0 ] || bail "create failed"
channel=$("$AIRLOCK" inspect --json "$NAME" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("exec_channel"))')
is "inspect: exec goes through airlock-guest" "$channel" airlock-guest
[ "$channel" = airlock-guest ] || bail "airlock-guest does not answer in $NAME"

# --- exec: output, exit codes -------------------------------------------------------------
ax sh -c 'echo out; echo err >&2; exit 3' >"$WORK/o" 2>"$WORK/e"; rc=$?
is "exit code 3" "$rc" 3
is "stdout alone on stdout" "$(cat "$WORK/o")" out
is "stderr alone on stderr" "$(cat "$WORK/e")" err
ax true; is "exit 0" "$?" 0
ax sh -c 'exit 255'; is "exit 255" "$?" 255
is "UTF-8 output" "$(ax printf 'h\303\251llo \342\234\223 \360\237\230\200')" "héllo ✓ 😀"
ax sh -c 'kill -TERM $$' 2>"$WORK/e"; rc=$?
is "self-SIGTERM is exit 143" "$rc" 143
ok "self-SIGTERM is not a timeout" -- bash -c "! grep -q 'timed out' $WORK/e"
ax sh -c 'kill -KILL $$'; is "SIGKILL is exit 137" "$?" 137
ax no-such-program-xyz 2>"$WORK/e"; is "unknown program: exit 127" "$?" 127
"$AIRLOCK" exec "$NAME" --timeout 2 -- sh -c 'sleep 300 & sleep 301' 2>"$WORK/e"; rc=$?
is "timeout: exit 124" "$rc" 124
ok "timeout: says so" -- grep -q "timed out after 2 s" "$WORK/e"
ok "timeout: the process group is gone (children too)" -- bash -c "! $A exec $NAME -- pgrep -f 'sleep 30[01]'"

# --- exec: env, cwd, stdin, long command lines --------------------------------------------
is "the sandbox's secret in the environment (quotes intact)" "$(ax sh -c 'printf %s "$API_KEY"')" "it's a \\ \"key\""
is "the sandbox's env in the environment" "$(ax sh -c 'printf %s "$MODE"')" guest-test
is "--env wins over the sandbox's env" "$("$AIRLOCK" exec "$NAME" -e MODE=mine -- sh -c 'printf %s "$MODE"')" mine
is "env" "$("$AIRLOCK" exec "$NAME" -e FOO=bar -e 'SPACE=a b' -- sh -c 'echo "$FOO|$SPACE"')" "bar|a b"
is "cwd default: the user's home" "$(ax pwd)" /root
is "cwd absolute" "$("$AIRLOCK" exec "$NAME" -w /tmp -- pwd)" /tmp
ax mkdir -p /root/rel/sub
is "cwd relative (to home)" "$("$AIRLOCK" exec "$NAME" -w rel/sub -- pwd)" /root/rel/sub
"$AIRLOCK" exec "$NAME" -w /no/such/dir -- pwd 2>"$WORK/e"; rc=$?
ok "cwd missing: an error naming it (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -q '/no/such/dir' $WORK/e"
is "stdin text" "$(echo x | ax cat)" x
printf 'l\303\274ne 1\nline 2\n' > "$WORK/t"
is "stdin UTF-8 lines" "$(ax cat < "$WORK/t" | sha256sum)" "$(sha256sum < "$WORK/t")"
head -c 70000 /dev/urandom > "$WORK/bin"
is "stdin binary" "$(ax sha256sum < "$WORK/bin" | cut -d' ' -f1)" "$(sha256sum < "$WORK/bin" | cut -d' ' -f1)"
head -c 1048576 /dev/urandom > "$WORK/1m"
is "stdin 1 MiB" "$(ax sha256sum < "$WORK/1m" | cut -d' ' -f1)" "$(sha256sum < "$WORK/1m" | cut -d' ' -f1)"
is "stdin empty" "$(ax wc -c < /dev/null)" 0
long=$(head -c 100000 /dev/zero | tr '\0' 'a')
is "a 100 KB argument" "$(ax sh -c 'printf %s "$1" | wc -c' sh "$long")" 100000
many=$(seq 1 5000)
# shellcheck disable=SC2086
is "5000 arguments" "$(ax sh -c 'echo $#' sh $many)" 5000

# --- users ----------------------------------------------------------------------------
ax useradd -m -s /bin/sh alice
is "runs as a user created in the guest" "$("$AIRLOCK" exec "$NAME" -u alice -- id -un)" alice
is "that user's home" "$("$AIRLOCK" exec "$NAME" -u alice -- pwd)" /home/alice
is "user:group" "$("$AIRLOCK" exec "$NAME" -u alice:root -- id -gn)" root
is "a user who may not read the secrets file does not get the secrets" \
    "$("$AIRLOCK" exec "$NAME" -u alice -- sh -c 'printf %s "${API_KEY-unset}|$MODE"')" "unset|guest-test"
"$AIRLOCK" exec "$NAME" -u nobody-here -- id 2>"$WORK/e"; rc=$?
is "nonexistent user: exit 2" "$rc" 2
ok "nonexistent user: a clear error" -- grep -q "user 'nobody-here' does not exist in the guest" "$WORK/e"

# --- files ----------------------------------------------------------------------------
printf 'plain text\n' > "$WORK/text.txt"
printf '\000\001\377binary\000' > "$WORK/bin.dat"
printf 'grüße ✓\n' > "$WORK/utf8-ñ.txt"
: > "$WORK/empty"
for f in text.txt bin.dat "utf8-ñ.txt" empty; do
    "$AIRLOCK" cp "$WORK/$f" "$NAME:/root/files/nested/deep/$f"; rc=$?
    is "cp in $f (parents created)" "$rc" 0
    rm -f "$WORK/back"
    "$AIRLOCK" cp "$NAME:/root/files/nested/deep/$f" "$WORK/back"
    ok "cp out $f: same bytes" -- cmp "$WORK/$f" "$WORK/back"
done
is "guest sees the binary file's size" "$(ax stat -c %s /root/files/nested/deep/bin.dat)" 10
"$AIRLOCK" cp "$WORK/text.txt" "$NAME:relative/path" 2>"$WORK/e"; rc=$?
is "relative guest path refused (usage)" "$rc" 2
"$AIRLOCK" cp "$NAME:/root/does-not-exist" "$WORK/x" 2>"$WORK/e"; rc=$?
ok "not found: an error saying so (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -q 'No such file or directory' $WORK/e"
"$AIRLOCK" cp "$NAME:/root/files" "$WORK/x" 2>"$WORK/e"; rc=$?
ok "a directory without -r: is a directory (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -q 'is a directory' $WORK/e"
"$AIRLOCK" cp "$WORK/text.txt" "$NAME:/root/files" 2>"$WORK/e"; rc=$?
ok "onto a directory: is a directory (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -qi 'is a directory' $WORK/e"
ax sh -c 'echo locked > /root/locked && chattr +i /root/locked'
"$AIRLOCK" cp "$WORK/text.txt" "$NAME:/root/locked" 2>"$WORK/e"; rc=$?
ok "permission: an error saying so (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -q 'Operation not permitted' $WORK/e"
is "the immutable file is untouched" "$(ax cat /root/locked)" locked
ax chattr -i /root/locked
"$AIRLOCK" exec "$NAME" -u alice -- sh -c 'echo secret > /home/alice/own && chmod 600 /home/alice/own'
ok "a file only root and alice may read reads as root" -- bash -c "$A exec $NAME -- cat /home/alice/own | grep -q secret"
"$AIRLOCK" exec "$NAME" -u nobody -- cat /home/alice/own 2>"$WORK/e"; rc=$?
ok "another user may not (exit $rc)" -- bash -c "[ $rc != 0 ] && grep -q 'Permission denied' $WORK/e"
chmod 0750 "$WORK/text.txt"
"$AIRLOCK" cp "$WORK/text.txt" "$NAME:/root/mode.txt"
is "cp in keeps the mode" "$(ax stat -c %a /root/mode.txt)" 750
dd if=/dev/urandom of="$WORK/big" bs=1M count=50 2>/dev/null
"$AIRLOCK" cp "$WORK/big" "$NAME:/root/big"; is "cp in 50 MiB" "$?" 0
is "50 MiB in the guest: same sha256" "$(ax sha256sum /root/big | cut -d' ' -f1)" "$(sha256sum "$WORK/big" | cut -d' ' -f1)"
"$AIRLOCK" cp "$NAME:/root/big" "$WORK/big.back"; is "cp out 50 MiB" "$?" 0
ok "50 MiB round trip: same bytes" -- cmp "$WORK/big" "$WORK/big.back"
"$AIRLOCK" cp --max-size 1M "$NAME:/root/big" "$WORK/capped" 2>"$WORK/e"; rc=$?
ok "--max-size refuses a bigger file and leaves nothing (exit $rc)" -- bash -c "[ $rc != 0 ] && [ ! -e $WORK/capped ] && ! ls -a $WORK | grep -q airlock-get"
ax rm -f /root/big

# --- directory trees --------------------------------------------------------------------
mkdir -p "$WORK/tree/a/b" "$WORK/tree/empty-dir"
printf 'f\n' > "$WORK/tree/a/b/f"; printf '\000\377' > "$WORK/tree/bin"; : > "$WORK/tree/zero"
chmod 0700 "$WORK/tree/a"; chmod 0640 "$WORK/tree/bin"
ln -s b "$WORK/tree/a/inside"; ln -s /etc "$WORK/tree/out"; ln -s ../../../../etc/passwd "$WORK/tree/a/b/up"
for i in $(seq 1 200); do echo "$i" > "$WORK/tree/a/n$i"; done
"$AIRLOCK" cp -r "$WORK/tree" "$NAME:/root/tree"; is "cp -r in" "$?" 0
is "tree in the guest: modes, symlinks, files" \
    "$(ax sh -c 'cd /root/tree && find . -printf "%M %p %l\n" | sort | sha256sum')" \
    "$(cd "$WORK/tree" && find . -printf '%M %p %l\n' | sort | sha256sum)"
is "a symlink out of the tree stays a symlink in the guest" "$(ax readlink /root/tree/out)" /etc
"$AIRLOCK" cp -r "$NAME:/root/tree" "$WORK/tree.back"; is "cp -r out" "$?" 0
ok "tree round trip: same content, modes and links" -- diff -r --no-dereference "$WORK/tree" "$WORK/tree.back"
ok "symlink out of the tree not followed on the way back" -- test -L "$WORK/tree.back/out"
# A guest symlink where the host would write: the host's file is never reached through it.
ax sh -c 'mkdir -p /root/evil && ln -sfn /tmp /root/evil/d'
mkdir -p "$WORK/evil/d"; echo host > "$WORK/evil/d/keep"
"$AIRLOCK" cp -r "$NAME:/root/evil" "$WORK/evil" 2>"$WORK/e"; rc=$?
ok "a guest symlink over a host directory: refused or replaced, never followed (exit $rc)" -- \
    bash -c "grep -q host $WORK/evil/d/keep 2>/dev/null || [ -L $WORK/evil/d ]"

# --- several at once, Ctrl-C, a lost host -------------------------------------------------
start=$(date +%s.%N)
for i in 1 2 3; do G_MESSAGES_DEBUG=airlock "$AIRLOCK" exec "$NAME" -- sleep 3 >"$WORK/par$i" 2>&1 & done
wait
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
ok "three execs at once, each on its own port (${took}s)" -- bash -c "! grep -q 'QEMU guest agent' $WORK/par1 $WORK/par2 $WORK/par3 && awk 'BEGIN{exit !($took < 7)}'"
"$AIRLOCK" exec "$NAME" -- sleep 310 & pid=$!
sleep 2; kill -INT $pid; wait $pid; rc=$?
is "Ctrl-C (SIGINT) on exec: the command's status (130)" "$rc" 130
ok "Ctrl-C on exec leaves no process in the guest" -- bash -c "! $A exec $NAME -- pgrep -f 'sleep 310'"
"$AIRLOCK" exec "$NAME" -- sh -c 'trap "" INT; sleep 311' & pid=$!
sleep 2; kill -TERM $pid; wait $pid; rc=$?
is "SIGTERM on exec reaches the group (143)" "$rc" 143
"$AIRLOCK" exec "$NAME" -- sh -c 'sleep 312 & sleep 313' & pid=$!
sleep 2; kill -KILL $pid; wait $pid 2>/dev/null
sleep 1
ok "airlock killed (-9): the guest ends what it started" -- bash -c "! $A exec $NAME -- pgrep -f 'sleep 31[23]'"

# --- a guest port fed garbage ------------------------------------------------------------
sock=$(virsh -q dumpxml "$DOM" | python3 -c '
import sys, xml.etree.ElementTree as ET
for c in ET.parse(sys.stdin).getroot().iter("channel"):
    t = c.find("target"); s = c.find("source")
    if t is not None and t.get("name") == "org.airlock.guest.0" and s is not None:
        print(s.get("path"))')
python3 - "$sock" <<'PY'
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(os.urandom(4096) + struct.pack("<IHHI", 0xFFFFFFF0, 16, 0, 1) + os.urandom(1024))
s.close()
PY
is "after garbage on a port, exec still works" "$(ax echo alive)" alive
is "and the helper did not restart" "$(AIRLOCK_GUEST=agent "$AIRLOCK" exec "$NAME" -- systemctl show -p NRestarts --value airlock-guest)" 0

# --- the fallback ---------------------------------------------------------------------------
is "AIRLOCK_GUEST=agent: exec through the QEMU agent" "$(AIRLOCK_GUEST=agent "$AIRLOCK" exec "$NAME" -- echo via-agent)" via-agent

# --- airlock shell under a real terminal ---------------------------------------------------
tmux new-session -d -s "$TMUX_S" -x 120 -y 30 \
    "env AIRLOCK_STATE_DIR=$AIRLOCK_STATE_DIR LIBVIRT_DEFAULT_URI=$LIBVIRT_DEFAULT_URI $A shell $NAME; echo SHELL-EXIT=\$?; stty -a | grep -o -- '-\?icanon' | head -1; sleep 60"
pane() { tmux capture-pane -p -t "$TMUX_S" -S -100; }
wait_for() { # wait_for TEXT: up to 20 s for TEXT on the pane
    for _ in $(seq 1 100); do pane | grep -q -- "$1" && return 0; sleep 0.2; done
    return 1
}
ok "shell: a prompt" -- wait_for 'root@'
tmux send-keys -t "$TMUX_S" 'echo shell-$((6*7)); tty' Enter
ok "shell: a typed command's output" -- wait_for 'shell-42'
ok "shell: on a pty" -- wait_for '/dev/pts/'
tmux send-keys -t "$TMUX_S" 'sleep 314' Enter
sleep 1.5
tmux send-keys -t "$TMUX_S" C-c
sleep 0.5
tmux send-keys -t "$TMUX_S" 'echo after-$?' Enter
ok "shell: Ctrl-C stops a running sleep" -- wait_for 'after-130'
ok "shell: and it is gone" -- bash -c "! $A exec $NAME -- pgrep -f 'sleep 314'"
tmux resize-window -t "$TMUX_S" -x 100 -y 20 >/dev/null 2>&1
sleep 0.5
tmux send-keys -t "$TMUX_S" 'stty size' Enter
ok "shell: the window size follows (SIGWINCH)" -- wait_for '^20 100'
tmux send-keys -t "$TMUX_S" 'exit 7' Enter
ok "shell: exit code passed through" -- wait_for 'SHELL-EXIT=7'
ok "shell: terminal restored (canonical mode)" -- bash -c "tmux capture-pane -p -t $TMUX_S | grep -qx 'icanon'"
tmux kill-session -t "$TMUX_S" >/dev/null 2>&1
tmux new-session -d -s "$TMUX_S" -x 120 -y 30 \
    "env AIRLOCK_STATE_DIR=$AIRLOCK_STATE_DIR LIBVIRT_DEFAULT_URI=$LIBVIRT_DEFAULT_URI $A exec -it $NAME -- sh -c 'printf \"%s type: \" \$TERM; read x; exit \$x'; echo EXEC-IT-EXIT=\$?; sleep 60"
ok "exec -it: the command's prompt, with TERM set" -- wait_for '^[a-z][a-z0-9-]* type:'
tmux send-keys -t "$TMUX_S" '5' Enter
ok "exec -it: what was typed reached it (exit 5)" -- wait_for 'EXEC-IT-EXIT=5'
tmux kill-session -t "$TMUX_S" >/dev/null 2>&1
"$AIRLOCK" exec -it "$NAME" -- true </dev/null 2>"$WORK/e"; rc=$?
ok "exec -t without a terminal: a usage error (exit $rc)" -- bash -c "[ $rc = 2 ] && grep -q terminal $WORK/e"

"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null; is "destroy" "$?" 0
done_testing
