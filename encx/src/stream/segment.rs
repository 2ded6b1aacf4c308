//! One stream key and its segment nonces: STREAM's `prefix | counter | last` construction.

use sha2::{Digest, Sha256};

use crate::aead::{AeadKey, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::keys::Dek;

use super::header::Header;

/// Bytes of random nonce prefix per stream.
pub(crate) const PREFIX_LEN: usize = 7;

/// The AES-GCM key of one stream, the header digest every segment binds as AAD, and the
/// number of the next segment.
pub(crate) struct SegmentKey {
    key: AeadKey,
    prefix: [u8; PREFIX_LEN],
    aad: [u8; 32],
    next: u32,
    done: bool,
}

impl SegmentKey {
    pub(crate) fn new(dek: &Dek, header: &Header) -> Result<Self> {
        let aad: [u8; 32] = Sha256::digest(header.as_bytes()).into();
        Ok(SegmentKey {
            key: AeadKey::new(dek.expose_secret())?,
            prefix: *header.prefix(),
            aad,
            next: 0,
            done: false,
        })
    }

    fn nonce(&self, last: bool) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX_LEN].copy_from_slice(&self.prefix);
        nonce[PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&self.next.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        nonce
    }

    /// Moves to the next segment; a stream has at most 2^32 segments.
    fn advance(&mut self, last: bool) -> Result<()> {
        if self.done {
            return Err(Error::Tampered);
        }
        if last {
            self.done = true;
        } else {
            self.next = self
                .next
                .checked_add(1)
                .ok_or_else(|| Error::config("an encrypted stream holds at most 2^32 segments"))?;
        }
        Ok(())
    }

    /// Seals the plaintext in `buf` in place and appends its tag.
    /// Refuses a segment past the 2^32nd or after the last one, before sealing anything.
    pub(crate) fn seal(&mut self, buf: &mut Vec<u8>, last: bool) -> Result<()> {
        let nonce = self.nonce(last);
        self.advance(last)?;
        let tag = self.key.seal_in_place(&nonce, &self.aad, buf)?;
        buf.extend_from_slice(&tag);
        Ok(())
    }

    /// Opens one sealed segment (ciphertext and tag) into `out`, which it resizes.
    pub(crate) fn open(&mut self, sealed: &[u8], out: &mut Vec<u8>, last: bool) -> Result<()> {
        let Some(body_len) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(Error::Truncated {
                what: "encrypted stream",
            });
        };
        let (body, tag) = sealed.split_at(body_len);
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Error::Tampered)?;
        out.resize(body_len, 0);
        let nonce = self.nonce(last);
        self.key.open_into(&nonce, &self.aad, body, tag, out)?;
        self.advance(last)
    }
}
