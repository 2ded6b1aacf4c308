//! Streamed reads on the three databases: `Repo::stream_all` hands out every live record in id
//! order while rows arrive, reports a tampered row as an item and goes on, leaves erased rows
//! out, audits what it handed out (also when dropped early), and refuses the plaintext read
//! mode; `get_many` and `find_by` with many candidates decrypt while their rows arrive, on one
//! thread or several (`Repo::decrypt_workers`) with the same results in the same order.

use encx::audit::{AuditAction, AuditOutcome};
use encx_integration_tests::{test_case, Service, Test};
use futures_util::StreamExt;

use super::migration::Legacy;
use super::rewrap::{voucher, vouchers_audited, Captured};
use super::*;

on_databases! {
    "streams";
    stream_all_decrypts_every_live_row_in_order: |db| stream_all(db.pool.clone()) => [postgres, mariadb, sqlite];
}

const ROWS: i64 = 1_500;

/// Moves row 2's `code` ciphertext into row 1: row 1 then fails its integrity check.
fn move_ciphertext_sql<DB: sqlx::Database>() -> &'static str {
    if DB::NAME == "MySQL" {
        "UPDATE vouchers a JOIN vouchers b ON b.id = 2 SET a.code = b.code WHERE a.id = 1"
    } else {
        "UPDATE vouchers SET code = (SELECT code FROM vouchers WHERE id = 2) WHERE id = 1"
    }
}

fn last_decrypt_event(sink: &Captured) -> encx::audit::AuditEvent {
    sink.0
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e.action == AuditAction::Decrypt)
        .cloned()
        .expect("a decrypt audit event")
}

async fn stream_all<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let sink = Arc::new(Captured::default());
    let repo = vouchers_audited(pool.clone(), sink.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (1..=ROWS).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    repo.erase(&pool, 10).await.unwrap();
    DB::run(&pool, move_ciphertext_sql::<DB>()).await;

    let (mut read, mut refused) = (Vec::new(), Vec::new());
    let mut stream = repo.stream_all(&pool);
    while let Some(item) = stream.next().await {
        match item {
            Ok(value) => read.push(value),
            Err(error) => refused.push(error),
        }
    }
    drop(stream);
    let expected: Vec<Voucher> = all
        .iter()
        .filter(|v| v.id != 1 && v.id != 10)
        .cloned()
        .collect();
    assert_eq!(read.len(), expected.len());
    assert!(read == expected, "every live row, in id order, decrypted");
    assert_eq!(refused.len(), 1, "the moved ciphertext is one Err item");
    assert!(refused[0].is_tampered(), "{}", refused[0]);
    let event = last_decrypt_event(&sink);
    assert_eq!(event.records, expected.len() as u64);
    assert_eq!(
        event.outcome,
        AuditOutcome::Failed(encx::ErrorKind::Integrity)
    );

    // A stream dropped after five records is audited with five. Row 1 comes first (id
    // order): the tampered one.
    let mut stream = repo.stream_all(&pool);
    assert!(stream.next().await.expect("row 1").is_err());
    let firsts: Vec<_> = stream.by_ref().take(5).collect().await;
    assert!(firsts.iter().all(Result::is_ok));
    drop(stream);
    let event = last_decrypt_event(&sink);
    assert_eq!(event.records, 5);

    // get_many and find_by read through the same streamed path; a tampered row among the
    // ids fails the whole read as Tampered.
    let ids: Vec<i64> = (2..=ROWS).collect();
    let mut many = repo.get_many(&pool, &ids).await.unwrap();
    many.sort_by_key(|v| v.id);
    assert_eq!(many, expected);
    let with_tampered: Vec<i64> = (1..=ROWS).rev().collect();
    let error = repo.get_many(&pool, &with_tampered).await.unwrap_err();
    assert!(error.is_tampered(), "{error}");

    // Decrypted on the reading task alone and on more threads than this machine has: the
    // same records in the same order (tasks of 64 rows may finish out of order; the stage
    // puts them back), the tampered row still one Err item in its place.
    for workers in [1, 3, 8] {
        let repo = repo.decrypt_workers(workers);
        let items: Vec<_> = repo.stream_all(&pool).collect().await;
        assert!(
            items[0].as_ref().is_err_and(|e| e.is_tampered()),
            "{workers}"
        );
        let streamed: Vec<Voucher> = items.into_iter().skip(1).map(Result::unwrap).collect();
        assert!(
            streamed == expected,
            "{workers} workers: every live row, in id order"
        );
        let mut many = repo.get_many(&pool, &ids).await.unwrap();
        many.sort_by_key(|v| v.id);
        assert!(many == expected, "{workers} workers: get_many");
        let error = repo.get_many(&pool, &with_tampered).await.unwrap_err();
        assert!(error.is_tampered(), "{workers} workers: {error}");
    }
    // An 8-bit index: the bucket of CODE-00777 holds several rows, one matches.
    let found = repo
        .find_by(&pool, Voucher::CODE, "CODE-00777")
        .await
        .unwrap();
    assert_eq!(found, vec![voucher(777)]);

    // The plaintext migration's read mode would miss unmigrated rows: refused.
    let reading = repo.with_plaintext(DB::source()).unwrap();
    let first = reading.stream_all(&pool).next().await.expect("one item");
    assert!(
        matches!(&first, Err(encx_sqlx::Error::InvalidConfig(m)) if m.contains("stream_all")),
        "{first:?}"
    );
}
