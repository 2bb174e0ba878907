#!/bin/bash
# Integration: images from an installed airlock. The builder and recipes as `make install`
# lays them out (no source tree), a derived image (base recipe + a Debian package, a file
# and a command) built, skipped when up to date, pinned by `spec check`, booted, checked
# from inside, and `image rm` refused while a sandbox uses it, done after destroy.
#
# The base image in the state directory is built (or found up to date) first: a derived
# image names the base's digest and is only built from the recipe that base came from.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

SRC=$(cd "$HERE/../.." && pwd)
AIRLOCK=${AIRLOCK:-$SRC/airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-images
IMG=test-derived
WORK=$(mktemp -d /tmp/airlock-test-images-XXXXXX)
cleanup() {
    "$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
    "$AIRLOCK" image rm "$IMG" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
al() { "$AIRLOCK" "$@"; }
secs() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN{printf "%.0f", e-s}'; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"

# The installed layout: make install's rule into a scratch DESTDIR, found through
# AIRLOCK_IMAGES_DIR (the binary's own data directory is /usr/local/share/airlock).
make -s -C "${AIRLOCK_BUILDDIR:-$SRC}" install-images DESTDIR="$WORK/inst" >/dev/null ||
    bail "make install-images failed"
export AIRLOCK_IMAGES_DIR
AIRLOCK_IMAGES_DIR=$(dirname "$(find "$WORK/inst" -path '*/images/build' | head -n1)")
ok "the installed builder has no source tree around it" -- test ! -e "$AIRLOCK_IMAGES_DIR/../Makefile.am"

t0=$(date +%s.%N)
al image build debian-12 > "$WORK/base.log" 2>&1; rc=$?
echo "# image build debian-12: $(secs "$t0") s ($(tail -n1 "$WORK/base.log"))"
is "image build debian-12" "$rc" 0
[ "$rc" = 0 ] || { tail -n 20 "$WORK/base.log" | sed 's/^/# /'; bail "no base image"; }
base_digest=$(al image list --json | python3 -c 'import json,sys
print(next(i["digest"] for i in json.load(sys.stdin) if i["name"] == "debian-12"))')

printf '#!/bin/sh\necho airlock-tool-ok\n' > "$WORK/tool"; chmod 755 "$WORK/tool"
cat > "$WORK/eval.recipe" <<EOF
# what an eval team bakes once
[image]
from = debian-12
packages = jq
files = tool:/usr/local/bin/airlock-tool
run = echo derived-by-run > /etc/airlock-derived && jq --version > /etc/airlock-jq
EOF
t0=$(date +%s.%N)
al image build "$IMG" --recipe "$WORK/eval.recipe" > "$WORK/derived.log" 2>&1; rc=$?
echo "# image build $IMG (derived): $(secs "$t0") s"
is "image build --recipe (a derived image)" "$rc" 0
[ "$rc" = 0 ] || { tail -n 30 "$WORK/derived.log" | sed 's/^/# /'; bail "derived build failed"; }
manifest=$AIRLOCK_STATE_DIR/images/$IMG/manifest.json
is "the manifest names the base's digest" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"]["digest"])' "$manifest")" \
    "$base_digest"
is "the manifest lists what was added" \
    "$(python3 -c 'import json,sys; a = json.load(open(sys.argv[1]))["added"]
print(a["packages"], [f["path"] for f in a["files"]], len(a["run"]), len(a["sha256"]))' "$manifest")" \
    "['jq'] ['/usr/local/bin/airlock-tool'] 1 64"
ok "image verify of the derived image" -- al image verify "$IMG"
digest=$(al image list --json | python3 -c 'import json,sys
print(next(i["digest"] for i in json.load(sys.stdin) if i["name"] == sys.argv[1]))' "$IMG")

# The same recipe as flags: the same hash, so nothing is built again.
t0=$(date +%s.%N)
out=$(al image build "$IMG" --from debian-12 --packages jq --file "$WORK/tool:/usr/local/bin/airlock-tool" \
    --run 'echo derived-by-run > /etc/airlock-derived && jq --version > /etc/airlock-jq' 2>&1); rc=$?
is "the same additions as flags: exit 0" "$rc" 0
ok "... and up to date, not rebuilt ($(secs "$t0") s)" -- grep -q "is up to date" <<<"$out"
out=$(al image build "$IMG" --from debian-12 --packages bogus-name-that-debian-lacks 2>&1); rc=$?
is "a package Debian lacks: the build fails" "$rc" 1
ok "... and the installed image is untouched" -- test "$(al image list --json | grep -c "$digest")" = 1

# spec check pins the derived image by digest.
printf '[sandbox]\nimage = %s@%s\n' "$IMG" "$digest" > "$WORK/pinned.conf"
ok "spec check: the derived image's digest pins it" -- al spec check "$WORK/pinned.conf"
printf '[sandbox]\nimage = %s@%s\n' "$IMG" "$base_digest" > "$WORK/wrong.conf"
al spec check "$WORK/wrong.conf" >/dev/null 2>&1
is "spec check: the base's digest does not pin the derived image" "$?" 2

# Boot it.
t0=$(date +%s.%N)
flock /tmp/airlock-boot.lock "$AIRLOCK" create "$NAME" -f "$WORK/pinned.conf" --quiet; rc=$?
echo "# create from the derived image: $(secs "$t0") s (boot lock wait included)"
is "create from the derived image (pinned spec)" "$rc" 0
[ "$rc" = 0 ] || { al console "$NAME" | tail -30 | sed 's/^/# /'; bail "create failed"; }
is "the added package is installed" "$(al exec "$NAME" -- jq -n '1+1')" 2
is "the added file is there and executable" "$(al exec "$NAME" -- airlock-tool)" airlock-tool-ok
is "the command ran at build time" "$(al exec "$NAME" -- cat /etc/airlock-derived)" derived-by-run
ok "the base's cleanup still ran after it (no apt lists)" -- \
    al exec "$NAME" -- sh -c '[ -z "$(ls /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]'

# rm: refused while the sandbox uses it, one line, exit 1; done after destroy.
err=$(al image rm "$IMG" 2>&1 >/dev/null); rc=$?
is "image rm while a sandbox uses it: exit 1" "$rc" 1
is "... one line" "$(grep -c . <<<"$err")" 1
echo "#   $err"
# The sandbox's overlay sits on its clean snapshot, whose layer is what the image backs.
ok "... naming the sandbox and the fix" -- grep -qE "in use by (sandbox|snapshot 'clean' of sandbox) '$NAME' .*\(airlock destroy $NAME first\)" <<<"$err"
ok "... and the image is still there" -- al image verify "$IMG"
al destroy --no-evidence "$NAME" >/dev/null
ok "image rm after destroy" -- al image rm "$IMG"
ok "the image is gone" -- bash -c "! $(printf '%q' "$AIRLOCK") image list --json | grep -q '\"$IMG\"'"
ok "no staging directory left" -- bash -c "[ -z \"\$(ls -A $AIRLOCK_STATE_DIR/images | grep -e '^\.derive-' -e '^\.rm-' -e '^\.import')\" ]"
done_testing
