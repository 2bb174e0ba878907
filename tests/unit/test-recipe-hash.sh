#!/bin/bash
# test-recipe-hash: images/build's recipe hash is the recipe's content and executable bits,
# not the checkout's umask (a g+w checkout once forced a rebuild), and the tree as
# `make install` lays it out under the data directory hashes the same as the source tree.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"
SRC=$(cd "$HERE/../.." && pwd)
TOP_BUILD=${G_TEST_BUILDDIR:+$G_TEST_BUILDDIR/..}
TOP_BUILD=${TOP_BUILD:-$SRC}
tmp=$(mktemp -d /tmp/airlock-test-recipe-hash-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# A copy of what images/build reads, with the modes given by $2 (a chmod argument).
copy_tree() {
    mkdir -p "$1" && (cd "$SRC" && cp -r --parents images scripts/lib.sh guest cloud-init "$1/")
    chmod -R "$2" "$1"
}
hash_of() { "$1/images/build" --print-hash debian-12 2>&1; }

copy_tree "$tmp/a" go-w
copy_tree "$tmp/b" g+w
a=$(hash_of "$tmp/a"); b=$(hash_of "$tmp/b")
ok "the recipe hash is a sha256" -- grep -qxE '[0-9a-f]{64}' <<<"$a"
is "a group-writable checkout hashes the same" "$b" "$a"
chmod -x "$tmp/b/images/debian-12/rootfs/etc/initramfs-tools/hooks/airlock-modules"
ok "a hook that lost its executable bit changes the hash" -- test "$(hash_of "$tmp/b")" != "$a"
echo "# tampered" >> "$tmp/a/images/debian-12/recipe.conf"
ok "a changed recipe changes the hash" -- test "$(hash_of "$tmp/a")" != "$a"

# make install's layout (DESTDIR, no source tree) hashes as the tree does.
if make -s -C "$TOP_BUILD" install-images DESTDIR="$tmp/inst" >/dev/null 2>&1; then
    built=$(find "$tmp/inst" -path '*/images/build' | head -n1)
    ok "make install puts the builder under the data directory" -- test -x "$built"
    is "the installed recipe hashes as the source tree's" "$("$built" --print-hash debian-12 2>&1)" \
        "$(hash_of "$SRC")"
else
    ok "make install-images works" -- false
fi
done_testing
