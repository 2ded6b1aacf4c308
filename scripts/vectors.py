#!/usr/bin/env python3
"""Known-answer vectors for every format of docs/format.md, computed from that page alone.

This is a second implementation of encx's stored formats, written in Python against the
`cryptography` package (AES-256-GCM, HKDF-SHA256) and the standard library (HMAC-SHA256,
SHA-256, base64), without reading encx's Rust code. It writes docs/test-vectors.json; the Rust
tests (encx/src/known_answers.rs, encx-sqlx's secrets tests) check that encx produces and reads
exactly these bytes. Two implementations that agree byte for byte are the check.

    python3 scripts/vectors.py            # rewrite docs/test-vectors.json
    python3 scripts/vectors.py --check    # exit 1 if the file differs from what this computes

Every input is fixed (keys, nonces, salts, ids), so the output never changes unless the
formats do. Needs `pip install cryptography`.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "test-vectors.json")


# ------------------------------------------------------------------ notation (format.md intro)
def u32be(n):
    return struct.pack(">I", n)


def i64be(n):
    return struct.pack(">q", n)


def lp(x):
    return u32be(len(x)) + x


def b64(x):
    return base64.urlsafe_b64encode(x).rstrip(b"=").decode()


def frame(*parts):
    return u32be(len(parts)) + b"".join(lp(p) for p in parts)


def fixed(label, n):
    """n deterministic bytes named by `label` (SHA-256 in counter mode): test inputs only."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(label.encode() + u32be(counter)).digest()
        counter += 1
    return out[:n]


def hx(b):
    return b.hex()


# ------------------------------------------------------------------ postcard (§1 plaintext)
def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def postcard_str(s):
    b = s.encode()
    return varint(len(b)) + b


def postcard_i64(n):
    return varint((n << 1) ^ (n >> 63))


# ------------------------------------------------------------------ §1 field ciphertext
def field_aad(table, column, record_id):
    return b"encx:v1" + lp(table.encode()) + lp(column.encode()) + lp(record_id)


def seal_field(dek, nonce, table, column, record_id, plaintext):
    aad = field_aad(table, column, record_id)
    return aad, b"\x01" + nonce + AESGCM(dek).encrypt(nonce, plaintext, aad)


def bare_field_aad(table, column, record_id):
    return b"encx:v2" + lp(table.encode()) + lp(column.encode()) + lp(record_id)


def seal_bare_field(dek, nonce, table, column, record_id, value_bytes):
    aad = bare_field_aad(table, column, record_id)
    return aad, b"\x02" + nonce + AESGCM(dek).encrypt(nonce, value_bytes, aad)


# ------------------------------------------------------------------ §2 wrapped data key
KIND = {"local": 0x01, "hierarchical": 0x03, "subject": 0x04}


def local_key_id(master):
    return hmac.new(master, b"encx:v1:key-id", hashlib.sha256).digest()[:16]


def wrap_dek(w, kind, key_id, salt, nonce, table, record_id, dek):
    k_wrap = HKDFExpand(hashes.SHA256(), 32, b"encx:v2:dek-wrap" + salt).derive(w)
    head = bytes([0x02, KIND[kind]]) + key_id + salt
    aad = b"encx:v2:dek" + lp(table.encode()) + lp(record_id) + head
    return head + nonce + AESGCM(k_wrap).encrypt(nonce, dek, aad)


# ------------------------------------------------------------------ §3 key rows
def key_row_record_id(key_uuid, purpose, version):
    return key_uuid.bytes + lp(purpose.encode()) + i64be(version)


def subject_key_record_id(key_uuid, subject, version):
    return key_uuid.bytes + lp(subject) + i64be(version)


# ------------------------------------------------------------------ §4 blind index
WHITE_SPACE = set(
    [chr(c) for c in range(0x09, 0x0E)]
    + ["\u0020", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)


def trim(s):
    start, end = 0, len(s)
    while start < end and s[start] in WHITE_SPACE:
        start += 1
    while end > start and s[end - 1] in WHITE_SPACE:
        end -= 1
    return s[start:end]


def normalize(name, s):
    if name == "none":
        return s
    if name == "lowercase":
        return s.lower()
    if name == "trim":
        return trim(s)
    if name == "email":
        return trim(s).lower()
    if name == "digits":
        return "".join(c for c in s if c in "0123456789")
    if name == "last4":
        return normalize("digits", s)[-4:]
    raise ValueError(name)


def index_key(root, domain, version):
    info = b"encx:v1:bidx" + lp(domain.encode()) + u32be(version)
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(root)


def truncate(digest, bits):
    out = bytearray(digest[: (bits + 7) // 8])
    spare = (8 - bits % 8) % 8
    out[-1] &= (0xFF << spare) & 0xFF
    return bytes(out)


def default_domain(table, name):
    return f"{len(table.encode())}:{table},{len(name.encode())}:{name},"


# ------------------------------------------------------------------ §8 stream
def stream(dek, wrapped, prefix, label, segment_len, plaintext):
    lab = label.encode()
    header = (
        b"\x01S" + u32be(segment_len) + prefix + struct.pack(">H", len(lab)) + lab
        + struct.pack(">H", len(wrapped)) + wrapped
    )
    aad = hashlib.sha256(header).digest()
    segments = []
    pieces = [plaintext[i : i + segment_len] for i in range(0, len(plaintext), segment_len)]
    if not pieces or len(pieces[-1]) == segment_len:
        pieces.append(b"")  # the last segment is always shorter than L
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        nonce = prefix + u32be(i) + (b"\x01" if last else b"\x00")
        segments.append(AESGCM(dek).encrypt(nonce, piece, aad))
    return header, segments


# ------------------------------------------------------------------ the vectors
def build():
    master = fixed("master key v1", 32)
    master_id = local_key_id(master)
    index_root = fixed("index root v1", 32)
    index_root_2 = fixed("index root v2", 32)
    kek = fixed("kek bytes", 32)
    kek_id = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
    subject_key = fixed("subject key bytes", 32)
    subject_key_id = uuid.UUID("5ab1ec70-0000-4000-8000-000000000001")
    user_id = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")

    keys = {
        "master_key_v1": {
            "bytes": hx(master),
            "base64": base64.b64encode(master).decode(),
            "key_id": hx(master_id),
        },
        "index_root": {"1": hx(index_root), "2": hx(index_root_2)},
        "kek": {"id": str(kek_id), "version": 1, "bytes": hx(kek)},
        "subject_key": {"id": str(subject_key_id), "version": 1, "bytes": hx(subject_key)},
    }

    # §1 field ciphertexts: the DEK is the one unwrapped in wrapped_deks[0]; one per id type
    # and per AAD length around encx's 160-byte stack buffer (AAD = 7 + 4+t + 4+c + 4+r).
    dek = fixed("dek of user 7", 32)
    fields = []

    def field_vector(out, seal, name, table, column, record_id, record_id_note, plaintext,
                     value_note, nonce_label):
        nonce = fixed(nonce_label, 12)
        aad, blob = seal(dek, nonce, table, column, record_id, plaintext)
        out.append({
            "name": name, "dek": hx(dek), "nonce": hx(nonce), "table": table, "column": column,
            "record_id": hx(record_id), "record_id_is": record_id_note,
            "plaintext": hx(plaintext), "plaintext_is": value_note,
            "aad": hx(aad), "aad_len": len(aad), "ciphertext": hx(blob),
        })

    def field(*args):
        field_vector(fields, seal_field, *args)

    field("string, i64 id", "users", "email", i64be(7), "i64 7",
          postcard_str("ada@example.com"), 'String "ada@example.com"', "nonce 1")
    field("i64 value, uuid id", "users", "age", user_id.bytes, f"Uuid {user_id}",
          postcard_i64(-37), "i64 -37", "nonce 2")
    field("empty plaintext, string id", "notes", "body", b"note-1", 'String "note-1"',
          b"", "empty postcard (e.g. a unit value)", "nonce 3")
    field("Some(\"ab\") top-level option", "users", "phone", i64be(7), "i64 7",
          postcard_str("ab"), 'Option<String> Some("ab"): no tag', "nonce 4")
    for aad_len in (159, 160, 161, 167, 168):
        # 7 + 4 + t + 4 + 1 + 4 + 8 = aad_len  =>  t = aad_len - 28
        table = "t" * (aad_len - 28)
        field(f"AAD of {aad_len} bytes", table, "c", i64be(7), "i64 7",
              postcard_str("boundary"), 'String "boundary"', f"nonce aad {aad_len}")

    # §1 format 2: strings and byte strings, bare (no length prefix), under the same DEK.
    bare_fields = []

    def bare_field(*args):
        field_vector(bare_fields, seal_bare_field, *args)

    bare_field("string, i64 id", "users", "email", i64be(7), "i64 7",
               b"ada@example.com", 'String "ada@example.com"', "bare nonce 1")
    bare_field("empty string, string id", "notes", "body", b"note-1", 'String "note-1"',
               b"", 'String ""', "bare nonce 2")
    bare_field("multi-byte UTF-8, uuid id", "users", "name", user_id.bytes, f"Uuid {user_id}",
               "Zoë 😀".encode(), 'String "Zoë 😀"', "bare nonce 3")
    bare_field("Uuid value (a byte string: its 16 bytes)", "users", "ref", i64be(7), "i64 7",
               user_id.bytes, f"Uuid {user_id}", "bare nonce 4")

    # §2 wrapped DEKs, one per kind.
    salt = fixed("salt 1", 16)
    wnonce = fixed("wrap nonce 1", 12)
    wrapped = []

    def wrapped_dek(name, kind, w, key_id, table, record_id, note, the_dek, s, n):
        blob = wrap_dek(w, kind, key_id, s, n, table, record_id, the_dek)
        wrapped.append({
            "name": name, "kind": kind, "wrapping_key": hx(w), "key_id": hx(key_id),
            "table": table, "record_id": hx(record_id), "record_id_is": note,
            "dek": hx(the_dek), "salt": hx(s), "nonce": hx(n), "wrapped": hx(blob),
        })

    wrapped_dek("local master key", "local", master, master_id, "users", i64be(7), "i64 7",
                dek, salt, wnonce)
    wrapped_dek("hierarchical KEK", "hierarchical", kek, kek_id.bytes, "users", i64be(7),
                "i64 7", dek, fixed("salt 2", 16), fixed("wrap nonce 2", 12))
    wrapped_dek("data-subject key", "subject", subject_key, subject_key_id.bytes, "orders",
                b"order-1", 'String "order-1"', fixed("dek of order-1", 32),
                fixed("salt 3", 16), fixed("wrap nonce 3", 12))

    # §3 key rows and subject key rows (wrapped by the local master key).
    key_rows = []
    for purpose, kid, version, key_bytes, tag in (
        ("kek", kek_id, 1, kek, "kek row"),
        ("index", uuid.UUID("1d3e0000-0000-4000-8000-000000000002"), 2, index_root_2, "index row"),
    ):
        rid = key_row_record_id(kid, purpose, version)
        s, n = fixed(f"salt {tag}", 16), fixed(f"nonce {tag}", 12)
        key_rows.append({
            "id": str(kid), "purpose": purpose, "version": version,
            "root_key": "local:" + hx(master_id), "key": hx(key_bytes),
            "salt": hx(s), "nonce": hx(n), "record_id": hx(rid),
            "wrapped": hx(wrap_dek(master, "local", master_id, s, n, "encx_keks", rid, key_bytes)),
        })

    # The first row's key is the one that wraps wrapped_deks' data-subject vector.
    subject_rows = []
    for key_id, key, subject, version, note in (
        (subject_key_id, subject_key, b"customer-42", 1, 'String "customer-42"'),
        (uuid.UUID("5ab1ec70-0000-4000-8000-000000000002"), fixed("subject key 2", 32),
         user_id.bytes, 3, f"Uuid {user_id}"),
    ):
        rid = subject_key_record_id(key_id, subject, version)
        s, n = fixed(f"salt subject {note}", 16), fixed(f"nonce subject {note}", 12)
        subject_rows.append({
            "id": str(key_id), "subject": hx(subject), "subject_is": note, "version": version,
            "key": hx(key), "salt": hx(s), "nonce": hx(n), "record_id": hx(rid),
            "wrapped": hx(wrap_dek(master, "local", master_id, s, n, "encx_subject_keys", rid,
                                   key)),
        })

    # §3b tenant key rows (the tenant's root here: the local master key) and signatures.
    tenant_rows = []
    for key_id, purpose, version, tenant, note in (
        (uuid.UUID("7e4a4e70-0000-4000-8000-000000000001"), "kek", 1, b"acme", 'String "acme"'),
        (uuid.UUID("7e4a4e70-0000-4000-8000-000000000002"), "index", 2, user_id.bytes,
         f"Uuid {user_id}"),
    ):
        rid = key_row_record_id(key_id, purpose, version) + lp(tenant)
        key = fixed(f"tenant key {note} {purpose}", 32)
        s, n = fixed(f"salt tenant {note} {purpose}", 16), fixed(f"nonce tenant {note}", 12)
        tenant_rows.append({
            "id": str(key_id), "purpose": purpose, "version": version, "tenant": hx(tenant),
            "tenant_is": note, "key": hx(key), "salt": hx(s), "nonce": hx(n),
            "record_id": hx(rid),
            "wrapped": hx(wrap_dek(master, "local", master_id, s, n, "encx_tenant_keys", rid,
                                   key)),
        })

    signatures = []
    for columns, record_id, note in (
        ((("role", "admin"),), i64be(7), "role = \"admin\""),
        ((("org", "acme"), ("role", "viewer")), b"member-1", 'org = "acme", role = "viewer"'),
    ):
        digest_input = b"encx:signed:v1" + b"".join(
            lp(c.encode()) + lp(postcard_str(v)) for c, v in columns)
        digest = hashlib.sha256(digest_input).digest()
        nonce = fixed(f"signature nonce {note}", 12)
        aad, blob = seal_field(dek, nonce, "members", "encx_sig", record_id, digest)
        signatures.append({
            "columns": [{"name": c, "value": v, "value_postcard": hx(postcard_str(v))}
                        for c, v in columns],
            "columns_are": note, "digest_input": hx(digest_input), "digest": hx(digest),
            "dek": hx(dek), "nonce": hx(nonce), "table": "members",
            "record_id": hx(record_id), "aad": hx(aad), "encx_sig": hx(blob),
        })

    # §9 secrets rows (keyring: the local master key).
    secrets = []
    for name, version, expires_at, value in (
        ("db/password", 2, None, b"hunter2"),
        ("stripe/key", 1, 1796927389000, b"sk_live_0123456789"),
    ):
        rid = f"{name}#{version}#{'-' if expires_at is None else expires_at}".encode()
        sdek = fixed(f"dek {name}", 32)
        s, n = fixed(f"salt {name}", 16), fixed(f"wrap nonce {name}", 12)
        fnonce = fixed(f"value nonce {name}", 12)
        plaintext = varint(len(value)) + value
        _, value_blob = seal_field(sdek, fnonce, "encx_secrets", "value", rid, plaintext)
        secrets.append({
            "name": name, "version": version, "expires_at": expires_at, "value": hx(value),
            "record_id": rid.decode(), "dek": hx(sdek), "salt": hx(s), "wrap_nonce": hx(n),
            "value_nonce": hx(fnonce),
            "encx_dek": hx(wrap_dek(master, "local", master_id, s, n, "encx_secrets", rid, sdek)),
            "value_ciphertext": hx(value_blob),
        })

    # §4 blind indexes.
    indexes = []

    def bidx(name, table, field_name, value, normalizer, bits, version=1, domain=None):
        d = domain if domain is not None else default_domain(table, field_name)
        root = index_root if version == 1 else index_root_2
        text = normalize(normalizer, value)
        full = hmac.new(index_key(root, d, version), text.encode(), hashlib.sha256).digest()
        indexes.append({
            "name": name, "kind": "single", "domain": d, "version": version, "bits": bits,
            "normalizer": normalizer, "value": value, "normalized": text,
            "index": hx(truncate(full, bits)),
        })

    bidx("email, default 32 bits", "users", "email", "  Ada.Lovelace@Example.COM\t", "email", 32)
    bidx("none, 256 bits", "users", "email", "ada@example.com", "none", 256)
    bidx("lowercase, final sigma and dotted I", "users", "city", "ΟΔΟΣ İstanbul", "lowercase", 64)
    bidx("trim, Unicode white space", "users", "name", "\u3000Ada\u00a0", "trim", 32)
    bidx("digits, 12 bits", "users", "phone", "+1 (555) 010-9999", "digits", 12)
    bidx("last4, 8 bits", "payments", "card", "4111 1111 1111 1234", "last4", 8)
    bidx("last4 with fewer than four digits", "payments", "card", "ab12", "last4", 16)
    bidx("version 2, explicit domain", "users", "email", "ada@example.com", "email", 32,
         version=2, domain="shared:email")
    # compound
    parts = [("Ada Lovelace", "lowercase"), ("London", "lowercase")]
    d = default_domain("users", "name_city")
    texts = [normalize(n, v) for v, n in parts]
    msg = u32be(len(texts)) + b"".join(lp(t.encode()) for t in texts)
    full = hmac.new(index_key(index_root, d, 1), msg, hashlib.sha256).digest()
    indexes.append({
        "name": "compound name_city", "kind": "compound", "domain": d, "version": 1, "bits": 32,
        "normalizer": "lowercase", "values": [v for v, _ in parts], "normalized": texts,
        "index": hx(truncate(full, 32)),
    })

    # §4b partial indexes (index root version 1).
    partials = []

    def partial_domain(table, field_name, tag):
        return default_domain(table, field_name) + f"{len(tag.encode())}:{tag},"

    def affix(name, kind, table, field_name, value, normalizer, n, bits):
        tag = f"{kind}{n}"
        d = partial_domain(table, field_name, tag)
        text = normalize(normalizer, value)
        part = text[:n] if kind == "prefix" else text[max(0, len(text) - n):]
        full = hmac.new(index_key(index_root, d, 1), part.encode(), hashlib.sha256).digest()
        partials.append({
            "name": name, "kind": kind, "chars": n, "domain": d, "bits": bits,
            "normalizer": normalizer, "value": value, "index": hx(truncate(full, bits)),
        })

    def contains(name, table, field_name, value, normalizer, ngram, filter_bits, hashes):
        d = partial_domain(table, field_name, "contains")
        text = normalize(normalizer, value)
        if len(text) >= ngram:
            grams = {text[i:i + ngram] for i in range(len(text) - ngram + 1)}
        else:
            grams = {text} if text else set()
        key = index_key(index_root, d, 1)
        bloom = bytearray(filter_bits // 8)
        for g in grams:
            digest = hmac.new(key, g.encode(), hashlib.sha256).digest()
            for i in range(hashes):
                p = int.from_bytes(digest[2 * i:2 * i + 2], "big") % filter_bits
                bloom[p // 8] |= 0x80 >> (p % 8)
        partials.append({
            "name": name, "kind": "contains", "ngram": ngram, "filter_bits": filter_bits,
            "hashes": hashes, "domain": d, "normalizer": normalizer, "value": value,
            "index": hx(bytes(bloom)),
        })

    def bucket(name, table, field_name, ordinal, width, bits):
        d = partial_domain(table, field_name, "range")
        b = ordinal // width  # floor division, as div_euclid for a positive width
        full = hmac.new(index_key(index_root, d, 1), b.to_bytes(16, "big", signed=True),
                        hashlib.sha256).digest()
        partials.append({
            "name": name, "kind": "range", "width": width, "domain": d, "bits": bits,
            "ordinal": ordinal, "index": hx(truncate(full, bits)),
        })

    affix("prefix 3, lowercase", "prefix", "customers", "surname", "Lovelace", "lowercase", 3, 16)
    affix("prefix 5 of a shorter value", "prefix", "customers", "surname", "Ab", "none", 5, 12)
    affix("prefix 2 counts characters", "prefix", "customers", "surname", "ßüx", "none", 2, 16)
    affix("suffix 4, digits", "suffix", "payments", "card", "4111 1111 1111 1234", "digits", 4, 16)
    contains("contains, trigrams", "customers", "surname", "Lovelace", "lowercase", 3, 128, 3)
    contains("contains, shorter than an n-gram", "customers", "surname", "ab", "none", 3, 64, 2)
    contains("contains, repeated bigrams, 16 hashes", "customers", "surname", "aaaa", "none", 2,
             256, 16)
    bucket("range, negative ordinal", "customers", "born", -1, 30, 32)
    bucket("range, a day of seconds", "events", "at", 1764806400, 86400, 16)

    # §10 tokens, row seals, signed values, CSRF tokens (index root version 1).
    def k(domain, version=1):
        return index_key(index_root if version == 1 else index_root_2, domain, version)

    tokens = []
    for prefix, raw_label in (("sk_live", "token raw 1"), ("reset", "token raw 2")):
        raw = fixed(raw_label, 32)
        text = f"{prefix}_{b64(raw)}"
        key = k(f"encx:token:{prefix}")
        h = u32be(1) + hmac.new(key, text.encode(), hashlib.sha256).digest()
        token_id = uuid.UUID(bytes=fixed(f"token id {prefix}", 16))
        owner, created_at = "user-7", 1764806400000
        expires_at = None if prefix == "sk_live" else 1764810000000
        seal = hmac.new(key, frame(
            b"encx:token-row:v1", h, token_id.bytes, prefix.encode(), owner.encode(),
            i64be(created_at), b"" if expires_at is None else i64be(expires_at),
        ), hashlib.sha256).digest()
        tokens.append({
            "prefix": prefix, "random": hx(raw), "token": text, "hash": hx(h),
            "row": {"id": str(token_id), "owner": owner, "created_at": created_at,
                    "expires_at": expires_at, "seal": hx(seal)},
        })

    signed = []
    for purpose, value, expiry in (("unsubscribe", b"user-7", None), ("reset", b"\x00\xffbinary", 1893456000)):
        vb = b64(value)
        e = "-" if expiry is None else str(expiry)
        mac = hmac.new(k(f"encx:sign:{purpose}"), frame(b"encx:signed:v1", vb.encode(), e.encode()),
                       hashlib.sha256).digest()
        signed.append({"purpose": purpose, "value": hx(value), "expires_at": expiry,
                       "version": 1, "signed": f"{vb}.{e}.1.{b64(mac)}"})

    csrf = []
    for session, nonce_label in ((b"session-7f3a", "csrf nonce 1"), (b"", "csrf nonce 2")):
        nonce = fixed(nonce_label, 16)
        mac = hmac.new(k("encx:csrf"), frame(b"encx:csrf:v1", session, nonce), hashlib.sha256).digest()
        csrf.append({"session": hx(session), "nonce": hx(nonce), "version": 1,
                     "token": f"{b64(nonce)}.1.{b64(mac)}"})

    # §8 streams: the stream key wrapped by the local master key, bound to encx_streams/label.
    streams = []
    for label, length, seg in (("backups/2026-12-04", 600, 256), ("", 512, 256)):
        sdek = fixed(f"stream dek {label}", 32)
        s, n = fixed(f"stream salt {label}", 16), fixed(f"stream wrap nonce {label}", 12)
        w = wrap_dek(master, "local", master_id, s, n, "encx_streams", label.encode(), sdek)
        prefix = fixed(f"stream prefix {label}", 7)
        plaintext = fixed(f"stream plaintext {label}", length)
        header, segments = stream(sdek, w, prefix, label, seg, plaintext)
        streams.append({
            "label": label, "segment_len": seg, "dek": hx(sdek), "salt": hx(s),
            "wrap_nonce": hx(n), "wrapped_dek": hx(w), "prefix": hx(prefix),
            "plaintext": hx(plaintext), "header": hx(header),
            "segments": [hx(x) for x in segments],
        })

    return {
        "about": (
            "Known-answer vectors for docs/format.md, computed by scripts/vectors.py (Python, "
            "from format.md alone) and checked byte for byte by encx's tests. Byte strings are "
            "lowercase hex; section numbers are those of docs/format.md. 'fixed' inputs stand in "
            "for the random bytes (DEKs, salts, nonces, prefixes) encx draws from getrandom."
        ),
        "keys": keys,
        "field_ciphertexts": fields,
        "bare_field_ciphertexts": bare_fields,
        "wrapped_deks": wrapped,
        "key_rows": key_rows,
        "subject_key_rows": subject_rows,
        "tenant_key_rows": tenant_rows,
        "signatures": signatures,
        "secrets_rows": secrets,
        "blind_indexes": indexes,
        "partial_indexes": partials,
        "tokens": tokens,
        "signed_values": signed,
        "csrf_tokens": csrf,
        "streams": streams,
    }


def main():
    text = json.dumps(build(), indent=1, ensure_ascii=False) + "\n"
    if "--check" in sys.argv[1:]:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{OUT} differs from what scripts/vectors.py computes", file=sys.stderr)
                sys.exit(1)
        print(f"{OUT}: up to date")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
