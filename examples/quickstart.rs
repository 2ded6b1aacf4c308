//! encx in one minute, on a SQLite file with a local master key: no setup.
//!
//! `cargo run --example quickstart`
//!
//! On first run it generates a master key in `quickstart.key` (keep it: without it the data is
//! gone), creates `quickstart.db`, inserts three users with encrypted fields, finds one by email
//! through the blind index, erases another (crypto-shredding), and prints the stored rows.

mod tour;

use std::path::Path;
use std::str::FromStr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://quickstart.db")?
        .create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(options)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS users")
        .execute(&pool)
        .await?; // start the tour afresh

    let ids = tour::run(pool.clone(), Path::new("quickstart.key")).await?;

    tour::show_stored_rows(&pool, "SELECT * FROM users WHERE id = ?", ids).await?;
    Ok(())
}
