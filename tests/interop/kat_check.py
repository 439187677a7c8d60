#!/usr/bin/env python3
"""Recomputes Annex A of docs/protocol.md (the CDP/1 and OTA known-answer traces) with
Python's `cryptography`, a second implementation, from the inputs the annex states.

Every derived value is rebuilt from the protocol's description (frame layouts, the key
schedule, the record layer, the signed messages), never read back from our Rust code,
and compared with the annex. Inputs are used as stated; every name in the annex must be
used, so a value the check does not know fails it. Exit 0 only if everything matched.

Usage: kat_check.py [--self-test] PATH/TO/protocol.md
  --self-test  also plants a one-digit change in a copy of each section's values and
               fails unless every planted copy is refused.
"""

import hashlib
import re
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac as chmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

START, END = "<!-- kat:start -->", "<!-- kat:end -->"


# ---- parsing the annex -------------------------------------------------------------


def parse(text):
    """`name: value` lines inside ```text blocks between the markers -> {name: value}."""
    try:
        body = text[text.index(START) + len(START) : text.index(END)]
    except ValueError:
        raise SystemExit(f"no {START} ... {END} section found")
    values, name, raw, in_block = {}, None, {}, False
    for line in body.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            name = None
            continue
        if not in_block:
            continue
        m = re.match(r"^([a-z0-9_.]+):\s*(.*)$", line)
        if m:
            name = m.group(1)
            if name in raw:
                raise SystemExit(f"{name} is stated twice")
            raw[name] = m.group(2).strip()
        elif line.startswith("    ") and name is not None:
            raw[name] += line.strip()
        elif line.strip():
            raise SystemExit(f"unparsable annex line: {line!r}")
    for name, v in raw.items():
        if v.startswith('"'):
            values[name] = v[1:-1].replace("\\0", "\0").encode()
        elif re.match(r"^\d+ \S+$", v):
            values[name] = int(v.split()[0])
        elif re.match(r"^([0-9a-f]{2})+$", v):
            values[name] = bytes.fromhex(v)
        else:
            raise SystemExit(f"{name}: value is neither hex, a string nor an integer: {v[:40]}")
    return values


# ---- building blocks, from the protocol's description ------------------------------


def H(*parts):
    h = hashes.Hash(hashes.SHA256())
    for p in parts:
        h.update(p)
    return h.finalize()


def hmac256(key, data):
    m = chmac.HMAC(key, hashes.SHA256())
    m.update(data)
    return m.finalize()


def extract(salt, ikm):
    # RFC 5869: PRK = HMAC-Hash(salt, IKM).
    return hmac256(salt, ikm)


def expand(prk, label, n):
    return HKDFExpand(hashes.SHA256(), n, b"cdp1 " + label.encode()).derive(prk)


def x25519_public(private):
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def x25519(private, peer_public):
    return X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(peer_public)
    )


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def vec16(b):
    return u16(len(b)) + b


def frame(content):
    """A frame from its content (type || body): length (u32) || content."""
    return u32(len(content)) + content


def parse_cert(b):
    """Decodes a certificate (docs/protocol.md, Certificates) into a dict."""
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(b):
            raise ValueError("certificate truncated")
        out = b[at : at + n]
        at += n
        return out

    def vec():
        return take(struct.unpack(">H", take(2))[0])

    version, role = take(1)[0], take(1)[0]
    serial = struct.unpack(">Q", take(8))[0]
    subject, issuer = vec().decode(), vec().decode()
    not_before, not_after = struct.unpack(">QQ", take(16))
    key_type = take(1)[0]
    key = vec()
    tbs = b[:at]
    signature = vec()
    if at != len(b) or version != 1:
        raise ValueError("certificate: trailing bytes or unknown version")
    if key_type == 1:
        public = serialization.load_der_public_key(key)  # PKCS#1 RSAPublicKey
    elif key_type == 2:
        public = Ed25519PublicKey.from_public_bytes(key)
    else:
        raise ValueError(f"certificate: key type {key_type}")
    return dict(role=role, serial=serial, subject=subject, issuer=issuer,
                not_before=not_before, not_after=not_after, key=public, raw_key=key,
                tbs=tbs, signature=signature)


PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def pss_verifies(public, signature, message):
    try:
        public.verify(signature, message, PSS, hashes.SHA256())
        return True
    except InvalidSignature:
        return False


def mgf1(seed, n):
    out, counter = b"", 0
    while len(out) < n:
        out += H(seed, u32(counter))
        counter += 1
    return out[:n]


def pss_sign(private, message, salt):
    """RSA-PSS/SHA-256 with a given salt (RFC 8017 EMSA-PSS-ENCODE, then RSASP1).

    `cryptography` draws PSS salts itself, so a signature with a stated salt is built
    here from the private key's numbers; `pss_verifies` then checks it with
    `cryptography`.
    """
    numbers = private.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    em_bits = n.bit_length() - 1
    em_len = (em_bits + 7) // 8
    h = H(b"\0" * 8, H(message), salt)
    db = b"\0" * (em_len - len(salt) - 32 - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, mgf1(h, em_len - 33)))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    em = bytes(masked) + h + b"\xbc"
    s = pow(int.from_bytes(em, "big"), d, n)
    return s.to_bytes((n.bit_length() + 7) // 8, "big")


def same_rsa_key(private, public):
    return private.public_key().public_numbers() == public.public_numbers()


# ---- the check ---------------------------------------------------------------------


class Check:
    def __init__(self, values):
        self.values = values
        self.used = set()
        self.ok = []
        self.bad = []

    def get(self, name):
        if name not in self.values:
            self.bad.append(f"{name}: missing from the annex")
            raise KeyError(name)
        self.used.add(name)
        return self.values[name]

    def same(self, name, recomputed):
        stated = self.get(name)
        if stated == recomputed:
            self.ok.append(name)
        else:
            show = lambda v: v.hex() if isinstance(v, bytes) else repr(v)
            self.bad.append(f"{name}: the annex says {show(stated)}, recomputed {show(recomputed)}")
        return recomputed

    def true(self, what, cond):
        (self.ok if cond else self.bad).append(what if cond else f"{what}: false")

    def record(self, prefix, key, iv, epoch, seq, payload, content):
        """One sealed record: nonce = iv XOR (0^4 || seq), aad = 0x17 || epoch || seq."""
        plain = payload + bytes([content])
        nonce = bytes(a ^ b for a, b in zip(iv, b"\0\0\0\0" + u64(seq)))
        aad = b"\x17" + u32(epoch) + u64(seq)
        sealed = AESGCM(key).encrypt(nonce, plain, aad)
        self.same(f"{prefix}.epoch", epoch)
        self.same(f"{prefix}.seq", seq)
        self.same(f"{prefix}.plaintext", plain)
        self.same(f"{prefix}.nonce", nonce)
        self.same(f"{prefix}.aad", aad)
        self.same(f"{prefix}.ciphertext", sealed[:-16])
        self.same(f"{prefix}.tag", sealed[-16:])
        self.same(f"{prefix}.frame", frame(aad + sealed))
        # Opening it again checks the tag the other way round.
        self.true(f"{prefix} opens", AESGCM(key).decrypt(nonce, sealed, aad) == plain)


def schedule(c, prefix, transcript_hash, ikm):
    prk = c.same(f"{prefix}.prk", extract(transcript_hash, ikm))
    out = {}
    for d, label in (("c2s", "c2s traffic"), ("s2c", "s2c traffic")):
        secret = c.same(f"{prefix}.{d}_0", expand(prk, label, 32))
        out[d] = (
            secret,
            c.same(f"{prefix}.{d}_0_key", expand(secret, "key", 32)),
            c.same(f"{prefix}.{d}_0_iv", expand(secret, "iv", 12)),
        )
    out["res"] = c.same(f"{prefix}.res", expand(prk, "resumption", 32))
    return out


def check_all(values):
    c = Check(values)
    try:
        run(c)
    except KeyError:
        pass
    for name in sorted(set(values) - c.used):
        c.bad.append(f"{name}: stated in the annex but not checked by kat_check.py")
    return c


def run(c):
    g = c.get
    # A.1 keys and certificates.
    root = parse_cert(g("keys.root_certificate"))
    vendor = parse_cert(g("keys.vendor_certificate"))
    device = parse_cert(g("keys.device_certificate"))
    server = parse_cert(g("keys.server_certificate"))
    ctx = b"camproof certificate v1\0"
    c.true("root certificate: role 1, self-signed", root["role"] == 1
           and root["issuer"] == root["subject"]
           and pss_verifies(root["key"], root["signature"], ctx + root["tbs"]))
    c.true("vendor CA certificate: role 2, signed by the root", vendor["role"] == 2
           and vendor["issuer"] == root["subject"]
           and pss_verifies(root["key"], vendor["signature"], ctx + vendor["tbs"]))
    c.true("server certificate: role 4, Ed25519, signed by the root", server["role"] == 4
           and isinstance(server["key"], Ed25519PublicKey)
           and server["issuer"] == root["subject"]
           and pss_verifies(root["key"], server["signature"], ctx + server["tbs"]))
    c.true("device certificate: role 3, signed by the vendor CA", device["role"] == 3
           and device["issuer"] == vendor["subject"]
           and pss_verifies(vendor["key"], device["signature"], ctx + device["tbs"]))
    device_key = serialization.load_der_private_key(g("keys.device_private_key"), None)
    vendor_key = serialization.load_der_private_key(g("keys.vendor_private_key"), None)
    c.true("device private key matches the device certificate",
           same_rsa_key(device_key, device["key"]))
    c.true("vendor private key matches the vendor CA certificate",
           same_rsa_key(vendor_key, vendor["key"]))
    server_key = Ed25519PrivateKey.from_private_bytes(g("keys.server_private_key"))
    c.same("keys.server_public_key", server_key.public_key().public_bytes_raw())
    c.true("server private key matches the server certificate",
           server["raw_key"] == server_key.public_key().public_bytes_raw())

    # A.2 full handshake.
    d_x, p_x = g("full.device_x25519_private"), g("full.platform_x25519_private")
    d_pub = c.same("full.device_x25519_public", x25519_public(d_x))
    ch = b"\x01" + u16(1) + g("full.device_random") + u64(g("full.device_time")) + d_pub
    c.same("full.client_hello.frame", frame(ch))
    p_pub = c.same("full.platform_x25519_public", x25519_public(p_x))
    sh_core = (b"\x02" + g("full.platform_random") + u64(g("full.platform_time")) + p_pub
               + vec16(g("keys.server_certificate")))
    server_hash = c.same("full.server_transcript_hash", H(ch, sh_core))
    server_signed = c.same("full.server_signed", b"CDP/1 server signature\0" + server_hash)
    server_sig = c.same("full.server_signature", server_key.sign(server_signed))
    try:
        server["key"].verify(server_sig, server_signed)
        c.true("server signature verifies under the server certificate", True)
    except InvalidSignature:
        c.true("server signature verifies under the server certificate", False)
    sh = sh_core + server_sig
    c.same("full.server_hello.frame", frame(sh))
    shared = c.same("full.shared_secret", x25519(d_x, p_pub))
    c.true("both sides agree the X25519 secret", x25519(p_x, d_pub) == shared)
    ca_core = (b"\x03" + bytes([2]) + vec16(g("keys.device_certificate"))
               + vec16(g("keys.vendor_certificate")))
    client_hash = c.same("full.client_transcript_hash", H(ch, sh, ca_core))
    client_signed = c.same("full.client_signed", b"CDP/1 client signature\0" + client_hash)
    client_sig = c.same("full.client_signature",
                        pss_sign(device_key, client_signed, g("full.client_pss_salt")))
    c.true("client signature verifies under the device certificate (cryptography)",
           pss_verifies(device["key"], client_sig, client_signed))
    ca = ca_core + vec16(client_sig)
    c.same("full.client_auth.frame", frame(ca))
    transcript = c.same("full.transcript", H(ch, sh, ca))
    full = schedule(c, "full", transcript, shared)
    lifetime = g("full.ticket_lifetime")
    _, s2c_key, s2c_iv = full["s2c"]
    c.record("full.ticket_record", s2c_key, s2c_iv, 0, 0,
             g("full.ticket_id") + u32(lifetime), 2)

    # A.3 a sealed record: Heartbeat (type 1, seq 1, uptime 60 s).
    _, c2s_key, c2s_iv = full["c2s"]
    hb1 = c.same("record.payload", b"\x01" + u32(1) + u32(60))
    c.record("record", c2s_key, c2s_iv, 0, 0, hb1, 0)

    # A.4 key update: KeyUpdate at epoch 0 seq 1, then Heartbeat (seq 2, 75 s) at epoch 1.
    hb2 = c.same("update.payload", b"\x01" + u32(2) + u32(75))
    c.record("update.key_update_record", c2s_key, c2s_iv, 0, 1, b"", 1)
    c2s_1 = c.same("update.c2s_1", expand(full["c2s"][0], "update", 32))
    k1 = c.same("update.c2s_1_key", expand(c2s_1, "key", 32))
    iv1 = c.same("update.c2s_1_iv", expand(c2s_1, "iv", 12))
    c.record("update.record", k1, iv1, 1, 0, hb2, 0)

    # A.5 resumption with the ticket of A.2.
    res = full["res"]
    bk = c.same("resume.binder_key", expand(res, "binder", 32))
    rd_x, rp_x = g("resume.device_x25519_private"), g("resume.platform_x25519_private")
    rd_pub = c.same("resume.device_x25519_public", x25519_public(rd_x))
    rh_core = (b"\x04" + u16(1) + g("full.ticket_id") + g("resume.device_random")
               + u64(g("resume.device_time")) + rd_pub)
    binder_hash = c.same("resume.binder_hash", H(rh_core))
    binder = c.same("resume.binder", hmac256(bk, binder_hash))
    rh = rh_core + binder
    c.same("resume.resume_hello.frame", frame(rh))
    rp_pub = c.same("resume.platform_x25519_public", x25519_public(rp_x))
    ra_core = (b"\x05" + g("resume.platform_random") + u64(g("resume.platform_time"))
               + rp_pub)
    verify_hash = c.same("resume.verify_hash", H(rh, ra_core))
    verify = c.same("resume.verify", hmac256(bk, verify_hash))
    ra = ra_core + verify
    c.same("resume.resume_accept.frame", frame(ra))
    r_shared = c.same("resume.shared_secret", x25519(rd_x, rp_pub))
    c.true("both sides agree the resumed X25519 secret", x25519(rp_x, rd_pub) == r_shared)
    r_transcript = c.same("resume.transcript", H(rh, ra))
    ikm = c.same("resume.ikm", r_shared + res)
    resumed = schedule(c, "resume", r_transcript, ikm)
    _, rs2c_key, rs2c_iv = resumed["s2c"]
    c.record("resume.ticket_record", rs2c_key, rs2c_iv, 0, 0,
             g("resume.ticket_id") + u32(g("resume.ticket_lifetime")), 2)

    # A.6 signed firmware manifest.
    image = g("ota.image")
    version = [int(x) for x in g("ota.version").decode().split(".")]
    floor = [int(x) for x in g("ota.min_version").decode().split(".")]
    model = g("ota.model")
    digest = c.same("ota.image_sha256", hashlib.sha256(image).digest())
    manifest = c.same("ota.manifest", b"CPFW" + b"\x01" + vec16(model)
                      + b"".join(u32(v) for v in version + floor) + u64(len(image)) + digest)
    signed_msg = c.same("ota.signed_message", b"camproof OTA manifest v1\0" + manifest)
    ota_sig = c.same("ota.signature", pss_sign(vendor_key, signed_msg, g("ota.pss_salt")))
    c.true("manifest signature verifies under the vendor CA certificate (cryptography)",
           pss_verifies(vendor["key"], ota_sig, signed_msg))
    c.same("ota.signed_manifest", manifest + vec16(ota_sig))


def plant(text, name):
    """`text` with the first hex digit of `name`'s value changed."""
    m = re.search(rf"^{re.escape(name)}:( [0-9a-f]|\n    [0-9a-f])", text, re.M)
    if not m:
        raise SystemExit(f"self-test: {name} not found")
    at = m.end() - 1
    digit = "1" if text[at] != "1" else "2"
    return text[:at] + digit + text[at + 1 :]


def main(argv):
    self_test = "--self-test" in argv
    paths = [a for a in argv if a != "--self-test"]
    if len(paths) != 1:
        raise SystemExit(__doc__)
    text = open(paths[0], encoding="utf-8").read()
    c = check_all(parse(text))
    for name in c.ok:
        print(f"ok  {name}")
    for line in c.bad:
        print(f"MISMATCH  {line}")
    print(f"{len(c.ok)} values and properties recomputed and matched, {len(c.bad)} mismatches")
    if c.bad:
        return 1
    if self_test:
        # One input and one derived value of each section, changed in one hex digit.
        for name in ["keys.server_private_key", "full.device_random", "full.prk",
                     "full.client_signature", "record.tag", "update.c2s_1_iv",
                     "resume.binder", "resume.ticket_record.frame", "ota.pss_salt",
                     "ota.signed_manifest"]:
            planted = check_all(parse(plant(text, name)))
            if not planted.bad:
                print(f"self-test: a changed {name} was NOT refused")
                return 1
            print(f"self-test: a changed {name} is refused ({planted.bad[0][:70]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
