//! AWS-LC through aws-lc-rs. The key schedule and GHASH table live in an `EVP_AEAD_CTX` that
//! AWS-LC allocates with `OPENSSL_malloc`; dropping the key calls `EVP_AEAD_CTX_free`, whose
//! `OPENSSL_free` cleanses the whole allocation before freeing it (aws-lc `crypto/mem.c`).
//! Decryption reads the ciphertext and writes the plaintext elsewhere (`open_separate_gather`),
//! so opening a field copies nothing first.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use super::{NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::keys::material::KEY_LEN;

pub(crate) struct Key(LessSafeKey);

impl Key {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Result<Self> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(|k| Key(LessSafeKey::new(k)))
            .map_err(|_| Error::config("AWS-LC refused a 256-bit AES-GCM key"))
    }

    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                in_out,
            )
            .ok()?;
        tag.as_ref().try_into().ok()
    }

    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> bool {
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .is_ok()
    }
}
