#!/usr/bin/env python3
"""Writes witness.json: known answers for c2sp.org/tlog-cosignature,
tlog-witness, tlog-policy and tlog-proof, computed here from the
specifications' text with Python's `cryptography` (Ed25519) and hashlib,
independently of the Rust code that the tests check.

usage: python3 testdata/vectors/witness_gen.py > testdata/vectors/witness.json

Ed25519 signatures are deterministic (RFC 8032), so the Rust implementation
must reproduce every signature byte for byte from the same seeds.
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

B64 = lambda b: base64.b64encode(b).decode()
EM_DASH = "\u2014"


def pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )


def sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def key_id(name, alg, pk):
    # signed-note: SHA-256(key name || 0x0A || signature type || public key)[:4]
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pk).digest()[:4]


def vkey(name, alg, pk):
    return f"{name}+{key_id(name, alg, pk).hex()}+{B64(bytes([alg]) + pk)}"


def skey(name, alg, seed):
    return f"PRIVATE+KEY+{name}+{key_id(name, alg, pub(seed)).hex()}+{B64(bytes([alg]) + seed)}"


def sig_line(name, data):
    return f"{EM_DASH} {name} {B64(data)}\n"


def log_line(name, seed, text):
    return sig_line(name, key_id(name, 0x01, pub(seed)) + sign(seed, text.encode()))


def cosigned_message(body, ts):
    # tlog-cosignature: "cosignature/v1\ntime <ts>\n" || whole note body
    return f"cosignature/v1\ntime {ts}\n{body}".encode()


def cosig_line(name, seed, body, ts):
    data = key_id(name, 0x04, pub(seed)) + ts.to_bytes(8, "big") + sign(seed, cosigned_message(body, ts))
    return sig_line(name, data)


# RFC 6962 Merkle tree.
def leaf_hash(e):
    return hashlib.sha256(b"\x00" + e).digest()


def node_hash(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    # RFC 6962 section 2.1.1 PATH(m, D[n]): sibling first, root's child last.
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m, leaves):
    # RFC 6962 section 2.1.2 PROOF(m, D[n]).
    return subproof(m, leaves, True)


LOG = ("example.com/behind-the-sofa", bytes(range(0, 32)))
W1 = ("witness.example.com/w1", bytes(range(32, 64)))
W2 = ("witness.example.com/w2", bytes(range(64, 96)))
W3 = ("witness.example.org/w3", bytes(range(96, 128)))
TS = 1679315147  # the timestamp of the tlog-cosignature example message

# The checkpoint body of the specs' examples, cosigned.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

# A real tree: entries "entry 0" .. "entry 12", checkpoints at 13 and 7.
ENTRIES = [f"entry {i}".encode() for i in range(13)]


def checkpoint_body(origin, leaves):
    return f"{origin}\n{len(leaves)}\n{B64(mth(leaves))}\n"


body13 = checkpoint_body(LOG[0], ENTRIES)
note13 = (
    body13
    + "\n"
    + log_line(LOG[0], LOG[1], body13)
    + cosig_line(W1[0], W1[1], body13, TS)
    + cosig_line(W2[0], W2[1], body13, TS + 1)
)
proof_index = 5
proof_file = (
    "c2sp.org/tlog-proof@v1\n"
    + f"extra {B64(b'stateanchor')}\n"
    + f"index {proof_index}\n"
    + "".join(B64(h) + "\n" for h in path(proof_index, ENTRIES))
    + "\n"
    + note13
)
body7 = checkpoint_body(LOG[0], ENTRIES[:7])
add_checkpoint = (
    f"old 7\n" + "".join(B64(h) + "\n" for h in consistency(7, ENTRIES)) + "\n" + note13.split("\n\n")[0] + "\n\n" + log_line(LOG[0], LOG[1], body13)
)

out = {
    "description": "Known answers for c2sp.org/tlog-cosignature (Ed25519 cosignature/v1), tlog-witness (add-checkpoint bodies), tlog-policy and tlog-proof@v1, computed by witness_gen.py from the specifications with Python's cryptography and hashlib, not by the code under test. Seeds are fixed; Ed25519 is deterministic, so every signature must be reproduced byte for byte.",
    "provenance": [
        {"repository": "C2SP/C2SP", "commit": "01194db11950a0ae2b2b2401afa0a4063a822458", "path": "tlog-cosignature.md"},
        {"repository": "C2SP/C2SP", "commit": "055270b5928827a49ee84620903e141c2e97d79f", "path": "tlog-witness.md"},
        {"repository": "C2SP/C2SP", "commit": "13027eee7f3f824e464e803373c774ab37fcc43e", "path": "tlog-policy.md"},
        {"repository": "C2SP/C2SP", "commit": "0065ea5b716154a2dd48508e3f905012a16ce5e9", "path": "tlog-proof.md"},
    ],
    "keys": {
        role: {
            "name": name,
            "seed_hex": seed.hex(),
            "type": alg,
            "key_id_hex": key_id(name, alg, pub(seed)).hex(),
            "vkey": vkey(name, alg, pub(seed)),
            "skey": skey(name, alg, seed),
        }
        for role, (name, seed), alg in [("log", LOG, 0x01), ("w1", W1, 0x04), ("w2", W2, 0x04), ("w3", W3, 0x04)]
    },
    "spec_example": {
        "desc": "the tlog-cosignature example checkpoint body, cosigned by w1 at the example's timestamp",
        "body": SPEC_BODY,
        "timestamp": TS,
        "cosigned_message": cosigned_message(SPEC_BODY, TS).decode(),
        "w1_cosignature_line": cosig_line(W1[0], W1[1], SPEC_BODY, TS),
        "log_signature_line": log_line(LOG[0], LOG[1], SPEC_BODY),
    },
    "tree": {
        "entries": [e.decode() for e in ENTRIES],
        "root_7": B64(mth(ENTRIES[:7])),
        "root_13": B64(mth(ENTRIES)),
        "body_7": body7,
        "body_13": body13,
        "note_13": note13,
        "note_7": body7 + "\n" + log_line(LOG[0], LOG[1], body7),
        "proof_index": proof_index,
        "proof_file": proof_file,
        "add_checkpoint_7_to_13": add_checkpoint,
        "cosignature_response": cosig_line(W1[0], W1[1], body13, TS) + cosig_line(W3[0], W3[1], body13, TS),
    },
    "policy": "".join(
        [
            "# The tlog-policy example's shape, with real keys.\n",
            f"log {vkey(LOG[0], 0x01, pub(LOG[1]))} https://log.example.com\n",
            "\n",
            f"witness X1 {vkey(W1[0], 0x04, pub(W1[1]))}\n",
            f"witness X2 {vkey(W2[0], 0x04, pub(W2[1]))} https://w2.example.com/\n",
            f"\twitness  X3\t{vkey(W3[0], 0x04, pub(W3[1]))}   \n",
            "group X-witnesses 2 X1 X2 X3\n",
            "quorum X-witnesses\n",
        ]
    ),
}
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
