#!/usr/bin/python3
"""Send hostile UDP datagrams to a vpngw peer (stdlib only: socket, struct, os).

usage: hostile.py DST PORT KIND [--id HEX32] [--pcap FILE]

KIND (what is sent, and the counter the receiver should raise):
  garbage     random bytes, lengths 0, 1, 31, 32, 100, 1500 (6 datagrams)   malformed_drops
  badmagic    DATA header with magic 0xDEADBEEF, 64 payload bytes            malformed_drops
  badversion  DATA header with version 2                                     malformed_drops
  type9       header with msgType 9                                          malformed_drops
  unknownid   valid DATA header, random clientId, 64 random payload bytes    unknown_client_drops
  badlen      DATA headers whose payloadLen is 10 more / 10 less than sent   malformed_drops
              (2 datagrams)
  hsinit      CONTROL, controlType 1 (HS_INIT), 161-byte payload of random   handshake_mac_drops
              bytes after the control type (the right size, mac1 wrong)
  replay      the UDP payload of the first datagram to PORT in --pcap,       replay_drops
              resent byte for byte
  flip        the same with one bit of the sealed payload flipped            auth_fail_drops

--id: the clientId (32 hex digits) for the malformed-header kinds (default: random). Giving a
live client's id makes the check pointed: if the header check let it through, it would be
counted somewhere else (auth_fail_drops), not in malformed_drops.

Prints one line: kind=... datagrams=N lengths=... ; exits 1 on a usage or capture problem.
"""
import argparse
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapcheck  # noqa: E402  (records/l3/udp_payload: the lab's pcap reader)

MAGIC = 0x56504E31
DATA, KEEPALIVE, CONTROL = 1, 2, 3
HDR = struct.Struct("!IBBH16sIHH")  # magic version type flags clientId seq payloadLen reserved
assert HDR.size == 32


def header(magic=MAGIC, version=1, mtype=DATA, flags=0, cid=None, seq=0, plen=0, reserved=0):
    return HDR.pack(magic, version, mtype, flags, cid if cid is not None else os.urandom(16),
                    seq, plen, reserved)


def sealed_like(cid, **kw):
    """A DATA-shaped datagram: header + 64 random bytes (48 'ciphertext' + 16 'tag')."""
    body = os.urandom(64)
    return header(cid=cid, seq=7, plen=len(body), **kw) + body


def captured(pcap, port):
    data = open(pcap, "rb").read()
    for lt, frame in pcapcheck.records(data):
        x = pcapcheck.l3(lt, frame)
        if x is None:
            continue
        r = pcapcheck.udp_payload(x[0], x[1], port)
        if r is None:
            continue
        p = r[0]
        if len(p) >= 32 + 16 and p[:5] == b"VPN1\x01" and p[5] == DATA:
            return p
    return None


def build(kind, cid, pcap, port):
    if kind == "garbage":
        return [os.urandom(n) for n in (0, 1, 31, 32, 100, 1500)]
    if kind == "badmagic":
        return [sealed_like(cid, magic=0xDEADBEEF)]
    if kind == "badversion":
        return [sealed_like(cid, version=2)]
    if kind == "type9":
        return [sealed_like(cid, mtype=9)]
    if kind == "unknownid":
        return [sealed_like(os.urandom(16))]
    if kind == "badlen":
        body = os.urandom(64)
        return [header(cid=cid, seq=8, plen=len(body) + 10) + body,
                header(cid=cid, seq=9, plen=len(body) - 10) + body]
    if kind == "hsinit":
        payload = b"\x01" + os.urandom(160)
        return [header(mtype=CONTROL, cid=bytes(16), seq=0, plen=len(payload)) + payload]
    if kind in ("replay", "flip"):
        if not pcap:
            sys.exit("hostile.py: %s needs --pcap" % kind)
        p = captured(pcap, port)
        if p is None:
            sys.exit("hostile.py: no VPN1 DATA datagram to port %d in %s" % (port, pcap))
        if kind == "flip":
            b = bytearray(p)
            b[32 + 5] ^= 0x10  # a bit of the ciphertext, well inside the payload
            p = bytes(b)
        return [p]
    sys.exit("hostile.py: unknown kind %r" % kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("kind")
    ap.add_argument("--id", default="")
    ap.add_argument("--pcap", default="")
    a = ap.parse_args()
    cid = bytes.fromhex(a.id) if a.id else None
    if cid is not None and len(cid) != 16:
        sys.exit("hostile.py: --id wants 32 hex digits")
    grams = build(a.kind, cid, a.pcap, a.port)
    fam = socket.AF_INET6 if ":" in a.dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        for g in grams:
            s.sendto(g, (a.dst, a.port))
    finally:
        s.close()
    extra = ""
    if a.kind in ("replay", "flip"):
        seq = struct.unpack("!I", grams[0][24:28])[0]
        extra = " client_id=%s seq=%d" % (grams[0][8:24].hex(), seq)
    print("kind=%s datagrams=%d lengths=%s%s" % (
        a.kind, len(grams), ",".join(str(len(g)) for g in grams), extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
