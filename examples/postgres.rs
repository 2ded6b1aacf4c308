//! The quickstart's tour against PostgreSQL.
//!
//! `DATABASE_URL=postgres://user:password@127.0.0.1:5432/db cargo run --example postgres`
//!
//! **It drops and recreates the tables `users` and `user_notes` of that database** (run it on
//! a scratch database), and creates encx's own tables (`encx_keks`, `encx_subject_keys`, ...);
//! it uses the master key in `quickstart.key` (generated on first run).

mod tour;

use std::path::Path;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://user:password@127.0.0.1:5432/db")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    for table in ["users", "user_notes"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
            .execute(&pool)
            .await?; // start the tour afresh: this database's `users` is dropped
    }

    let ids = tour::run(pool.clone(), Path::new("quickstart.key")).await?;

    tour::show_stored_rows(&pool, "SELECT * FROM users WHERE id = $1", ids).await?;
    Ok(())
}
