//! Tokens, CSRF tokens and signed values.

use std::time::{Duration, SystemTime};

use encx::index::IndexKeys;
use encx::{Crypto, Error, LocalKeyring, MasterKey, TokenHash};

async fn crypto_with(index: IndexKeys) -> Crypto {
    Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::new("v1", [1; 32]).unwrap()]).unwrap())
        .index_keys(index)
        .build()
        .await
        .unwrap()
}

async fn crypto() -> Crypto {
    crypto_with(IndexKeys::new(vec![(1, [5; 32])]).unwrap()).await
}

#[tokio::test]
async fn tokens_are_random_well_formed_and_only_their_hash_verifies() {
    let crypto = crypto().await;
    let api = crypto.tokens("sk_test").unwrap();
    let (a, hash_a) = api.generate().unwrap();
    let (b, hash_b) = api.generate().unwrap();
    assert_ne!(a.expose_secret(), b.expose_secret());
    assert_ne!(hash_a, hash_b);
    assert_eq!(a.expose_secret().len(), "sk_test_".len() + 43);
    assert_eq!(hash_a.as_bytes().len(), 36);
    assert_eq!(hash_a.version(), 1);
    // the hash does not contain the token's bytes, and is keyed: same token, other key
    assert!(!hash_a.as_bytes().windows(8).any(|w| a
        .expose_secret()
        .as_bytes()
        .windows(8)
        .any(|t| t == w)));
    let other = crypto_with(IndexKeys::new(vec![(1, [6; 32])]).unwrap()).await;
    assert_ne!(
        other
            .tokens("sk_test")
            .unwrap()
            .hash(a.expose_secret())
            .unwrap(),
        hash_a
    );

    assert!(api.verify(a.expose_secret(), &hash_a).unwrap());
    assert!(!api.verify(b.expose_secret(), &hash_a).unwrap());
    let mut flipped = a.expose_secret().to_owned();
    flipped.pop();
    flipped.push('!');
    assert!(!api.verify(&flipped, &hash_a).unwrap());
    // another prefix hashes under another key
    let sessions = crypto.tokens("session").unwrap();
    assert!(!sessions.verify(a.expose_secret(), &hash_a).unwrap());
    assert!(sessions
        .lookup_hashes(a.expose_secret())
        .unwrap()
        .is_empty());

    assert_eq!(format!("{a:?}"), "SecretToken(..)");
    assert!(!format!("{hash_a:?}").contains(&hex(&hash_a.as_bytes()[4..8])));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn token_lookups_cover_every_index_key_version() {
    let old = crypto_with(IndexKeys::new(vec![(1, [5; 32])]).unwrap()).await;
    let (token, stored) = old.tokens("api").unwrap().generate().unwrap();
    let rotated = crypto_with(IndexKeys::new(vec![(1, [5; 32]), (2, [8; 32])]).unwrap()).await;
    let api = rotated.tokens("api").unwrap();
    let hashes = api.lookup_hashes(token.expose_secret()).unwrap();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0].version(), 2);
    assert!(hashes.contains(&stored));
    assert!(api.verify(token.expose_secret(), &stored).unwrap());
    assert_eq!(api.hash(token.expose_secret()).unwrap().version(), 2);
    // version 1 destroyed: the old hash cannot be checked any more
    let only_new = crypto_with(IndexKeys::new(vec![(2, [8; 32])]).unwrap()).await;
    let err = only_new
        .tokens("api")
        .unwrap()
        .verify(token.expose_secret(), &stored)
        .unwrap_err();
    assert!(err.is_key_missing(), "{err:?}");
}

#[tokio::test]
async fn bad_inputs_are_refused_not_panicked_on() {
    let crypto = crypto().await;
    for prefix in ["", "has space", "dash-ed", &"x".repeat(33)] {
        assert!(crypto.tokens(prefix).unwrap_err().is_config(), "{prefix:?}");
        assert!(crypto.signer(prefix).unwrap_err().is_config(), "{prefix:?}");
    }
    assert!(matches!(
        TokenHash::from_bytes(vec![0; 35]),
        Err(Error::Tampered)
    ));
    let no_index = Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap())
        .build()
        .await
        .unwrap();
    assert!(no_index.tokens("api").unwrap_err().is_config());
    let csrf = crypto.csrf().unwrap();
    for garbage in [
        "",
        ".",
        "a.b.c",
        "a.1.b.c",
        "AAAA.1.AAAA",
        "\u{0}.\u{0}.\u{0}",
    ] {
        assert!(!csrf.verify(b"s", garbage).unwrap(), "{garbage:?}");
    }
    let signer = crypto.signer("links").unwrap();
    for garbage in [
        "",
        "a.b.c.d",
        "YQ.-.1.!!",
        "YQ.-.x.AAAA",
        "YQ.-.1.AAAA.extra",
    ] {
        assert!(
            signer.verify(garbage).unwrap_err().is_tampered(),
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_their_session() {
    let crypto = crypto().await;
    let csrf = crypto.csrf().unwrap();
    let t1 = csrf.issue(b"session-1").unwrap();
    let t2 = csrf.issue(b"session-1").unwrap();
    assert_ne!(t1, t2, "a fresh nonce per token");
    assert!(csrf.verify(b"session-1", &t1).unwrap());
    assert!(csrf.verify(b"session-1", &t2).unwrap());
    assert!(!csrf.verify(b"session-2", &t1).unwrap());
    let mut bad = t1.clone().into_bytes();
    bad[3] ^= 1;
    assert!(!csrf
        .verify(b"session-1", &String::from_utf8(bad).unwrap())
        .unwrap());
    let other = crypto_with(IndexKeys::new(vec![(1, [6; 32])]).unwrap()).await;
    assert!(!other.csrf().unwrap().verify(b"session-1", &t1).unwrap());
}

#[tokio::test]
async fn signed_values_round_trip_and_refuse_tampering_expiry_and_other_purposes() {
    let crypto = crypto().await;
    let signer = crypto.signer("cookie").unwrap();
    for value in [&b""[..], b"x", b"user-42 \x00\xff", &[7u8; 3000]] {
        let signed = signer.sign(value).unwrap();
        assert_eq!(signer.verify(&signed).unwrap(), value);
        // every single-character change is refused
        for at in 0..signed.len().min(120) {
            let mut bytes = signed.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            if changed == signed {
                continue;
            }
            let err = signer.verify(&changed).unwrap_err();
            assert!(
                err.is_tampered() || err.is_key_missing(),
                "at {at}: {err:?}"
            );
        }
    }
    let signed = signer.sign(b"v").unwrap();
    assert!(crypto
        .signer("other")
        .unwrap()
        .verify(&signed)
        .unwrap_err()
        .is_tampered());

    let now = SystemTime::now();
    let expiring = signer
        .sign_until(b"v", now + Duration::from_secs(60))
        .unwrap();
    assert_eq!(signer.verify_at(&expiring, now).unwrap(), b"v");
    let late = signer
        .verify_at(&expiring, now + Duration::from_secs(61))
        .unwrap_err();
    assert!(matches!(late, Error::Expired { .. }), "{late:?}");
    assert_eq!(late.kind(), encx::ErrorKind::Expired);
    // pushing the expiry forward breaks the MAC
    let parts: Vec<&str> = expiring.split('.').collect();
    let pushed = format!("{}.{}.{}.{}", parts[0], u64::MAX, parts[2], parts[3]);
    assert!(signer.verify(&pushed).unwrap_err().is_tampered());
}

#[tokio::test]
async fn signatures_survive_an_index_key_rotation_and_name_the_missing_version() {
    let old = crypto_with(IndexKeys::new(vec![(1, [5; 32])]).unwrap()).await;
    let signed = old.signer("s").unwrap().sign(b"v").unwrap();
    let rotated = crypto_with(IndexKeys::new(vec![(1, [5; 32]), (2, [8; 32])]).unwrap()).await;
    let signer = rotated.signer("s").unwrap();
    assert_eq!(signer.verify(&signed).unwrap(), b"v");
    assert!(signer.sign(b"v").unwrap().contains(".-.2."));
    let only_new = crypto_with(IndexKeys::new(vec![(2, [8; 32])]).unwrap()).await;
    assert!(only_new
        .signer("s")
        .unwrap()
        .verify(&signed)
        .unwrap_err()
        .is_key_missing());
}

/// A key version has one spelling: `01`, `+1`, `0001`, ` 1` do not verify, in signed values
/// and CSRF tokens, though they parse to the version that signed.
#[tokio::test]
async fn signed_values_and_csrf_tokens_take_canonical_versions_only() {
    let crypto = crypto().await;
    let signer = crypto.signer("cookie").unwrap();
    let signed = signer.sign(b"v").unwrap();
    let parts: Vec<&str> = signed.split('.').collect();
    let csrf = crypto.csrf().unwrap();
    let token = csrf.issue(b"s").unwrap();
    let csrf_parts: Vec<&str> = token.split('.').collect();
    assert!(csrf.verify(b"s", &token).unwrap());
    for spelling in ["0", "00"]
        .iter()
        .map(|z| format!("{z}{}", parts[2]))
        .chain([
            format!("+{}", parts[2]),
            format!(" {}", parts[2]),
            format!("{}\n", parts[2]),
        ])
    {
        let respelled = format!("{}.{}.{spelling}.{}", parts[0], parts[1], parts[3]);
        let err = signer.verify(&respelled).unwrap_err();
        assert!(err.is_tampered(), "{spelling:?}: {err:?}");
        let respelled = format!("{}.{spelling}.{}", csrf_parts[0], csrf_parts[2]);
        assert!(!csrf.verify(b"s", &respelled).unwrap(), "csrf {spelling:?}");
    }
}

/// §10 of docs/format.md, computed from the page alone with plain HKDF and HMAC: token hashes
/// (over the whole token text), token row seals (over the stored 36-byte hash), signed values
/// and CSRF tokens (the 16 raw nonce bytes, under the `encx:csrf:v1` label).
#[tokio::test]
async fn tokens_signed_values_and_csrf_match_format_md() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    let root = [5u8; 32];
    let key = |domain: &str| -> [u8; 32] {
        let mut info = b"encx:v1:bidx".to_vec();
        info.extend_from_slice(&(domain.len() as u32).to_be_bytes());
        info.extend_from_slice(domain.as_bytes());
        info.extend_from_slice(&1u32.to_be_bytes());
        let mut okm = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &root)
            .expand(&info, &mut okm)
            .unwrap();
        okm
    };
    let hmac = |k: &[u8; 32], msg: &[u8]| -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(k).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    };
    let frame = |parts: &[&[u8]]| -> Vec<u8> {
        let mut out = (parts.len() as u32).to_be_bytes().to_vec();
        for part in parts {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    };
    let crypto = crypto().await;

    let tokens = crypto.tokens("sk_test").unwrap();
    let (token, hash) = tokens.generate().unwrap();
    let k = key("encx:token:sk_test");
    let mut expected = 1u32.to_be_bytes().to_vec();
    expected.extend(hmac(&k, token.expose_secret().as_bytes()));
    assert_eq!(
        hash.as_bytes(),
        &expected[..],
        "hash of the whole token text"
    );
    let id = [9u8; 16];
    let created = 1_796_927_389_000i64.to_be_bytes();
    let columns: [&[u8]; 5] = [&id, b"sk_test", b"customer-1", &created, b""];
    let seal = tokens.seal_row(&hash, &columns).unwrap();
    let mut parts: Vec<&[u8]> = vec![b"encx:token-row:v1", hash.as_bytes()];
    parts.extend_from_slice(&columns);
    assert_eq!(
        seal,
        hmac(&k, &frame(&parts)),
        "row seal over the 36-byte hash"
    );

    let signed = crypto.signer("cookie").unwrap().sign(b"user-42").unwrap();
    let fields: Vec<&str> = signed.split('.').collect();
    assert_eq!(fields[0], URL_SAFE_NO_PAD.encode(b"user-42"));
    assert_eq!((fields[1], fields[2]), ("-", "1"));
    let mac = hmac(
        &key("encx:sign:cookie"),
        &frame(&[
            b"encx:signed:v1",
            fields[0].as_bytes(),
            fields[1].as_bytes(),
        ]),
    );
    assert_eq!(fields[3], URL_SAFE_NO_PAD.encode(mac));

    let csrf = crypto.csrf().unwrap().issue(b"session-7").unwrap();
    let fields: Vec<&str> = csrf.split('.').collect();
    let nonce = URL_SAFE_NO_PAD.decode(fields[0]).unwrap();
    assert_eq!((nonce.len(), fields[1]), (16, "1"));
    let mac = hmac(
        &key("encx:csrf"),
        &frame(&[b"encx:csrf:v1", b"session-7", &nonce]),
    );
    assert_eq!(fields[2], URL_SAFE_NO_PAD.encode(mac));
}

/// A CSRF token naming a key version this process does not hold, or a version spelled in a
/// non-canonical way, is simply not valid: `false`, never an error a handler would turn into
/// a 500 for a forged form.
#[tokio::test]
async fn csrf_tokens_of_unknown_or_misspelled_versions_are_false() {
    let crypto = crypto().await;
    let csrf = crypto.csrf().unwrap();
    let token = csrf.issue(b"session-1").unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts[1], "1");
    for version in ["2", "01", "+1", "4294967296", ""] {
        let forged = format!("{}.{version}.{}", parts[0], parts[2]);
        assert!(!csrf.verify(b"session-1", &forged).unwrap(), "{version:?}");
    }
    // A holder of version 2 only refuses a version-1 token the same way.
    let newer = crypto_with(IndexKeys::new(vec![(2, [6; 32])]).unwrap()).await;
    assert!(!newer.csrf().unwrap().verify(b"session-1", &token).unwrap());
    assert!(csrf.verify(b"session-1", &token).unwrap());
}

/// Signed values stop at 1 MiB: the longest value that fits signs and verifies, one byte more
/// is refused when signing, and a longer string is refused before any MAC work.
#[tokio::test]
async fn signed_values_stop_at_one_mebibyte_on_both_sides() {
    let crypto = crypto().await;
    let signer = crypto.signer("export").unwrap();
    // base64 of 786,396 bytes is 1,048,528 characters; ".-.1." and a 43-character MAC follow.
    let largest = vec![7u8; 786_396];
    let signed = signer.sign(&largest).unwrap();
    assert_eq!(signed.len(), encx::sign::MAX_SIGNED_LEN);
    assert_eq!(signer.verify(&signed).unwrap(), largest);

    let err = signer.sign(&vec![7u8; 786_397]).unwrap_err();
    assert!(err.is_config(), "{err:?}");
    // A valid signature of a longer value (made by hand, as an attacker could) is refused.
    let too_long = format!("A{signed}");
    assert!(matches!(signer.verify(&too_long), Err(Error::Tampered)));
}
