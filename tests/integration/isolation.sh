#!/bin/bash
# Integration: network isolation proven from inside real guests, by attack.
#
# Two sandboxes: A (--allow host:P) and B (isolated, the default). The host
# listens on TCP and UDP ports P and Q on 0.0.0.0 and :: and writes down every
# datagram and connection it gets (heard.log). Root in the guests sends what a
# hostile guest can: connections to every host address, raw frames to the
# bridge's link-local group MACs (01:80:c2:00:00:0X) carrying IPv4, IPv6,
# ICMPv6 and router advertisements, 802.1Q/QinQ, odd ethertypes, garbage,
# broadcasts, spoofed ARP, DNS over UDP and TCP.
#
# Nothing may read as "blocked" because the probe itself was broken:
#   - control phase: B's tables are deleted and IPv6 is turned back on on its
#     tap (what airlock did before the fix); the same probes must then reach
#     the listener. The reset that follows must put everything back.
#   - a witness table of the test's own (netdev ingress on the taps, before
#     airlock's) counts the probe frames: each burst must be seen arriving on
#     the host AND counted in airlock's drop counters AND not heard.
# Traffic goes only to this machine: its sandbox bridges, the addresses this
# script adds to lo, and the guests created here.
# Needs root, nft (nftables), python3, libvirtd and the base image in $AIRLOCK_STATE_DIR.
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
HOST4=10.255.77.1 # an address of the host on another interface (lo), added here
HOST6=fd00:a1:77::1
WITNESS=atest_witness # not airlock_*: gc must not take it for an orphan
WORK=$(mktemp -d /tmp/airlock-test-iso-XXXXXX)
LISTENER=
ADDED4=
ADDED6=

cleanup() {
    [ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
    "$AIRLOCK" destroy --force --no-evidence "$A" "$B" >/dev/null 2>&1
    virsh -q net-destroy airlock-test-iso-churn >/dev/null 2>&1
    nft delete table netdev "$WITNESS" 2>/dev/null
    [ -n "$ADDED4" ] && ip addr del "$HOST4/32" dev lo 2>/dev/null
    [ -n "$ADDED6" ] && ip -6 addr del "$HOST6/128" dev lo 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
command -v nft >/dev/null || bail "nft is missing (Debian package nftables)"

ip addr add "$HOST4/32" dev lo 2>/dev/null && ADDED4=1
ip -6 addr add "$HOST6/128" dev lo nodad 2>/dev/null && ADDED6=1
[ -n "$ADDED4" ] && [ -n "$ADDED6" ] || bail "cannot add the test addresses $HOST4 and $HOST6 to lo"

# Host side: TCP and UDP on 0.0.0.0 and ::, ports P and Q; answers "hello",
# writes "proto payload" of everything it gets to heard.log.
cat > "$WORK/listen.py" <<'EOF'
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
lock = threading.Lock()
def heard(what):
    with lock:
        log.write(what.decode("ascii", "replace").replace("\n", " ") + "\n")
def tcp(fam, addr, p):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, p)); s.listen(64)
    while True:
        c, a = s.accept(); heard(b"tcp %d from %s" % (p, a[0].encode())); c.sendall(b"hello\n"); c.close()
def udp(fam, addr, p):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, p))
    while True:
        d, a = s.recvfrom(65535); heard(b"udp " + d[:64]); s.sendto(b"hello\n", a)
for p in map(int, sys.argv[2:]):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        threading.Thread(target=tcp, args=(fam, addr, p), daemon=True).start()
        threading.Thread(target=udp, args=(fam, addr, p), daemon=True).start()
threading.Event().wait()
EOF
touch "$WORK/heard.log"
python3 "$WORK/listen.py" "$WORK/heard.log" "$P" "$Q" &
LISTENER=$!
heard() { grep -q -- "$1" "$WORK/heard.log"; } # the host got a datagram carrying MARK
not_heard() { ! heard "$@"; }

# Guest side: reach HOST PORT over tcp|udp [from SRC]; exit 0 only when "hello" came back.
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
    s.sendto(b"probe", (host, port))
sys.exit(0 if s.recv(16).startswith(b"hello") else 1)'
reach() { # reach SANDBOX HOST PORT tcp|udp [SRC]
    local sb=$1; shift
    "$AIRLOCK" exec "$sb" --timeout 20 -- python3 -c "$PROBE" "$@" >/dev/null 2>&1
}
unreachable() { ! reach "$@"; }
gx() { "$AIRLOCK" exec "$@"; }
frames() { # frames SANDBOX KIND ARGS...: sends raw frames from the guest, prints how many
    local sb=$1; shift
    gx "$sb" --timeout 30 -- python3 /root/frames.py "$@"
}
table_of() { echo "airlock_${1//-/_}"; }
counter() { # counter FAMILY TABLE NAME: packets so far (-1 if absent)
    nft list counter "$1" "$2" "$3" 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p' | grep . || echo -1
}
l2drops() { echo $(($(counter netdev "$(table_of "$1")" dropped_l2) + $(counter bridge "$(table_of "$1")" dropped_l2))); }
ipdrops() { counter inet "$(table_of "$1")" dropped; }
eui64() { # eui64 MAC: the fe80:: address the kernel derives from it
    python3 -c 'import sys; b=[int(x,16) for x in sys.argv[1].split(":")]; b[0]^=2
e=b[:3]+[0xff,0xfe]+b[3:]; print("fe80::%x:%x:%x:%x" % tuple((e[i]<<8)|e[i+1] for i in range(0,8,2)))' "$1"
}
sysctl_tap() { cat "/proc/sys/net/ipv6/conf/$1/$2" 2>/dev/null || echo absent; }

# --- two sandboxes ------------------------------------------------------------
"$AIRLOCK" create "$A" --allow "host:$P" --json > "$WORK/create-a.json"; rc=$?
is "create $A --allow host:$P" "$rc" 0
[ "$rc" = 0 ] || bail "create $A failed"
"$AIRLOCK" create "$B" --json > "$WORK/create-b.json"; rc=$?
is "create $B (isolated, the default)" "$rc" 0
[ "$rc" = 0 ] || bail "create $B failed"

"$AIRLOCK" inspect --json "$A" > "$WORK/a.json"
"$AIRLOCK" inspect --json "$B" > "$WORK/b.json"
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["network"]; print(d[sys.argv[2]])' "$@"; }
A_IP=$(field "$WORK/a.json" address | cut -d/ -f1); A_HOST=$(field "$WORK/a.json" host_address)
B_IP=$(field "$WORK/b.json" address | cut -d/ -f1); B_HOST=$(field "$WORK/b.json" host_address)
TA=$(table_of "$A"); TB=$(table_of "$B")
TAP_A=$(virsh dumpxml "airlock-$A" | sed -n "s/.*<target dev='\(at[0-9a-f]*\)'.*/\1/p" | head -1)
TAP_B=$(virsh dumpxml "airlock-$B" | sed -n "s/.*<target dev='\(at[0-9a-f]*\)'.*/\1/p" | head -1)
BR_B=$(virsh net-dumpxml "airlock-$B" | sed -n "s/.*<bridge name='\(al[0-9a-f]*\)'.*/\1/p")
BR_A=$(virsh net-dumpxml "airlock-$A" | sed -n "s/.*<bridge name='\(al[0-9a-f]*\)'.*/\1/p")
echo "# A $A_IP (bridge $A_HOST, tap $TAP_A), B $B_IP (bridge $B_HOST $BR_B, tap $TAP_B), ports $P/$Q"
ok "A and B on different subnets" -- test "${A_IP%.*}" != "${B_IP%.*}"
for t in netdev bridge inet; do
    ok "A's $t table installed" -- nft list table "$t" "$TA"
done
ok "A's tap hook names A's NIC ($TAP_A)" -- bash -c "nft list table netdev $TA | grep -q 'device \"$TAP_A\"'"
is "inspect shows A's allow list" "$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["network"]["allow"]))' "$WORK/a.json")" "$A_HOST:$P"
is "inspect shows B's empty allow list" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["network"]["allow"])' "$WORK/b.json")" "[]"
is "B's tap: IPv6 off" "$(sysctl_tap "$TAP_B" disable_ipv6)" 1
is "B's tap: router advertisements ignored" "$(sysctl_tap "$TAP_B" accept_ra)" 0

# qemu runs unprivileged and under its seccomp sandbox (libvirt's defaults here).
QPID=$(pgrep -f "guest=airlock-$A," | head -1)
is "A's qemu runs as libvirt-qemu" "$(ps -o user= -p "${QPID:-0}" 2>/dev/null | tr -d ' ')" libvirt-qemu
is "A's qemu runs with seccomp filtering" "$(sed -n 's/^Seccomp:[[:space:]]*//p' "/proc/${QPID:-0}/status" 2>/dev/null)" 2

# The witness: the test's own count of what arrives from each tap, before airlock's table.
witness_install() {
    nft -f - <<EOF
add table netdev $WITNESS
delete table netdev $WITNESS
table netdev $WITNESS {
    counter a {
    }
    counter b {
    }
    chain a {
        type filter hook ingress device "$TAP_A" priority -600; policy accept;
        counter name "a"
    }
    chain b {
        type filter hook ingress device "$TAP_B" priority -600; policy accept;
        counter name "b"
    }
}
EOF
}
ok "witness table installed" -- witness_install
seen() { counter netdev "$WITNESS" "$1"; } # seen a|b: frames that arrived from that tap

# Every guest: the probe tool, a route everywhere through its bridge (the most a
# root user there can do), no IPv6 chatter of its own (a quiet counter), a web server.
prep() { # prep SANDBOX BRIDGE_IP
    "$AIRLOCK" cp "$HERE/frames.py" "$1:/root/frames.py" &&
        gx "$1" -- sh -c "ip route replace default via $2 dev eth0 && ip route | grep -q '^default via $2 ' &&
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1 &&
            (nohup python3 -m http.server 8000 >/dev/null 2>&1 &)"
}
ok "A prepared (probe tool, default route via its bridge)" -- prep "$A" "$A_HOST"
ok "B prepared (probe tool, default route via its bridge)" -- prep "$B" "$B_HOST"
A_MAC=$(gx "$A" -- cat /sys/class/net/eth0/address); B_MAC=$(gx "$B" -- cat /sys/class/net/eth0/address)
B_LL=$(eui64 "$B_MAC"); TAP_B_LL=$(eui64 "$(cat "/sys/class/net/$TAP_B/address")")
BR_MAC=$(cat "/sys/class/net/$BR_B/address")

# --- control: without airlock's tables the same probes get through ---------------
# Rebuilds what airlock left open before: no netdev/inet table for B, IPv6 on its tap
# (router advertisements stay ignored: accept_ra is checked 0 first, so nothing here
# can change this host's routing).
is "control: B's tap ignores RAs before IPv6 is turned on" "$(sysctl_tap "$TAP_B" accept_ra)" 0
nft delete table netdev "$TB"; nft delete table inet "$TB"
echo 0 > "/proc/sys/net/ipv6/conf/$TAP_B/disable_ipv6"
sleep 2 # the tap's link-local address (DAD)
ok "control: TCP to the bridge address gets through" -- reach "$B" "$B_HOST" "$P" tcp
ok "control: UDP to the bridge address gets through" -- reach "$B" "$B_HOST" "$P" udp
ok "control: ping to the bridge address gets through" -- gx "$B" -- ping -c1 -W3 "$B_HOST"
ok "control: TCP to another host address ($HOST4) gets through" -- reach "$B" "$HOST4" "$P" tcp
frames "$B" udp6 01:80:c2:00:00:0e "$B_LL" "$TAP_B_LL" "$P" ctl-ll6 >/dev/null
frames "$B" udp6 01:80:c2:00:00:03 "$B_LL" "$HOST6" "$P" ctl-g6 >/dev/null
sleep 1
ok "control: IPv6 UDP to the tap's link-local via 01:80:c2:00:00:0e reaches the host (the bug)" -- heard ctl-ll6
ok "control: IPv6 UDP to a host global address via 01:80:c2:00:00:03 reaches the host (the bug)" -- heard ctl-g6
if [ "$(cat /proc/sys/net/ipv4/conf/all/rp_filter)" = 0 ] && [ "$(cat "/proc/sys/net/ipv4/conf/$TAP_B/rp_filter")" = 0 ]; then
    frames "$B" udp4 01:80:c2:00:00:0e "$B_IP" "$HOST4" "$P" ctl-v4 >/dev/null; sleep 1
    ok "control: IPv4 UDP to another host address via 01:80:c2:00:00:0e reaches the host (the bug)" -- heard ctl-v4
else
    skip "control: IPv4 UDP via a link-local MAC" "rp_filter is on here: the kernel drops it anyway"
fi

# The reset must notice the missing tables and the tap's IPv6 and fence the new tap
# before the guest runs again.
"$AIRLOCK" reset "$B" >/dev/null; is "reset $B after its tables were deleted" "$?" 0
for t in netdev bridge inet; do
    ok "B's $t table back after the reset" -- nft list table "$t" "$TB"
done
is "B's tap: IPv6 off again after the reset" "$(sysctl_tap "$TAP_B" disable_ipv6)" 1
is "B's tap: RAs ignored after the reset" "$(sysctl_tap "$TAP_B" accept_ra)" 0
witness_install >/dev/null
ok "B prepared again after the reset" -- prep "$B" "$B_HOST"

# --- isolated: B reaches nothing ------------------------------------------------
blocked_ip() { # blocked_ip DESC SANDBOX HOST PORT PROTO: no answer, and airlock's counter moved
    local desc=$1 sb=$2; shift 2
    local before after
    before=$(ipdrops "$sb")
    if reach "$sb" "$@"; then
        ok "$desc" -- false
        return
    fi
    after=$(ipdrops "$sb")
    ok "$desc (dropped $before -> $after)" -- test "$after" -gt "$before"
}
blocked_ip "B: TCP to its bridge address blocked" "$B" "$B_HOST" "$P" tcp
blocked_ip "B: UDP to its bridge address blocked" "$B" "$B_HOST" "$P" udp
blocked_ip "B: TCP to another host address ($HOST4) blocked" "$B" "$HOST4" "$P" tcp
blocked_ip "B: TCP to A's bridge address blocked" "$B" "$A_HOST" "$P" tcp
forwarding() { # forwarding BRIDGE 0|1: this host routes what arrives on that bridge (only there)
    echo "$2" > "/proc/sys/net/ipv4/conf/$1/forwarding"
}
# Without forwarding the kernel drops it before any hook: turn it on for this one bridge
# so that airlock's forward chain is what stops it.
forwarding "$BR_B" 1
blocked_ip "B: TCP to sandbox A's web server blocked (forwarding on for B's bridge)" "$B" "$A_IP" 8000 tcp
forwarding "$BR_B" 0
before=$(ipdrops "$B")
ok "B: ping to its bridge blocked" -- bash -c "! $(printf %q "$AIRLOCK") exec $B -- ping -c1 -W2 $B_HOST"
ok "B: the ping was counted" -- test "$(ipdrops "$B")" -gt "$before"
ok "host reaches A's web server (control for the sandbox-to-sandbox probe)" -- \
    python3 -c 'import socket,sys; s=socket.create_connection((sys.argv[1],8000),timeout=5); s.sendall(b"GET / HTTP/1.0\r\n\r\n"); sys.exit(0 if s.recv(12).startswith(b"HTTP/1.0 200") else 1)' "$A_IP"

# Raw frames to every link-local group address: IPv4 and IPv6 UDP to the host, ICMPv6 echo.
mark=$RANDOM
cmds=()
for x in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
    m=01:80:c2:00:00:0$x
    cmds+=("udp4 $m $B_IP $B_HOST $P ll4-$mark-$x"
           "udp4 $m $B_IP $HOST4 $P lh4-$mark-$x"
           "udp6 $m $B_LL $TAP_B_LL $P ll6-$mark-$x"
           "udp6 $m $B_LL $HOST6 $P lg6-$mark-$x"
           "echo6 $m $B_LL $TAP_B_LL")
done
printf '%s\n' "${cmds[@]}" > "$WORK/ll.cmds"
"$AIRLOCK" cp "$WORK/ll.cmds" "$B:/root/ll.cmds"
# one exec for all 80 frames: a loop over the tool inside the guest
send_list() { # send_list SANDBOX FILE_IN_GUEST: prints the number of frames sent
    gx "$1" --timeout 120 -- sh -c "n=0; while read -r l; do c=\$(python3 /root/frames.py \$l) || c=0; n=\$((n + c)); done < $2; echo \$n"
}
s0=$(seen b); d0=$(l2drops "$B")
sent=$(send_list "$B" /root/ll.cmds)
sleep 1
s1=$(seen b); d1=$(l2drops "$B")
is "B: 80 frames to 01:80:c2:00:00:00-0f sent" "$sent" 80
ok "B: the witness saw them arrive on the host ($s0 -> $s1)" -- test "$s1" -ge $((s0 + 80))
ok "B: airlock dropped and counted every one ($d0 -> $d1)" -- test "$d1" -ge $((d0 + 80))
ok "B: the host listener heard none of them" -- bash -c "! grep -qE '(ll4|lh4|ll6|lg6)-$mark-' $WORK/heard.log"

# Router advertisements: never able to touch this host's routing (checked before sending).
ip -6 route show table all > "$WORK/routes.before"; ip -6 addr show > "$WORK/addrs.before"
if [ "$(sysctl_tap "$TAP_B" accept_ra)" = 0 ] && [ "$(sysctl_tap "$TAP_B" disable_ipv6)" = 1 ] &&
    [ "$(sysctl_tap "$BR_B" disable_ipv6)" != 0 ]; then
    s0=$(seen b); d0=$(l2drops "$B")
    n=0
    for m in 01:80:c2:00:00:0e 01:80:c2:00:00:00 33:33:00:00:00:01 "$BR_MAC"; do
        c=$(frames "$B" ra "$m" "$B_LL") && n=$((n + c))
    done
    sleep 2
    s1=$(seen b); d1=$(l2drops "$B")
    is "B: 4 router advertisements sent" "$n" 4
    ok "B: the RAs arrived ($s0 -> $s1) and were dropped ($d0 -> $d1)" -- test "$s1" -ge $((s0 + 4)) -a "$d1" -ge $((d0 + 4))
    ip -6 route show table all > "$WORK/routes.after"; ip -6 addr show > "$WORK/addrs.after"
    ok "the host's IPv6 routes are unchanged" -- bash -c "! grep -q 2001:db8:a1 $WORK/routes.after && diff <(grep -v expires $WORK/routes.before) <(grep -v expires $WORK/routes.after)"
    ok "the host's IPv6 addresses are unchanged" -- bash -c "! grep -q 2001:db8:a1 $WORK/addrs.after && diff <(grep -v _lft $WORK/addrs.before) <(grep -v _lft $WORK/addrs.after)"
else
    bail "B's tap or bridge would accept a router advertisement: not sending one"
fi

# Tags, other ethertypes, junk, oversize, spoofed ARP, broadcasts: arrive, dropped, not heard.
kinds=("vlan $BR_MAC $B_IP $B_HOST $P vl-$mark 8100"
       "vlan $BR_MAC $B_IP $B_HOST $P qq-$mark 88a8,8100"
       "vlan 01:80:c2:00:00:0e $B_IP $B_HOST $P vll-$mark 8100"
       "ethertype 01:80:c2:00:00:0e 88cc"
       "ethertype $BR_MAC 8863"
       "ethertype $BR_MAC 88b5"
       "ethertype ff:ff:ff:ff:ff:ff 0842"
       "garbage $BR_MAC"
       "arp ff:ff:ff:ff:ff:ff $B_HOST $B_HOST"
       "udp6 $BR_MAC $B_LL $TAP_B_LL $P br6-$mark")
for k in "${kinds[@]}"; do
    s0=$(seen b); d0=$(l2drops "$B")
    n=$(frames "$B" $k) || n=0
    sleep 0.5
    s1=$(seen b); d1=$(l2drops "$B")
    set -- $k
    ok "B: $1 frame(s) to $2${7:+ tags $7}${3:+ ($3)}: $n sent, arrived ($s0 -> $s1), dropped ($d0 -> $d1)" -- \
        test "$n" -ge 1 -a "$s1" -ge $((s0 + n)) -a "$d1" -ge $((d0 + n))
done
n=$(frames "$B" oversize "$BR_MAC" "$B_IP" "$B_HOST" "$P" big-$mark 2>/dev/null) || n=0
is "B: a frame larger than the MTU does not even leave the guest" "$n" 0
for dst in 255.255.255.255 "${B_HOST%.*}.255"; do
    i0=$(ipdrops "$B")
    n=$(frames "$B" udp4 ff:ff:ff:ff:ff:ff "$B_IP" "$dst" "$P" bc-$mark-$dst) || n=0
    sleep 0.5
    ok "B: UDP broadcast to $dst:$P sent ($n), dropped ($i0 -> $(ipdrops "$B"))" -- test "$n" = 1 -a "$(ipdrops "$B")" -gt "$i0"
done
sleep 1
ok "B: the host listener heard none of the tagged, junk or broadcast frames" -- bash -c "! grep -qE '(vl|qq|vll|br6|big|bc)-$mark' $WORK/heard.log"

# DNS: the recorder refuses every question, over UDP and TCP, even for a name this
# host can resolve, and forwards nothing.
HOSTNAME_=$(hostname)
ok "control: this host resolves its own name ($HOSTNAME_)" -- getent hosts "$HOSTNAME_"
DNS='import socket, struct, sys
host, name, proto = sys.argv[1], sys.argv[2], sys.argv[3]
q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(q, (host, 53)); r = s.recv(512)
else:
    s = socket.create_connection((host, 53), timeout=5); s.sendall(struct.pack("!H", len(q)) + q)
    r = s.recv(2)[:2]; r = s.recv(struct.unpack("!H", r)[0])
rcode, ancount = r[3] & 15, struct.unpack("!H", r[6:8])[0]
print("rcode=%d answers=%d" % (rcode, ancount))'
for proto in udp tcp; do
    is "B: DNS over $proto for '$HOSTNAME_' is refused with no answer" \
        "$(gx "$B" -- python3 -c "$DNS" "$B_HOST" "$HOSTNAME_" "$proto" 2>&1)" "rcode=5 answers=0"
done
ok "B: the questions are recorded in dns.log" -- grep -q "query\[A\] $HOSTNAME_ from $B_IP" "$AIRLOCK_STATE_DIR/sandboxes/$B/dns.log"
ok "B: nothing was forwarded upstream" -- bash -c "! grep -qE 'forwarded|reply ' $AIRLOCK_STATE_DIR/sandboxes/$B/dns.log"
ok "B: DNS questions not in A's dns.log" -- bash -c "! grep -q 'from $B_IP' $AIRLOCK_STATE_DIR/sandboxes/$A/dns.log"

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
ok "inspect reports B's drops" -- bash -c "$(printf %q "$AIRLOCK") inspect --json $B | python3 -c 'import json,sys; d=json.load(sys.stdin)[\"network\"][\"drops\"]; sys.exit(0 if d[\"ip_packets\"] > 0 and d[\"l2_frames\"] >= 80 else 1)'"

# --- allow: exactly host:P ----------------------------------------------------
check_allow() { # the allow-mode checks, before and after reset
    local when=$1
    ok "A$when: TCP to host:$P works (positive control)" -- reach "$A" "$A_HOST" "$P" tcp
    blocked_ip "A$when: TCP to host:$Q blocked" "$A" "$A_HOST" "$Q" tcp
    blocked_ip "A$when: UDP to host:$P blocked (allow is TCP)" "$A" "$A_HOST" "$P" udp
    blocked_ip "A$when: TCP to B's bridge address:$P blocked" "$A" "$B_HOST" "$P" tcp
    blocked_ip "A$when: TCP to $HOST4:$P (the host, not the bridge) blocked" "$A" "$HOST4" "$P" tcp
    forwarding "$BR_A" 1
    blocked_ip "A$when: TCP to sandbox B's web server blocked (forwarding on for A's bridge)" "$A" "$B_IP" 8000 tcp
    forwarding "$BR_A" 0
    local s0 d0 n
    s0=$(seen a); d0=$(l2drops "$A")
    n=$(frames "$A" udp6 01:80:c2:00:00:0e "$(eui64 "$A_MAC")" "$HOST6" "$P" a-ll6-$mark) || n=0
    sleep 0.5
    ok "A$when: IPv6 via 01:80:c2:00:00:0e arrived and was dropped" -- test "$n" = 1 -a "$(seen a)" -gt "$s0" -a "$(l2drops "$A")" -gt "$d0"
}
check_allow ""

# --- no window while libvirt rewrites its own firewall rules ---------------------
# From A with its valid MAC: every connection to the allowed port must succeed and
# none to the blocked one, while libvirt creates and destroys networks and filters.
LOOP='import socket, sys, time
h, p = sys.argv[1], int(sys.argv[2]); ok = n = 0; t = time.time()
while time.time() - t < 12:
    n += 1
    try:
        socket.create_connection((h, p), timeout=0.5).recv(8); ok += 1
    except OSError:
        pass
print(ok, n)'
gx "$A" --timeout 60 -- python3 -c "$LOOP" "$A_HOST" "$P" > "$WORK/loop-p.out" 2>&1 &
loop_p=$!
gx "$A" --timeout 60 -- python3 -c "$LOOP" "$A_HOST" "$Q" > "$WORK/loop-q.out" 2>&1 &
loop_q=$!
printf "<network><name>airlock-test-iso-churn</name><bridge name='altstchurn'/><ip address='10.213.254.1' prefix='24'/></network>" > "$WORK/churn.xml"
printf "<filter name='airlock-test-iso-churn' chain='root'><rule action='drop' direction='out' priority='500'><all/></rule></filter>" > "$WORK/churn-filter.xml"
sleep 1
for i in 1 2 3; do
    virsh -q net-create "$WORK/churn.xml" >/dev/null 2>&1; virsh -q nwfilter-define "$WORK/churn-filter.xml" >/dev/null 2>&1
    sleep 1
    virsh -q net-destroy airlock-test-iso-churn >/dev/null 2>&1; virsh -q nwfilter-undefine airlock-test-iso-churn >/dev/null 2>&1
    sleep 1
done
wait $loop_p; wait $loop_q
read -r okp triesp < "$WORK/loop-p.out"; read -r okq triesq < "$WORK/loop-q.out"
ok "A: every connection to the allowed host:$P succeeded during the churn ($okp of $triesp)" -- test "${triesp:-0}" -gt 5 -a "${okp:-x}" = "${triesp:-y}"
is "A: no connection to host:$Q got through during the churn ($triesq tries)" "${okq:-x}" 0

# --- spoofing (A, the guest with a way out) -------------------------------------
SPOOF=${A_IP%.*}.77
ok "A: a second address $SPOOF is configured in the guest" -- gx "$A" -- sh -c "ip addr add $SPOOF/24 dev eth0 && ip -4 addr show dev eth0 | grep -q ' $SPOOF/'"
ok "A: from $SPOOF the allowed port is blocked" -- unreachable "$A" "$A_HOST" "$P" tcp "$SPOOF"
ok "A: from its real address the allowed port still works (control)" -- reach "$A" "$A_HOST" "$P" tcp "$A_IP"
host_reach() { # host_reach IP PORT: the host gets an HTTP answer from a guest
    python3 -c 'import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
s.sendall(b"GET / HTTP/1.0\r\n\r\n"); sys.exit(0 if s.recv(12).startswith(b"HTTP/1.0 200") else 1)' "$@"
}
host_unreachable() { ! host_reach "$@" 2>/dev/null; }
ok "host reaches A's server on its real address (control)" -- host_reach "$A_IP" 8000
ok "A: ARP for the claimed address is dropped (host cannot reach $SPOOF)" -- host_unreachable "$SPOOF" 8000
d0=$(l2drops "$A")
ok "A: the MAC is changed in the guest" -- gx "$A" -- sh -c "ip addr del $SPOOF/24 dev eth0; ip link set eth0 address 52:54:00:de:ad:01 && ip neigh flush dev eth0 && grep -q 52:54:00:de:ad:01 /sys/class/net/eth0/address"
ok "A: with a changed MAC the allowed port is blocked" -- unreachable "$A" "$A_HOST" "$P" tcp
ok "A: the changed MAC's frames were counted ($d0 -> $(l2drops "$A"))" -- test "$(l2drops "$A")" -gt "$d0"

# --- reset keeps the filter, with no rule rebuild --------------------------------
handle() { nft -a list table netdev "$TA" | sed -n '1s/.*# handle \([0-9]*\)$/\1/p'; } # new on rebuild
h0=$(handle)
t0=$(date +%s.%N)
"$AIRLOCK" reset "$A" >/dev/null; is "reset $A" "$?" 0
echo "# reset: $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN{printf "%.2f", e-s}') s (wall, CLI included)"
is "A after reset: its tap table was not rebuilt (same table handle)" "$(handle)" "$h0"
ok "A after reset: NIC keeps the name its rules match" -- bash -c "virsh dumpxml airlock-$A | grep -q \"target dev='$TAP_A'\""
ok "A prepared again after the reset" -- prep "$A" "$A_HOST"
check_allow " after reset"

# --- a flushed firewall is noticed, put back and recorded -----------------------
# Only this sandbox's tables are deleted (what `nft flush ruleset` does to them),
# never this host's whole ruleset.
for t in netdev bridge inet; do nft delete table "$t" "$TB"; done
out=$("$AIRLOCK" doctor 2>&1); rc=$?
ok "doctor fails while B runs without its tables (exit $rc)" -- test "$rc" != 0
ok "doctor names B under fences" -- grep -q "FAIL *fences .*'$B'" <<<"$out"
out=$("$AIRLOCK" gc 2>&1); rc=$?
is "gc exits 0" "$rc" 0
ok "gc says it re-fenced B" -- grep -q "^$B *refenced" <<<"$out"
for t in netdev bridge inet; do
    ok "B's $t table back after gc" -- nft list table "$t" "$TB"
done
ok "the audit trail records the re-fencing" -- grep -q "\"event\":\"gc\",\"sandbox\":\"$B\".*\"target\":\"$B\",\"action\":\"refenced\"" "$AIRLOCK_STATE_DIR/events.jsonl"
ok "doctor is content again" -- bash -c "$(printf %q "$AIRLOCK") doctor | grep -q '^ok *fences'"
blocked_ip "B after gc: TCP to its bridge address blocked" "$B" "$B_HOST" "$P" tcp

# --- destroy removes what airlock installed -------------------------------------
"$AIRLOCK" destroy --no-evidence "$A" "$B"; is "destroy both" "$?" 0
ok "no airlock_test_iso_* nftables table left" -- bash -c "! nft list tables | grep -q 'airlock_test_iso_'"
ok "no airlock-test-iso-* network left" -- bash -c "! virsh net-list --all --name | grep -q '^airlock-test-iso-'"
ok "no airlock-test-iso-* domain left" -- bash -c "! virsh list --all --name | grep -q '^airlock-test-iso-'"
ok "dns.log removed with the sandbox" -- test ! -e "$AIRLOCK_STATE_DIR/sandboxes/$A/dns.log"

done_testing
