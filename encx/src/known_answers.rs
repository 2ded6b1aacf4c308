//! Known-answer tests of every stored format: `docs/test-vectors.json`, computed from
//! docs/format.md by a second implementation (`scripts/vectors.py`), checked byte for byte.
//!
//! Each vector is checked both ways: encx's own sealing paths, with the random bytes they draw
//! scripted (`rng::scripted`, compiled into these tests only), must write exactly the vector's
//! bytes, and its opening paths must read them. The scripts also pin the order and size of the
//! draws that docs/format.md §6 describes: a path that draws one byte more or less fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use uuid::Uuid;

use crate::cipher::{FieldCipher, FieldContext};
use crate::index::{IndexKeys, IndexSpec, Normalizer};
use crate::keys::hierarchical::stored_key_record_id;
use crate::keys::subject::{subject_key_record_id, SUBJECT_KEY_TABLE};
use crate::rng::scripted;
use crate::stream::{Header, Sealer};
use crate::{
    Crypto, Dek, Error, HierarchicalKeyring, KekStore, KeyContext, KeyPurpose, Keyring,
    LocalKeyring, MasterKey, MemoryKekStore, MemorySubjectKeyStore, NewKek, StoredSubjectKey,
    TokenHash, WrappedDek,
};

fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        serde_json::from_str(include_str!("../../docs/test-vectors.json")).expect("vectors JSON")
    })
}

fn list(section: &str) -> &'static [Value] {
    let items = vectors()[section].as_array().expect(section);
    assert!(!items.is_empty(), "no vectors in {section}");
    items
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).expect("hex")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("a string")
}

fn key32(v: &Value) -> [u8; 32] {
    hex(v).try_into().expect("32 bytes")
}

fn uuid(v: &Value) -> Uuid {
    Uuid::parse_str(text(v)).expect("uuid")
}

fn int(v: &Value) -> i64 {
    v.as_i64().expect("an integer")
}

fn cat(parts: &[&Value]) -> Vec<u8> {
    parts.iter().flat_map(|p| hex(p)).collect()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn local() -> LocalKeyring {
    let keys = &vectors()["keys"]["master_key_v1"];
    let master = MasterKey::new("v1", key32(&keys["bytes"])).expect("master key");
    assert_eq!(
        master.key_id().to_vec(),
        hex(&keys["key_id"]),
        "local key id"
    );
    LocalKeyring::new(vec![master]).expect("keyring")
}

fn index_keys(versions: &[u32]) -> IndexKeys {
    let roots = &vectors()["keys"]["index_root"];
    IndexKeys::new(
        versions
            .iter()
            .map(|v| (*v, key32(&roots[v.to_string()])))
            .collect(),
    )
    .expect("index keys")
}

fn crypto_with(index_versions: &[u32]) -> Crypto {
    block_on(
        Crypto::builder()
            .keyring(local())
            .index_keys(index_keys(index_versions))
            .build(),
    )
    .expect("crypto")
}

/// Every single-byte change of `blob` is refused by `open` as tampering.
fn every_flip_is_tampered(blob: &[u8], open: impl Fn(&[u8]) -> crate::Result<()>) {
    for i in 0..blob.len() {
        let mut edited = blob.to_vec();
        edited[i] ^= 0x01;
        let err = open(&edited).expect_err("an edited byte was accepted");
        assert!(err.is_tampered(), "byte {i}: {err:?}");
    }
}

#[test]
fn field_ciphertexts_are_the_vectors_bytes() {
    for v in list("field_ciphertexts") {
        let record_id = hex(&v["record_id"]);
        let ctx = FieldContext::new(text(&v["table"]), text(&v["column"]), &record_id);
        let aad = hex(&v["aad"]);
        assert_eq!(ctx.aad(), aad, "{}", v["name"]);
        // The stack buffer (AAD up to 160 bytes) and the heap path frame the same bytes.
        assert_eq!(ctx.with_aad(<[u8]>::to_vec), aad, "{}", v["name"]);
        assert_eq!(aad.len() as i64, int(&v["aad_len"]));

        let dek = Dek::from_bytes(key32(&v["dek"]));
        let plaintext = hex(&v["plaintext"]);
        let expected = hex(&v["ciphertext"]);
        let nonce = hex(&v["nonce"]);
        let sealed = scripted::with(&nonce, || {
            FieldCipher::new(&dek).unwrap().seal(&ctx, &plaintext)
        })
        .unwrap();
        assert_eq!(
            hex::encode(&sealed),
            hex::encode(&expected),
            "{}",
            v["name"]
        );
        // The pooled nonce path of a record's own fresh DEK writes the same format.
        let pooled = scripted::with(&nonce, || {
            FieldCipher::for_new_record_key(&dek, crate::aead::Backend::current())
                .unwrap()
                .seal(&ctx, &plaintext)
        })
        .unwrap();
        assert_eq!(pooled, expected, "{}", v["name"]);

        let cipher = FieldCipher::new(&dek).unwrap();
        assert_eq!(*cipher.open(&ctx, &expected).unwrap(), plaintext);
        every_flip_is_tampered(&expected, |b| cipher.open(&ctx, b).map(drop));
        let other = FieldContext::new(text(&v["table"]), "other", &record_id);
        assert!(cipher.open(&other, &expected).unwrap_err().is_tampered());
    }
}

/// A bare vector's value as the Rust type it holds: a `Uuid` or a string.
fn seal_bare_vector(cipher: &FieldCipher, ctx: &FieldContext<'_>, v: &Value) -> Vec<u8> {
    let plaintext = hex(&v["plaintext"]);
    if text(&v["name"]).starts_with("Uuid value") {
        let id = uuid::Uuid::from_slice(&plaintext).unwrap();
        cipher.seal_value(ctx, &id).unwrap()
    } else {
        cipher
            .seal_value(ctx, std::str::from_utf8(&plaintext).unwrap())
            .unwrap()
    }
}

#[test]
fn bare_field_ciphertexts_are_the_vectors_bytes() {
    let vectors = list("bare_field_ciphertexts");
    assert!(vectors.len() >= 4);
    for v in vectors {
        let record_id = hex(&v["record_id"]);
        let ctx = FieldContext::new(text(&v["table"]), text(&v["column"]), &record_id);
        assert_eq!(ctx.bare_aad(), hex(&v["aad"]), "{}", v["name"]);
        let dek = Dek::from_bytes(key32(&v["dek"]));
        let expected = hex(&v["ciphertext"]);
        let nonce = hex(&v["nonce"]);
        let cipher = FieldCipher::new(&dek).unwrap();
        let sealed = scripted::with(&nonce, || seal_bare_vector(&cipher, &ctx, v));
        assert_eq!(
            hex::encode(&sealed),
            hex::encode(&expected),
            "{}",
            v["name"]
        );

        let plaintext = hex(&v["plaintext"]);
        if text(&v["name"]).starts_with("Uuid value") {
            let id: uuid::Uuid = cipher.open_value(&ctx, &expected).unwrap();
            assert_eq!(id.as_bytes().as_slice(), plaintext);
        } else {
            let opened: String = cipher.open_value(&ctx, &expected).unwrap();
            assert_eq!(opened.as_bytes(), plaintext);
            // A String opens into a buffer of exactly its length: nothing to move or trim.
            assert_eq!(opened.capacity(), plaintext.len());
        }
        every_flip_is_tampered(&expected, |b| {
            cipher.open_value::<uuid::Uuid>(&ctx, b).map(drop)
        });
        // The format byte is bound through the AAD label: read as format 1, it fails
        // authentication instead of being decoded as postcard.
        let mut as_format_1 = expected.clone();
        as_format_1[0] = crate::cipher::FORMAT_V1;
        assert!(cipher
            .open_value::<String>(&ctx, &as_format_1)
            .unwrap_err()
            .is_tampered());
        // The raw `open` reads format 1 only.
        assert!(matches!(
            cipher.open(&ctx, &expected),
            Err(crate::Error::UnsupportedFormat { version: 2, .. })
        ));
        let other = FieldContext::new(text(&v["table"]), "other", &record_id);
        assert!(cipher
            .open_value::<String>(&other, &expected)
            .unwrap_err()
            .is_tampered());
    }
}

#[test]
fn format_1_fields_open_through_open_value() {
    for v in list("field_ciphertexts") {
        let record_id = hex(&v["record_id"]);
        let ctx = FieldContext::new(text(&v["table"]), text(&v["column"]), &record_id);
        let cipher = FieldCipher::new(&Dek::from_bytes(key32(&v["dek"]))).unwrap();
        let expected = hex(&v["ciphertext"]);
        if text(&v["plaintext_is"]).starts_with("String") {
            let opened: String = cipher.open_value(&ctx, &expected).unwrap();
            assert_eq!(
                Some(opened),
                crate::codec::decode(&hex(&v["plaintext"])).ok()
            );
        }
        every_flip_is_tampered(&expected, |b| {
            cipher.open_value::<String>(&ctx, b).map(drop)
        });
    }
}

#[test]
fn a_record_sealed_through_crypto_is_the_vectors_dek_and_field() {
    // One record, as `#[derive(Encrypted)]` seals it: the local keyring draws DEK, salt and
    // nonce in one call (§6), then each field draws its nonce. A string is stored bare.
    record_is_the_vectors(&crypto_with(&[1]), &list("bare_field_ciphertexts")[0]);
}

#[test]
fn a_record_sealed_in_format_1_only_is_the_vectors_dek_and_field() {
    // `field_format_1_only` (a rolling upgrade): the same record, the string in postcard.
    let crypto = block_on(
        Crypto::builder()
            .keyring(local())
            .field_format_1_only()
            .build(),
    )
    .expect("crypto");
    record_is_the_vectors(&crypto, &list("field_ciphertexts")[0]);
}

/// Seals the record of `wrapped_deks[0]` with the email of `field` through `crypto`, with the
/// vectors' random draws, and checks both blobs' bytes and the way back.
fn record_is_the_vectors(crypto: &Crypto, field: &Value) {
    let wrap = &list("wrapped_deks")[0];
    assert_eq!(text(&wrap["kind"]), "local");
    assert_eq!(field["dek"], wrap["dek"]);
    let record_id = hex(&field["record_id"]);
    let script = cat(&[&wrap["dek"], &wrap["salt"], &wrap["nonce"], &field["nonce"]]);
    let (wrapped, sealed) = scripted::with(&script, || {
        block_on(async {
            let sealer = crypto.seal_record("users", &record_id).await.unwrap();
            let sealed = sealer.seal("email", "ada@example.com").unwrap();
            (sealer.into_wrapped_dek(), sealed)
        })
    });
    assert_eq!(wrapped.as_bytes(), hex(&wrap["wrapped"]));
    assert_eq!(sealed.as_bytes(), hex(&field["ciphertext"]));
    let opened: String = block_on(async {
        crypto
            .open_record("users", &record_id, Some(&wrapped), &"7")
            .await
            .unwrap()
            .open("email", &sealed)
            .unwrap()
    });
    assert_eq!(opened, "ada@example.com");
}

#[test]
fn local_wraps_are_the_vectors_bytes() {
    let keyring = local();
    for v in list("wrapped_deks")
        .iter()
        .filter(|v| text(&v["kind"]) == "local")
    {
        let record_id = hex(&v["record_id"]);
        let ctx = KeyContext::new(text(&v["table"]), &record_id);
        let expected = hex(&v["wrapped"]);
        let (dek, wrapped) = scripted::with(&cat(&[&v["dek"], &v["salt"], &v["nonce"]]), || {
            block_on(keyring.generate_dek(&ctx))
        })
        .unwrap();
        assert_eq!(dek.expose_secret().to_vec(), hex(&v["dek"]));
        assert_eq!(wrapped.as_bytes(), expected);
        let rewrapped = scripted::with(&cat(&[&v["salt"], &v["nonce"]]), || {
            block_on(keyring.wrap_dek(&dek, &ctx))
        })
        .unwrap();
        assert_eq!(rewrapped.as_bytes(), expected);
        check_unwrap(&keyring, v, &expected);
    }
}

fn check_unwrap(keyring: &dyn Keyring, v: &Value, expected: &[u8]) {
    let record_id = hex(&v["record_id"]);
    let ctx = KeyContext::new(text(&v["table"]), &record_id);
    let dek = block_on(keyring.unwrap_dek(&WrappedDek::from_bytes(expected.to_vec()), &ctx));
    assert_eq!(dek.unwrap().expose_secret().to_vec(), hex(&v["dek"]));
    for i in 0..expected.len() {
        let mut edited = expected.to_vec();
        edited[i] ^= 0x01;
        let err = block_on(keyring.unwrap_dek(&WrappedDek::from_bytes(edited), &ctx)).unwrap_err();
        // An edited kind or key id names a key this keyring does not hold; anything else
        // fails authentication.
        let names_another_key = (1..18).contains(&i) && matches!(err, Error::KeyNotFound { .. });
        assert!(err.is_tampered() || names_another_key, "byte {i}: {err:?}");
    }
    let moved = KeyContext::new(text(&v["table"]), b"another record");
    let err = block_on(keyring.unwrap_dek(&WrappedDek::from_bytes(expected.to_vec()), &moved));
    assert!(err.unwrap_err().is_tampered());
}

#[test]
fn key_rows_are_the_vectors_bytes() {
    let keyring = local();
    for v in list("key_rows") {
        let purpose = KeyPurpose::parse(text(&v["purpose"])).unwrap();
        let record_id = stored_key_record_id(&uuid(&v["id"]), purpose, int(&v["version"]));
        assert_eq!(record_id, hex(&v["record_id"]));
        assert_eq!(
            text(&v["root_key"]),
            keyring.key_description(),
            "the root_key column"
        );
        key_row_is_generated_as_the_vector(&keyring, "encx_keks", &record_id, v);
    }
}

/// A key the keyring generates for a key row (a KEK, an index root, a subject key) is the
/// vector's key and wrapped bytes, its draws being the key, the salt and the nonce.
fn key_row_is_generated_as_the_vector(keyring: &dyn Keyring, table: &str, rid: &[u8], v: &Value) {
    let ctx = KeyContext::new(table, rid);
    let (key, wrapped) = scripted::with(&cat(&[&v["key"], &v["salt"], &v["nonce"]]), || {
        block_on(keyring.generate_dek(&ctx))
    })
    .unwrap();
    assert_eq!(key.expose_secret().to_vec(), hex(&v["key"]));
    assert_eq!(wrapped.as_bytes(), hex(&v["wrapped"]));
}

#[test]
fn a_kek_row_unwraps_and_wraps_the_hierarchical_vector() {
    let row = &list("key_rows")[0];
    assert_eq!(text(&row["purpose"]), "kek");
    let store = Arc::new(MemoryKekStore::new());
    block_on(store.insert_active(
        NewKek {
            id: uuid(&row["id"]),
            purpose: KeyPurpose::Kek,
            version: int(&row["version"]),
            root_key: text(&row["root_key"]).to_owned(),
            wrapped: hex(&row["wrapped"]),
        },
        None,
    ))
    .unwrap();
    let keyring = HierarchicalKeyring::new(Arc::new(local()), store.clone());
    let v = list("wrapped_deks")
        .iter()
        .find(|v| text(&v["kind"]) == "hierarchical")
        .unwrap();
    assert_eq!(v["wrapping_key"], row["key"]);
    assert_eq!(hex(&v["key_id"]), uuid(&row["id"]).as_bytes());
    let record_id = hex(&v["record_id"]);
    let ctx = KeyContext::new(text(&v["table"]), &record_id);
    let (_, wrapped) = scripted::with(&cat(&[&v["dek"], &v["salt"], &v["nonce"]]), || {
        block_on(keyring.generate_dek(&ctx))
    })
    .unwrap();
    assert_eq!(wrapped.as_bytes(), hex(&v["wrapped"]));
    check_unwrap(&keyring, v, &hex(&v["wrapped"]));

    // A key row relabelled (another version) no longer unwraps: the record id binds it.
    let mut moved = block_on(store.get(uuid(&row["id"]))).unwrap().unwrap();
    moved.version += 1;
    let rid = stored_key_record_id(&moved.id, KeyPurpose::Kek, moved.version);
    let err = block_on(local().unwrap_dek(
        &WrappedDek::from_bytes(moved.wrapped.clone()),
        &KeyContext::new("encx_keks", &rid),
    ));
    assert!(err.unwrap_err().is_tampered());
}

#[test]
fn subject_key_rows_are_the_vectors_bytes() {
    let keyring = local();
    for v in list("subject_key_rows") {
        let subject = hex(&v["subject"]);
        let record_id = subject_key_record_id(&uuid(&v["id"]), &subject, int(&v["version"]));
        assert_eq!(record_id, hex(&v["record_id"]));
        key_row_is_generated_as_the_vector(&keyring, SUBJECT_KEY_TABLE, &record_id, v);
    }
}

#[test]
fn tenant_key_rows_are_the_vectors_bytes() {
    use crate::keys::tenant::{tenant_key_record_id, TENANT_KEY_TABLE};
    let keyring = local();
    let list = list("tenant_key_rows");
    assert_eq!(list.len(), 2);
    for v in list {
        let purpose = KeyPurpose::parse(text(&v["purpose"])).unwrap();
        let tenant = hex(&v["tenant"]);
        let record_id = tenant_key_record_id(&tenant, &uuid(&v["id"]), purpose, int(&v["version"]));
        assert_eq!(record_id, hex(&v["record_id"]));
        key_row_is_generated_as_the_vector(&keyring, TENANT_KEY_TABLE, &record_id, v);
    }
}

#[test]
fn signatures_are_the_vectors_bytes() {
    use crate::record::{RecordContext, RecordOpener, RecordSealer, SignedColumns};
    for v in list("signatures") {
        let mut columns = SignedColumns::new();
        for c in v["columns"].as_array().unwrap() {
            columns.push(text(&c["name"]), text(&c["value"])).unwrap();
        }
        assert_eq!(columns.digest().to_vec(), hex(&v["digest"]));
        let dek = Dek::from_bytes(key32(&v["dek"]));
        let record_id = hex(&v["record_id"]);
        let ctx = RecordContext::new(text(&v["table"]), &record_id);
        let sealer = RecordSealer::new(
            ctx,
            FieldCipher::new(&dek).unwrap(),
            WrappedDek::from_bytes(Vec::new()),
        );
        let sealed = scripted::with(&hex(&v["nonce"]), || sealer.sign(&columns)).unwrap();
        assert_eq!(hex::encode(sealed.as_bytes()), text(&v["encx_sig"]));
        let opener = RecordOpener::new(ctx, FieldCipher::new(&dek).unwrap());
        opener.verify(&columns, Some(&sealed)).unwrap();
        let mut other = SignedColumns::new();
        other.push("role", "owner").unwrap();
        assert!(opener
            .verify(&other, Some(&sealed))
            .unwrap_err()
            .is_tampered());
    }
}

#[test]
fn a_subject_record_wraps_its_dek_as_the_vector() {
    let row = &list("subject_key_rows")[0];
    let v = list("wrapped_deks")
        .iter()
        .find(|v| text(&v["kind"]) == "subject")
        .unwrap();
    assert_eq!(v["wrapping_key"], row["key"]);
    let subject = hex(&row["subject"]);
    let store = Arc::new(MemorySubjectKeyStore::new());
    store.with_rows(|rows| {
        rows.push(StoredSubjectKey {
            id: uuid(&row["id"]),
            subject: subject.clone(),
            version: int(&row["version"]),
            wrapped: Some(hex(&row["wrapped"])),
            created_at: UNIX_EPOCH,
            erased_at: None,
        })
    });
    let crypto = block_on(
        Crypto::builder()
            .keyring(local())
            .subject_keys_in(store.clone())
            .build(),
    )
    .unwrap();
    let record_id = hex(&v["record_id"]);
    let table = text(&v["table"]);
    // §6: a data subject's record draws its DEK, then the salt and nonce of the wrap; the
    // field nonce follows.
    let nonce = [7u8; 12];
    let script = [cat(&[&v["dek"], &v["salt"], &v["nonce"]]), nonce.to_vec()].concat();
    let (wrapped, sealed) = scripted::with(&script, || {
        block_on(async {
            let sealer = crypto
                .seal_subject_record(table, &record_id, &subject, "customer-42")
                .await
                .unwrap();
            let sealed = sealer.seal("total", &1234_u32).unwrap();
            (sealer.into_wrapped_dek(), sealed)
        })
    });
    assert_eq!(wrapped.as_bytes(), hex(&v["wrapped"]));
    let opened: u32 = block_on(async {
        crypto
            .open_subject_record(table, &record_id, &subject, Some(&wrapped), &"order-1")
            .await
            .unwrap()
            .open("total", &sealed)
            .unwrap()
    });
    assert_eq!(opened, 1234);
    // The record's DEK is the vector's: the wrap opens under the subject key bytes.
    let dek = crate::keys::wrapped::unwrap(
        &crate::keys::wrapped::WrappingKey::new(&key32(&row["key"])),
        wrapped.as_bytes(),
        &KeyContext::new(table, &record_id),
    )
    .unwrap();
    assert_eq!(dek.expose_secret().to_vec(), hex(&v["dek"]));
}

#[test]
fn secrets_rows_are_the_vectors_bytes() {
    let crypto = crypto_with(&[1]);
    for v in list("secrets_rows") {
        let record_id = text(&v["record_id"]).as_bytes().to_vec();
        let value = hex(&v["value"]);
        let script = cat(&[&v["dek"], &v["salt"], &v["wrap_nonce"], &v["value_nonce"]]);
        let (wrapped, sealed) = scripted::with(&script, || {
            block_on(async {
                let sealer = crypto
                    .seal_record("encx_secrets", &record_id)
                    .await
                    .unwrap();
                let sealed = sealer.seal("value", value.as_slice()).unwrap();
                (sealer.into_wrapped_dek(), sealed)
            })
        });
        assert_eq!(wrapped.as_bytes(), hex(&v["encx_dek"]), "{}", v["name"]);
        assert_eq!(
            sealed.as_bytes(),
            hex(&v["value_ciphertext"]),
            "{}",
            v["name"]
        );
    }
}

fn spec(v: &Value) -> IndexSpec {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let normalizer: Normalizer = text(&v["normalizer"]).parse().unwrap();
    IndexSpec::new(
        leak(text(&v["name"])),
        leak(text(&v["domain"])),
        u16::try_from(int(&v["bits"])).unwrap(),
        normalizer,
    )
}

#[test]
fn blind_indexes_are_the_vectors_bytes() {
    let crypto = crypto_with(&[1, 2]);
    for v in list("blind_indexes") {
        let spec = spec(v);
        let version = u32::try_from(int(&v["version"])).unwrap();
        let expected = hex(&v["index"]);
        let got = if text(&v["kind"]) == "single" {
            assert_eq!(
                spec.normalizer.apply(text(&v["value"])),
                text(&v["normalized"]),
                "{}",
                v["name"]
            );
            crypto
                .blind_index_at(&spec, text(&v["value"]), version)
                .unwrap()
        } else {
            let values: Vec<String> = v["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| text(x).to_owned())
                .collect();
            let refs: Vec<&dyn crate::Indexable> =
                values.iter().map(|s| s as &dyn crate::Indexable).collect();
            crypto.compound_index_at(&spec, &refs, version).unwrap()
        };
        assert_eq!(
            hex::encode(got.as_bytes()),
            hex::encode(&expected),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn partial_indexes_are_the_vectors_bytes() {
    use crate::index::{PartialKind, PartialSpec};
    let crypto = crypto_with(&[1]);
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let small = |v: &Value, key: &str| u8::try_from(int(&v[key])).unwrap();
    let vectors = list("partial_indexes");
    assert_eq!(vectors.len(), 9);
    for v in vectors {
        let normalizer: Normalizer = v["normalizer"].as_str().unwrap_or("none").parse().unwrap();
        let bits = v["bits"].as_i64().map_or(0, |b| u16::try_from(b).unwrap());
        let kind = match text(&v["kind"]) {
            "prefix" => PartialKind::Prefix {
                chars: small(v, "chars"),
            },
            "suffix" => PartialKind::Suffix {
                chars: small(v, "chars"),
            },
            "contains" => PartialKind::Contains {
                ngram: small(v, "ngram"),
                filter_bits: u16::try_from(int(&v["filter_bits"])).unwrap(),
                hashes: small(v, "hashes"),
            },
            _ => PartialKind::Range {
                width: u64::try_from(int(&v["width"])).unwrap(),
            },
        };
        let spec = PartialSpec::new("f", leak(text(&v["domain"])), kind, bits, normalizer);
        let got = match kind {
            PartialKind::Range { .. } => crypto.range_index(&spec, &int(&v["ordinal"])),
            _ => crypto.partial_index(&spec, text(&v["value"])),
        }
        .unwrap();
        assert_eq!(
            hex::encode(got.as_bytes()),
            text(&v["index"]),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn tokens_and_row_seals_are_the_vectors_bytes() {
    let crypto = crypto_with(&[1]);
    for v in list("tokens") {
        let tokens = crypto.tokens(text(&v["prefix"])).unwrap();
        let (token, hash) = scripted::with(&hex(&v["random"]), || tokens.generate()).unwrap();
        assert_eq!(token.expose_secret(), text(&v["token"]));
        assert_eq!(hash.as_bytes(), hex(&v["hash"]));
        assert_eq!(tokens.hash(text(&v["token"])).unwrap(), hash);

        // A stored hash read back is the same hash, of version 1, and verifies the token.
        let stored = TokenHash::from_bytes(hex(&v["hash"])).unwrap();
        assert_eq!(stored, hash);
        assert_eq!(stored.version(), 1);
        assert!(tokens.verify(text(&v["token"]), &stored).unwrap());
        assert!(tokens
            .lookup_hashes(text(&v["token"]))
            .unwrap()
            .contains(&stored));

        let row = &v["row"];
        let id = uuid(&row["id"]);
        let created = int(&row["created_at"]).to_be_bytes();
        let expires = row["expires_at"]
            .as_i64()
            .map(|e| e.to_be_bytes().to_vec())
            .unwrap_or_default();
        let owner = text(&row["owner"]).as_bytes();
        let columns: [&[u8]; 5] = [
            id.as_bytes(),
            tokens.prefix().as_bytes(),
            owner,
            &created,
            &expires,
        ];
        let seal = hex(&row["seal"]);
        assert_eq!(tokens.seal_row(&stored, &columns).unwrap(), seal);
        tokens.check_row(&stored, &columns, &seal).unwrap();
        // A row moved to another owner, or given another expiry, is refused.
        let moved: [&[u8]; 5] = [id.as_bytes(), columns[1], b"user-8", &created, &expires];
        assert!(matches!(
            tokens.check_row(&stored, &moved, &seal),
            Err(Error::Tampered)
        ));
        let later = (int(&row["created_at"]) + 1).to_be_bytes();
        let edited: [&[u8]; 5] = [id.as_bytes(), columns[1], owner, &later, &expires];
        assert!(matches!(
            tokens.check_row(&stored, &edited, &seal),
            Err(Error::Tampered)
        ));
        every_flip_is_tampered(&seal, |s| tokens.check_row(&stored, &columns, s));
    }
}

#[test]
fn signed_values_are_the_vectors_text() {
    let crypto = crypto_with(&[1]);
    for v in list("signed_values") {
        let signer = crypto.signer(text(&v["purpose"])).unwrap();
        let value = hex(&v["value"]);
        let signed = match v["expires_at"].as_u64() {
            None => signer.sign(&value).unwrap(),
            Some(secs) => signer
                .sign_until(&value, UNIX_EPOCH + Duration::from_secs(secs))
                .unwrap(),
        };
        assert_eq!(signed, text(&v["signed"]));
        let before = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(signer.verify_at(&signed, before).unwrap(), value);
    }
}

#[test]
fn csrf_tokens_are_the_vectors_text() {
    let crypto = crypto_with(&[1]);
    let csrf = crypto.csrf().unwrap();
    for v in list("csrf_tokens") {
        let session = hex(&v["session"]);
        let token = scripted::with(&hex(&v["nonce"]), || csrf.issue(&session)).unwrap();
        assert_eq!(token, text(&v["token"]));
        assert!(csrf.verify(&session, &token).unwrap());
        assert!(!csrf.verify(b"another session", &token).unwrap());
    }
}

#[test]
fn streams_are_the_vectors_bytes() {
    use std::io::Write;
    let keyring = local();
    for v in list("streams") {
        let label = text(&v["label"]);
        let segment_len = usize::try_from(int(&v["segment_len"])).unwrap();
        let script = cat(&[&v["dek"], &v["salt"], &v["wrap_nonce"], &v["prefix"]]);
        let sealer = scripted::with(&script, || {
            block_on(Sealer::with_segment_len(&keyring, label, segment_len))
        })
        .unwrap();
        assert_eq!(sealer.header().as_bytes(), hex(&v["header"]), "{label:?}");
        assert_eq!(
            sealer.header().wrapped_dek().as_bytes(),
            hex(&v["wrapped_dek"])
        );
        let plaintext = hex(&v["plaintext"]);
        let mut writer = sealer.writer(Vec::new()).unwrap();
        writer.write_all(&plaintext).unwrap();
        let sealed = writer.finish().unwrap();
        let segments: Vec<u8> = v["segments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(hex)
            .collect();
        let expected = [hex(&v["header"]), segments].concat();
        assert_eq!(hex::encode(&sealed), hex::encode(&expected), "{label:?}");

        // And the vector's bytes read back.
        let (header, used) = Header::decode(&expected).unwrap();
        assert_eq!(header.label(), label);
        let opener = block_on(header.open(&keyring)).unwrap();
        let mut out = Vec::new();
        opener.reader(&expected[used..]).copy_to(&mut out).unwrap();
        assert_eq!(out, plaintext);
    }
}
