#!/usr/bin/python3
"""Check a pcap file of vpngw's underlay traffic (stdlib only).

usage: pcapcheck.py PCAP --port 51820 --magic 56504e3101 [--absent HEX] [--present HEX]

Prints key=value facts and exits 0 when all hold:
  udp_datagrams   UDP datagrams to or from --port (IPv4/IPv6)
  bad_magic       those whose payload does not start with --magic
  absent_hits     occurrences of --absent anywhere in the file's packet bytes (want 0)
  present_hits    occurrences of --present (want > 0; a positive control)
  peers           the far-end addresses of those datagrams (sources of datagrams to --port,
                  destinations of datagrams from it), comma-separated
"""
import argparse
import ipaddress
import struct
import sys


def records(data):
    if len(data) < 24:
        raise ValueError("short pcap header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a pcap file (pcapng is not supported)")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        yield linktype, data[off:off + incl]
        off += incl


def l3(linktype, frame):
    """(ethertype, network-layer bytes) or None."""
    if linktype == 1:  # Ethernet
        if len(frame) < 14:
            return None
        et = struct.unpack("!H", frame[12:14])[0]
        off = 14
        while et in (0x8100, 0x88A8) and len(frame) >= off + 4:
            et = struct.unpack("!H", frame[off + 2:off + 4])[0]
            off += 4
        return et, frame[off:]
    if linktype == 113:  # Linux cooked v1
        return struct.unpack("!H", frame[14:16])[0], frame[16:]
    if linktype == 276:  # Linux cooked v2
        return struct.unpack("!H", frame[0:2])[0], frame[20:]
    if linktype in (101, 12, 14):  # raw IP
        if not frame:
            return None
        return (0x0800 if frame[0] >> 4 == 4 else 0x86DD), frame
    return None


def udp_payload(et, pkt, port):
    """(payload, peer address) of a UDP datagram to or from port, or None."""
    if et == 0x0800 and len(pkt) >= 20:
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] != 17 or struct.unpack("!H", pkt[6:8])[0] & 0x1FFF:
            return None  # not UDP, or a non-first fragment
        seg = pkt[ihl:]
        src, dst = pkt[12:16], pkt[16:20]
    elif et == 0x86DD and len(pkt) >= 40:
        if pkt[6] != 17:
            return None
        seg = pkt[40:]
        src, dst = pkt[8:24], pkt[24:40]
    else:
        return None
    if len(seg) < 8:
        return None
    sport, dport, ulen = struct.unpack("!HHH", seg[:6])
    if port not in (sport, dport):
        return None
    peer = str(ipaddress.ip_address(src if dport == port else dst))
    return (seg[8:ulen] if ulen >= 8 else seg[8:]), peer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--port", type=int, default=51820)
    ap.add_argument("--magic", default="56504e3101")
    ap.add_argument("--absent", default="")
    ap.add_argument("--present", default="")
    a = ap.parse_args()
    data = open(a.pcap, "rb").read()
    magic = bytes.fromhex(a.magic)
    n = bad = 0
    absent = bytes.fromhex(a.absent) if a.absent else b""
    present = bytes.fromhex(a.present) if a.present else b""
    absent_hits = present_hits = 0
    first_bad = ""
    peers = []
    for lt, frame in records(data):
        if absent:
            absent_hits += frame.count(absent)
        if present:
            present_hits += frame.count(present)
        x = l3(lt, frame)
        if x is None:
            continue
        r = udp_payload(x[0], x[1], a.port)
        if r is None:
            continue
        p, peer = r
        if peer not in peers:
            peers.append(peer)
        n += 1
        if not p.startswith(magic):
            bad += 1
            if not first_bad:
                first_bad = p[:8].hex()
    print("udp_datagrams=%d bad_magic=%d absent_hits=%d present_hits=%d peers=%s%s" % (
        n, bad, absent_hits, present_hits, ",".join(peers) or "-",
        (" first_bad=" + first_bad) if first_bad else ""))
    good = n > 0 and bad == 0 and absent_hits == 0 and (not present or present_hits > 0)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
