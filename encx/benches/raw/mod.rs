//! What the benches share: the benchmark record, and the hand-written baselines: AES-256-GCM of
//! each backend with nothing around it, and a record (wrapped DEK + fields) built by hand the
//! way encx builds it.
#![allow(dead_code, clippy::unwrap_used)]

use std::cell::RefCell;

use encx::aead::Backend;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Polls a future that completes without waiting (encx's in-memory keyring paths) to its end
/// in place, as an executor that is already running would: no executor entry per call.
pub fn ready_now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

pub enum RawKey {
    RustCrypto(Box<aes_gcm::Aes256Gcm>),
    AwsLc(aws_lc_rs::aead::LessSafeKey),
    Ring(Box<ring::aead::LessSafeKey>),
}

impl RawKey {
    pub fn new(backend: Backend, key: &[u8; 32]) -> Self {
        use aes_gcm::KeyInit;
        match backend {
            Backend::AwsLc => RawKey::AwsLc(aws_lc_rs::aead::LessSafeKey::new(
                aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, key).unwrap(),
            )),
            Backend::Ring => RawKey::Ring(Box::new(ring::aead::LessSafeKey::new(
                ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key).unwrap(),
            ))),
            _ => RawKey::RustCrypto(Box::new(aes_gcm::Aes256Gcm::new(key.into()))),
        }
    }

    pub fn seal(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        match self {
            RawKey::RustCrypto(k) => {
                use aes_gcm::aead::AeadInPlace;
                k.encrypt_in_place_detached(aes_gcm::Nonce::from_slice(&nonce), aad, buf)
                    .unwrap()
                    .into()
            }
            RawKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        buf,
                    )
                    .unwrap();
                tag.as_ref().try_into().unwrap()
            }
            RawKey::Ring(k) => {
                use ring::aead::{Aad, Nonce};
                let tag = k
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        buf,
                    )
                    .unwrap();
                tag.as_ref().try_into().unwrap()
            }
        }
    }

    /// Decrypts `ct` into `out` (same length).
    pub fn open(&self, nonce: [u8; 12], aad: &[u8], ct: &[u8], tag: &[u8; 16], out: &mut [u8]) {
        match self {
            RawKey::RustCrypto(k) => {
                use aes_gcm::aead::AeadInPlace;
                out.copy_from_slice(ct);
                k.decrypt_in_place_detached(
                    aes_gcm::Nonce::from_slice(&nonce),
                    aad,
                    out,
                    aes_gcm::Tag::from_slice(tag),
                )
                .unwrap();
            }
            RawKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                k.open_separate_gather(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    ct,
                    tag,
                    out,
                )
                .unwrap();
            }
            RawKey::Ring(k) => {
                use ring::aead::{Aad, Nonce, Tag};
                out.copy_from_slice(ct);
                k.open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad),
                    Tag::from(*tag),
                    out,
                    0..,
                )
                .unwrap();
            }
        }
    }
}

thread_local! {
    static POOL: RefCell<([u8; 768], usize)> = const { RefCell::new(([0; 768], 768)) };
}

/// A field nonce as encx draws it: from a per-thread pool of OS random bytes.
pub fn pooled_nonce() -> [u8; 12] {
    POOL.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used + 12 > bytes.len() {
            getrandom::getrandom(bytes).unwrap();
            *used = 0;
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&bytes[*used..*used + 12]);
        bytes[*used..*used + 12].fill(0);
        *used += 12;
        nonce
    })
}

/// `0x01 | nonce | AES-GCM(plaintext) | tag`, as a hand-written field seal would build it.
pub fn raw_seal(key: &RawKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = pooled_nonce();
    let mut out = Vec::with_capacity(29 + plaintext.len());
    out.push(1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key.seal(nonce, aad, &mut out[13..]);
    out.extend_from_slice(&tag);
    out
}

pub fn raw_open(key: &RawKey, aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let nonce: [u8; 12] = sealed[1..13].try_into().unwrap();
    let (body, tag) = sealed[13..].split_at(sealed.len() - 29);
    let mut out = vec![0u8; body.len()];
    key.open(nonce, aad, body, tag.try_into().unwrap(), &mut out);
    out
}

/// A hand-written record: a DEK wrapped as encx wraps it (format 2), and its fields sealed.
pub struct RawRecords {
    backend: Backend,
    master: [u8; 32],
    key_id: [u8; 16],
    table: &'static str,
    id: Vec<u8>,
    pub field_aads: Vec<Vec<u8>>,
    pub mac: Hmac<Sha256>,
}

fn lp(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_be_bytes());
    out.extend_from_slice(part);
}

impl RawRecords {
    pub fn new(backend: Backend, table: &'static str, id: &[u8], columns: &[&str]) -> Self {
        let field_aads = columns
            .iter()
            .map(|c| encx::cipher::FieldContext::new(table, c, id).aad())
            .collect();
        RawRecords {
            backend,
            master: [9; 32],
            key_id: [4; 16],
            table,
            id: id.to_vec(),
            field_aads,
            mac: <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&[7; 32]).unwrap(),
        }
    }

    fn wrap_key(&self, salt: &[u8]) -> RawKey {
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::from_prk(&self.master)
            .unwrap()
            .expand_multi_info(&[b"encx:v2:dek-wrap", salt], &mut okm)
            .unwrap();
        RawKey::new(self.backend, &okm)
    }

    fn wrap_aad(&self, header: &[u8]) -> ([u8; 160], usize) {
        let mut aad = Vec::with_capacity(160);
        aad.extend_from_slice(b"encx:v2:dek");
        lp(&mut aad, self.table.as_bytes());
        lp(&mut aad, &self.id);
        aad.extend_from_slice(header);
        let mut buf = [0u8; 160];
        buf[..aad.len()].copy_from_slice(&aad);
        (buf, aad.len())
    }

    /// DEK, salt and nonce from one `getrandom` call; wrap; seal every value.
    pub fn encrypt(&self, values: &[&str]) -> RawStored {
        let mut random = [0u8; 60];
        getrandom::getrandom(&mut random).unwrap();
        let dek: [u8; 32] = random[..32].try_into().unwrap();
        let mut blob = [0u8; 94];
        blob[0] = 2;
        blob[1] = 1;
        blob[2..18].copy_from_slice(&self.key_id);
        blob[18..46].copy_from_slice(&random[32..]);
        let (head, tail) = blob.split_at_mut(34);
        let (nonce, body) = tail.split_at_mut(12);
        let (sealed, tag_out) = body.split_at_mut(32);
        sealed.copy_from_slice(&dek);
        let (aad, len) = self.wrap_aad(head);
        let tag = self
            .wrap_key(&head[18..])
            .seal(nonce.try_into().unwrap(), &aad[..len], sealed);
        tag_out.copy_from_slice(&tag);
        let cipher = RawKey::new(self.backend, &dek);
        let fields = values
            .iter()
            .zip(&self.field_aads)
            .map(|(v, aad)| raw_seal(&cipher, aad, v.as_bytes()))
            .collect();
        (blob.to_vec(), fields)
    }

    pub fn decrypt(&self, wrapped: &[u8], fields: &[Vec<u8>]) -> Vec<String> {
        let (head, tail) = wrapped.split_at(34);
        let (nonce, body) = tail.split_at(12);
        let (sealed, tag) = body.split_at(32);
        let (aad, len) = self.wrap_aad(head);
        let mut dek = [0u8; 32];
        self.wrap_key(&head[18..]).open(
            nonce.try_into().unwrap(),
            &aad[..len],
            sealed,
            tag.try_into().unwrap(),
            &mut dek,
        );
        let cipher = RawKey::new(self.backend, &dek);
        fields
            .iter()
            .zip(&self.field_aads)
            .map(|(f, aad)| String::from_utf8(raw_open(&cipher, aad, f)).unwrap())
            .collect()
    }
}

/// The benchmark record: an id, one plain column, four encrypted fields, one of them searchable.
#[derive(Clone, encx::Encrypted)]
#[encx(table = "customers")]
pub struct Customer {
    #[encx(id)]
    pub id: uuid::Uuid,
    pub name: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: String,
    #[encx(encrypt)]
    pub address: String,
    #[encx(encrypt)]
    pub notes: String,
}

pub fn customer() -> Customer {
    Customer {
        id: uuid::Uuid::new_v4(),
        name: "Ada Lovelace".into(),
        email: "ada.lovelace@example.com".into(),
        phone: "+44 20 7946 0958".into(),
        address: "12 St James's Square, London SW1Y 4JH".into(),
        notes: "Prefers contact by post. VIP since 1843.".into(),
    }
}

/// A record built by hand: the wrapped DEK and the sealed fields.
pub type RawStored = (Vec<u8>, Vec<Vec<u8>>);

impl RawRecords {
    /// The hand-written twin of [`Customer`]'s encryption: its four encrypted fields under a
    /// fresh DEK, and the blind index of `email` (truncated HMAC-SHA256).
    pub fn for_customers(backend: Backend, id: &uuid::Uuid) -> Self {
        RawRecords::new(
            backend,
            "customers",
            id.as_bytes(),
            &["email", "phone", "address", "notes"],
        )
    }

    /// Encrypts `c` as [`for_customers`](Self::for_customers) describes: `((wrapped DEK,
    /// fields), blind index)`.
    pub fn encrypt_customer(&self, c: &Customer) -> (RawStored, Vec<u8>) {
        let stored = self.encrypt(&[c.email.as_str(), &c.phone, &c.address, &c.notes]);
        let mut mac = self.mac.clone();
        mac.update(c.email.as_bytes());
        (stored, mac.finalize().into_bytes()[..4].to_vec())
    }
}
