#!/bin/bash
# Integration: network isolation proven from inside real guests (issue 5).
# Two sandboxes: A (--allow host:P) and B (isolated, the default). The host
# listens on TCP and UDP ports P and P+1 on 0.0.0.0; the guests try to reach
# the host, each other, 192.0.2.1 (TEST-NET, dropped at the bridge) and DNS,
# and try to spoof IP, MAC and ARP. Traffic goes only to this machine's
# sandbox bridges and the sandboxes created here.
# Needs root, nft (nftables), libvirtd running and the base image in $AIRLOCK_STATE_DIR.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
A=test-iso-a
B=test-iso-b
P=$((20000 + RANDOM % 20000))
Q=$((P + 1))
WORK=$(mktemp -d /tmp/airlock-test-iso-XXXXXX)
LISTENER=

cleanup() {
    [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
    "$AIRLOCK" destroy --force --no-evidence "$A" "$B" >/dev/null 2>&1
    virsh -q net-destroy airlock-test-iso-churn >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"

# Host side: TCP and UDP listeners on 0.0.0.0, ports P and P+1, answering "hello".
cat > "$WORK/listen.py" <<'EOF'
import socket, sys, threading
def tcp(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
def udp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", p))
    while True:
        d, a = s.recvfrom(2048); s.sendto(b"hello\n", a)
for p in map(int, sys.argv[1:]):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
    threading.Thread(target=udp, args=(p,), daemon=True).start()
threading.Event().wait()
EOF
python3 "$WORK/listen.py" "$P" "$Q" &
LISTENER=$!

# Guest side: reach HOST PORT over tcp|udp, optionally from a given source address.
# Prints the answer; exit 0 only when "hello" came back.
PROBE='import socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
src = sys.argv[4] if len(sys.argv) > 4 else None
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.settimeout(3)
if src:
    s.bind((src, 0))
if proto == "tcp":
    s.connect((host, port))
else:
    s.sendto(b"x", (host, port))
sys.exit(0 if s.recv(16).startswith(b"hello") else 1)'
reach() { # reach SANDBOX HOST PORT tcp|udp [SRC]
    local sb=$1; shift
    "$AIRLOCK" exec "$sb" --timeout 20 -- python3 -c "$PROBE" "$@" >/dev/null 2>&1
}
blocked() { ! reach "$@"; }
drops() { # drops SANDBOX: ip_packets + l2_frames from inspect --json
    "$AIRLOCK" inspect --json "$1" | python3 -c 'import json,sys
d = json.load(sys.stdin)["network"]["drops"]; print(d["ip_packets"] + d["l2_frames"] if d else -1)'
}

# --- two sandboxes ------------------------------------------------------------
start=$(date +%s.%N)
"$AIRLOCK" create "$A" --allow "host:$P" --json > "$WORK/create-a.json"; rc=$?
is "create $A --allow host:$P" "$rc" 0
[ "$rc" = 0 ] || bail "create $A failed"
echo "# create-to-ready with filter: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"
sed -n 's/^ *"\(network\|boot\|total\)" : \(.*\),\{0,1\}$/#   \1: \2/p' "$WORK/create-a.json"
"$AIRLOCK" create "$B" --json > "$WORK/create-b.json"; rc=$?
is "create $B (isolated, the default)" "$rc" 0
[ "$rc" = 0 ] || bail "create $B failed"

"$AIRLOCK" inspect --json "$A" > "$WORK/a.json"
"$AIRLOCK" inspect --json "$B" > "$WORK/b.json"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["network"]; print(d[sys.argv[2]])' "$@"; }
A_IP=$(field "$WORK/a.json" address | cut -d/ -f1); A_HOST=$(field "$WORK/a.json" host_address)
B_IP=$(field "$WORK/b.json" address | cut -d/ -f1); B_HOST=$(field "$WORK/b.json" host_address)
echo "# A $A_IP (bridge $A_HOST), B $B_IP (bridge $B_HOST), ports $P/$Q"
ok "A and B on different subnets" -- test "${A_IP%.*}" != "${B_IP%.*}"
TABLE_A=airlock_${A//-/_}
ok "nftables tables for A installed (inet + bridge)" -- bash -c "nft list table inet $TABLE_A >/dev/null && nft list table bridge $TABLE_A >/dev/null"
TAP_A=$(nft list table bridge "$TABLE_A" | sed -n 's/.*iifname != "\(at[0-9a-f]*\)" accept/\1/p')
ok "A's NIC has the name its rules match ($TAP_A)" -- bash -c "virsh dumpxml airlock-$A | grep -q \"target dev='$TAP_A'\""
is "inspect shows A's allow list" "$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["network"]["allow"]))' "$WORK/a.json")" "$A_HOST:$P"
is "inspect shows B's empty allow list" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["network"]["allow"])' "$WORK/b.json")" "[]"

# Let the guests route everywhere through their bridge: the strongest thing a
# root user in the guest can do; the host filter must still drop it.
for sb in "$A" "$B"; do
    h=$([ "$sb" = "$A" ] && echo "$A_HOST" || echo "$B_HOST")
    "$AIRLOCK" exec "$sb" -- sh -c "ip route replace default via $h dev eth0 && echo 'nameserver $h' > /etc/resolv.conf"
done

# A web server in each guest: a connection between them would succeed if not dropped.
for sb in "$A" "$B"; do
    "$AIRLOCK" exec "$sb" -- sh -c "nohup python3 -m http.server 8000 >/dev/null 2>&1 &"
done

# --- isolated: B reaches nothing ------------------------------------------------
ok "B: TCP to its bridge address blocked" -- blocked "$B" "$B_HOST" "$P" tcp
ok "B: UDP to its bridge address blocked" -- blocked "$B" "$B_HOST" "$P" udp
ok "B: TCP to A's bridge address (another host address) blocked" -- blocked "$B" "$A_HOST" "$P" tcp
ok "B: TCP to sandbox A's web server blocked" -- blocked "$B" "$A_IP" 8000 tcp
ok "B: TCP to 192.0.2.1 blocked" -- blocked "$B" 192.0.2.1 80 tcp
ok "B: UDP to 192.0.2.1 blocked" -- blocked "$B" 192.0.2.1 53 udp
ok "B: ping to its bridge blocked" -- bash -c "! $(printf %q "$AIRLOCK") exec $B -- ping -c1 -W2 $B_HOST"
Q1="leak-probe-$RANDOM.example.com"
ok "B: DNS lookup gets no answer" -- bash -c "! $(printf %q "$AIRLOCK") exec $B -- getent hosts $Q1"
ok "B: DNS question recorded in dns.log" -- grep -q "query\[A*\] $Q1 from $B_IP" "$AIRLOCK_STATE_DIR/sandboxes/$B/dns.log"
ok "B: DNS question not in A's dns.log" -- bash -c "! grep -q '$Q1' $AIRLOCK_STATE_DIR/sandboxes/$A/dns.log"
d=$(drops "$B")
ok "B: inspect counts the drops ($d)" -- test "$d" -gt 0

# Host may open connections to the guest: airlock port prints where.
is "airlock port prints GUEST_IP:PORT" "$("$AIRLOCK" port "$B" 8000)" "$B_IP:8000"
ok "host reaches the guest's server through airlock port" -- python3 -c '
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
for i in range(30):
    try:
        s = socket.create_connection((h, int(p)), timeout=3); s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sys.exit(0 if s.recv(12).startswith(b"HTTP/1.0 200") else 1)
    except OSError:
        time.sleep(0.5)
sys.exit(1)' "$("$AIRLOCK" port "$B" 8000)"

# --- allow: exactly host:P ----------------------------------------------------
check_allow() { # the allow-mode checks, before and after reset
    local when=$1
    ok "A$when: TCP to host:$P works (positive control)" -- reach "$A" "$A_HOST" "$P" tcp
    ok "A$when: TCP to host:$Q blocked" -- blocked "$A" "$A_HOST" "$Q" tcp
    ok "A$when: UDP to host:$P blocked (allow is TCP)" -- blocked "$A" "$A_HOST" "$P" udp
    ok "A$when: TCP to B's bridge address:$P blocked" -- blocked "$A" "$B_HOST" "$P" tcp
    ok "A$when: TCP to sandbox B's web server blocked" -- blocked "$A" "$B_IP" 8000 tcp
    ok "A$when: TCP to 192.0.2.1 blocked" -- blocked "$A" 192.0.2.1 "$P" tcp
    local q="leak-probe-$RANDOM.example.com"
    ok "A$when: DNS lookup gets no answer" -- bash -c "! $(printf %q "$AIRLOCK") exec $A -- getent hosts $q"
    ok "A$when: DNS question recorded in dns.log" -- grep -q "$q from $A_IP" "$AIRLOCK_STATE_DIR/sandboxes/$A/dns.log"
}
check_allow ""

# --- spoofing (A, the guest with a way out) -------------------------------------
SPOOF=${A_IP%.*}.77
"$AIRLOCK" exec "$A" -- ip addr add "$SPOOF/24" dev eth0
ok "A: a second IP ($SPOOF) cannot reach the allowed port" -- blocked "$A" "$A_HOST" "$P" tcp "$SPOOF"
host_reach() { # host_reach IP PORT: the host gets an HTTP answer from a guest
    python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"GET / HTTP/1.0\r\n\r\n"); sys.exit(0 if s.recv(12).startswith(b"HTTP/1.0 200") else 1)' "$@"
}
host_blocked() { ! host_reach "$@" 2>/dev/null; }
ok "host reaches A's server on its real address (control)" -- host_reach "$A_IP" 8000
ok "A: ARP for the claimed IP is dropped (host cannot reach $SPOOF)" -- host_blocked "$SPOOF" 8000
ok "A: the real IP still reaches it" -- reach "$A" "$A_HOST" "$P" tcp "$A_IP"
"$AIRLOCK" exec "$A" -- sh -c "ip addr del $SPOOF/24 dev eth0; ip link set eth0 address 52:54:00:de:ad:01; ip neigh flush dev eth0"
ok "A: a changed MAC cannot reach the allowed port" -- blocked "$A" "$A_HOST" "$P" tcp
d=$(drops "$A")
ok "A: inspect counts the drops ($d)" -- test "$d" -gt 0
l2() { "$AIRLOCK" inspect --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["network"]["drops"]["l2_frames"])'; }
before=$(l2 "$B")
"$AIRLOCK" exec "$B" -- ping -6 -c3 -i0.3 -W1 ff02::1%eth0 >/dev/null 2>&1
after=$(l2 "$B")
ok "B: IPv6 frames dropped at layer 2 (l2_frames $before -> $after)" -- test "$after" -ge $((before + 3))

# --- no window while libvirt rewrites its own firewall rules ---------------------
# (libvirt rebuilds nwfilter/network rules when networks or filters change; airlock's
# tables are its own and stay in place: not one connection may slip through.)
LOOP='import socket, sys, time
h, p = sys.argv[1], int(sys.argv[2]); ok = n = 0; t = time.time()
while time.time() - t < 12:
    n += 1
    try:
        socket.create_connection((h, p), timeout=0.3).recv(8); ok += 1
    except OSError:
        pass
print(ok, n)'
"$AIRLOCK" exec "$A" --timeout 60 -- python3 -c "$LOOP" "$A_HOST" "$Q" > "$WORK/loop.out" 2>&1 &
loop=$!
printf "<network><name>airlock-test-iso-churn</name><bridge name='altstchurn'/><ip address='10.213.254.1' prefix='24'/></network>" > "$WORK/churn.xml"
sleep 1
printf "<filter name='airlock-test-iso-churn' chain='root'><rule action='drop' direction='out' priority='500'><all/></rule></filter>" > "$WORK/churn-filter.xml"
for i in 1 2 3; do
    virsh -q net-create "$WORK/churn.xml" >/dev/null 2>&1; virsh -q nwfilter-define "$WORK/churn-filter.xml" >/dev/null 2>&1
    sleep 1
    virsh -q net-destroy airlock-test-iso-churn >/dev/null 2>&1; virsh -q nwfilter-undefine airlock-test-iso-churn >/dev/null 2>&1
    sleep 1
done
wait $loop
read -r leaked tries < "$WORK/loop.out"
is "A: no connection to host:$Q got through while libvirt rewrote its rules ($tries tries)" "${leaked:-x}" 0

# --- reset keeps the filter -----------------------------------------------------
t0=$(date +%s.%N)
"$AIRLOCK" reset "$A" >/dev/null; is "reset $A" "$?" 0
echo "# reset: $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s"
ok "A after reset: NIC keeps the name its rules match" -- bash -c "virsh dumpxml airlock-$A | grep -q \"target dev='$TAP_A'\""
"$AIRLOCK" exec "$A" -- sh -c "ip route replace default via $A_HOST dev eth0 && echo 'nameserver $A_HOST' > /etc/resolv.conf"
check_allow " after reset"

# --- destroy removes what airlock installed -------------------------------------
"$AIRLOCK" destroy --no-evidence "$A" "$B"; is "destroy both" "$?" 0
ok "no airlock_test_iso_* nftables table left" -- bash -c "! nft list tables | grep -q 'airlock_test_iso_'"
ok "no airlock-test-iso-* network left" -- bash -c "! virsh net-list --all --name | grep -q '^airlock-test-iso-'"
ok "no airlock-test-iso-* domain left" -- bash -c "! virsh list --all --name | grep -q '^airlock-test-iso-'"
ok "dns.log removed with the sandbox" -- test ! -e "$AIRLOCK_STATE_DIR/sandboxes/$A/dns.log"

done_testing
