//! ring 0.17. Its `LessSafeKey` holds the AES round keys and the GHASH table inline and has no
//! `Drop`: they are not wiped when the key is dropped (ring 0.17.14 source: no `impl Drop` under
//! `src/aead`). Boxed, so that moving a record's cipher is a pointer copy.

use ring::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey, AES_256_GCM};

use super::{NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::keys::material::KEY_LEN;

pub(crate) struct Key(Box<LessSafeKey>);

impl Key {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Result<Self> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(|k| Key(Box::new(LessSafeKey::new(k))))
            .map_err(|_| Error::config("ring refused a 256-bit AES-GCM key"))
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
        out.copy_from_slice(ciphertext);
        self.open_in_place(nonce, aad, out, tag)
    }

    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                Tag::from(*tag),
                in_out,
                0..,
            )
            .is_ok()
    }
}
