//! Streaming every record of a table, decrypted, with bounded memory: an export to CSV on an
//! in-memory SQLite database, on the AES-GCM backend of your choice.
//!
//! `cargo run --example export`
//!
//! `Repo::stream_all` decrypts one row while the next ones arrive and holds one record at a
//! time, whatever the table's size; a row that fails its integrity check is an `Err` item and
//! the stream goes on (here: counted and skipped, as an export job would).

use encx::aead::Backend;
use encx::{Crypto, Encrypted, LocalKeyring, MasterKey};
use encx_sqlx::Repo;
use futures_util::StreamExt;
use sqlx::Sqlite;

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "patients")]
struct Patient {
    #[encx(id)]
    id: i64,
    #[encx(encrypt)]
    name: String,
    #[encx(encrypt)]
    diagnosis: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1) // one in-memory database
        .connect("sqlite::memory:")
        .await?;
    encx_sqlx::migrate(&pool).await?;
    // The process-wide AES-GCM backend (AWS-LC by default); a `Crypto` may pick its own.
    println!("AES-GCM from {}", Backend::current());
    let crypto = Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
        .build()
        .await?;
    let patients = Repo::<Patient, Sqlite>::new(pool.clone(), crypto);
    patients.create_table().await?;
    let rows: Vec<Patient> = (1..=5_000)
        .map(|id| Patient {
            id,
            name: format!("Patient {id}"),
            diagnosis: ["J45.909", "E11.9", "I10"][id as usize % 3].to_owned(),
        })
        .collect();
    patients.insert_many(&pool, &rows).await?;
    patients.erase(&pool, 42).await?; // erased records are not exported

    let mut csv = String::from("id,name,diagnosis\n");
    let (mut exported, mut unreadable) = (0, 0);
    let mut all = patients.stream_all(&pool);
    while let Some(item) = all.next().await {
        match item {
            Ok(p) => {
                csv.push_str(&format!("{},{},{}\n", p.id, p.name, p.diagnosis));
                exported += 1;
            }
            Err(e) if e.is_tampered() => unreadable += 1,
            Err(e) => return Err(e.into()),
        }
    }
    drop(all);
    assert_eq!((exported, unreadable), (4_999, 0));
    println!("exported {exported} records ({} bytes of CSV)", csv.len());
    print!("{}", csv.lines().take(3).collect::<Vec<_>>().join("\n"));
    println!();
    Ok(())
}
