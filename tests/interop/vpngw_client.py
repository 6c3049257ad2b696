#!/usr/bin/python3
"""An independent vpngw client, written from docs/PROTOCOL.md alone.

It shares no code with the C implementation: the handshake is python3-dissononce's
Noise, the data AEAD is python3-cryptography's. It needs no TUN device: it builds
its own ICMP echo requests (IPv4, and ICMPv6 with --ipv6), sends them through the gateway as DATA messages
and checks the echo replies that come back.

What one run does (every wait bounded):
  1. handshake (HS_INIT / HS_RESP) for a new session, KEEPALIVE under the new keys
     and the gateway's KEEPALIVE answer;
  2. phase "initial": pings to every --target;
  3. checks: a DATA datagram sent again verbatim must get no answer (replay window),
     a DATA packet with a source address not ours must get no answer;
  4. --rekeys times, phase "rekeyN": pings keep flowing while a new HS_INIT with
     prevId = clientId is answered; the clientId must stay, the epoch must be one
     more, replies must then arrive under the new epoch, and none may be lost;
  5. phase "idle" (--idle seconds): only KEEPALIVEs, which the gateway answers;
  6. phase "final": pings again.
It prints a summary and exits 0 only if every check passed (1: a check failed,
2: bad arguments or keys).

Usage:
  vpngw_client.py --key FILE|B64 --server-pub FILE|B64 --endpoint HOST:PORT
                  [--ciphers aes,chacha] [--expect-cipher aes|chacha]
                  [--ipv6] [--target IP]... [--pings N] [--rekeys N] [--idle S] ...
  vpngw_client.py --print-vectors          the test vectors of PROTOCOL.md appendix A
  vpngw_client.py --check-vectors FILE     compare them with FILE (docs/PROTOCOL.md)
"""
import argparse
import base64
import binascii
import hashlib
import ipaddress
import os
import socket
import struct
import sys
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.x25519.private import PrivateKey
from dissononce.dh.x25519.public import PublicKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.exceptions.decrypt import DecryptFailedException
from dissononce.hash.blake2b import Blake2bHash
from dissononce.processing.handshakepatterns.interactive.IK import IKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

# ---- PROTOCOL.md section 2: header -------------------------------------------------
MAGIC = 0x56504E31
VERSION = 1
DATA, KEEPALIVE, CONTROL = 1, 2, 3
HDR = struct.Struct("!IBBH16sIHH")   # magic version msgType flags clientId seq payloadLen reserved
HDR_LEN = 32
TAG_LEN = 16
ZERO_ID = bytes(16)

# ---- section 3: cryptography -------------------------------------------------------
PROTOCOL_NAME = "Noise_IK_25519_ChaChaPoly_BLAKE2b"
PROLOGUE = b"vpngw v1"
CIPHER_CHACHA, CIPHER_AES = 1, 2
CIPHER_NAMES = {CIPHER_CHACHA: "chacha20-poly1305", CIPHER_AES: "aes-256-gcm"}
CIPHER_ARGS = {"chacha": CIPHER_CHACHA, "aes": CIPHER_AES}

# ---- section 4: handshake ----------------------------------------------------------
HS_INIT, HS_RESP, COOKIE_REPLY = 1, 2, 3
NOISE_MSG1_LEN = 128
MAC_LEN = 16
HS_INIT_BODY_LEN = NOISE_MSG1_LEN + 2 * MAC_LEN     # Noise message 1, mac1, mac2
HS_RESP_BODY_LEN = 80
HS_RESP6_BODY_LEN = 100        # section 4.3: the IPv6 form, only to a client that asks
INIT_FLAG_V6 = 0x0001          # section 4.1: "I take the IPv6 form of HS_RESP"
COOKIE_LEN = 16
XNONCE_LEN = 24
COOKIE_REPLY_BODY_LEN = XNONCE_LEN + COOKIE_LEN + TAG_LEN
COOKIE_LIFETIME = 120.0        # section 4.5: a cookie is used this long after it came
INIT_PAYLOAD = struct.Struct("!12s16sHH")         # timestamp prevId ciphers flags
RESP_PAYLOAD = struct.Struct("!16sBBH4s4sHBB")    # clientId epoch prefix mtu addr dns ka cipher flags
RESP_FLAG_CSUM_PARTIAL = 0x01
RESP6_TAIL = struct.Struct("!16sB3s")             # addr6 prefix6 reserved (the IPv6 form)
TAI64_BASE = 2 ** 62 + 10

# ---- sections 5-7: windows and timers ----------------------------------------------
REPLAY_REFUSE_BEHIND = 4032
PREVIOUS_LIFETIME = 15.0       # a replaced keypair still receives this long
KEYPAIR_LIFETIME = 180.0       # no keypair is used this long after its handshake
REKEY_AFTER = 120.0
DEAD_MARGIN = 5.0              # gateway gone after KeepaliveInterval + this without input
SEQ_STOP = 2 ** 32 - 2 ** 16   # never send this many under one keypair
HANDSHAKE_RETRIES = (1, 2, 4, 8)

ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST = 0, 8
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129


class Failure(Exception):
    """A check against the protocol failed; the message says which and why."""


class NoAnswer(Failure):
    """The gateway never answered an HS_INIT (what a key it does not list must get)."""


# ---------------------------------------------------------------------------------------
# Keys

def load_key(arg, what):
    """A 32-byte key from a base64 string or from a file holding one (vpngw genkey/pubkey)."""
    text = arg
    if os.path.exists(arg):
        try:
            with open(arg, encoding="ascii") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError("%s: cannot read %s: %s" % (what, arg, e)) from e
    text = text.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("%s: not base64: %s" % (what, e)) from e
    if len(raw) != 32:
        raise ValueError("%s: %d bytes after base64, want 32" % (what, len(raw)))
    return raw


# ---------------------------------------------------------------------------------------
# Wire (section 2)

def pack(msg_type, flags, client_id, seq, payload):
    return HDR.pack(MAGIC, VERSION, msg_type, flags, client_id, seq, len(payload), 0) + payload


def parse(dgram):
    """(msgType, flags, clientId, seq, header bytes, payload), or a reason string when the
    datagram fails one of section 2's checks."""
    if len(dgram) < HDR_LEN:
        return "short datagram (%d bytes)" % len(dgram)
    magic, ver, mtype, flags, cid, seq, plen, rsvd = HDR.unpack_from(dgram)
    if magic != MAGIC or ver != VERSION:
        return "magic/version %08x/%d" % (magic, ver)
    if mtype not in (DATA, KEEPALIVE, CONTROL):
        return "msgType %d" % mtype
    if rsvd != 0:
        return "reserved %d" % rsvd
    if mtype == CONTROL and flags != 0:
        return "CONTROL flags %04x" % flags
    if mtype != CONTROL and flags & 0xFF00:
        return "flags %04x outside the epoch byte" % flags
    if plen != len(dgram) - HDR_LEN:
        return "payloadLen %d for %d bytes after the header" % (plen, len(dgram) - HDR_LEN)
    if mtype != CONTROL and plen < TAG_LEN:
        return "sealed payload of %d bytes, under the tag" % plen
    return mtype, flags, cid, seq, dgram[:HDR_LEN], dgram[HDR_LEN:]


# ---------------------------------------------------------------------------------------
# IPv4 / ICMP, built and checked here (no TUN)

def inet_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp_echo_request(src, dst, ident, seq, payload, ip_id):
    icmp = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", inet_checksum(icmp)) + icmp[4:]
    total = 20 + len(icmp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ip_id, 0, 64, 1, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", inet_checksum(ip)) + ip[12:]
    return ip + icmp


def icmp6_checksum(src, dst, icmp):
    # RFC 8200 8.1: over a pseudo-header of the addresses, the length and next header 58
    return inet_checksum(src + dst + struct.pack("!I3xB", len(icmp), 58) + icmp)


def icmp6_echo_request(src, dst, ident, seq, payload):
    icmp = struct.pack("!BBHHH", ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", icmp6_checksum(src, dst, icmp)) + icmp[4:]
    return struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 64, src, dst) + icmp


def parse_echo6_reply(pkt):
    """(src, dst, ident, seq, payload) of a well-formed IPv6 ICMPv6 echo reply, else a reason."""
    if len(pkt) < 48 or pkt[0] >> 4 != 6:
        return "not IPv6 (%d bytes)" % len(pkt)
    plen, nh = struct.unpack_from("!HB", pkt, 4)
    if 40 + plen != len(pkt):
        return "bad IPv6 payload length %d in %d bytes" % (plen, len(pkt))
    if nh != 58:
        return "IPv6 next header %d, not ICMPv6" % nh
    src, dst, icmp = pkt[8:24], pkt[24:40], pkt[40:]
    if icmp6_checksum(src, dst, icmp) != 0:
        return "bad ICMPv6 checksum"
    typ, code, _, ident, seq = struct.unpack_from("!BBHHH", icmp)
    if typ != ICMP6_ECHO_REPLY or code != 0:
        return "ICMPv6 type %d code %d, not an echo reply" % (typ, code)
    return src, dst, ident, seq, icmp[8:]


def parse_echo_reply(pkt):
    """(src, dst, ident, seq, payload) of a well-formed IPv4 ICMP echo reply, else a reason."""
    if len(pkt) < 28 or pkt[0] >> 4 != 4:
        return "not IPv4 (%d bytes)" % len(pkt)
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack_from("!H", pkt, 2)[0]
    if ihl < 20 or total != len(pkt) or total < ihl + 8:
        return "bad IPv4 lengths ihl=%d total=%d len=%d" % (ihl, total, len(pkt))
    if inet_checksum(pkt[:ihl]) != 0:
        return "bad IPv4 header checksum"
    if pkt[9] != 1:
        return "IP protocol %d, not ICMP" % pkt[9]
    icmp = pkt[ihl:]
    if inet_checksum(icmp) != 0:
        return "bad ICMP checksum"
    typ, code, _, ident, seq = struct.unpack_from("!BBHHH", icmp)
    if typ != ICMP_ECHO_REPLY or code != 0:
        return "ICMP type %d code %d, not an echo reply" % (typ, code)
    return pkt[12:16], pkt[16:20], ident, seq, icmp[8:]


# ---------------------------------------------------------------------------------------
# Keypairs and the replay window (sections 5, 6)

class ReplayWindow:
    """Section 5's window: a seq not seen before is accepted unless it is REPLAY_REFUSE_BEHIND
    or more below the highest accepted one."""

    def __init__(self):
        self.top = -1
        self.bits = 0          # bit i set: seq (top - i) seen

    def check_and_set(self, seq):
        if seq > self.top:
            shift = seq - self.top
            self.bits = ((self.bits << shift) | 1) & ((1 << REPLAY_REFUSE_BEHIND) - 1)
            self.top = seq
            return True
        back = self.top - seq
        if back >= REPLAY_REFUSE_BEHIND or self.bits >> back & 1:
            return False
        self.bits |= 1 << back
        return True


class Keypair:
    def __init__(self, epoch, send_key, recv_key, cipher, now):
        aead = AESGCM if cipher == CIPHER_AES else ChaCha20Poly1305
        self.epoch = epoch
        self.send_aead = aead(send_key)
        self.recv_aead = aead(recv_key)
        self.born = now
        self.replaced = None       # when it became previous
        self.next_seq = 0
        self.sent = 0
        self.received = 0
        self.recv_max = -1
        self.recv_min = None
        self.recv_out_of_order = 0
        self.window = ReplayWindow()


def nonce(epoch, seq):
    # section 5: 0x00000000 || epoch as u32 || seq as u32
    return struct.pack("!III", 0, epoch, seq)


# ---------------------------------------------------------------------------------------
# mac1, mac2 and COOKIE_REPLY (section 4.5)

def mac_keys(server_pub):
    """(mac1 key, cookie reply key): BLAKE2b-256 of a label and the gateway's public key."""
    return (hashlib.blake2b(b"vpngw mac1" + server_pub, digest_size=32).digest(),
            hashlib.blake2b(b"vpngw cookie" + server_pub, digest_size=32).digest())


def keyed_mac(key, data):
    return hashlib.blake2b(data, digest_size=MAC_LEN, key=key).digest()


def stamp_init(dgram, mac1_key, cookie):
    """An HS_INIT datagram up to its Noise message, completed with mac1 and mac2 (zeros
    without a cookie)."""
    mac1 = keyed_mac(mac1_key, dgram)
    mac2 = keyed_mac(cookie, dgram + mac1) if cookie is not None else bytes(MAC_LEN)
    return dgram + mac1 + mac2


def _rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def hchacha20(key, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): the ChaCha20 block function over
    the constants, key and a 16-byte nonce, without the final addition; words 0-3, 12-15."""
    st = list(struct.unpack("<4I", b"expand 32-byte k") + struct.unpack("<8I", key) +
              struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        st[a] = (st[a] + st[b]) & 0xFFFFFFFF
        st[d] = _rotl(st[d] ^ st[a], 16)
        st[c] = (st[c] + st[d]) & 0xFFFFFFFF
        st[b] = _rotl(st[b] ^ st[c], 12)
        st[a] = (st[a] + st[b]) & 0xFFFFFFFF
        st[d] = _rotl(st[d] ^ st[a], 8)
        st[c] = (st[c] + st[d]) & 0xFFFFFFFF
        st[b] = _rotl(st[b] ^ st[c], 7)
    for _ in range(10):
        qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
        qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
    return struct.pack("<8I", *(st[0:4] + st[12:16]))


def xchacha20poly1305(key, nonce24):
    """XChaCha20-Poly1305 (IETF): ChaCha20-Poly1305 under HChaCha20(key, nonce[0:16]) with
    the nonce 00000000 || nonce[16:24]."""
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])), b"\0" * 4 + nonce24[16:]


def open_cookie(reply_key, body, mac1):
    """The cookie of a COOKIE_REPLY body (after the control type), or None."""
    if len(body) != COOKIE_REPLY_BODY_LEN:
        return None
    aead, n = xchacha20poly1305(reply_key, body[:XNONCE_LEN])
    try:
        return aead.decrypt(n, body[XNONCE_LEN:], mac1)
    except InvalidTag:
        return None


# ---------------------------------------------------------------------------------------
# Handshake (section 4)

def tai64n(ns):
    return struct.pack("!QI", TAI64_BASE + ns // 1_000_000_000, ns % 1_000_000_000)


class Initiation:
    """One Noise IK initiation in flight."""

    def __init__(self, static_keypair, server_pub, prev_id, ciphers, timestamp, cookie, flags=0):
        self.hs = HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), Blake2bHash()),
                                 X25519DH())
        self.hs.initialize(IKHandshakePattern(), True, PROLOGUE, s=static_keypair,
                           rs=PublicKey(server_pub))
        if self.hs.protocol_name != PROTOCOL_NAME:
            raise Failure("dissononce names the protocol %s, want %s"
                          % (self.hs.protocol_name, PROTOCOL_NAME))
        self.prev_id = prev_id
        payload = INIT_PAYLOAD.pack(timestamp, prev_id, ciphers, flags)
        self.flags = flags
        msg = bytearray()
        if self.hs.write_message(payload, msg) is not None:
            raise Failure("Noise IK finished after message 1")
        if len(msg) != NOISE_MSG1_LEN:
            raise Failure("Noise message 1 is %d bytes, section 4.1 says %d"
                          % (len(msg), NOISE_MSG1_LEN))
        # section 4.1: header clientId = prevId, flags 0, seq 0; mac1 and mac2 over the
        # datagram before them
        head = HDR.pack(MAGIC, VERSION, CONTROL, 0, prev_id, 0, 1 + HS_INIT_BODY_LEN, 0)
        self.cookie = cookie
        self.dgram = stamp_init(head + bytes([HS_INIT]) + bytes(msg), mac_keys(server_pub)[0],
                                cookie)
        self.mac1 = self.dgram[-2 * MAC_LEN:-MAC_LEN]

    def finish(self, body):
        """Reads message 2; returns (payload, key client->gateway, key gateway->client)."""
        # section 4.3: the IPv6 form only if we asked for it
        want = (HS_RESP_BODY_LEN, HS_RESP6_BODY_LEN) if self.flags & INIT_FLAG_V6 else (HS_RESP_BODY_LEN,)
        if len(body) not in want:
            raise Failure("HS_RESP body is %d bytes, want %s" % (len(body), " or ".join(map(str, want))))
        payload = bytearray()
        try:
            split = self.hs.read_message(body, payload)
        except DecryptFailedException as e:
            raise Failure("HS_RESP does not authenticate (Noise message 2)") from e
        if split is None:
            raise Failure("Noise IK not finished after message 2")
        # dissononce keeps a CipherState's key private; the data channel needs it raw
        # because its nonce (epoch || seq) is not Noise's counter (section 5).
        return bytes(payload), split[0]._key, split[1]._key


# ---------------------------------------------------------------------------------------
# The client

class Phase:
    def __init__(self, name):
        self.name = name
        self.sent = {}        # target -> count
        self.answered = {}
        self.by_epoch = {}    # epoch of the reply's datagram -> count


class Client:
    def __init__(self, args, static_keypair, server_pub):
        self.args = args
        self.static = static_keypair
        self.server_pub = server_pub
        self.ciphers = 0
        for c in args.ciphers:
            self.ciphers |= 1 << c           # section 4.1: bit N = algorithm N
        self.sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.connect((args.host, args.port))
        self.client_id = ZERO_ID
        self.address = None
        self.prefix = None
        self.address6 = None            # the IPv6 form of HS_RESP, --ipv6
        self.prefix6 = None
        self.mtu = None
        self.dns = None
        self.keepalive_interval = None
        self.cipher = None
        self.current = None
        self.previous = None
        self.keypairs = []              # every keypair of the run, for the checks
        self.pending = None             # Initiation awaiting HS_RESP
        self.reply_key = mac_keys(server_pub)[1]
        self.cookie = None              # (cookie, monotonic time it came), section 4.5
        self.cookie_replies = 0
        self.cookie_resends = 0
        self.pending_sent_at = 0.0
        self.last_timestamp = b""
        self.last_sent = 0.0
        self.last_recv = 0.0
        self.last_keepalive = 0.0
        self.handshakes = 0
        self.received = 0               # datagrams from the gateway, of any kind
        self.rekeys = 0
        self.keepalives_sent = 0
        self.keepalives_received = 0
        self.malformed = []
        self.auth_fail = 0
        self.replays = 0
        self.ping_ident = os.getpid() & 0xFFFF
        self.ping_seq = 0
        self.ip_id = 0
        self.outstanding = {}           # icmp seq -> (phase, target, payload)
        self.phase = None
        self.phases = []
        self.unexpected_replies = []
        self.errors = []
        self.epochs_proven = set()      # epochs we have sent under (section 6's proof)
        self.early_epoch = []           # gateway datagrams under an epoch not yet proven
        self.last_ping = None

    # ---- sending ----------------------------------------------------------------------

    def send_raw(self, dgram):
        self.sock.send(dgram)
        self.last_sent = time.monotonic()

    def seal(self, msg_type, plaintext):
        kp = self.current
        if kp is None:
            raise Failure("no keypair to send with")
        if kp.next_seq >= SEQ_STOP:
            raise Failure("keypair epoch %d used up" % kp.epoch)
        seq = kp.next_seq          # section 5: from 0, one more per sealed message
        kp.next_seq += 1
        kp.sent += 1
        header = HDR.pack(MAGIC, VERSION, msg_type, kp.epoch, self.client_id, seq,
                          len(plaintext) + TAG_LEN, 0)
        ct = kp.send_aead.encrypt(nonce(kp.epoch, seq), plaintext, header)
        self.epochs_proven.add(kp.epoch)
        dgram = header + ct
        self.send_raw(dgram)
        return dgram

    def send_keepalive(self):
        self.seal(KEEPALIVE, b"")
        self.keepalives_sent += 1
        self.last_keepalive = time.monotonic()

    def echo_request(self, src, target, payload):
        if target.version == 6:
            return icmp6_echo_request(src, target.packed, self.ping_ident, self.ping_seq, payload)
        return icmp_echo_request(src, target.packed, self.ping_ident, self.ping_seq, payload,
                                 self.ip_id)

    def send_ping(self, target):
        self.ping_seq = (self.ping_seq + 1) & 0xFFFF
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        payload = struct.pack("!Q", time.monotonic_ns()) + os.urandom(24)
        pkt = self.echo_request(self.address6 if target.version == 6 else self.address, target,
                                payload)
        self.outstanding[self.ping_seq] = (self.phase, target, payload)
        self.phase.sent[target] = self.phase.sent.get(target, 0) + 1
        self.last_ping = (self.seal(DATA, pkt), self.ping_seq, target, payload)

    def start_handshake(self, prev_id):
        ts = tai64n(time.time_ns())
        if ts <= self.last_timestamp:
            # section 4.2 step 3: each timestamp must exceed the last; a clock step back
            # (or two handshakes within the clock's resolution) must not stall us
            secs, nanos = struct.unpack("!QI", self.last_timestamp)
            ts = tai64n((secs - TAI64_BASE) * 1_000_000_000 + nanos + 1)
        self.last_timestamp = ts
        cookie = None
        if self.cookie is not None and time.monotonic() - self.cookie[1] < COOKIE_LIFETIME:
            cookie = self.cookie[0]
        self.pending = Initiation(self.static, self.server_pub, prev_id, self.ciphers, ts, cookie,
                                  INIT_FLAG_V6 if self.args.ipv6 else 0)
        self.pending_sent_at = time.monotonic()
        self.send_raw(self.pending.dgram)

    # ---- receiving --------------------------------------------------------------------

    def handle(self, dgram, now):
        self.received += 1
        parsed = parse(dgram)
        if isinstance(parsed, str):
            self.malformed.append(parsed)
            return
        mtype, flags, cid, seq, header, payload = parsed
        if mtype == CONTROL:
            self.handle_control(cid, payload, now)
            return
        if self.current is None or cid != self.client_id:
            self.errors.append("%s for clientId %s, ours is %s"
                               % ("DATA" if mtype == DATA else "KEEPALIVE", cid.hex(),
                                  self.client_id.hex()))
            return
        epoch = flags & 0xFF
        kp = self.keypair_for(epoch, now)
        if kp is None:
            self.auth_fail += 1
            self.errors.append("datagram under epoch %d: no usable keypair" % epoch)
            return
        try:
            plain = kp.recv_aead.decrypt(nonce(epoch, seq), payload, header)
        except InvalidTag:
            self.auth_fail += 1
            self.errors.append("datagram under epoch %d seq %d does not authenticate"
                               % (epoch, seq))
            return
        if not kp.window.check_and_set(seq):
            self.replays += 1
            self.errors.append("gateway repeated seq %d under epoch %d" % (seq, epoch))
            return
        if epoch not in self.epochs_proven:
            self.early_epoch.append(epoch)
        if seq <= kp.recv_max:
            kp.recv_out_of_order += 1
        kp.recv_max = max(kp.recv_max, seq)
        kp.recv_min = seq if kp.recv_min is None else min(kp.recv_min, seq)
        kp.received += 1
        self.last_recv = now
        if mtype == KEEPALIVE:
            if plain:
                self.errors.append("KEEPALIVE with %d plaintext bytes" % len(plain))
            self.keepalives_received += 1
            return
        self.handle_packet(plain, epoch)

    def keypair_for(self, epoch, now):
        for kp in (self.current, self.previous):
            if kp is None or kp.epoch != epoch:
                continue
            if now - kp.born >= KEYPAIR_LIFETIME:
                return None
            if kp.replaced is not None and now - kp.replaced >= PREVIOUS_LIFETIME:
                return None
            return kp
        return None

    def handle_packet(self, pkt, epoch):
        v6 = len(pkt) > 0 and pkt[0] >> 4 == 6
        r = parse_echo6_reply(pkt) if v6 else parse_echo_reply(pkt)
        if isinstance(r, str):
            self.unexpected_replies.append(r)
            return
        src, dst, ident, seq, payload = r
        if dst != (self.address6 if v6 else self.address):
            self.unexpected_replies.append("reply to %s" % ipaddress.ip_address(dst))
            return
        if ident != self.ping_ident or seq not in self.outstanding:
            self.unexpected_replies.append("reply id %d seq %d not outstanding" % (ident, seq))
            return
        phase, target, want = self.outstanding[seq]
        if src != target.packed or payload != want:
            self.unexpected_replies.append("reply seq %d from %s: source or payload differs"
                                           % (seq, ipaddress.ip_address(src)))
            return
        del self.outstanding[seq]
        phase.answered[target] = phase.answered.get(target, 0) + 1
        phase.by_epoch[epoch] = phase.by_epoch.get(epoch, 0) + 1

    def handle_cookie(self, body, now):
        """Section 4.5: a COOKIE_REPLY to the pending HS_INIT gives a cookie; a new HS_INIT
        with mac2 goes out at once unless the answered one already used that cookie."""
        if self.pending is None:
            self.errors.append("COOKIE_REPLY with no handshake in flight")
            return
        cookie = open_cookie(self.reply_key, body, self.pending.mac1)
        if cookie is None:
            self.errors.append("COOKIE_REPLY does not open with the pending HS_INIT's mac1")
            return
        self.cookie_replies += 1
        self.cookie = (cookie, now)
        if self.pending.cookie != cookie:
            self.cookie_resends += 1
            self.start_handshake(self.pending.prev_id)

    def handle_control(self, cid, payload, now):
        if payload and payload[0] == COOKIE_REPLY:
            self.handle_cookie(payload[1:], now)
            return
        if not payload or payload[0] != HS_RESP:
            self.errors.append("CONTROL type %s from the gateway"
                               % (payload[0] if payload else "(empty)"))
            return
        if self.pending is None:
            self.errors.append("HS_RESP with no handshake in flight")
            return
        init, self.pending = self.pending, None
        body, k_c2g, k_g2c = init.finish(payload[1:])
        rid, epoch, prefix, mtu, addr, dns, ka, cipher, gw_flags = RESP_PAYLOAD.unpack(body[:32])
        addr6 = prefix6 = None
        if len(body) > 32:
            addr6, prefix6, rsvd6 = RESP6_TAIL.unpack(body[32:])
            if rsvd6 != bytes(3):
                raise Failure("HS_RESP IPv6 reserved bytes %s" % rsvd6.hex())
            if not 16 <= prefix6 <= 128:
                raise Failure("IPv6 prefix length %d" % prefix6)
        if rid != cid:
            raise Failure("HS_RESP payload clientId %s, header %s" % (rid.hex(), cid.hex()))
        # section 4.3: bit 0 = the gateway takes partial checksums (this client sends none)
        if gw_flags & ~RESP_FLAG_CSUM_PARTIAL:
            raise Failure("HS_RESP flags %#04x: bits other than 0 set" % gw_flags)
        if cipher not in CIPHER_NAMES or not self.ciphers >> cipher & 1:
            raise Failure("gateway chose cipher %d; offered mask %#06x" % (cipher, self.ciphers))
        if not 0 < prefix <= 32:
            raise Failure("prefix length %d" % prefix)
        rekey = init.prev_id != ZERO_ID
        if rekey:
            if rid != self.client_id:
                raise Failure("rekey changed clientId %s -> %s"
                              % (self.client_id.hex(), rid.hex()))
            want = (self.current.epoch + 1) % 256
            if epoch != want:
                raise Failure("rekey epoch %d, want %d" % (epoch, want))
            if (addr, addr6, cipher) != (self.address, self.address6, self.cipher):
                raise Failure("rekey changed the address or cipher")
        elif epoch != 0:
            raise Failure("new session with epoch %d, want 0" % epoch)
        self.client_id, self.prefix, self.mtu = rid, prefix, mtu
        self.address6, self.prefix6 = addr6, prefix6
        self.address, self.dns, self.keepalive_interval = addr, dns, ka
        self.cipher = cipher
        # section 6: current at once; the old one receives for 15 s more
        if self.current is not None:
            self.current.replaced = now
        self.previous = self.current
        self.current = Keypair(epoch, k_c2g, k_g2c, cipher, now)
        self.keypairs.append(self.current)
        self.handshakes += 1
        if rekey:
            self.rekeys += 1
        self.last_recv = now
        self.send_keepalive()

    # ---- the loop ---------------------------------------------------------------------

    def interval(self):
        return self.args.keepalive_interval or self.keepalive_interval or 10

    def timers(self, now):
        if self.current is None:
            return
        ka = self.interval()
        if now - self.last_recv >= ka + DEAD_MARGIN:
            raise Failure("nothing authenticated from the gateway for %.1f s" % (now - self.last_recv))
        # section 7: nothing sent or nothing received for ka, and no KEEPALIVE for ka
        if ((now - self.last_sent >= ka or now - self.last_recv >= ka) and
                now - self.last_keepalive >= ka):
            self.send_keepalive()
        if self.pending is None and now - self.current.born >= self.args.rekey_after:
            self.start_handshake(self.client_id)
        if self.pending is not None and now - self.pending_sent_at >= self.args.handshake_timeout:
            raise Failure("no HS_RESP within %.1f s" % self.args.handshake_timeout)

    def pump(self, until):
        """Receive and run the timers until the monotonic time `until`."""
        while True:
            now = time.monotonic()
            self.timers(now)
            if now >= until:
                return
            self.sock.settimeout(max(0.001, min(until - now, 0.1)))
            try:
                dgram = self.sock.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                self.errors.append("ICMP port unreachable from the gateway")
                continue
            self.handle(dgram, time.monotonic())

    def pump_until(self, cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            self.pump(min(end, time.monotonic() + 0.05))
        return cond()

    # ---- phases -----------------------------------------------------------------------

    def connect(self):
        """Section 7: HS_INIT with prevId zeros, retried after 1, 2, 4, 8 s."""
        deadline = time.monotonic() + self.args.handshake_timeout
        delays = list(HANDSHAKE_RETRIES)
        sent = 0
        while self.current is None:
            self.start_handshake(ZERO_ID)
            sent += 1
            wait = delays.pop(0) if len(delays) > 1 else delays[0]
            end = min(deadline, time.monotonic() + wait)
            while self.current is None and time.monotonic() < end:
                self.recv_control_only(end)
            if self.current is None and time.monotonic() >= deadline:
                raise NoAnswer("no session within %.1f s: %d HS_INITs unanswered, %d datagrams "
                               "received" % (self.args.handshake_timeout, sent, self.received))

    def recv_control_only(self, end):
        self.sock.settimeout(max(0.001, min(end - time.monotonic(), 0.1)))
        try:
            dgram = self.sock.recv(65535)
        except socket.timeout:
            return
        except ConnectionRefusedError:
            time.sleep(0.05)
            return
        self.handle(dgram, time.monotonic())

    def ping_phase(self, name, count, rekey_at=None):
        """`count` pings per target, --interval apart; a rekey starts after `rekey_at`."""
        phase = Phase(name)
        self.phase = phase
        self.phases.append(phase)
        rekey_from = None
        for i in range(count):
            for target in self.args.targets:
                self.send_ping(target)
                self.pump(time.monotonic() + self.args.interval)
            if rekey_at is not None and i + 1 == rekey_at:
                rekey_from = self.current
                self.start_handshake(self.client_id)
        self.pump_until(lambda: not any(p is phase for p, _, _ in self.outstanding.values()),
                        self.args.reply_timeout)
        if rekey_from is not None:
            self.check_rekey(phase, rekey_from)
        return phase

    def check_rekey(self, phase, old):
        if self.current is old or self.pending is not None:
            raise Failure("%s: the rekey did not complete during the phase" % phase.name)
        new = self.current.epoch
        if phase.by_epoch.get(new, 0) == 0:
            self.errors.append("%s: no reply arrived under the new epoch %d" % (phase.name, new))

    def replay_check(self):
        """Section 5: a DATA datagram sent again verbatim must be dropped (replay window)."""
        dgram, seq, target, payload = self.last_ping
        self.pump_until(lambda: not self.outstanding, self.args.reply_timeout)
        # the original's reply is in; arm its slot again so a second reply would count
        self.outstanding[seq] = (self.phase, target, payload)
        before = sum(self.phase.answered.values())
        self.send_raw(dgram)
        self.pump(time.monotonic() + self.args.reply_timeout / 2)
        self.outstanding.pop(seq, None)
        if sum(self.phase.answered.values()) != before:
            self.errors.append("a replayed DATA datagram was answered")
            return False
        return True

    def spoof_check(self):
        """Section 5: DATA whose inner source is not our address gets nowhere."""
        target = self.args.targets[0]
        if target.version == 6:
            # another host of our IPv6 prefix (its last address)
            net = ipaddress.IPv6Network((int.from_bytes(self.address6, "big"), self.prefix6),
                                        strict=False)
            fake = net.broadcast_address
            if fake.packed == self.address6:
                fake = fake - 1
        else:
            net = ipaddress.IPv4Network((int.from_bytes(self.address, "big"), self.prefix),
                                        strict=False)
            ours = ipaddress.IPv4Address(self.address)
            fake = next(h for h in reversed(list(net.hosts())) if h != ours)
        self.ping_seq = (self.ping_seq + 1) & 0xFFFF
        self.ip_id = 0
        pkt = self.echo_request(fake.packed, target, b"spoofed source")
        self.outstanding[self.ping_seq] = (self.phase, target, b"spoofed source")
        before = sum(self.phase.answered.values())
        self.seal(DATA, pkt)
        self.pump(time.monotonic() + self.args.reply_timeout / 2)
        self.outstanding.pop(self.ping_seq, None)
        answered = sum(self.phase.answered.values()) - before
        if answered:
            self.errors.append("a DATA packet from %s (not our address) was answered" % fake)
        return answered == 0, fake

    def idle_phase(self, seconds):
        ka0, rx0 = self.keepalives_sent, self.keepalives_received
        self.pump(time.monotonic() + seconds)
        return self.keepalives_sent - ka0, self.keepalives_received - rx0


# ---------------------------------------------------------------------------------------
# Test vectors (PROTOCOL.md, appendix A): the same functions as the live run above, on
# fixed inputs. --check-vectors compares them with the document, so it cannot drift.

def vectors():
    ts = tai64n(1700000000 * 1_000_000_000 + 123456789)
    ids = bytes(range(0x10, 0x20))
    key = bytes(range(0x00, 0x20))
    src, dst = ipaddress.IPv4Address("10.77.0.2").packed, ipaddress.IPv4Address("10.77.0.1").packed
    ping = icmp_echo_request(src, dst, 0x1234, 1, b"vpngw v1", 1)
    out = [("tai64n", ts),
           ("hs_init.payload", INIT_PAYLOAD.pack(ts, ids, 1 << CIPHER_CHACHA | 1 << CIPHER_AES, 0)),
           ("hs_resp.payload", RESP_PAYLOAD.pack(ids, 5, 24, 1400, dst[:3] + b"\x02", dst, 10,
                                                 CIPHER_AES, 0)),
           ("hs_init.payload.ipv6", INIT_PAYLOAD.pack(ts, ids, 1 << CIPHER_CHACHA | 1 << CIPHER_AES,
                                                      INIT_FLAG_V6)),
           ("hs_resp.payload.ipv6", RESP_PAYLOAD.pack(ids, 5, 24, 1400, dst[:3] + b"\x02", dst, 10,
                                                      CIPHER_AES, 0) +
            RESP6_TAIL.pack(ipaddress.IPv6Address("fd77::2").packed, 64, bytes(3))),
           ("data.key", key), ("data.plaintext", ping)]
    epoch, seq = 5, 7
    header = HDR.pack(MAGIC, VERSION, DATA, epoch, ids, seq, len(ping) + TAG_LEN, 0)
    out += [("data.header", header), ("data.nonce", nonce(epoch, seq))]
    for alg in (CIPHER_CHACHA, CIPHER_AES):
        aead = (AESGCM if alg == CIPHER_AES else ChaCha20Poly1305)(key)
        out.append(("data.payload." + CIPHER_NAMES[alg], aead.encrypt(nonce(epoch, seq), ping, header)))
    header = HDR.pack(MAGIC, VERSION, KEEPALIVE, epoch, ids, seq + 1, TAG_LEN, 0)
    out.append(("keepalive.header", header))
    for alg in (CIPHER_CHACHA, CIPHER_AES):
        aead = (AESGCM if alg == CIPHER_AES else ChaCha20Poly1305)(key)
        out.append(("keepalive.payload." + CIPHER_NAMES[alg],
                    aead.encrypt(nonce(epoch, seq + 1), b"", header)))
    # appendix B: mac1, mac2 and a COOKIE_REPLY, for a made-up gateway key 40 41 ... 5f
    gw_pub = bytes(range(0x40, 0x60))
    mac1_key, reply_key = mac_keys(gw_pub)
    head = HDR.pack(MAGIC, VERSION, CONTROL, 0, ZERO_ID, 0, 1 + HS_INIT_BODY_LEN, 0)
    macless = head + bytes([HS_INIT]) + bytes(range(NOISE_MSG1_LEN))
    cookie = bytes(range(0xA0, 0xB0))
    init = stamp_init(macless, mac1_key, cookie)
    mac1 = init[-2 * MAC_LEN:-MAC_LEN]
    xnonce = bytes(range(0xC0, 0xD8))
    aead, n = xchacha20poly1305(reply_key, xnonce)
    reply = pack(CONTROL, 0, ZERO_ID, 0, bytes([COOKIE_REPLY]) + xnonce +
                 aead.encrypt(n, cookie, mac1))
    out += [("cookie.gateway_pub", gw_pub), ("mac1.key", mac1_key),
            ("cookie_reply.key", reply_key), ("hs_init.before_macs", macless),
            ("cookie", cookie), ("hs_init.mac1", mac1), ("hs_init.mac2", init[-MAC_LEN:]),
            ("cookie_reply.nonce", xnonce), ("cookie_reply", reply)]
    # HChaCha20 alone, draft-irtf-cfrg-xchacha-03 section 2.2.1
    hk = hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    if hk.hex() != "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc":
        raise Failure("HChaCha20 disagrees with draft-irtf-cfrg-xchacha's test vector")
    return out


def check_vectors(path):
    """0 when every `name = hex` line in `path` equals what this client computes."""
    import re
    try:
        with open(path, encoding="utf-8") as f:
            doc = dict(re.findall(r"(?m)^([a-z][a-z0-9_.-]*) = ([0-9a-f]+)$", f.read()))
    except OSError as e:
        print("vpngw_client: %s: %s" % (path, e), file=sys.stderr)
        return 2
    bad = 0
    for name, value in vectors():
        got = doc.pop(name, None)
        if got != value.hex():
            print("vector %s: document %s, computed %s" % (name, got, value.hex()))
            bad += 1
    for name in doc:
        print("vector %s: in the document, not computed here" % name)
        bad += 1
    print("vectors: %d checked, %d differ" % (len(vectors()), bad))
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------

def parse_args(argv):
    if argv[:1] == ["--print-vectors"]:
        return argv[0], None
    if argv[:1] == ["--check-vectors"] and len(argv) == 2:
        return argv[0], argv[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--key", required=True, help="our private key: base64 or a file (vpngw genkey)")
    p.add_argument("--server-pub", required=True, help="gateway public key: base64 or a file")
    p.add_argument("--endpoint", required=True, help="gateway HOST:PORT ([v6]:PORT)")
    p.add_argument("--ciphers", default="aes,chacha",
                   help="data ciphers to offer, comma separated: aes, chacha (default both)")
    p.add_argument("--expect-cipher", choices=sorted(CIPHER_ARGS),
                   help="fail unless the gateway picks this cipher")
    p.add_argument("--target", action="append", default=[],
                   help="IPv4 address to ping through the tunnel (repeatable)")
    p.add_argument("--pings", type=int, default=10, help="pings per target and phase")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between pings")
    p.add_argument("--rekeys", type=int, default=1, help="rekeys, each in its own ping phase")
    p.add_argument("--idle", type=float, default=0, help="seconds of keepalives only")
    p.add_argument("--keepalive-interval", type=float, default=0,
                   help="seconds; default the gateway's (HS_RESP)")
    p.add_argument("--rekey-after", type=float, default=REKEY_AFTER,
                   help="seconds; the timer rekey of section 7")
    p.add_argument("--handshake-timeout", type=float, default=10)
    p.add_argument("--ipv6", action="store_true",
                   help="ask for the IPv6 form of HS_RESP (section 4.1 flags); IPv6 --target "
                        "addresses then get ICMPv6 echo requests from our IPv6 address")
    p.add_argument("--reply-timeout", type=float, default=3)
    p.add_argument("--expect-no-session", action="store_true",
                   help="negative test: succeed only if no handshake completes")
    a = p.parse_args(argv)
    host, sep, port = a.endpoint.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        p.error("--endpoint %s: want HOST:PORT" % a.endpoint)
    a.host, a.port = host.strip("[]"), int(port)
    try:
        a.ciphers = [CIPHER_ARGS[c.strip()] for c in a.ciphers.split(",") if c.strip()]
    except KeyError as e:
        p.error("--ciphers: unknown cipher %s (aes, chacha)" % e)
    if not a.ciphers:
        p.error("--ciphers: none given")
    try:
        a.targets = [ipaddress.ip_address(t) for t in a.target]
    except ValueError as e:
        p.error("--target: %s" % e)
    if not a.targets and not a.expect_no_session:
        p.error("give at least one --target")
    if any(t.version == 6 for t in a.targets) and not a.ipv6:
        p.error("--target: IPv6 targets need --ipv6")
    if a.pings < 2 or a.interval <= 0:
        p.error("--pings must be at least 2 and --interval positive")
    return a


def run(args, client):
    out = []
    t0 = time.monotonic()
    client.connect()
    out.append("session up: client_id=%s address=%s/%d mtu=%d dns=%s keepalive=%ds cipher=%s "
               "epoch=%d (%.0f ms)"
               % (client.client_id.hex(), ipaddress.IPv4Address(client.address), client.prefix,
                  client.mtu, ipaddress.IPv4Address(client.dns) if client.dns != bytes(4) else "none",
                  client.keepalive_interval, CIPHER_NAMES[client.cipher], client.current.epoch,
                  (time.monotonic() - t0) * 1000))
    failed = []
    if args.ipv6:
        out.append("address6: %s" % ("%s/%d" % (ipaddress.IPv6Address(client.address6), client.prefix6)
                                     if client.address6 else "none (the gateway gave none)"))
        if client.address6 is None and any(t.version == 6 for t in args.targets):
            raise Failure("IPv6 targets, but the gateway gave no IPv6 address")
    if args.expect_cipher and client.cipher != CIPHER_ARGS[args.expect_cipher]:
        failed.append("cipher %s, expected %s" % (CIPHER_NAMES[client.cipher],
                                                   CIPHER_NAMES[CIPHER_ARGS[args.expect_cipher]]))
    if not client.pump_until(lambda: client.keepalives_received > 0, args.reply_timeout):
        failed.append("the gateway did not answer the first KEEPALIVE")
    first_id = client.client_id

    client.ping_phase("initial", args.pings)
    ok_replay = client.replay_check()
    ok_spoof, fake = client.spoof_check()
    out.append("checks: replayed DATA %s, DATA from %s %s"
               % ("dropped" if ok_replay else "ANSWERED", fake,
                  "dropped" if ok_spoof else "ANSWERED"))
    for r in range(args.rekeys):
        client.ping_phase("rekey%d" % (r + 1), args.pings, rekey_at=args.pings // 2)
    if args.idle > 0:
        sent, got = client.idle_phase(args.idle)
        idle_line = "idle %.1f s: keepalives sent %d, answered %d" % (args.idle, sent, got)
        if sent == 0 or got == 0:
            failed.append("idle phase: keepalives sent %d, answered %d" % (sent, got))
    final = client.ping_phase("final", args.pings)
    stale = {e: n for e, n in final.by_epoch.items() if e != client.current.epoch}
    if stale:
        failed.append("phase final: replies under old epochs %s after the rekeys" % stale)

    for ph in client.phases:
        per = " ".join("%s %d/%d" % (t, ph.answered.get(t, 0), ph.sent.get(t, 0))
                       for t in args.targets)
        epochs = ",".join("%d:%d" % kv for kv in sorted(ph.by_epoch.items()))
        out.append("phase %-8s answered/sent: %s  (replies by epoch %s)" % (ph.name, per, epochs))
        for t in args.targets:
            if ph.answered.get(t, 0) != ph.sent.get(t, 0):
                failed.append("phase %s: %s answered %d of %d"
                              % (ph.name, t, ph.answered.get(t, 0), ph.sent.get(t, 0)))
    if args.idle > 0:
        out.append(idle_line)
    if client.client_id != first_id:
        failed.append("clientId changed %s -> %s" % (first_id.hex(), client.client_id.hex()))
    if client.rekeys != args.rekeys:
        failed.append("%d rekeys done, %d asked" % (client.rekeys, args.rekeys))
    for kp in client.keypairs:
        if kp.recv_out_of_order:
            failed.append("epoch %d: %d gateway seqs not strictly increasing"
                          % (kp.epoch, kp.recv_out_of_order))
        if kp.recv_min not in (None, 0):
            failed.append("epoch %d: the gateway's first seq was %d, not 0"
                          % (kp.epoch, kp.recv_min))
    if client.early_epoch:
        failed.append("gateway sent under epochs %s before we used them"
                      % sorted(set(client.early_epoch)))
    failed += ["malformed datagram from the gateway: %s" % m for m in client.malformed]
    failed += ["unexpected packet: %s" % u for u in client.unexpected_replies]
    failed += client.errors
    out.append("totals: handshakes=%d rekeys=%d keepalives sent=%d received=%d "
               "epoch=%d auth_fail=%d replays=%d malformed=%d cookie_replies=%d cookie_resends=%d"
               % (client.handshakes, client.rekeys, client.keepalives_sent,
                  client.keepalives_received, client.current.epoch, client.auth_fail,
                  client.replays, len(client.malformed), client.cookie_replies,
                  client.cookie_resends))
    return out, failed


def main(argv):
    args = parse_args(argv)
    if args == ("--print-vectors", None):
        for name, value in vectors():
            print("%s = %s" % (name, value.hex()))
        return 0
    if isinstance(args, tuple):
        return check_vectors(args[1])
    try:
        priv = load_key(args.key, "--key")
        server_pub = load_key(args.server_pub, "--server-pub")
    except ValueError as e:
        print("vpngw_client: %s" % e, file=sys.stderr)
        return 2
    static = X25519DH().generate_keypair(PrivateKey(priv))
    client = Client(args, static, server_pub)
    if args.expect_no_session:
        try:
            client.connect()
        except NoAnswer as e:
            if client.received == 0:
                print("no session, as expected: %s" % e)
                return 0
            print("FAIL: %s" % e)
            return 1
        except Failure as e:
            print("FAIL: %s" % e)
            return 1
        print("FAIL: a session came up with client_id %s" % client.client_id.hex())
        return 1
    try:
        out, failed = run(args, client)
    except Failure as e:
        out, failed = [], ["%s" % e] + client.errors
    for ln in out:
        print(ln)
    for f in failed:
        print("FAIL: %s" % f)
    print("RESULT: %s cipher=%s rekeys=%d"
          % ("PASS" if not failed else "FAIL",
             CIPHER_NAMES.get(client.cipher, "none"), client.rekeys))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
