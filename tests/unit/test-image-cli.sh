#!/bin/bash
# test-image-cli: `airlock image build|import|rm` on bad input: one line, the documented exit
# code, nothing left in the store; and every image hint names an installed command
# (airlock image build/import), never a source-tree path (images/build).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=test:///default
export AIRLOCK_ACCEL=tcg
export AIRLOCK_STATE_DIR=$(mktemp -d /tmp/airlock-test-image-cli-XXXXXX)
W=$(mktemp -d /tmp/airlock-test-image-cli-src-XXXXXX)
trap 'rm -rf "$AIRLOCK_STATE_DIR" "$W"' EXIT
. "$HERE/fake-image.sh"

# A builder that says what it was asked: the CLI's argv, not a real build.
mkdir -p "$W/images/debian-12"; touch "$W/images/debian-12/recipe.conf"
printf '#!/bin/sh\necho "build $*"\n' > "$W/images/build"; chmod 755 "$W/images/build"

store() { ls -A "$AIRLOCK_STATE_DIR/images" | tr '\n' ' '; }
# expect DESC CODE -- ARGS...: exit code, exactly one line on stderr, the store unchanged.
expect() {
    local desc=$1 code=$2; shift 3
    local err rc before
    before=$(store)
    err=$(AIRLOCK_IMAGES_DIR=$W/images "$AIRLOCK" "$@" 2>&1 >/dev/null); rc=$?
    is "$desc: exit $code" "$rc" "$code"
    is "$desc: one line on stderr" "$(printf '%s\n' "$err" | grep -c .)" 1
    is "$desc: the store is unchanged" "$(store)" "$before"
    printf '%s\n' "$err" | sed 's/^/#   /'
}

expect "build without a name" 2 -- image build
expect "build of a recipe that does not exist" 2 -- image build nosuch
expect "packages without a base" 2 -- image build my-eval --packages jq
expect "a base without a recipe" 2 -- image build my-eval --from nosuch --packages jq
expect "deriving onto a recipe's name" 2 -- image build debian-12 --from debian-12 --packages jq
expect "a bad package name" 2 -- image build my-eval --from debian-12 --packages 'jq,--bad'
expect "a relative destination" 2 -- image build my-eval --from debian-12 --file /etc/hostname:etc/x
expect "a missing file" 2 -- image build my-eval --from debian-12 --file /nonexistent:/x
printf '[image]\nfrom = debian-12\nfrom = debian-12\n' > "$W/dup.recipe"
expect "a recipe with a key twice" 2 -- image build my-eval --recipe "$W/dup.recipe"
ok "the builder's place is named" -- bash -c "AIRLOCK_IMAGES_DIR=/nonexistent $(printf '%q' "$AIRLOCK") image build debian-12 2>&1 | grep -q 'AIRLOCK_IMAGES_DIR=/nonexistent has no'"

is "a base build runs the builder with the state dir" \
    "$(AIRLOCK_IMAGES_DIR=$W/images "$AIRLOCK" image build debian-12 --force)" \
    "build --state-dir $AIRLOCK_STATE_DIR --force debian-12"
out=$(AIRLOCK_IMAGES_DIR=$W/images "$AIRLOCK" image build my-eval --from debian-12 --packages jq)
ok "a derived build runs the builder with --name and --derive" -- \
    grep -qE "^build --state-dir $AIRLOCK_STATE_DIR --name my-eval --derive $AIRLOCK_STATE_DIR/images/\.derive-my-eval\.[A-Za-z0-9]+ debian-12$" <<<"$out"
is "... and removes what it staged" "$(store)" "debian-12 "
printf '#!/bin/sh\nexit 3\n' > "$W/images/build"
expect "a failing builder" 1 -- image build debian-12

expect "rm of an unknown image" 2 -- image rm nosuch
expect "rm of a bad name" 2 -- image rm ../images
expect "import of nothing" 2 -- image import /nonexistent
qemu-img create -q -f qcow2 -F qcow2 -b "$img/disk.qcow2" "$W/over.qcow2"
expect "import of a disk with a backing file" 2 -- image import --name over "$W/over.qcow2"
expect "import of a disk without a name" 2 -- image import "$W/over.qcow2"
expect "import over an existing image" 3 -- image import "$img"

# Hints name installed commands.
err=$("$AIRLOCK" create ok-name --image nope 2>&1)
ok "unknown image: the hint is airlock image build" -- grep -q "airlock image build nope" <<<"$err"
echo tampered >> "$img/vmlinuz"
err=$("$AIRLOCK" image verify debian-12 2>&1)
ok "tampered image: the hint is airlock image build --force" -- grep -q "airlock image build --force debian-12" <<<"$err"
printf '[sandbox]\nimage = debian-12@sha256:%064d\n' 0 > "$W/pin.conf"
fake_manifest
err=$("$AIRLOCK" create ok-name -f "$W/pin.conf" 2>&1)
ok "another pinned digest: the hint is airlock image import" -- grep -q "airlock image import" <<<"$err"
for e in "create ok-name --image nope" "image verify nope" "create ok-name -f $W/pin.conf"; do
    ok "no source-tree path in: $e" -- bash -c "! $(printf '%q' "$AIRLOCK") $e 2>&1 | grep -qE 'images/build|scripts/'"
done
done_testing
