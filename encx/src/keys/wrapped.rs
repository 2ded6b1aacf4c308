//! The wrapped-DEK format shared by the local and hierarchical keyrings:
//!
//! ```text
//! 0x01 | keyring kind (1) | key id (16) | nonce (12) | AES-256-GCM(DEK) (32) | tag (16)
//! AAD = "encx:v1:dek" | u32be(len) table | u32be(len) record id | the first 18 bytes above
//! ```

use aes_gcm::Aes256Gcm;

use super::material::{Dek, KEY_LEN};
use super::{KeyContext, KeyringKind};
use crate::cipher::{open_parts, push_len_prefixed, seal_with, FORMAT_V1, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::types::WrappedDek;

/// Length of the key id in a wrapped DEK.
pub(crate) const KEY_ID_LEN: usize = 16;
/// Format byte, kind byte, key id.
pub(crate) const HEADER_LEN: usize = 2 + KEY_ID_LEN;
/// Total length of a local or hierarchical wrapped DEK.
pub(crate) const WRAPPED_LEN: usize = HEADER_LEN + NONCE_LEN + KEY_LEN + TAG_LEN;

const AAD_LABEL: &[u8] = b"encx:v1:dek";

/// The header of a wrapped DEK, read without authenticating anything yet.
pub(crate) struct Header {
    pub key_id: [u8; KEY_ID_LEN],
}

fn aad(header: &[u8], ctx: &KeyContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        AAD_LABEL.len() + 8 + ctx.table.len() + ctx.record_id.len() + HEADER_LEN,
    );
    aad.extend_from_slice(AAD_LABEL);
    push_len_prefixed(&mut aad, ctx.table.as_bytes());
    push_len_prefixed(&mut aad, ctx.record_id);
    aad.extend_from_slice(header);
    aad
}

/// Reads the format byte and keyring kind of any wrapped DEK.
pub(crate) fn read_kind(blob: &[u8]) -> Result<KeyringKind> {
    let (&version, rest) = blob.split_first().ok_or(Error::Tampered)?;
    if version != FORMAT_V1 {
        return Err(Error::UnsupportedFormat {
            what: "wrapped data key",
            version,
        });
    }
    let &kind = rest.first().ok_or(Error::Tampered)?;
    KeyringKind::from_byte(kind).ok_or_else(|| {
        Error::key_not_found(format!(
            "wrapped DEK names unknown keyring kind {kind:#04x}"
        ))
    })
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
    key_id.copy_from_slice(&blob[2..HEADER_LEN]);
    Ok(Header { key_id })
}

/// Wraps `dek` under `aead`, naming `key_id` in the header.
pub(crate) fn wrap(
    aead: &Aes256Gcm,
    kind: KeyringKind,
    key_id: &[u8; KEY_ID_LEN],
    dek: &Dek,
    ctx: &KeyContext<'_>,
) -> Result<WrappedDek> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = FORMAT_V1;
    header[1] = kind.byte();
    header[2..].copy_from_slice(key_id);
    let sealed = seal_with(aead, &aad(&header, ctx), dek.expose_secret())?;
    // `sealed` is FORMAT_V1 | nonce | body | tag; the header replaces its format byte.
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.extend_from_slice(&header);
    out.extend_from_slice(&sealed[1..]);
    Ok(WrappedDek::from_bytes(out))
}

/// Unwraps a blob whose header was checked by [`parse`].
pub(crate) fn unwrap(aead: &Aes256Gcm, blob: &[u8], ctx: &KeyContext<'_>) -> Result<Dek> {
    let (header, sealed_tail) = blob.split_at(HEADER_LEN);
    let plain = open_parts(aead, &aad(header, ctx), sealed_tail)?;
    Dek::from_slice(&plain)
}
