//! RustCrypto `aes-gcm` 0.10. With the `zeroize` features of `aes`, `ghash` and `polyval`
//! (set in the workspace), its round keys and GHASH key are wiped when it is dropped.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};

use super::{NONCE_LEN, TAG_LEN};
use crate::keys::material::KEY_LEN;

/// Boxed: the key schedules are about 500 bytes, and a record's cipher moves through several
/// layers (opener, result, async state); boxing makes each move a pointer copy.
pub(crate) struct Key(Box<Aes256Gcm>);

impl Key {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Key(Box::new(Aes256Gcm::new(key.into())))
    }

    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Option<[u8; TAG_LEN]> {
        self.0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, in_out)
            .ok()
            .map(Into::into)
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
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, in_out, Tag::from_slice(tag))
            .is_ok()
    }
}
