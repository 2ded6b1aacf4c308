//! encx in one minute: encrypt a record's fields under its own data key, find it by a blind
//! index, and erase it by destroying that key.
//!
//! `cargo run --example quickstart` — no setup: a local master key is generated on first run
//! and kept in `quickstart.key` beside the working directory.

use std::path::Path;

use encx::index::IndexKeys;
use encx::{Crypto, Error, IndexSpec, LocalKeyring, MasterKey, Normalizer};

const KEY_FILE: &str = "quickstart.key";
const EMAIL: IndexSpec = IndexSpec::new("email", "users.email", 32, Normalizer::Email);

/// Loads the master key from `quickstart.key`, or makes one and saves it (with a warning).
fn master_key() -> encx::Result<MasterKey> {
    let path = Path::new(KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(path) {
        return MasterKey::from_base64("v1", &text);
    }
    let key = MasterKey::generate("v1")?;
    std::fs::write(path, key.expose_base64().as_bytes())
        .map_err(|e| Error::config(format!("cannot write {KEY_FILE}: {e}")))?;
    eprintln!(
        "generated a new master key in {KEY_FILE}: keep it safe, without it the data is gone"
    );
    Ok(key)
}

#[tokio::main]
async fn main() -> encx::Result<()> {
    let crypto = Crypto::builder()
        .keyring(LocalKeyring::new(vec![master_key()?])?)
        .index_keys(IndexKeys::generate()?)
        .build()
        .await?;

    // Encrypt one record: a fresh DEK, wrapped by the master key; each field bound to
    // (table, column, record id).
    let id = uuid::Uuid::new_v4();
    let sealer = crypto.seal_record("users", id.as_bytes()).await?;
    let email = sealer.seal("email", "ada@example.com")?;
    let email_bidx = crypto.blind_index(&EMAIL, "ada@example.com")?;
    let mut encx_dek = Some(sealer.into_wrapped_dek());
    println!("stored email:  {email:?}");
    println!("stored index:  {email_bidx:?}");

    // Find it by equality without decrypting anything: compute the query's index.
    let query = crypto.blind_index(&EMAIL, "  ADA@example.com ")?;
    assert_eq!(query, email_bidx);
    let opener = crypto
        .open_record("users", id.as_bytes(), encx_dek.as_ref(), &id)
        .await?;
    let plain: String = opener.open("email", &email)?;
    println!("found by index and decrypted: {plain}");

    // Erase: destroy the wrapped DEK. The ciphertext stays, and is noise forever.
    encx_dek = None;
    match crypto
        .open_record("users", id.as_bytes(), encx_dek.as_ref(), &id)
        .await
    {
        Err(Error::Shredded { record, .. }) => {
            println!("after erasure: record {record} is shredded")
        }
        other => panic!("expected Shredded, got {other:?}"),
    }
    Ok(())
}
