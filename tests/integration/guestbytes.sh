#!/bin/bash
# Integration: what a hostile guest controls must not hurt the host: the mode and size of
# files copied out, host symlinks copied in, and the bytes of its error messages.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-guestbytes
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
trap '"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM
ax() { "$AIRLOCK" exec "$NAME" -- "$@"; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
umask 022

"$AIRLOCK" create "$NAME" --quiet; rc=$?
is "create" "$rc" 0
[ "$rc" = 0 ] || bail "create failed"

# A setuid, world-writable file and one of 3 MiB, made by root in the guest.
ax sh -c 'printf hello > /root/suid && chmod 4777 /root/suid &&
          head -c 3145728 /dev/zero > /root/big' >/dev/null
is "guest file is 4777" "$(ax stat -c %a /root/suid)" 4777

"$AIRLOCK" cp "$NAME:/root/suid" "$WORK/suid"; rc=$?
is "cp out of the setuid file" "$rc" 0
is "host file mode is 0666 less the umask, not the guest's" "$(stat -c %a "$WORK/suid")" 644
is "host file content" "$(cat "$WORK/suid")" hello

"$AIRLOCK" cp --max-size 1M "$NAME:/root/big" "$WORK/big" 2>"$WORK/big.err"; rc=$?
is "cp out over --max-size fails" "$rc" 1
ok "the error names the limit" -- grep -q "larger than the 1M limit" "$WORK/big.err"
ok "nothing left behind (no file, no temporary)" -- test -z "$(ls -A "$WORK" | grep big | grep -v big.err)"
"$AIRLOCK" cp --max-size 4M "$NAME:/root/big" "$WORK/big"; rc=$?
is "cp out under --max-size" "$rc" 0
is "size copied" "$(stat -c %s "$WORK/big" 2>/dev/null)" 3145728

# cp in: a symlink is followed only with -L.
printf private > "$WORK/key"
ln -s "$WORK/key" "$WORK/link"
"$AIRLOCK" cp "$WORK/link" "$NAME:/root/link" 2>"$WORK/link.err"; rc=$?
is "cp in of a symlink is refused" "$rc" 2
ok "the refusal says -L" -- grep -q -- "-L" "$WORK/link.err"
ok "nothing reached the guest" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- test -e /root/link"
"$AIRLOCK" cp -L "$WORK/link" "$NAME:/root/link"; rc=$?
is "cp -L follows it" "$rc" 0
is "content in the guest" "$(ax cat /root/link)" private

# A guest whose stat writes terminal sequences and a fake airlock line on failure. Only the
# QEMU guest agent's path (the fallback) asks the guest's stat: force it.
export AIRLOCK_GUEST=agent
ax sh -c 'printf "#!/bin/sh\nprintf \"\\033[2J\\033]0;pwned\\007oops\\nairlock: copied, all fine\\n\" >&2\nexit 1\n" > /usr/local/bin/stat && chmod 755 /usr/local/bin/stat' >/dev/null
"$AIRLOCK" cp "$NAME:/root/suid" "$WORK/esc" 2>"$WORK/esc.err"; rc=$?
echo "# $(head -c 300 "$WORK/esc.err" | od -c | head -3 | tr '\n' ' ')"
is "cp with a lying stat fails" "$rc" 125
ok "no ESC or BEL byte reaches the terminal" -- bash -c "! LC_ALL=C grep -q \$'[\\x1b\\x07]' '$WORK/esc.err'"
ok "the sequence is shown escaped" -- grep -qF '\x1b[2J' "$WORK/esc.err"
is "one line of error, no forged airlock: line" "$(wc -l < "$WORK/esc.err")" 1
unset AIRLOCK_GUEST
ax rm -f /usr/local/bin/stat

done_testing
