# frames.py: raw frames a hostile root in the guest can send (copied into test guests by
# isolation.sh; stdlib only). Every frame goes out of eth0 as is, past the guest's own stack.
#
#   python3 frames.py KIND DST_MAC [ARGS...]  -> sends, prints the number of frames sent
#
# KIND:
#   udp4 DST_MAC SRC_IP DST_IP PORT MARK        IPv4 UDP datagram carrying MARK
#   udp6 DST_MAC SRC_IP6 DST_IP6 PORT MARK      IPv6 UDP datagram carrying MARK
#   echo6 DST_MAC SRC_IP6 DST_IP6               ICMPv6 echo request
#   ra DST_MAC SRC_IP6                          Router Advertisement to ff02::1: prefix
#                                               2001:db8:a1::/64 (autonomous), default route
#   vlan DST_MAC SRC_IP DST_IP PORT MARK TPIDS  IPv4 UDP inside 802.1Q tags (TPIDS "8100" or
#                                               "88a8,8100" for QinQ)
#   arp DST_MAC SENDER_IP TARGET_IP             ARP reply claiming SENDER_IP is this guest
#   ethertype DST_MAC TYPE                      64 bytes of junk with ethertype TYPE (hex)
#   garbage DST_MAC                             a runt (14 bytes) and a frame of random bytes
#   oversize DST_MAC SRC_IP DST_IP PORT MARK    IPv4 UDP, 9000 bytes (larger than the MTU)
import os
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ipv4(src, dst, proto, payload):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), os.getpid() & 0xFFFF, 0, 64,
                      proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def udp4(src, dst, port, data):
    u = struct.pack("!HHHH", 40000, port, 8 + len(data), 0) + data
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(u))
    c = csum(pseudo + u) or 0xFFFF
    return ipv4(src, dst, 17, u[:6] + struct.pack("!H", c) + u[8:])


def ipv6(src, dst, nh, payload, hops=64):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    return struct.pack("!IHBB", 6 << 28, len(payload), nh, hops) + s + d + payload


def l4_6(src, dst, nh, body, csum_at):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    pseudo = s + d + struct.pack("!IxxxB", len(body), nh)
    c = csum(pseudo + body) or 0xFFFF
    return body[:csum_at] + struct.pack("!H", c) + body[csum_at + 2:]


def main():
    kind, dst = sys.argv[1], mac(sys.argv[2])
    a = sys.argv[3:]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind(("eth0", 0))
    src = sock.getsockname()[4]
    frames = []
    eth = lambda t, p: dst + src + struct.pack("!H", t) + p
    if kind == "udp4":
        frames.append(eth(0x0800, udp4(a[0], a[1], int(a[2]), a[3].encode())))
    elif kind == "oversize":
        frames.append(eth(0x0800, udp4(a[0], a[1], int(a[2]), a[3].encode() + b"x" * 9000)))
    elif kind == "udp6":
        body = struct.pack("!HHHH", 40000, int(a[2]), 8 + len(a[3]), 0) + a[3].encode()
        frames.append(eth(0x86DD, ipv6(a[0], a[1], 17, l4_6(a[0], a[1], 17, body, 6))))
    elif kind == "echo6":
        body = struct.pack("!BBHHH", 128, 0, 0, 0x4141, 1) + b"airlock-echo"
        frames.append(eth(0x86DD, ipv6(a[0], a[1], 58, l4_6(a[0], a[1], 58, body, 2))))
    elif kind == "ra":
        body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
        body += struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0)
        body += socket.inet_pton(socket.AF_INET6, "2001:db8:a1::")
        body += struct.pack("!BB", 1, 1) + src
        frames.append(eth(0x86DD, ipv6(a[0], "ff02::1", 58, l4_6(a[0], "ff02::1", 58, body, 2),
                                       hops=255)))
    elif kind == "vlan":
        inner = struct.pack("!H", 0x0800) + udp4(a[0], a[1], int(a[2]), a[3].encode())
        for tpid in reversed(a[4].split(",")):
            inner = struct.pack("!HH", int(tpid, 16), 7) + inner
        frames.append(dst + src + inner)
    elif kind == "arp":
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + src + socket.inet_aton(a[0])
        body += b"\xff" * 6 + socket.inet_aton(a[1])
        frames.append(eth(0x0806, body))
    elif kind == "ethertype":
        frames.append(eth(int(a[0], 16), b"airlock-junk" * 6))
    elif kind == "garbage":
        frames.append(dst + src + b"\x08\x00")
        frames.append(dst + src + os.urandom(200))
    else:
        sys.exit("unknown kind " + kind)
    n = 0
    for f in frames:
        try:
            sock.send(f)
            n += 1
        except OSError as e:
            print("# %s: %s" % (kind, e), file=sys.stderr)
    print(n)


main()
