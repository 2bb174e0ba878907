#!/bin/bash
# Integration: one real sandbox on real libvirt + qemu (kvm or tcg) + the real
# base image and cloud-init. Boot once, check everything on that guest, destroy.
# Needs root, libvirtd running and the base image in $AIRLOCK_STATE_DIR.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-lc
DOM=airlock-$NAME
CANARY="canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
OUT=$WORK/airlock-output.log   # everything airlock prints, searched for the canary

cleanup() {
    "$AIRLOCK" destroy --force "$NAME" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

al() { "$AIRLOCK" "$@" 2> >(tee -a "$OUT" >&2) | tee -a "$OUT"; return "${PIPESTATUS[0]}"; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"

# doctor explains this host and says it can run sandboxes.
doctor=$(al doctor 2>&1); rc=$?
is "doctor exits 0" "$rc" 0
# The reason doctor gives follows the order airlock decides in (vmm_accel_choose): an
# override, then no /dev/kvm, then kvm_pvm without a vendor module, then no vendor module,
# then access; every kind of host this runs on (no /dev/kvm, kvm_pvm, real KVM) has a case.
vendor=no
[ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ] && vendor=yes
if [ -n "${AIRLOCK_ACCEL:-}" ]; then
    ok "doctor names the accelerator AIRLOCK_ACCEL chose" -- grep -q "$AIRLOCK_ACCEL: chosen with AIRLOCK_ACCEL" <<<"$doctor"
elif [ ! -e /dev/kvm ]; then
    ok "doctor explains tcg because /dev/kvm is absent" -- grep -q "tcg: /dev/kvm is absent" <<<"$doctor"
elif [ -d /sys/module/kvm_pvm ] && [ "$vendor" = no ]; then
    ok "doctor explains tcg because of kvm_pvm" -- grep -q "tcg: /dev/kvm is backed by kvm_pvm" <<<"$doctor"
elif [ "$vendor" = no ]; then
    ok "doctor explains tcg: no kvm_intel or kvm_amd" -- grep -q "tcg: /dev/kvm has neither" <<<"$doctor"
elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    ok "doctor explains tcg: /dev/kvm not accessible" -- grep -q "tcg: /dev/kvm is not accessible" <<<"$doctor"
else
    ok "doctor chooses kvm on a host with usable KVM" -- grep -q "kvm: /dev/kvm is usable" <<<"$doctor"
fi

# A secrets file with a canary that must never show up on the host.
printf 'API_KEY=%s\nOTHER=plain-value\n' "$CANARY" > "$WORK/secrets.env"
chmod 600 "$WORK/secrets.env"

start=$(date +%s.%N)
al create "$NAME" --secrets "$WORK/secrets.env" --env MODE=integration --label suite=lifecycle --json \
    > "$WORK/create.json"; rc=$?
is "create returns 0 once ready" "$rc" 0
[ "$rc" = 0 ] || { "$AIRLOCK" console "$NAME" | tail -30 | sed 's/^/# /'; bail "create failed"; }
echo "# create-to-ready: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"
sed 's/^/# /' "$WORK/create.json"

# Smoke: the base image reached multi-user.target and cloud-init finished cleanly.
st=$(al exec "$NAME" -- cloud-init status --long); rc=$?
is "cloud-init status --long exits 0" "$rc" 0
ok "cloud-init says done" -- grep -q "^status: done" <<<"$st"
ok "cloud-init reports no module errors" -- bash -c '! grep -A3 "^errors:" <<<"$1" | grep -q "^\s*- "' _ "$st"
ok "user-data passes cloud-init's schema" -- bash -c "! $(printf '%q' "$AIRLOCK") console $NAME | grep -q 'Invalid cloud-config'"
is "multi-user.target active" "$(al exec "$NAME" -- systemctl is-active multi-user.target)" active
echo "# systemd-analyze blame (top):"
al exec "$NAME" -- sh -c 'systemd-analyze 2>/dev/null | head -1; systemd-analyze blame 2>/dev/null | head -8' | sed 's/^/#   /'
echo "# cloud-init analyze blame (top):"
al exec "$NAME" -- sh -c 'cloud-init analyze blame 2>/dev/null | head -10' | sed 's/^/#   /'

# Seed detached and deleted; the overlay names its backing format.
ok "seed.iso deleted once ready" -- test ! -e "$AIRLOCK_STATE_DIR/sandboxes/$NAME/seed.iso"
ok "seed disk detached" -- bash -c "! virsh dumpxml $DOM | grep -q seed.iso"
ok "overlay backing format explicit" -- bash -c "qemu-img info -U --output=json $AIRLOCK_STATE_DIR/sandboxes/$NAME/overlay.qcow2 | grep -q '\"backing-filename-format\": \"qcow2\"'"

# Secrets: in the guest's tmpfs file (0600) and in exec's environment.
is "secrets.env mode" "$(al exec "$NAME" -- stat -c %a /run/airlock/secrets.env)" 600
ok "secrets.env holds the value" -- bash -c "$(printf '%q' "$AIRLOCK") exec $NAME -- cat /run/airlock/secrets.env | grep -q \"API_KEY='$CANARY'\""
is "secret in exec environment" "$("$AIRLOCK" exec "$NAME" -- sh -c 'printf %s "$API_KEY"')" "$CANARY"
is "plain env in exec environment" "$(al exec "$NAME" -- sh -c 'printf %s "$MODE"')" integration
is "exec --env" "$(al exec "$NAME" --env X=1 -- sh -c 'printf %s "$X"')" 1
is "exec --workdir" "$(al exec "$NAME" --workdir /tmp -- pwd)" /tmp

# Exit codes pass through; stderr stays stderr; a timeout kills.
al exec "$NAME" -- sh -c 'exit 7'; is "exit code passes through" "$?" 7
is "stderr separate" "$(al exec "$NAME" -- sh -c 'echo out; echo err >&2' 2>/dev/null)" out
t0=$(date +%s)
al exec "$NAME" --timeout 2 -- sleep 60; rc=$?
is "timeout exits 124" "$rc" 124
ok "timed-out command killed" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $NAME -- pgrep -x sleep"
ok "timeout is prompt" -- test $(( $(date +%s) - t0 )) -lt 30
al exec "$NAME" -- /no/such/program; rc=$?
ok "missing program is an error, not success" -- test "$rc" -ne 0

# Streaming: the first line arrives before the command ends.
t0=$(date +%s.%N)
t1=$("$AIRLOCK" exec "$NAME" -- sh -c 'echo first; sleep 5; echo last' | { read -r l; date +%s.%N; cat >/dev/null; })
ok "output streams while the command runs (first line after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s)" -- \
    awk -v a="$t0" -v b="$t1" 'BEGIN{exit !(b-a < 4)}'

# cp: 3 MB in and out, unchanged; in keeps the mode, out gets 0666 less the umask (never the guest's).
head -c 3145728 /dev/urandom > "$WORK/in.bin"; chmod 640 "$WORK/in.bin"
al cp "$WORK/in.bin" "$NAME:/root/in.bin"; is "cp in" "$?" 0
is "cp in: guest sha256" "$(al exec "$NAME" -- sha256sum /root/in.bin | cut -d' ' -f1)" "$(sha256sum < "$WORK/in.bin" | cut -d' ' -f1)"
is "cp in: mode kept" "$(al exec "$NAME" -- stat -c %a /root/in.bin)" 640
al cp "$NAME:/root/in.bin" "$WORK/out.bin"; is "cp out" "$?" 0
is "cp out: unchanged" "$(sha256sum < "$WORK/out.bin" | cut -d' ' -f1)" "$(sha256sum < "$WORK/in.bin" | cut -d' ' -f1)"
is "cp out: 0666 less the umask, not the guest's mode" "$(stat -c %a "$WORK/out.bin")" "$(printf '%o' $((0666 & ~0$(umask))))"

# Density: free page reporting (virtio-balloon) gives memory the guest frees back to the
# host. The guest touches 300 MiB and holds it (qemu's RSS must rise: else the probe
# measures nothing), then frees it; qemu's RSS must fall by most of it. Without the balloon
# it stays up: init_on_free has the guest write zeros over what it frees.
qemu_rss_mib() { awk '/^VmRSS:/{print int($2 / 1024)}' "/proc/$(cat "/run/libvirt/qemu/$DOM.pid")/status"; }
HOLD='import os, time
b = b"\x01" * (300 << 20)
open("/run/airlock-test-held", "w").close()
while os.path.exists("/run/airlock-test-held"):
    time.sleep(0.2)'
rss0=$(qemu_rss_mib)
al exec "$NAME" -- sh -c 'python3 -c "$1" >/dev/null 2>&1 &' sh "$HOLD"
for _ in $(seq 60); do al exec "$NAME" -- test -e /run/airlock-test-held && break; sleep 1; done
rss1=$(qemu_rss_mib)
al exec "$NAME" -- rm -f /run/airlock-test-held
for _ in $(seq 60); do rss2=$(qemu_rss_mib); [ $((rss1 - rss2)) -ge 150 ] && break; sleep 1; done
echo "# qemu RSS: ${rss0} MiB idle, ${rss1} MiB with 300 MiB held, ${rss2} MiB once freed"
ok "control: 300 MiB held in the guest raise qemu's RSS by 200 MiB or more" -- test $((rss1 - rss0)) -ge 200
ok "free page reporting: qemu's RSS falls by 150 MiB or more once the guest frees them" -- \
    test $((rss1 - rss2)) -ge 150

# list / inspect / console
ok "list shows the sandbox" -- bash -c "$(printf '%q' "$AIRLOCK") list | grep -q '^$NAME .*running'"
al inspect --json "$NAME" > "$WORK/inspect.json"
ok "inspect --json names the secret" -- grep -q '"API_KEY"' "$WORK/inspect.json"
ok "inspect --json has image digest" -- grep -q '"image_digest" : "sha256:' "$WORK/inspect.json"
ok "console has the boot log" -- bash -c "test -n \"\$($(printf '%q' "$AIRLOCK") console $NAME)\""

# The canary is nowhere on the host but inside the guest.
virsh dumpxml "$DOM" > "$WORK/dumpxml.xml"
virsh net-dumpxml "$DOM" >> "$WORK/dumpxml.xml" 2>/dev/null
ok "canary not in domain/network XML" -- bash -c "! grep -q '$CANARY' $WORK/dumpxml.xml"
ok "canary not in inspect --json" -- bash -c "! grep -q '$CANARY' $WORK/inspect.json"
# Saved guest memory (snapshots/*/memory.save) necessarily holds what the guest
# holds, secrets included: 0600 in a 0700 directory, deleted by destroy
# (docs/security.md). Everything else in the sandbox's directory must not.
ok "canary not in console.log, events, disks or logs" -- bash -c "! grep -rqa --exclude=memory.save '$CANARY' $AIRLOCK_STATE_DIR/sandboxes/$NAME"
ok "memory images are 0600 root" -- bash -c "[ \"\$(stat -c %a:%U $AIRLOCK_STATE_DIR/sandboxes/$NAME/snapshots/clean/memory.save)\" = 600:root ]"
ok "canary not in libvirt's logs" -- bash -c "! grep -rqa '$CANARY' /var/log/libvirt /var/log/airlock-libvirtd.log 2>/dev/null"
ok "canary not in airlock's output" -- bash -c "! grep -qa '$CANARY' $OUT"

# Destroy leaves nothing.
al destroy "$NAME"; is "destroy" "$?" 0
al destroy "$NAME" 2>/dev/null; is "destroy of a gone sandbox exits 2" "$?" 2
al destroy --force "$NAME"; is "destroy --force of a gone sandbox exits 0" "$?" 0
ok "no domain left" -- bash -c "! virsh list --all --name | grep -qx '$DOM'"
ok "no network left" -- bash -c "! virsh net-list --all --name | grep -qx '$DOM'"
ok "canary not in the evidence archive" -- bash -c "! grep -rqa '$CANARY' $AIRLOCK_STATE_DIR/archive"
ok "evidence archive kept" -- bash -c "$(printf '%q' "$AIRLOCK") archive list | grep -q '^$NAME-'"
ok "no sandbox files left" -- test ! -e "$AIRLOCK_STATE_DIR/sandboxes/$NAME"
ok "canary not in libvirt's logs after destroy" -- bash -c "! grep -rqa '$CANARY' /var/log/libvirt 2>/dev/null"

done_testing
