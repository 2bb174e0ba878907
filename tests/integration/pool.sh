#!/bin/bash
# Integration: warm create from a pool of saved guests (airlock pool), on real guests:
# identity, secrets and randomness per sandbox, isolation unchanged, reset back to the
# warm clean state, the cold fallback, and nothing left behind.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
A=test-pool-a
B=test-pool-b
C=test-pool-c
POOL=debian-12-1cpu-512m-image-isolated
rnd() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
CANARY_A="canary-a-$(rnd)"
CANARY_B="canary-b-$(rnd)"
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
LISTENER=
cleanup() {
    [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
    "$AIRLOCK" destroy --force --no-evidence "$A" "$B" "$C" >/dev/null 2>&1
    "$AIRLOCK" pool set debian-12 --size 0 >/dev/null 2>&1
    "$AIRLOCK" pool fill --quiet >/dev/null 2>&1
    rm -rf "$AIRLOCK_STATE_DIR/pool/$POOL" "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pool_json() { "$AIRLOCK" pool list --json | jq -r --arg p "$POOL" ".[] | select(.pool == \$p) | .$1"; }
held_nets() { virsh net-list --all --name | grep -c '^airlock-pool-' || true; }

[ "$(id -u)" = 0 ] || bail "integration tests need root"
command -v jq >/dev/null || bail "jq is needed"
# Slots of an earlier run would be claimed instead of this run's: start empty.
"$AIRLOCK" pool set debian-12 --size 0 >/dev/null && "$AIRLOCK" pool fill --quiet >/dev/null ||
    bail "cannot empty the pool left by an earlier run"
nets_before=$(held_nets)
printf 'API_KEY=%s\n' "$CANARY_A" > "$WORK/a.env"
printf 'API_KEY=%s\n' "$CANARY_B" > "$WORK/b.env"
chmod 600 "$WORK/a.env" "$WORK/b.env"

# ---- the pool ----
"$AIRLOCK" pool set debian-12 --size 2 --json > "$WORK/set.json"; rc=$?
is "pool set" "$rc" 0
is "pool id is the shape" "$(jq -r .pool "$WORK/set.json")" "$POOL"
t0=$(date +%s)
"$AIRLOCK" pool fill --json > "$WORK/fill.json" &
fill=$!
# Seen from outside while it boots (its domain defined in libvirt): counted as filling, not in
# anyone's list.
filling=0 listed=none
while kill -0 "$fill" 2>/dev/null; do
    if virsh list --name | grep -q '^airlock-pool-' && [ "$(pool_json filling)" = 1 ]; then
        filling=1
        listed=$("$AIRLOCK" list --json | jq -r '.[].name' | grep '^pool-' || true)
        break
    fi
    sleep 0.3
done
wait "$fill"; rc=$?
is "pool fill" "$rc" 0
is "pool list counts the guest a fill is booting" "$filling" 1
is "... and airlock list does not show it" "$listed" ""
[ "$rc" = 0 ] || bail "pool fill failed: $(cat "$WORK/fill.json")"
echo "# fill: $(jq -r 'map("\(.slot) \(.seconds|floor) s") | join(", ")' "$WORK/fill.json") (wall $(( $(date +%s) - t0 )) s)"
is "two guests ready" "$(pool_json ready)" 2
is "each waiting guest holds its subnet in libvirt (stopped network)" "$(( $(held_nets) - nets_before ))" 2
ok "no waiting guest runs (disk, not RAM)" -- bash -c "! virsh list --name | grep -q '^airlock-pool-'"
ok "pool directory is root's only" -- test "$(stat -c %a:%U "$AIRLOCK_STATE_DIR/pool")" = 700:root

# ---- two warm sandboxes ----
log_lines=$(wc -l < "$AIRLOCK_STATE_DIR/events.jsonl" 2>/dev/null || echo 0)
"$AIRLOCK" create "$A" --secrets "$WORK/a.env" -e ROLE=alpha --json > "$WORK/a.json"; rc=$?
is "warm create A" "$rc" 0
[ "$rc" = 0 ] || bail "warm create failed"
r_a=$("$AIRLOCK" exec "$A" -- sh -c 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
"$AIRLOCK" create "$B" --secrets "$WORK/b.env" --json > "$WORK/b.json"; rc=$?
is "warm create B" "$rc" 0
r_b=$("$AIRLOCK" exec "$B" -- sh -c 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"')
is "A came from the pool (--json says so)" "$(jq -r '.create + " " + .pool' "$WORK/a.json")" "warm $POOL"
is "B came from the pool" "$(jq -r .create "$WORK/b.json")" warm
is "A's identity went in one airlock-guest frame" "$(jq -r .identity_via "$WORK/a.json")" airlock-guest
echo "# warm create A $(jq -r .timings_s.total "$WORK/a.json") s (restore $(jq -r .timings_s.restore "$WORK/a.json"), identity $(jq -r .timings_s.identity "$WORK/a.json"), snapshot $(jq -r .timings_s.snapshot "$WORK/a.json")), B $(jq -r .timings_s.total "$WORK/b.json") s"
ok "warm create under 10 s" -- awk -v t="$(jq -r .timings_s.total "$WORK/a.json")" 'BEGIN { exit !(t < 10) }'
is "the pool is spent" "$(pool_json ready)" 0
ok "the audit record says warm" -- bash -c "tail -n +$((log_lines + 1)) $AIRLOCK_STATE_DIR/events.jsonl | jq -s -e --arg n $A 'map(select(.event == \"create\" and .sandbox == \$n and .create == \"warm\")) | length == 1' >/dev/null"

# Identity: each its own name, machine-id, secrets and random stream.
is "A's hostname is its name" "$("$AIRLOCK" exec "$A" -- hostname)" "$A"
is "A's /etc/hostname" "$("$AIRLOCK" exec "$A" -- cat /etc/hostname)" "$A"
is "B's hostname is its name" "$("$AIRLOCK" exec "$B" -- hostname)" "$B"
m_a=$("$AIRLOCK" exec "$A" -- cat /etc/machine-id)
m_b=$("$AIRLOCK" exec "$B" -- cat /etc/machine-id)
ok "machine-ids differ ($m_a, $m_b)" -- test -n "$m_a" -a ${#m_a} = 32 -a "$m_a" != "$m_b"
ok "random bytes right after create differ" -- test -n "$r_a" -a ${#r_a} = 64 -a "$r_a" != "$r_b"
is "A has its secret" "$("$AIRLOCK" exec "$A" -- sh -c 'printf %s "$API_KEY"')" "$CANARY_A"
is "B has its secret" "$("$AIRLOCK" exec "$B" -- sh -c 'printf %s "$API_KEY"')" "$CANARY_B"
is "A has its env" "$("$AIRLOCK" exec "$A" -- sh -c 'printf %s "$ROLE"')" alpha
is "secrets file as a cold create makes it" "$("$AIRLOCK" exec "$A" -- stat -c %a:%U /run/airlock/secrets.env)" 600:root
ok "A's secret is nowhere in B" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $B -- grep -rqs -- $CANARY_A /run /etc /root /tmp /var/lib/cloud"
ok "B's secret is nowhere in A" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $A -- grep -rqs -- $CANARY_B /run /etc /root /tmp /var/lib/cloud"
# Positive control for the search above: it does find a secret where it is.
ok "(control) the search finds A's secret in A" -- "$AIRLOCK" exec "$A" -- grep -rqs -- "$CANARY_A" /run

# Isolation as for a cold sandbox: own subnet, fenced tap, blocked probe counted.
addr_a=$("$AIRLOCK" inspect "$A" --json | jq -r .network.address)
addr_b=$("$AIRLOCK" inspect "$B" --json | jq -r .network.address)
host_a=$("$AIRLOCK" inspect "$A" --json | jq -r .network.host_address)
ok "A and B on different subnets ($addr_a, $addr_b)" -- test "${addr_a%.*}" != "${addr_b%.*}"
ok "A's netdev, bridge and inet tables are there" -- bash -c "nft list tables | grep -c 'airlock_test_pool_a\$' | grep -qx 3"
tap_a=$(virsh domiflist "airlock-$A" | awk 'NR > 2 && $1 { print $1 }')
ok "A's tap ($tap_a) has IPv6 off" -- test "$(cat /proc/sys/net/ipv6/conf/$tap_a/disable_ipv6 2>/dev/null)" = 1
port=$(( 20000 + RANDOM % 20000 ))
: > "$WORK/heard"
# A host service on the sandbox's own bridge address: what A would reach first.
timeout 60 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
while True:
    c, _ = s.accept(); d = c.recv(100); c.close()
    open(sys.argv[3], "ab").write(d)
' "$host_a" "$port" "$WORK/heard" 2>/dev/null &
LISTENER=$!
sleep 1
ok "(control) the host listener accepts on $host_a:$port" -- timeout 5 bash -c "echo control > /dev/tcp/$host_a/$port"
drops() { "$AIRLOCK" inspect "$A" --json | jq '.network.drops.ip_packets + .network.drops.l2_frames'; }
drops0=$(drops)
"$AIRLOCK" exec "$A" -- timeout 5 bash -c "echo from-a > /dev/tcp/$host_a/$port" 2>/dev/null; rc=$?
ok "A cannot open a connection to the host" -- test "$rc" != 0
sleep 0.5
is "the host listener heard only the control" "$(cat "$WORK/heard")" control
drops1=$(drops)
ok "the blocked probe is counted ($drops0 -> $drops1)" -- test "$drops1" -gt "$drops0"
ok "A cannot reach B" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $A -- timeout 5 bash -c 'echo > /dev/tcp/${addr_b%/*}/22' 2>/dev/null"

# Reset goes back to the warm clean state: identity and secret kept, changes gone.
"$AIRLOCK" exec "$A" -- sh -c 'echo dirty > /root/dirty'
"$AIRLOCK" reset "$A" --json > "$WORK/reset.json"; rc=$?
is "reset A" "$rc" 0
ok "file written after create is gone" -- bash -c "! $(printf '%q' "$AIRLOCK") exec $A -- test -e /root/dirty"
is "secret kept across reset" "$("$AIRLOCK" exec "$A" -- sh -c 'printf %s "$API_KEY"')" "$CANARY_A"
is "hostname kept across reset" "$("$AIRLOCK" exec "$A" -- hostname)" "$A"
is "only the clean snapshot is listed (the pool layer is hidden)" "$("$AIRLOCK" snapshots "$A" --json | jq -r 'map(.tag) | join(",")')" clean

# ---- what the pool keeps: no secret of any sandbox ----
"$AIRLOCK" pool set debian-12 --size 1 >/dev/null
"$AIRLOCK" pool fill --quiet; rc=$?
is "refill one guest" "$rc" 0
for who in A B; do
    c=CANARY_$who
    c=${!c}
    b64=$(printf 'API_KEY=%s' "$c" | base64 -w0 | cut -c1-16)
    ok "no canary of $who in the pool's saved state and layers (plain or base64)" -- bash -c "! grep -rqaF -e '$c' -e '$b64' $AIRLOCK_STATE_DIR/pool"
done
ok "(control) the same search finds A's canary in A's own saved state" -- grep -qaF "$CANARY_A" "$AIRLOCK_STATE_DIR/sandboxes/$A/snapshots/clean/memory.save"
ok "B's saved state holds no secret of A" -- bash -c "! grep -qaF '$CANARY_A' $AIRLOCK_STATE_DIR/sandboxes/$B/snapshots/clean/memory.save"

# ---- a guest reached through the QEMU agent only gets its identity by one exec ----
AIRLOCK_GUEST=agent "$AIRLOCK" create "$C" --secrets "$WORK/b.env" --json > "$WORK/c.json"; rc=$?
is "warm create through the QEMU agent" "$rc" 0
is "... identity by exec" "$(jq -r '.create + " " + .identity_via' "$WORK/c.json")" "warm exec"
is "... hostname" "$("$AIRLOCK" exec "$C" -- hostname)" "$C"
is "... secret" "$("$AIRLOCK" exec "$C" -- sh -c 'printf %s "$API_KEY"')" "$CANARY_B"
is "... secrets file as a cold create makes it" "$("$AIRLOCK" exec "$C" -- stat -c %a:%U /run/airlock/secrets.env)" 600:root
"$AIRLOCK" destroy --no-evidence "$C" >/dev/null
"$AIRLOCK" pool fill --quiet; rc=$?
is "refill one guest again" "$rc" 0

# ---- the fallback: a saved state airlock cannot rename means a cold create ----
slot=$(ls "$AIRLOCK_STATE_DIR/pool/$POOL/slots/" | head -1)
printf 'NotLibvirtSave!!' | dd of="$AIRLOCK_STATE_DIR/pool/$POOL/slots/$slot/memory.save" conv=notrunc status=none
"$AIRLOCK" create "$C" --json > "$WORK/c.json"; rc=$?
is "create with a damaged slot still succeeds" "$rc" 0
is "... cold" "$(jq -r .create "$WORK/c.json")" cold
ok "... saying why ($(jq -r .cold_reason "$WORK/c.json"))" -- bash -c "jq -r .cold_reason $WORK/c.json | grep -q 'save image'"
is "... and the cold sandbox works" "$("$AIRLOCK" exec "$C" -- hostname)" "$C"

# ---- nothing left behind ----
"$AIRLOCK" destroy --no-evidence "$A" "$B" "$C" >/dev/null; rc=$?
is "destroy the three" "$rc" 0
"$AIRLOCK" pool set debian-12 --size 0 >/dev/null
"$AIRLOCK" pool fill --quiet; rc=$?
is "empty the pool" "$rc" 0
is "no guest ready" "$(pool_json ready)" 0
is "no held network left" "$(( $(held_nets) - nets_before ))" 0
ok "no domain, network or table of the three" -- bash -c "! virsh list --all --name | grep -q '^airlock-test-pool-' && ! virsh net-list --all --name | grep -q '^airlock-test-pool-' && ! nft list tables | grep -q airlock_test_pool_"
ok "no slot domain left" -- bash -c "! virsh list --all --name | grep -q '^airlock-pool-'"
done_testing
