#!/usr/bin/python3
"""UDP segmentation offload through the tunnel, as a QUIC stack sends: each
sendto() hands the kernel one buffer of several datagrams (UDP_SEGMENT).

  udpgso.py recv PORT SECONDS        count what arrives; prints "datagrams N bad M"
  udpgso.py send HOST PORT BATCHES   BATCHES sends of 10 datagrams of 1000 bytes

Every datagram carries its number (4 bytes) and then that number's low byte
repeated, so the receiver can tell one that was cut or merged wrongly."""
import socket
import sys
import time

SOL_UDP = 17
UDP_SEGMENT = 103
SIZE = 1000
PER_SEND = 10


def datagram(n):
    return n.to_bytes(4, "big") + bytes([n & 0xFF]) * (SIZE - 4)


def send(host, port, batches):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(SOL_UDP, UDP_SEGMENT, SIZE)
    for b in range(batches):
        s.sendto(b"".join(datagram(b * PER_SEND + k) for k in range(PER_SEND)), (host, port))
        time.sleep(0.002)


def recv(port, seconds):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.settimeout(0.2)
    seen, bad = set(), 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        n = int.from_bytes(d[:4], "big") if len(d) >= 4 else -1
        if len(d) != SIZE or d != datagram(n) or n in seen:
            bad += 1
        else:
            seen.add(n)
    print("datagrams %d bad %d" % (len(seen), bad), flush=True)


def main(argv):
    if len(argv) == 3 and argv[0] == "recv":
        recv(int(argv[1]), float(argv[2]))
    elif len(argv) == 4 and argv[0] == "send":
        send(argv[1], int(argv[2]), int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
