// The quickstart's `subscribers`: a table that stored e-mail addresses in plaintext, left half
// migrated to encx (the plaintext column renamed `email_plain`, encx's columns added, empty)
// for `encx migrate` and `encx verify` to finish. Included by the quickstart and the example
// CLI with `mod legacy;`.

use encx_sqlx::{Plaintext, Repo};
use sqlx::Sqlite;

/// A subscriber as encx stores it once migrated.
#[derive(Debug, Clone, PartialEq, encx::Encrypted)]
#[encx(table = "subscribers")]
pub struct Subscriber {
    #[encx(id)]
    pub id: i64,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
}

/// A row of the table as it was, its plaintext column renamed `email_plain`.
#[derive(sqlx::FromRow)]
pub struct PlainSubscriber {
    pub id: i64,
    pub email_plain: String,
}

/// How a plaintext row becomes a `Subscriber`.
pub fn source() -> Plaintext<Subscriber, Sqlite> {
    Plaintext::new(|p: PlainSubscriber| Subscriber {
        id: p.id,
        email: p.email_plain,
    })
    .column("email", "email_plain")
}

/// Creates `subscribers` as it was before encx (three plaintext rows), then the first steps
/// of a plaintext migration: the plaintext column renamed, encx's columns added.
pub async fn create(pool: &sqlx::SqlitePool) -> Result<(), Box<dyn std::error::Error>> {
    // One connection for the whole change of schema.
    let mut conn = pool.acquire().await?;
    sqlx::query("CREATE TABLE subscribers (id BIGINT PRIMARY KEY, email TEXT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    for (id, email) in [
        (1, "ada@example.com"),
        (2, "grace@example.com"),
        (3, "alan@example.com"),
    ] {
        sqlx::query("INSERT INTO subscribers VALUES (?, ?)")
            .bind(id)
            .bind(email)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("ALTER TABLE subscribers RENAME COLUMN email TO email_plain")
        .execute(&mut *conn)
        .await?;
    for ddl in encx::schema::add_encrypted_columns::<Subscriber>(encx::schema::Dialect::Sqlite) {
        sqlx::query(sqlx::AssertSqlSafe((ddl).to_string()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The subscribers, read in the plaintext migration's read mode.
pub fn repo(
    pool: sqlx::SqlitePool,
    crypto: encx::Crypto,
) -> encx_sqlx::Result<Repo<Subscriber, Sqlite>> {
    Repo::<Subscriber, Sqlite>::new(pool, crypto).with_plaintext(source())
}
