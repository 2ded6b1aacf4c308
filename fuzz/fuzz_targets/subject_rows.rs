//! Subject-key rows (`encx_subject_keys`) into the subject key cache, and a record's subject
//! column against them: a database writer controls every column. Input: version (i64 BE) |
//! subject length (1 byte) | subject | record subject length (1 byte) | record subject | key
//! present (1 byte) | wrapped key bytes. The row's id is fixed, and a fixed wrapped DEK names it.
//! Only a row naming the seed's subject and version opens the record, and only for a record
//! naming that subject; every other row is a typed error, never a panic.
#![no_main]

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;

use encx::{Crypto, NewSubjectKey, StoredSubjectKey, SubjectKeyStore};

/// A store holding exactly the fuzzed row.
#[derive(Debug)]
struct OneRow(StoredSubjectKey);

#[async_trait]
impl SubjectKeyStore for OneRow {
    async fn latest(&self, subject: &[u8]) -> encx::Result<Option<StoredSubjectKey>> {
        Ok((subject == self.0.subject).then(|| self.0.clone()))
    }
    async fn get(&self, id: uuid::Uuid) -> encx::Result<Option<StoredSubjectKey>> {
        Ok((id == self.0.id).then(|| self.0.clone()))
    }
    async fn insert(&self, _: NewSubjectKey) -> encx::Result<StoredSubjectKey> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
    async fn versions(&self, subject: &[u8]) -> encx::Result<Vec<StoredSubjectKey>> {
        Ok((subject == self.0.subject)
            .then(|| self.0.clone())
            .into_iter()
            .collect())
    }
    async fn tombstone(&self, _: &[u8]) -> encx::Result<StoredSubjectKey> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
    async fn erase(&self, _: &[u8], _: Option<i64>) -> encx::Result<Vec<uuid::Uuid>> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
    async fn live_page(
        &self,
        after: Option<uuid::Uuid>,
        _: usize,
    ) -> encx::Result<Vec<StoredSubjectKey>> {
        let live = self.0.wrapped.is_some() && after.is_none_or(|a| self.0.id > a);
        Ok(live.then(|| self.0.clone()).into_iter().collect())
    }
    async fn replace_wrapped(&self, _: uuid::Uuid, _: &[u8], _: &[u8]) -> encx::Result<bool> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
}

/// Splits off a length-prefixed part.
fn part(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = data.split_first()?;
    (rest.len() >= usize::from(len)).then(|| rest.split_at(usize::from(len)))
}

fuzz_target!(|data: &[u8]| {
    let Some(version) = data.get(..8) else { return };
    let version = i64::from_be_bytes(version.try_into().expect("8 bytes"));
    let Some((subject, rest)) = part(&data[8..]) else {
        return;
    };
    let Some((record_subject, rest)) = part(rest) else {
        return;
    };
    let Some((&present, wrapped)) = rest.split_first() else {
        return;
    };
    let row = StoredSubjectKey {
        id: encx_fuzz::SUBJECT_KEY_ID,
        subject: subject.to_vec(),
        version,
        wrapped: (present & 1 == 1).then(|| wrapped.to_vec()),
        created_at: SystemTime::UNIX_EPOCH,
        erased_at: None,
    };
    // What a row must say to open the record; its wrapped bytes may be any wrap of the key
    // under that row's context (a new salt gives other bytes), which only the root can make.
    let untouched = row.subject == encx_fuzz::SUBJECT && row.version == 1;
    futures_executor::block_on(async {
        let crypto = Crypto::builder()
            .keyring(encx_fuzz::local())
            .subject_keys_in(Arc::new(OneRow(row)))
            .build()
            .await
            .expect("crypto");
        let blob = encx_fuzz::subject_dek();
        let ctx = encx_fuzz::dek_context();
        // Cold, then again with the key possibly cached by a read of the true subject: the
        // record's subject is checked on every read.
        for warm_first in [false, true] {
            if warm_first {
                let _ = crypto
                    .open_subject_record(
                        ctx.table,
                        ctx.record_id,
                        encx_fuzz::SUBJECT,
                        Some(&blob),
                        &"rec-1",
                    )
                    .await;
            }
            let opened = crypto
                .open_subject_record(
                    ctx.table,
                    ctx.record_id,
                    record_subject,
                    Some(&blob),
                    &"rec-1",
                )
                .await;
            match opened {
                Ok(_) => assert!(
                    untouched && record_subject == encx_fuzz::SUBJECT,
                    "an edited row or another subject opened the record"
                ),
                Err(e) => assert!(
                    e.is_tampered() || e.is_shredded() || e.is_key_missing(),
                    "{e:?}"
                ),
            }
        }
    });
});
