//! The wrapped-DEK format shared by the local and hierarchical keyrings (format 2):
//!
//! ```text
//! 0x02 | keyring kind (1) | key id (16) | salt (16) | nonce (12) | AES-256-GCM(DEK) (32) | tag (16)
//! K_wrap = HKDF-SHA256-Expand(PRK = wrapping key, info = "encx:v2:dek-wrap" | salt, L = 32)
//! AAD    = "encx:v2:dek" | lp(table) | lp(record id) | the first 34 bytes above
//! ```
//!
//! Every wrap uses a key of its own, derived from the long-lived wrapping key (master key or
//! KEK) and a random 128-bit salt, so the 2^32-messages bound of AES-GCM with random nonces
//! does not apply to the wrapping key: see `docs/format.md` §2 for the bound.
//!
//! AWS KMS direct-mode blobs keep format byte `0x01`: `0x01 | 0x02 | KMS CiphertextBlob`.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::material::{Dek, KEY_LEN};
use super::{KeyContext, KeyringKind};
use crate::aead::AeadKey;
use crate::cipher::{with_framed_aad, FORMAT_V1, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::rng;
use crate::types::WrappedDek;

/// Format byte of wrapped DEKs made by the local and hierarchical keyrings.
pub(crate) const FORMAT_V2: u8 = 0x02;
/// Length of the key id in a wrapped DEK.
pub(crate) const KEY_ID_LEN: usize = 16;
/// Length of the per-wrap salt.
pub(crate) const SALT_LEN: usize = 16;
/// Format byte, kind byte, key id, salt: the bytes bound into the AAD as they are.
pub(crate) const HEADER_LEN: usize = 2 + KEY_ID_LEN + SALT_LEN;
/// Total length of a local or hierarchical wrapped DEK.
pub(crate) const WRAPPED_LEN: usize = HEADER_LEN + NONCE_LEN + KEY_LEN + TAG_LEN;

const AAD_LABEL: &[u8] = b"encx:v2:dek";
const DERIVE_LABEL: &[u8] = b"encx:v2:dek-wrap";

/// The header of a wrapped DEK, read without authenticating anything yet.
pub(crate) struct Header {
    pub key_id: [u8; KEY_ID_LEN],
}

/// Calls `f` with the AAD of a wrap: `"encx:v2:dek" | lp(table) | lp(record id) | header`,
/// built on the stack.
fn with_aad<R>(header: &[u8], ctx: &KeyContext<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    with_framed_aad(AAD_LABEL, &[ctx.table.as_bytes(), ctx.record_id], header, f)
}

/// A long-lived wrapping key (master key, KEK, data subject's key) ready to derive one-wrap
/// keys: HKDF-SHA256 keyed with it, so that HMAC's inner and outer pads are hashed once per key
/// instead of once per wrap (two SHA-256 blocks less per record). The keyed state is as secret
/// as the key: sha2's and hmac's `zeroize` features wipe it on drop, as `Zeroizing` wipes the
/// key bytes; `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct WrappingKey(Hkdf<Sha256>);

impl WrappingKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        WrappingKey(
            Hkdf::<Sha256>::from_prk(key).expect("a 32-byte PRK is long enough for HKDF-SHA256"),
        )
    }
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKey(..)")
    }
}

/// The one-wrap key: HKDF-SHA256-Expand of the wrapping key (a uniformly random 32-byte key,
/// used as the PRK) with `"encx:v2:dek-wrap" | salt`, on the process's AES-GCM backend.
fn wrap_cipher(key: &WrappingKey, salt: &[u8]) -> Result<AeadKey> {
    AeadKey::new(&*wrap_key(key, salt)?)
}

fn wrap_key(key: &WrappingKey, salt: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    key.0
        .expand_multi_info(&[DERIVE_LABEL, salt], okm.as_mut())
        .map_err(|_| Error::config("HKDF output length"))?;
    Ok(okm)
}

/// Which key wraps a stored DEK, read from the first [`KeyInUse::PREFIX_LEN`] bytes of its
/// `encx_dek` without unwrapping anything (what `encx_sqlx::Repo::key_usage` counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyInUse {
    /// Erased: `encx_dek` is NULL.
    Erased,
    /// A local master key, by its key id (the first 16 bytes of SHA-256 of the key).
    LocalMasterKey([u8; KEY_ID_LEN]),
    /// A KEK of the hierarchical keyring, by id (a row of `encx_keks`).
    Kek(uuid::Uuid),
    /// A data subject's key (`encx_subject_keys`); those keys are wrapped by the keyring.
    SubjectKey,
    /// An AWS KMS key (direct mode): the key is named inside the KMS blob.
    AwsKms,
    /// Bytes no encx keyring wrote: tampering, or another tool's data.
    Unrecognized,
    /// No key yet: a row of a table being migrated from plaintext that is not migrated yet
    /// (counted by `encx_sqlx::Repo::key_usage` in the plaintext migration's read mode).
    Unmigrated,
}

impl KeyInUse {
    /// How many leading bytes of a wrapped DEK tell its key: format, kind, key id.
    pub const PREFIX_LEN: usize = 2 + KEY_ID_LEN;

    /// The key named by `prefix`, the first [`PREFIX_LEN`](Self::PREFIX_LEN) bytes of a
    /// wrapped DEK (or fewer: a subject's or an AWS KMS blob is told by its first two), `None`
    /// for an erased record. Never fails: unknown bytes are [`Unrecognized`](Self::Unrecognized).
    ///
    /// ```
    /// use encx::KeyInUse;
    /// assert_eq!(KeyInUse::from_prefix(None), KeyInUse::Erased);
    /// assert_eq!(KeyInUse::from_prefix(Some(&[0x02, 0x04])), KeyInUse::SubjectKey);
    /// assert_eq!(KeyInUse::from_prefix(Some(&[0xff])), KeyInUse::Unrecognized);
    /// ```
    pub fn from_prefix(prefix: Option<&[u8]>) -> Self {
        let Some(prefix) = prefix else {
            return KeyInUse::Erased;
        };
        let Ok(kind) = read_kind(prefix) else {
            return KeyInUse::Unrecognized;
        };
        let key_id = prefix
            .get(2..Self::PREFIX_LEN)
            .and_then(|id| <[u8; KEY_ID_LEN]>::try_from(id).ok());
        match (kind, key_id) {
            (KeyringKind::Subject, _) => KeyInUse::SubjectKey,
            (KeyringKind::AwsKms, _) => KeyInUse::AwsKms,
            (KeyringKind::Local, Some(id)) => KeyInUse::LocalMasterKey(id),
            (KeyringKind::Hierarchical, Some(id)) => KeyInUse::Kek(uuid::Uuid::from_bytes(id)),
            _ => KeyInUse::Unrecognized,
        }
    }
}

impl std::fmt::Display for KeyInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyInUse::Erased => f.write_str("erased"),
            KeyInUse::LocalMasterKey(id) => {
                f.write_str("local master key ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            KeyInUse::Kek(id) => write!(f, "KEK {id}"),
            KeyInUse::SubjectKey => f.write_str("data subject keys"),
            KeyInUse::AwsKms => f.write_str("AWS KMS"),
            KeyInUse::Unrecognized => f.write_str("unrecognized bytes"),
            KeyInUse::Unmigrated => f.write_str("not migrated yet (plaintext)"),
        }
    }
}

/// Reads the format byte and keyring kind of any wrapped DEK. Malformed or unknown bytes are
/// integrity failures: [`Error::Tampered`], or [`Error::UnsupportedFormat`] for an unknown
/// format byte.
pub(crate) fn read_kind(blob: &[u8]) -> Result<KeyringKind> {
    let (&format, rest) = blob.split_first().ok_or(Error::Tampered)?;
    let &kind = rest.first().ok_or(Error::Tampered)?;
    let kind = KeyringKind::from_byte(kind).ok_or(Error::Tampered)?;
    match (format, kind) {
        (FORMAT_V1, KeyringKind::AwsKms) => Ok(kind),
        (FORMAT_V2, KeyringKind::Local | KeyringKind::Hierarchical | KeyringKind::Subject) => {
            Ok(kind)
        }
        (FORMAT_V1, _) => Err(Error::UnsupportedFormat {
            what:
                "wrapped data key (format 1 of the local/hierarchical keyrings is no longer read)",
            version: format,
        }),
        (FORMAT_V2, _) => Err(Error::Tampered),
        _ => Err(Error::UnsupportedFormat {
            what: "wrapped data key",
            version: format,
        }),
    }
}

/// Parses the header and checks the length; the caller then finds the key by id.
pub(crate) fn parse(blob: &[u8], expected: KeyringKind) -> Result<Header> {
    let kind = read_kind(blob)?;
    if kind != expected {
        return Err(Error::key_not_found(format!(
            "DEK was wrapped by the {kind} keyring, not by this {expected} keyring"
        )));
    }
    if blob.len() != WRAPPED_LEN {
        return Err(Error::Tampered);
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&blob[2..2 + KEY_ID_LEN]);
    Ok(Header { key_id })
}

/// The header prefix (format, kind, key id) of every blob wrapped under `key_id` by `kind`.
pub(crate) fn key_prefix(kind: KeyringKind, key_id: &[u8; KEY_ID_LEN]) -> Vec<u8> {
    let mut prefix = Vec::with_capacity(KeyInUse::PREFIX_LEN);
    prefix.push(FORMAT_V2);
    prefix.push(kind.byte());
    prefix.extend_from_slice(key_id);
    prefix
}

/// Wraps `dek` under a key derived from `key` and a fresh salt, naming `key_id` in the header.
/// Salt and nonce come from one `getrandom` call.
pub(crate) fn wrap(
    key: &WrappingKey,
    kind: KeyringKind,
    key_id: &[u8; KEY_ID_LEN],
    dek: &Dek,
    ctx: &KeyContext<'_>,
) -> Result<WrappedDek> {
    let mut salt_nonce = [0u8; SALT_LEN + NONCE_LEN];
    rng::fill(&mut salt_nonce)?;
    wrap_with(key, kind, key_id, dek, &salt_nonce, ctx)
}

/// A fresh DEK and its wrap ([`wrap`]): DEK, salt and nonce come from one `getrandom` call.
pub(crate) fn generate(
    key: &WrappingKey,
    kind: KeyringKind,
    key_id: &[u8; KEY_ID_LEN],
    ctx: &KeyContext<'_>,
) -> Result<(Dek, WrappedDek)> {
    let mut random = [0u8; KEY_LEN + SALT_LEN + NONCE_LEN];
    rng::fill(&mut random)?;
    let (dek, salt_nonce) = random.split_at_mut(KEY_LEN);
    let dek_bytes: [u8; KEY_LEN] = (&*dek).try_into().map_err(|_| Error::Rng)?;
    // Only the DEK is secret; salt and nonce are stored in the clear.
    dek.zeroize();
    let dek = Dek::from_bytes(dek_bytes);
    let wrapped = wrap_with(key, kind, key_id, &dek, salt_nonce, ctx)?;
    Ok((dek, wrapped))
}

/// Builds the wrapped DEK in its own output buffer; the DEK bytes copied in are sealed in
/// place, or wiped if sealing fails.
fn wrap_with(
    key: &WrappingKey,
    kind: KeyringKind,
    key_id: &[u8; KEY_ID_LEN],
    dek: &Dek,
    salt_nonce: &[u8],
    ctx: &KeyContext<'_>,
) -> Result<WrappedDek> {
    let mut blob = vec![0u8; WRAPPED_LEN];
    blob[0] = FORMAT_V2;
    blob[1] = kind.byte();
    blob[2..2 + KEY_ID_LEN].copy_from_slice(key_id);
    blob[2 + KEY_ID_LEN..HEADER_LEN + NONCE_LEN].copy_from_slice(salt_nonce);
    let sealed = {
        let (head, tail) = blob.split_at_mut(HEADER_LEN);
        let (nonce, body) = tail.split_at_mut(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = (&*nonce).try_into().map_err(|_| Error::Tampered)?;
        let (sealed, tag_out) = body.split_at_mut(KEY_LEN);
        sealed.copy_from_slice(dek.expose_secret());
        let tag = wrap_cipher(key, &head[2 + KEY_ID_LEN..])
            .and_then(|cipher| with_aad(head, ctx, |aad| cipher.seal_in_place(nonce, aad, sealed)));
        tag.map(|tag| tag_out.copy_from_slice(&tag))
    };
    match sealed {
        Ok(()) => Ok(WrappedDek::from_bytes(blob)),
        Err(error) => {
            blob.zeroize();
            Err(error)
        }
    }
}

/// Unwraps a blob whose header was checked by [`parse`] (so its length is [`WRAPPED_LEN`]).
pub(crate) fn unwrap(key: &WrappingKey, blob: &[u8], ctx: &KeyContext<'_>) -> Result<Dek> {
    if blob.len() != WRAPPED_LEN {
        return Err(Error::Tampered);
    }
    let (head, tail) = blob.split_at(HEADER_LEN);
    let (nonce, body) = tail.split_at(NONCE_LEN);
    let (sealed, tag) = body.split_at(KEY_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Tampered)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Error::Tampered)?;
    let mut plain = Zeroizing::new([0u8; KEY_LEN]);
    let cipher = wrap_cipher(key, &head[2 + KEY_ID_LEN..])?;
    with_aad(head, ctx, |aad| {
        cipher.open_into(nonce, aad, sealed, tag, plain.as_mut())
    })?;
    Ok(Dek::from_bytes(*plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyed HKDF state of a [`WrappingKey`] is an `Hmac<Sha256>` inside `Hkdf`, whose
    /// only secret parts are two SHA-256 block cores (the states after the inner and outer
    /// pads): they wipe themselves on drop. This stops compiling if sha2's `zeroize` feature
    /// goes missing.
    #[test]
    fn the_keyed_state_is_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<<Sha256 as hmac::EagerHash>::Core>();
        wiped_on_drop::<Sha256>();
        // And nothing of it prints.
        let key = WrappingKey::new(&[9; KEY_LEN]);
        assert_eq!(format!("{key:?}"), "WrappingKey(..)");
    }

    #[test]
    fn wrap_key_is_hkdf_expand_of_the_documented_info() {
        // docs/format.md §2: K_wrap = HKDF-Expand(PRK = key, "encx:v2:dek-wrap" | salt, 32).
        let key = [7u8; KEY_LEN];
        let salt = [9u8; SALT_LEN];
        let mut info = DERIVE_LABEL.to_vec();
        info.extend_from_slice(&salt);
        let mut expected = [0u8; KEY_LEN];
        Hkdf::<Sha256>::from_prk(&key)
            .expect("prk")
            .expand(&info, &mut expected)
            .expect("expand");
        // Sealing the same block under both keys and the same nonce gives the same bytes.
        assert_eq!(
            *wrap_key(&WrappingKey::new(&key), &salt).expect("derive"),
            expected
        );
        // And the cipher is keyed with it: sealing the same block under both keys and the
        // same nonce gives the same bytes.
        let nonce = [1u8; NONCE_LEN];
        let mut a = [3u8; 32];
        let mut b = [3u8; 32];
        let ta = wrap_cipher(&WrappingKey::new(&key), &salt)
            .expect("cipher")
            .seal_in_place(&nonce, b"", &mut a)
            .expect("seal");
        let tb = AeadKey::new(&expected)
            .expect("key")
            .seal_in_place(&nonce, b"", &mut b)
            .expect("seal");
        assert_eq!((a, ta), (b, tb));
    }

    #[test]
    fn every_wrap_draws_a_new_salt() {
        let key = WrappingKey::new(&[5u8; KEY_LEN]);
        let dek = Dek::from_bytes([1u8; KEY_LEN]);
        let ctx = KeyContext::new("t", b"r");
        let a = wrap(&key, KeyringKind::Local, &[0; KEY_ID_LEN], &dek, &ctx).expect("wrap");
        let b = wrap(&key, KeyringKind::Local, &[0; KEY_ID_LEN], &dek, &ctx).expect("wrap");
        assert_eq!(a.len(), WRAPPED_LEN);
        assert_ne!(a.as_bytes()[18..34], b.as_bytes()[18..34]);
        for blob in [&a, &b] {
            let back = unwrap(&key, blob.as_bytes(), &ctx).expect("unwrap");
            assert_eq!(back.expose_secret(), dek.expose_secret());
        }
        // The salt is authenticated through the key it derives: flipping it is Tampered.
        let mut bad = a.as_bytes().to_vec();
        bad[20] ^= 1;
        assert!(matches!(unwrap(&key, &bad, &ctx), Err(Error::Tampered)));
    }

    #[test]
    fn format_and_kind_bytes_are_checked() {
        let mut blob = vec![FORMAT_V2, 0x01];
        blob.resize(WRAPPED_LEN, 0);
        assert!(matches!(read_kind(&blob), Ok(KeyringKind::Local)));
        assert!(matches!(read_kind(&[]), Err(Error::Tampered)));
        assert!(matches!(read_kind(&[FORMAT_V2]), Err(Error::Tampered)));
        assert!(matches!(
            read_kind(&[FORMAT_V2, 0x7f]),
            Err(Error::Tampered)
        ));
        assert!(matches!(
            read_kind(&[FORMAT_V2, 0x02]),
            Err(Error::Tampered)
        ));
        // The early 78-byte layout is named as such, so that an operator knows what it is.
        for kind in [0x01, 0x03, 0x04] {
            let err = read_kind(&[FORMAT_V1, kind]).expect_err("format 1");
            assert!(
                matches!(err, Error::UnsupportedFormat { version: 1, what } if what.contains("format 1 of the local/hierarchical keyrings is no longer read")),
                "{err:?}"
            );
        }
        assert!(matches!(
            read_kind(&[0x09, 0x01]),
            Err(Error::UnsupportedFormat { version: 9, .. })
        ));
        assert!(matches!(
            read_kind(&[FORMAT_V1, 0x02]),
            Ok(KeyringKind::AwsKms)
        ));
    }

    #[test]
    fn key_in_use_names_each_kind_from_its_prefix() {
        let id = [7u8; KEY_ID_LEN];
        let blob = |format: u8, kind: u8| {
            let mut b = vec![format, kind];
            b.extend_from_slice(&id);
            b.resize(WRAPPED_LEN, 0);
            b
        };
        let of = |b: &[u8]| KeyInUse::from_prefix(Some(b));
        assert_eq!(of(&blob(FORMAT_V2, 0x01)), KeyInUse::LocalMasterKey(id));
        assert_eq!(
            of(&blob(FORMAT_V2, 0x03)),
            KeyInUse::Kek(uuid::Uuid::from_bytes(id))
        );
        assert_eq!(of(&blob(FORMAT_V2, 0x04)), KeyInUse::SubjectKey);
        assert_eq!(of(&blob(FORMAT_V1, 0x02)), KeyInUse::AwsKms);
        assert_eq!(KeyInUse::from_prefix(None), KeyInUse::Erased);
        // What no keyring writes is not mistaken for a key.
        assert_eq!(of(&blob(FORMAT_V2, 0x02)), KeyInUse::Unrecognized);
        assert_eq!(of(&blob(FORMAT_V1, 0x01)), KeyInUse::Unrecognized);
        assert_eq!(of(&[]), KeyInUse::Unrecognized);
        assert_eq!(of(&[FORMAT_V2, 0x03, 1, 2]), KeyInUse::Unrecognized);
        // The prefix alone is enough (the SQL key-usage queries read 18 bytes).
        assert_eq!(
            of(&blob(FORMAT_V2, 0x03)[..KeyInUse::PREFIX_LEN]),
            KeyInUse::Kek(uuid::Uuid::from_bytes(id))
        );
    }

    #[test]
    fn key_in_use_reads_as_what_status_prints() {
        let id = [0xABu8; KEY_ID_LEN];
        let uuid = uuid::Uuid::from_bytes(id);
        for (key, text) in [
            (KeyInUse::Erased, "erased".to_owned()),
            (
                KeyInUse::LocalMasterKey(id),
                format!("local master key {}", "ab".repeat(KEY_ID_LEN)),
            ),
            (KeyInUse::Kek(uuid), format!("KEK {uuid}")),
            (KeyInUse::SubjectKey, "data subject keys".to_owned()),
            (KeyInUse::AwsKms, "AWS KMS".to_owned()),
            (KeyInUse::Unrecognized, "unrecognized bytes".to_owned()),
            (
                KeyInUse::Unmigrated,
                "not migrated yet (plaintext)".to_owned(),
            ),
        ] {
            assert_eq!(key.to_string(), text);
        }
    }

    #[test]
    fn key_prefix_is_how_every_wrap_under_the_key_starts() {
        let key = [5u8; KEY_LEN];
        let id = [0xA5u8; KEY_ID_LEN];
        let dek = Dek::from_bytes([1u8; KEY_LEN]);
        let ctx = KeyContext::new("t", b"r");
        for kind in [
            KeyringKind::Local,
            KeyringKind::Hierarchical,
            KeyringKind::Subject,
        ] {
            let blob = wrap(&WrappingKey::new(&key), kind, &id, &dek, &ctx).expect("wrap");
            let prefix = key_prefix(kind, &id);
            assert_eq!(prefix.len(), KeyInUse::PREFIX_LEN);
            assert_eq!(prefix, blob.as_bytes()[..KeyInUse::PREFIX_LEN]);
        }
    }
}
