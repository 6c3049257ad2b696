#!/usr/bin/python3
"""A one-way stream of numbered UDP datagrams, to see which ones a tunnel
lost and when: traffic a client only receives (a stream, a feed) makes it
send nothing back, unlike ping or TCP.

  udpstream.py send HOST PORT RATE SECONDS  RATE datagrams a second for SECONDS;
                                            prints "sent N"
  udpstream.py recv PORT SECONDS            counts what arrives for SECONDS, or
                                            until the sender's end marker; prints
                                            "received N of M lost L longest_gap_s G"

Both end by themselves: the sender after SECONDS, the receiver after
SECONDS or one second after the end marker."""
import socket
import struct
import sys
import time

END = 0xFFFFFFFF


def send(host, port, rate, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gap = 1.0 / rate
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        s.sendto(struct.pack("!I", n) + b"x" * 60, (host, port))
        n += 1
        time.sleep(max(0.0, t0 + n * gap - time.monotonic()))
    for _ in range(3):  # the marker says how many were sent; three in case one is lost
        s.sendto(struct.pack("!II", END, n), (host, port))
        time.sleep(0.05)
    print("sent %d" % n)


def recv(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    deadline = time.monotonic() + seconds
    seen, total, last_t, gap = set(), None, None, 0.0
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        (seq,) = struct.unpack("!I", data[:4])
        if seq == END:
            total = struct.unpack("!I", data[4:8])[0]
            deadline = min(deadline, time.monotonic() + 1)
            continue
        now = time.monotonic()
        if last_t is not None:
            gap = max(gap, now - last_t)
        last_t = now
        seen.add(seq)
    if total is None:
        total = max(seen) + 1 if seen else 0
    print("received %d of %d lost %d longest_gap_s %.2f" % (len(seen), total, total - len(seen), gap))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    elif len(sys.argv) == 4 and sys.argv[1] == "recv":
        recv(int(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
