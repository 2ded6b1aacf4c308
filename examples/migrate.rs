//! Plaintext migration on an in-memory SQLite database: a `customers` table that stored e-mail
//! addresses in plaintext is migrated to encx while the application keeps reading it.
//!
//! `cargo run --example migrate`
//!
//! The steps of `docs/operations.md` (plaintext migration): rename the plaintext column, add
//! encx's columns, describe the plaintext, read in the migration's read mode, migrate, verify,
//! drop the plaintext column.

use encx::index::IndexKeys;
use encx::{Crypto, Encrypted, LocalKeyring, MasterKey};
use encx_sqlx::{Plaintext, Repo};
use sqlx::Sqlite;

/// The record as encx stores it from now on.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "customers")]
struct Customer {
    #[encx(id)]
    id: i64,
    name: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

/// A row of the table as it was, once `email` is renamed `email_plain`.
#[derive(sqlx::FromRow)]
struct PlainCustomer {
    id: i64,
    name: String,
    email_plain: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1) // one in-memory database
        .connect("sqlite::memory:")
        .await?;
    // The table before encx.
    sqlx::query("CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT)")
        .execute(&pool)
        .await?;
    for (id, name, email) in [
        (1, "Ada", "ada@example.com"),
        (2, "Alan", "alan@example.com"),
    ] {
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?)")
            .bind(id)
            .bind(name)
            .bind(email)
            .execute(&pool)
            .await?;
    }

    // 1. Rename the plaintext column: encx's ciphertext takes the name `email`.
    sqlx::query("ALTER TABLE customers RENAME COLUMN email TO email_plain")
        .execute(&pool)
        .await?;
    // 2. Add encx's columns (ciphertext, blind index, encx_dek), all nullable.
    let keyring = LocalKeyring::new(vec![MasterKey::generate("v1")?])?;
    let crypto = Crypto::builder()
        .keyring(keyring)
        .index_keys(IndexKeys::generate()?)
        .build()
        .await?;
    let customers = Repo::<Customer, Sqlite>::new(pool.clone(), crypto);
    customers.add_encrypted_columns().await?;
    // 3. Describe the plaintext; 4. read in the migration's read mode.
    let source = Plaintext::new(|p: PlainCustomer| Customer {
        id: p.id,
        name: p.name,
        email: p.email_plain,
    })
    .column("email", "email_plain");
    let reading = customers.with_plaintext(source)?;
    let found = reading
        .find_by(&pool, Customer::EMAIL, "ada@example.com")
        .await?;
    println!("before the migration, found by email: {found:?}");

    // 5. Migrate (resumable, idempotent: a second run does nothing).
    let done = reading.migrate(500).await?;
    println!(
        "migrated {} row(s); a second run: {}",
        done.rewrapped,
        reading.migrate(500).await?.rewrapped
    );
    // 6. Verify: every migrated row decrypts to its plaintext.
    let report = reading.verify(1_000).await?;
    println!(
        "verify: {} checked, complete: {}",
        report.checked,
        report.is_complete()
    );
    assert!(report.is_complete());

    // 7. Drop the plaintext: your DDL. From now on an ordinary repository reads everything.
    sqlx::query("ALTER TABLE customers DROP COLUMN email_plain")
        .execute(&pool)
        .await?;
    let ada = customers
        .find_by(&pool, Customer::EMAIL, " ADA@example.com")
        .await?;
    println!("after: {ada:?}");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT email FROM customers WHERE id = 1")
        .fetch_one(&pool)
        .await?;
    println!("stored email column: {} bytes of ciphertext", stored.len());
    Ok(())
}
