#!/usr/bin/python3
"""Generate Noise IK test vectors for vpngw's C implementation.

Runs one Noise_IK_25519_ChaChaPoly_BLAKE2b handshake with fixed keys and
payloads using python3-dissononce (an independent Noise implementation) and
writes the results as a C header.

Usage (from the repo root):
    /usr/bin/python3 tests/vectors/gen_noise_vectors.py [OUT.h]
Default output: tests/unit/noise_vectors.h
"""
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from dissononce.cipher.chachapoly import ChaChaPolyCipher
from dissononce.dh.private import PrivateKey
from dissononce.dh.x25519.x25519 import X25519DH
from dissononce.extras.dh.dangerous.dh_nogen import NoGenDH
from dissononce.hash.blake2b import Blake2bHash
from dissononce.processing.handshakepatterns.interactive.IK import IKHandshakePattern
from dissononce.processing.impl.cipherstate import CipherState
from dissononce.processing.impl.handshakestate import HandshakeState
from dissononce.processing.impl.symmetricstate import SymmetricState

PROTOCOL = b"Noise_IK_25519_ChaChaPoly_BLAKE2b"
PROLOGUE = b"vpngw v1"
INIT_STATIC_PRIV = bytes(range(0x01, 0x21))
INIT_EPH_PRIV = bytes(range(0x21, 0x41))
RESP_STATIC_PRIV = bytes(range(0x41, 0x61))
RESP_EPH_PRIV = bytes(range(0x61, 0x81))
PAYLOAD1 = bytes(range(0xA0, 0xBC))  # 28 bytes, initiator -> responder
PAYLOAD2 = bytes(range(0xC0, 0xE0))  # 32 bytes, responder -> initiator
PING = b"ping"

x25519 = X25519DH()


def keypair(priv):
    # Raw scalar in; X25519 (via `cryptography`) clamps internally.
    return x25519.generate_keypair(PrivateKey(priv))


def new_handshake(eph_priv):
    # HandshakeState.write_message() always calls dh.generate_keypair() for
    # the 'e' token (it asserts e is None, so passing e= to initialize() does
    # not work). NoGenDH wraps the DH so that "generation" returns the fixed
    # ephemeral key instead.
    dh = NoGenDH(x25519, PrivateKey(eph_priv))
    return HandshakeState(SymmetricState(CipherState(ChaChaPolyCipher()), Blake2bHash()), dh)


def raw_key(cs):
    # dissononce keeps the CipherState key in a private attribute.
    return cs._key


def chacha_ietf(key, n, ad, pt):
    return ChaCha20Poly1305(key).encrypt(b"\x00" * 4 + struct.pack("<Q", n), pt, ad)


def main():
    repo_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    default_out = os.path.normpath(os.path.join(repo_root, "tests", "unit", "noise_vectors.h"))
    out_path = sys.argv[1] if len(sys.argv) > 1 else default_out

    init_s = keypair(INIT_STATIC_PRIV)
    resp_s = keypair(RESP_STATIC_PRIV)

    init = new_handshake(INIT_EPH_PRIV)
    resp = new_handshake(RESP_EPH_PRIV)
    # IK pre-message: initiator knows the responder's static public key.
    init.initialize(IKHandshakePattern(), True, PROLOGUE, s=init_s, rs=resp_s.public)
    resp.initialize(IKHandshakePattern(), False, PROLOGUE, s=resp_s)
    assert init.protocol_name.encode() == PROTOCOL, init.protocol_name

    # Message 1: -> e, es, s, ss
    msg1 = bytearray()
    assert init.write_message(PAYLOAD1, msg1) is None
    p1 = bytearray()
    assert resp.read_message(bytes(msg1), p1) is None
    assert bytes(p1) == PAYLOAD1
    assert resp.rs.data == init_s.public.data

    # Message 2: <- e, ee, se  (completes the handshake; both sides Split())
    msg2 = bytearray()
    resp_cs = resp.write_message(PAYLOAD2, msg2)
    p2 = bytearray()
    init_cs = init.read_message(bytes(msg2), p2)
    assert bytes(p2) == PAYLOAD2
    assert init_cs is not None and resp_cs is not None

    assert len(msg1) == 32 + 48 + 28 + 16 == 124
    assert len(msg2) == 32 + 32 + 16 == 80
    # Ephemeral public keys on the wire must be those of the fixed privates.
    assert bytes(msg1[:32]) == keypair(INIT_EPH_PRIV).public.data
    assert bytes(msg2[:32]) == keypair(RESP_EPH_PRIV).public.data

    h = init.symmetricstate.get_handshake_hash()
    assert h == resp.symmetricstate.get_handshake_hash() and len(h) == 64

    # Split() returns (c1, c2) on both sides; c1 is initiator -> responder.
    k_i2r, k_r2i = raw_key(init_cs[0]), raw_key(init_cs[1])
    assert (k_i2r, k_r2i) == (raw_key(resp_cs[0]), raw_key(resp_cs[1]))
    assert len(k_i2r) == len(k_r2i) == 32 and k_i2r != k_r2i

    # Cross-check the raw keys: CipherState encryption (nonce 0, empty AD)
    # must equal a direct ChaCha20-Poly1305 IETF encryption with the raw key.
    ct_i2r = init_cs[0].encrypt_with_ad(b"", PING)
    ct_r2i = resp_cs[1].encrypt_with_ad(b"", PING)
    assert ct_i2r == chacha_ietf(k_i2r, 0, b"", PING)
    assert ct_r2i == chacha_ietf(k_r2i, 0, b"", PING)
    assert resp_cs[0].decrypt_with_ad(b"", ct_i2r) == PING
    assert init_cs[1].decrypt_with_ad(b"", ct_r2i) == PING
    assert len(ct_i2r) == len(ct_r2i) == 20

    arrays = [
        ("nv_init_static_priv", INIT_STATIC_PRIV, True),
        ("nv_init_eph_priv", INIT_EPH_PRIV, True),
        ("nv_resp_static_priv", RESP_STATIC_PRIV, True),
        ("nv_resp_eph_priv", RESP_EPH_PRIV, True),
        ("nv_init_static_pub", init_s.public.data, True),
        ("nv_resp_static_pub", resp_s.public.data, True),
        ("nv_prologue", PROLOGUE, True),
        ("nv_payload1", PAYLOAD1, True),
        ("nv_payload2", PAYLOAD2, True),
        ("nv_msg1", bytes(msg1), False),
        ("nv_msg2", bytes(msg2), False),
        ("nv_handshake_hash", h, True),
        ("nv_key_i2r", k_i2r, True),
        ("nv_key_r2i", k_r2i, True),
        ("nv_transport_ct_i2r", ct_i2r, False),
        ("nv_transport_ct_r2i", ct_r2i, False),
    ]
    lens = {"nv_msg1": "nv_msg1_len", "nv_msg2": "nv_msg2_len"}

    lines = [
        "/* generated by tests/vectors/gen_noise_vectors.py with python3-dissononce; do not edit */",
        "/* %s, prologue \"%s\", one IK handshake + one transport message each way */"
        % (PROTOCOL.decode(), PROLOGUE.decode()),
        "#ifndef NOISE_VECTORS_H",
        "#define NOISE_VECTORS_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
    ]
    for name, data, sized in arrays:
        dim = str(len(data)) if sized else ""
        lines.append("static const uint8_t %s[%s] = {" % (name, dim))
        for i in range(0, len(data), 12):
            lines.append("    " + " ".join("0x%02x," % b for b in data[i:i + 12]))
        lines.append("};")
        if name in lens:
            lines.append("static const size_t %s = %d;" % (lens[name], len(data)))
        lines.append("")
    lines.append("#endif /* NOISE_VECTORS_H */")

    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
