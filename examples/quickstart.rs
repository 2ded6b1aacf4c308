//! encx in one minute, on a SQLite file with a local master key: no setup.
//!
//! `cargo run --example quickstart`
//!
//! On first run it generates a master key in `quickstart.key` (keep it: without it the data is
//! gone), creates `quickstart.db`, inserts three users with encrypted fields, finds one by email
//! through the blind index, erases another (crypto-shredding), and prints the stored rows. It
//! also leaves a `subscribers` table with plaintext e-mail addresses, half migrated, for the
//! example operator CLI (`examples/encx.rs`) to finish with `encx migrate` and `encx verify`.

#[allow(dead_code)] // the CLI's half of it is used by examples/encx.rs
mod legacy;
mod tour;

use std::path::Path;
use std::str::FromStr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // WAL and `synchronous = NORMAL`: many tasks at once then run at PostgreSQL's pace
    // instead of 14× slower (docs/sqlx.md, "SQLite under concurrency").
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://quickstart.db")?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(options)
        .await?;
    for table in ["users", "user_notes", "subscribers"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
            .execute(&pool)
            .await?; // start the tour afresh
    }

    let ids = tour::run(pool.clone(), Path::new("quickstart.key")).await?;

    tour::show_stored_rows(&pool, "SELECT * FROM users WHERE id = ?", ids).await?;

    legacy::create(&pool).await?;
    println!(
        "\nsubscribers: 3 e-mail addresses left in plaintext, for the operator CLI to migrate \
         (cargo run --example encx -- migrate, then verify: see examples/encx.rs)"
    );
    Ok(())
}
