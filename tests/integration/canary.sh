#!/bin/bash
# Integration: test-secret hygiene. A unique value from a secrets file
# is found nowhere on the host after create, exec, reset and destroy (airlock's
# output, events, libvirt's logs and XML, console.log, dns.log, the evidence
# archive, process command lines), in plain text or base64 (the seed encodes it
# once, a multipart user-data twice), while it IS inside the guest. A credential
# in airlock's own environment never reaches the guest. Spec files: pinned image,
# [cloud-init] parts merged and schema-valid, refusals before anything is made.
# Needs root, libvirtd and the base image in $AIRLOCK_STATE_DIR. Boots one guest.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-canary
DOM=airlock-$NAME
SBX=$AIRLOCK_STATE_DIR/sandboxes/$NAME
CANARY="canary-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ENV_CANARY="envcanary-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORK=$(mktemp -d /tmp/airlock-test-canary-XXXXXX)
T0=$(date +%s)
OUT=$WORK/airlock-output.log # everything airlock prints on the host side, searched
PATTERNS=$WORK/patterns      # the canary, plain and base64 (once and twice) at every alignment

cleanup() {
    "$AIRLOCK" destroy --force "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

# Runs airlock with stdout and stderr appended to $OUT (and passed on).
al() { "$AIRLOCK" "$@" 2> >(tee -a "$OUT" >&2) | tee -a "$OUT"; return "${PIPESTATUS[0]}"; }
q() { printf '%q' "$1"; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
DIGEST=$("$AIRLOCK" image list --json | sed -n 's/.*"digest" : "\(sha256:[0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$DIGEST" ] || bail "no base image in $AIRLOCK_STATE_DIR (scripts/build-image)"

# base64 fragments of $1 at the three alignments, without the edge characters that
# depend on the neighbours; then the same again for each fragment (double encoding).
b64_fragments() {
    local s=$1 p enc
    for p in "" "x" "xy"; do
        enc=$(printf '%s%s' "$p" "$s" | base64 -w0)
        enc=${enc:4}; enc=${enc%????}
        echo "${enc%?}"
    done
}
{
    echo "$CANARY"
    echo "$ENV_CANARY"
    for f in $(b64_fragments "$CANARY") $(b64_fragments "$ENV_CANARY"); do
        echo "$f"
        b64_fragments "$f"
    done
} | awk 'length($0) >= 16' > "$PATTERNS"
# nowhere FILE...: none of the patterns occurs in the files (binary too). A missing
# file or directory, or one grep cannot read, fails: a search of nothing proves nothing.
nowhere() {
    local f rc
    for f in "$@"; do [ -e "$f" ] || { echo "missing: $f (nothing to search)"; return 1; }; done
    grep -rqaF -f "$PATTERNS" "$@"; rc=$?
    [ "$rc" = 0 ] && echo "found in: $(grep -rlaF -f "$PATTERNS" "$@" | head -5 | tr '\n' ' ')"
    [ "$rc" = 1 ]
}

"$AIRLOCK" destroy --force "$NAME" >/dev/null 2>&1

# ---- the spec: pinned image, secrets file, [cloud-init] parts ----
printf 'CANARY_KEY=%s\nOTHER=plain-test-value\n' "$CANARY" > "$WORK/secrets.env"
chmod 600 "$WORK/secrets.env"
cat > "$WORK/extra.yaml" <<'EOF'
#cloud-config
write_files:
  - path: /etc/airlock-canary-part
    permissions: '0644'
    content: |
      merged by cloud-init
runcmd:
  - [sh, -c, "echo part-runcmd > /var/tmp/airlock-part-runcmd"]
EOF
cat > "$WORK/more.yaml" <<'EOF'
#cloud-config
bootcmd:
  - [sh, -c, "echo part-bootcmd > /run/airlock-part-bootcmd"]
EOF
cat > "$WORK/canary.conf" <<EOF
# tests/integration/canary.sh
[sandbox]
image=debian-12@$DIGEST
cpus=1
memory=512
labels=suite=canary

[network]
mode=isolated

[secrets]
file=secrets.env

[env]
MODE=canary

[cloud-init]
parts=extra.yaml;more.yaml
EOF

al spec check "$WORK/canary.conf"; is "spec check: valid spec exits 0" "$?" 0
al spec check --json "$WORK/canary.conf" > "$WORK/check.json"
ok "spec check --json names the secrets" -- grep -q '"CANARY_KEY"' "$WORK/check.json"
ok "spec check --json has the parts' sha256" -- grep -q "\"sha256\" : \"$(sha256sum < "$WORK/extra.yaml" | cut -d' ' -f1)\"" "$WORK/check.json"

# ---- refusals: before anything is made ----
# expect_refusal DESC CODE WORDS -- ARGS: exit CODE, one stderr line with WORDS, nothing made.
expect_refusal() {
    local desc=$1 code=$2 words=$3; shift 4
    local err rc
    err=$("$AIRLOCK" "$@" 2>&1 >/dev/null); rc=$?
    printf '%s\n' "$err" >> "$OUT"
    is "$desc: exit $code" "$rc" "$code"
    ok "$desc: says '$words'" -- grep -qF -- "$words" <<<"$err"
    ok "$desc: nothing made" -- bash -c "! virsh dominfo $DOM >/dev/null 2>&1 && [ ! -e $(q "$SBX") ]"
}
sed "s/^image=.*/image=debian-12@sha256:$(printf '0%.0s' $(seq 64))/" "$WORK/canary.conf" > "$WORK/pin.conf"
expect_refusal "wrong pinned digest" 5 "is ${DIGEST:0:19}…, the spec pins sha256:000000000000…" -- create "$NAME" -f "$WORK/pin.conf"
printf '#cloud-config\nwrite_files:\n  - path: /run/airlock/secrets.env\n    content: x\n' > "$WORK/evil.yaml"
sed 's/^parts=.*/parts=extra.yaml;evil.yaml/' "$WORK/canary.conf" > "$WORK/evil.conf"
expect_refusal "part writing to /run/airlock" 2 "evil.yaml:3: path '/run/airlock/secrets.env' is reserved" -- create "$NAME" -f "$WORK/evil.conf"
al spec check "$WORK/evil.conf" 2>/dev/null; is "spec check: invalid spec exits 2" "$?" 2
printf '#cloud-config\nruncmd:\n  - echo %s\n' "$CANARY" > "$WORK/leak.yaml"
sed 's/^parts=.*/parts=leak.yaml/' "$WORK/canary.conf" > "$WORK/leak.conf"
expect_refusal "part echoing a secret" 2 "holds the value of secret 'CANARY_KEY'" -- create "$NAME" -f "$WORK/leak.conf"
printf 'CANARY_KEY=%s\nREAL_LOOKING=AKIA%s\n' "$CANARY" "$(printf 'Q%.0s' $(seq 16))" > "$WORK/real.env"
chmod 600 "$WORK/real.env"
expect_refusal "deny-listed secret value" 2 "real.env:2: secret 'REAL_LOOKING' looks like a real credential" -- \
    create "$NAME" -f "$WORK/canary.conf" --secrets "$WORK/real.env"
chmod 640 "$WORK/real.env"
expect_refusal "group-readable secrets file" 2 "(chmod 600 $WORK/real.env)" -- create "$NAME" --secrets "$WORK/real.env"

# ---- the seed itself: every write_files entry of its user-data, decoded ----
# A create killed right after writing the seed, with the credentials in airlock's own
# environment: the plaintext of each entry, not one base64 alignment, is searched.
API_KEY=$ENV_CANARY OPENAI_API_KEY=$ENV_CANARY CANARY_KEY=$ENV_CANARY AIRLOCK_CRASH_AT=seed \
    "$AIRLOCK" create "$NAME" -f "$WORK/canary.conf" --quiet >/dev/null 2>&1
is "create killed after writing the seed (SIGKILL)" "$?" 137
cp "$SBX/seed.iso" "$WORK/seed.iso" 2>/dev/null
"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
python3 "$HERE/seed-userdata.py" "$WORK/seed.iso" > "$WORK/seed.json"
is "seed's user-data read and its write_files decoded" "$?" 0
seed_files() { jq -r --arg c "$1" '.files[] | select(.content | contains($c)) | .path' "$WORK/seed.json"; }
is "canary IS in the seed, in the secrets.env entry only (control)" "$(seed_files "$CANARY")" \
    /run/airlock/secrets.env
is "airlock's environment in no write_files entry of the seed" "$(seed_files "$ENV_CANARY")" ""
is "airlock's environment in no part of the user-data" \
    "$(jq -r --arg c "$ENV_CANARY" '[.parts[] | select(contains($c))] | length' "$WORK/seed.json")" 0
rm -f "$WORK/seed.iso" "$WORK/seed.json"

# ---- create, with a credential in airlock's own environment ----
start=$(date +%s.%N)
API_KEY=$ENV_CANARY OPENAI_API_KEY=$ENV_CANARY CANARY_KEY=$ENV_CANARY \
    al create "$NAME" -f "$WORK/canary.conf" --json > "$WORK/create.json"; rc=$?
is "create -f SPEC returns 0 once ready" "$rc" 0
[ "$rc" = 0 ] || { "$AIRLOCK" console "$NAME" | tail -30 | sed 's/^/# /'; bail "create failed"; }
echo "# create-to-ready: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"

# The secret is inside the guest (not in $OUT: read without al).
guest=$("$AIRLOCK" exec "$NAME" -- cat /run/airlock/secrets.env)
ok "canary IS in the guest's /run/airlock/secrets.env" -- grep -qF "CANARY_KEY='$CANARY'" <<<"$guest"
is "canary IS in exec's environment" "$("$AIRLOCK" exec "$NAME" -- sh -c 'printf %s "$CANARY_KEY"')" "$CANARY"
is "secrets.env still 0600 root (parts cannot move it)" "$(al exec "$NAME" -- stat -c %a:%U /run/airlock/secrets.env)" 600:root
genv=$("$AIRLOCK" exec "$NAME" -- sh -c 'env; cat /run/airlock/env /run/airlock/secrets.env /proc/1/environ; ls /var/lib/cloud/instance/ >/dev/null; cat /var/lib/cloud/instance/user-data.txt /var/lib/cloud/instance/cloud-config.txt 2>/dev/null' | tr '\0' '\n')
ok "airlock's own environment did not reach the guest" -- bash -c '! grep -qF "$1" <<<"$2"' _ "$ENV_CANARY" "$genv"
ok "API_KEY from airlock's environment is not set in the guest" -- bash -c '! grep -q "^API_KEY=" <<<"$1"' _ "$genv"

# The parts were merged: their files, commands and airlock's own all there.
is "part's write_files applied" "$(al exec "$NAME" -- cat /etc/airlock-canary-part)" "merged by cloud-init"
is "part's runcmd ran" "$(al exec "$NAME" -- cat /var/tmp/airlock-part-runcmd)" part-runcmd
is "second part's bootcmd ran" "$(al exec "$NAME" -- cat /run/airlock-part-bootcmd)" part-bootcmd
is "airlock's env still applied" "$(al exec "$NAME" -- sh -c 'printf %s "$MODE"')" canary
is "hostname is airlock's" "$(al exec "$NAME" -- hostname)" "$NAME"
st=$(al exec "$NAME" -- cloud-init status --long)
ok "cloud-init done" -- grep -q "^status: done" <<<"$st"
# The merged user-data as cloud-init ran it: it validates it at boot and logs a warning
# when it is invalid. (`cloud-init schema --system` cannot check it afterwards: airlock
# scrubs cloud-init's on-disk copies of the user-data, which hold the secrets.)
ok "merged user-data valid for cloud-init (no 'Invalid cloud-config' in its log)" -- \
    bash -c "! $(q "$AIRLOCK") exec $NAME -- grep -h 'Invalid cloud-config' /var/log/cloud-init.log /var/log/cloud-init-output.log"
for part in extra.yaml more.yaml; do
    al cp "$WORK/$part" "$NAME:/tmp/$part" >/dev/null
    schema=$(al exec "$NAME" -- cloud-init schema -c "/tmp/$part" 2>&1); rc=$?
    is "part $part passes cloud-init schema -c" "$rc" 0
    [ "$rc" = 0 ] || echo "$schema" | sed 's/^/#   /' | head -5
done
scrubbed=$(al exec "$NAME" -- sh -c 'cat /var/lib/cloud/instance/user-data.txt /var/lib/cloud/instance/cloud-config.txt 2>/dev/null | grep -c "scrubbed by airlock"')
ok "cloud-init's on-disk copies of the user-data are scrubbed" -- test "${scrubbed:-0}" -ge 1
al inspect --json "$NAME" > "$WORK/inspect.json"
hash_of() { sed -n 's/.*"spec_hash" : "\([0-9a-f]*\)".*/\1/p' "$1" | head -1; }
is "inspect: spec hash is spec check's (reproducible)" "$(hash_of "$WORK/inspect.json")" "$(hash_of "$WORK/check.json")"
ok "inspect: image digest recorded" -- grep -q "\"image_digest\" : \"$DIGEST\"" "$WORK/inspect.json"
ok "inspect: secret names recorded" -- grep -q '"CANARY_KEY"' "$WORK/inspect.json"

# ps command lines while an exec runs (qemu's, airlock's, the agent's).
"$AIRLOCK" exec "$NAME" -- sh -c 'sleep 4; printf %s "$CANARY_KEY" >/dev/null' >/dev/null 2>&1 &
sleep 2
ps -eww -o args > "$WORK/ps.txt"; ps -eww e -o args > "$WORK/ps-env.txt"
wait
ok "canary not in any command line during exec" -- nowhere "$WORK/ps.txt"
ok "canary not in any process environment (ps e) during exec" -- nowhere "$WORK/ps-env.txt"

# ---- reset ----
al reset "$NAME"; is "reset" "$?" 0
is "canary still in the guest after reset" "$("$AIRLOCK" exec "$NAME" -- sh -c 'printf %s "$CANARY_KEY"')" "$CANARY"

# ---- the host, while the sandbox exists ----
virsh dumpxml "$DOM" > "$WORK/dom.xml"; virsh dumpxml --inactive "$DOM" >> "$WORK/dom.xml"
virsh net-dumpxml "$DOM" > "$WORK/net.xml" 2>/dev/null
ok "canary not in virsh dumpxml" -- nowhere "$WORK/dom.xml"
ok "canary not in virsh net-dumpxml" -- nowhere "$WORK/net.xml"
"$AIRLOCK" console "$NAME" > "$WORK/console.txt" 2>&1
ok "canary not in console.log" -- nowhere "$SBX/console.log" "$WORK/console.txt"
ok "canary not in dns.log" -- nowhere "$SBX/dns.log"
ok "canary not in the sandbox's audit log" -- nowhere "$AIRLOCK_STATE_DIR/audit/sandboxes/$NAME.jsonl"
ok "canary not in the global events.jsonl" -- nowhere "$AIRLOCK_STATE_DIR/events.jsonl"
ok "no seed left" -- test ! -e "$SBX/seed.iso"
mem=$(find "$SBX" -name memory.save 2>/dev/null)
ok "a clean memory image exists" -- test -n "$mem"
for m in $mem; do
    is "memory image ${m#$SBX/} is 0600 root" "$(stat -c %a:%U "$m")" 600:root
done
# Saved memory necessarily holds what the guest holds; everything else must not.
left=$(grep -rlaF --exclude=memory.save -f "$PATTERNS" "$SBX" 2>/dev/null | head -5)
is "canary nowhere else in the sandbox directory (overlay, logs)" "$left" ""

# ---- destroy: the evidence archive ----
al destroy "$NAME"; is "destroy" "$?" 0
arch=$(ls -d "$AIRLOCK_STATE_DIR/archive/$NAME"-* 2>/dev/null | tail -1)
ok "evidence archive kept" -- test -n "$arch"
left=$(grep -rlaF --exclude=memory.save -f "$PATTERNS" "$arch" 2>/dev/null | head -5)
is "canary not in the evidence archive" "$left" ""
for m in $(find "$arch" -name memory.save 2>/dev/null); do
    is "archived memory image is 0600 root" "$(stat -c %a:%U "$m")" 600:root
done
ok "no domain left" -- bash -c "! virsh list --all --name | grep -qx '$DOM'"
ok "no network left" -- bash -c "! virsh net-list --all --name | grep -qx '$DOM'"
ok "no sandbox files left" -- test ! -e "$SBX"

# ---- the host's logs and airlock's output, after everything ----
ok "canary not in libvirt's logs (/var/log/libvirt)" -- nowhere /var/log/libvirt /var/log/libvirt/qemu
if [ -d /run/systemd/system ]; then
    journalctl --since "@$T0" -o cat > "$WORK/journal.txt" 2>&1
    ok "system journal since the test began read" -- test -s "$WORK/journal.txt"
    ok "canary not in the system journal (libvirtd, qemu)" -- nowhere "$WORK/journal.txt"
else
    # Without systemd, scripts/start-libvirt runs libvirtd with its output in this file.
    ok "canary not in libvirtd's log (/var/log/airlock-libvirtd.log)" -- nowhere /var/log/airlock-libvirtd.log
fi
ok "canary not in the audit logs, their heads, or the intent journal" -- \
    nowhere "$AIRLOCK_STATE_DIR/events.jsonl" "$AIRLOCK_STATE_DIR/audit" "$AIRLOCK_STATE_DIR/journal"
left=$(grep -rlaF --exclude=memory.save --exclude-dir=images -f "$PATTERNS" "$AIRLOCK_STATE_DIR" | head -5)
is "canary nowhere in airlock's state directory (memory images and base images aside)" "$left" ""
ok "canary not in the global events.jsonl after destroy" -- nowhere "$AIRLOCK_STATE_DIR/events.jsonl"
ok "canary not in airlock's stdout/stderr of every command" -- nowhere "$OUT"
ok "patterns file is not empty (the search searched)" -- test "$(wc -l < "$PATTERNS")" -ge 20

done_testing
