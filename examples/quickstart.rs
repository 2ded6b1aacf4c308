//! encx in one minute, on a SQLite file with a local master key: no setup.
//!
//! `cargo run --example quickstart`
//!
//! On first run it generates a master key in `quickstart.key` (keep it: without it the data is
//! gone), creates `quickstart.db`, inserts three users with encrypted fields, finds one by email
//! through the blind index, erases another (crypto-shredding), and prints the stored rows.

#[macro_use]
mod tour;

use std::str::FromStr;

const KEY_FILE: &str = "quickstart.key";
const DB_FILE: &str = "quickstart.db";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{DB_FILE}"))?
        .create_if_missing(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(options)
        .await?;
    tour!(sqlx::Sqlite, pool, "?")
}
