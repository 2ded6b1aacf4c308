//! AES-256 test cases 13-16 of McGrew & Viega, "The Galois/Counter Mode of Operation",
//! the vectors NIST's GCM validation also uses, run against every backend built in. Each is
//! checked through encx's own seal and open paths: the blob is `0x01 | IV | C | T`.
use super::{AeadKey, Backend};
use crate::cipher::{open_with, seal_with_nonce, FieldContext, FORMAT_V1};
use crate::error::Error;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test vector hex")
}

struct Case {
    key: &'static str,
    iv: &'static str,
    plaintext: &'static str,
    aad: &'static str,
    ciphertext: &'static str,
    tag: &'static str,
}

const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

const CASES: [Case; 4] = [
    Case { key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000", plaintext: "", aad: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b" },
    Case { key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000", plaintext: "00000000000000000000000000000000", aad: "", ciphertext: "cea7403d4d606b6e074ec5d3baf39d18", tag: "d0d1c8a799996bf0265b98b5d48ab919" },
    Case { key: K15, iv: "cafebabefacedbaddecaf888", plaintext: P15, aad: "", ciphertext: C15, tag: "b094dac5d93471bdec1a502270e3cc6c" },
    Case { key: K15, iv: "cafebabefacedbaddecaf888", plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2", ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", tag: "76fc6ece0f4e1768cddf8853bb2d551b" },
];

#[test]
fn stack_and_heap_aad_are_the_documented_bytes() {
    let long = "t".repeat(300);
    for ctx in [
        FieldContext::new("users", "email", &[0, 0, 0, 0, 0, 0, 0, 7]),
        FieldContext::new(&long, "c", b"id"),
        FieldContext::new("", "", b""),
    ] {
        assert_eq!(ctx.with_aad(<[u8]>::to_vec), ctx.aad());
    }
    // docs/format.md's worked example.
    let doc = "656e63783a7631 00000005 7573657273 00000005 656d61696c 00000008 0000000000000007";
    let ctx = FieldContext::new("users", "email", &[0, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(
        hex::encode(ctx.with_aad(<[u8]>::to_vec)),
        doc.replace(' ', "")
    );
}

#[test]
fn seal_matches_published_vectors() {
    for (backend, (n, case)) in every_backend_and_case() {
        let key: [u8; 32] = unhex(case.key).try_into().expect("32-byte key");
        let iv: [u8; 12] = unhex(case.iv).try_into().expect("12-byte IV");
        let sealed = seal_with_nonce(
            &AeadKey::with_backend(backend, &key).expect("key"),
            &iv,
            &unhex(case.aad),
            &unhex(case.plaintext),
        )
        .expect("seal");
        let expected = [
            vec![FORMAT_V1],
            iv.to_vec(),
            unhex(case.ciphertext),
            unhex(case.tag),
        ]
        .concat();
        assert_eq!(
            hex::encode(&sealed),
            hex::encode(&expected),
            "{backend}, case {n}"
        );
    }
}

#[test]
fn open_accepts_published_vectors_and_rejects_a_flipped_tag() {
    for (backend, (n, case)) in every_backend_and_case() {
        let key: [u8; 32] = unhex(case.key).try_into().expect("32-byte key");
        let aead = AeadKey::with_backend(backend, &key).expect("key");
        let blob = [
            vec![FORMAT_V1],
            unhex(case.iv),
            unhex(case.ciphertext),
            unhex(case.tag),
        ]
        .concat();
        let opened = open_with(&aead, &unhex(case.aad), &blob, "test").expect("open");
        assert_eq!(hex::encode(&*opened), case.plaintext, "{backend}, case {n}");
        let mut bad = blob.clone();
        *bad.last_mut().expect("tag") ^= 1;
        assert!(matches!(
            open_with(&aead, &unhex(case.aad), &bad, "test"),
            Err(Error::Tampered)
        ));
    }
}

fn every_backend_and_case() -> impl Iterator<Item = (Backend, (usize, &'static Case))> {
    Backend::available().flat_map(|b| CASES.iter().enumerate().map(move |c| (b, c)))
}

#[test]
fn the_builds_under_test_have_every_backend() {
    // CI tests with --all-features: a backend silently left out would skip its vectors.
    let built: Vec<Backend> = Backend::available().collect();
    assert!(built.contains(&Backend::RustCrypto));
    assert_eq!(built.contains(&Backend::AwsLc), cfg!(feature = "aws-lc"));
    assert_eq!(built.contains(&Backend::Ring), cfg!(feature = "ring"));
}

#[test]
fn every_backend_opens_what_every_other_sealed_and_nothing_altered() {
    let key = [0x5au8; 32];
    let nonce = [7u8; 12];
    for payload_len in [0usize, 1, 15, 16, 17, 255, 4096, 70_000] {
        let plaintext: Vec<u8> = (0..payload_len).map(|i| (i * 31 % 251) as u8).collect();
        let sealed: Vec<Vec<u8>> = Backend::available()
            .map(|b| {
                let k = AeadKey::with_backend(b, &key).expect("key");
                seal_with_nonce(&k, &nonce, b"ctx", &plaintext).expect("seal")
            })
            .collect();
        assert!(sealed.windows(2).all(|w| w[0] == w[1]), "len {payload_len}");
        for backend in Backend::available() {
            let k = AeadKey::with_backend(backend, &key).expect("key");
            let opened = open_with(&k, b"ctx", &sealed[0], "test").expect("open");
            assert_eq!(&opened[..], &plaintext[..], "{backend}");
            assert!(matches!(
                open_with(&k, b"other", &sealed[0], "test"),
                Err(Error::Tampered)
            ));
            let wrong = AeadKey::with_backend(backend, &[0x5bu8; 32]).expect("key");
            assert!(matches!(
                open_with(&wrong, b"ctx", &sealed[0], "test"),
                Err(Error::Tampered)
            ));
            for at in [1, 13, sealed[0].len() - 1] {
                let mut bad = sealed[0].clone();
                bad[at] ^= 0x80;
                assert!(
                    matches!(open_with(&k, b"ctx", &bad, "test"), Err(Error::Tampered)),
                    "{backend}: flipped byte {at}"
                );
            }
            for cut in [0, 1, 12, 28, sealed[0].len() - 1] {
                assert!(open_with(&k, b"ctx", &sealed[0][..cut], "test").is_err());
            }
        }
    }
}

#[test]
fn a_failed_open_leaves_no_plaintext_behind() {
    let key = [1u8; 32];
    let nonce = [2u8; 12];
    for backend in Backend::available() {
        let k = AeadKey::with_backend(backend, &key).expect("key");
        let mut buf = *b"sixteen byte msg";
        let tag = k.seal_in_place(&nonce, b"", &mut buf).expect("seal");
        let mut bad_tag = tag;
        bad_tag[0] ^= 1;
        let mut out = [9u8; 16];
        assert!(k.open_into(&nonce, b"", &buf, &bad_tag, &mut out).is_err());
        assert_eq!(out, [0u8; 16], "{backend}");
        assert!(k
            .open_into(&nonce, b"", &buf, &tag, &mut [0u8; 15])
            .is_err());
        k.open_into(&nonce, b"", &buf, &tag, &mut out)
            .expect("open");
        assert_eq!(&out, b"sixteen byte msg");
    }
}

#[test]
fn installing_a_backend_this_build_lacks_is_a_config_error() {
    for backend in [Backend::AwsLc, Backend::Ring] {
        if !backend.is_available() {
            assert!(matches!(
                backend.install_default(),
                Err(Error::InvalidConfig(_))
            ));
        }
    }
    // The one in use may be installed again; another may not.
    let current = Backend::current();
    current.install_default().expect("same backend");
    if let Some(other) = Backend::available().find(|b| *b != current) {
        assert!(matches!(
            other.install_default(),
            Err(Error::InvalidConfig(_))
        ));
    }
}
