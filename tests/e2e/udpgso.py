#!/usr/bin/python3
"""UDP segmentation offload through the tunnel, as a QUIC stack sends: each
sendto() hands the kernel one buffer of several datagrams (UDP_SEGMENT).

  udpgso.py recv PORT SECONDS        count what arrives; prints
                                     "datagrams N bad M reordered R"
  udpgso.py send HOST PORT BATCHES [GAP_MS]
                                     BATCHES sends of 10 datagrams of 1000 bytes,
                                     GAP_MS (2) apart; 0: as fast as they go
  udpgso.py push PORT BATCHES [GAP_MS]
                                     the other way round, through a NAT: waits
                                     (5 s at most) for a datagram on PORT, then
                                     makes the BATCHES sends to where it came from
  udpgso.py pull HOST PORT SECONDS   sends that datagram to HOST PORT, then
                                     counts what comes back, as recv does

Every datagram carries its number (4 bytes) and then that number's low byte
repeated, so the receiver can tell one that was cut or merged wrongly; one
whose number is below one seen before arrived out of order ("reordered"):
batching, cutting and merging must keep a flow's order."""
import socket
import sys
import time

SOL_UDP = 17
UDP_SEGMENT = 103
SO_RCVBUFFORCE = 33
SIZE = 1000
PER_SEND = 10


def datagram(n):
    return n.to_bytes(4, "big") + bytes([n & 0xFF]) * (SIZE - 4)


def send_batches(s, to, batches, gap_ms):
    s.setsockopt(SOL_UDP, UDP_SEGMENT, SIZE)
    for b in range(batches):
        try:
            s.sendto(b"".join(datagram(b * PER_SEND + k) for k in range(PER_SEND)), to)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # a full queue or a stray ICMP error: counted as lost by the receiver
        if gap_ms:
            time.sleep(gap_ms / 1000)


def send(host, port, batches, gap_ms):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    send_batches(s, (host, port), batches, gap_ms)


def push(port, batches, gap_ms):
    s = bound(port)
    s.settimeout(5)
    try:
        _, peer = s.recvfrom(64)
    except socket.timeout:
        sys.exit("push: nothing came to port %d in 5 s" % port)
    send_batches(s, peer, batches, gap_ms)


def bound(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


def count(s, seconds):
    # Room for a burst: what a slow Python reader loses in its own socket
    # says nothing about the tunnel. FORCE, as root, goes past rmem_max.
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
    except PermissionError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.settimeout(0.2)
    seen, bad, reordered, top = set(), 0, 0, -1
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        n = int.from_bytes(d[:4], "big") if len(d) >= 4 else -1
        if len(d) != SIZE or d != datagram(n) or n in seen:
            bad += 1
            continue
        seen.add(n)
        if n < top:
            reordered += 1
        top = max(top, n)
    print("datagrams %d bad %d reordered %d" % (len(seen), bad, reordered), flush=True)


def recv(port, seconds):
    count(bound(port), seconds)


def pull(host, port, seconds):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"go", (host, port))
    count(s, seconds)


def main(argv):
    if len(argv) == 3 and argv[0] == "recv":
        recv(int(argv[1]), float(argv[2]))
    elif len(argv) in (4, 5) and argv[0] == "send":
        send(argv[1], int(argv[2]), int(argv[3]), float(argv[4]) if len(argv) == 5 else 2)
    elif len(argv) in (3, 4) and argv[0] == "push":
        push(int(argv[1]), int(argv[2]), float(argv[3]) if len(argv) == 4 else 2)
    elif len(argv) == 4 and argv[0] == "pull":
        pull(argv[1], int(argv[2]), float(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
