// The tour shared by the quickstart (SQLite) and the PostgreSQL example: one function, generic
// over the database, included with `mod tour;`.

use std::path::Path;
use std::sync::Arc;

use encx_sqlx::{EncxDatabase, Repo, SqlKekStore};

/// One user of the tour.
#[derive(Debug, Clone, encx::Encrypted)]
#[encx(table = "users")]
pub struct User {
    #[encx(id)]
    pub id: uuid::Uuid,
    /// Stays plain.
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: Option<String>,
}

/// A note about a user, wrapped under that user's own key (a data subject's key): erasing
/// the user as a data subject (`encx erase-subject <id>`) shreds every note about them.
#[derive(Debug, Clone, encx::Encrypted)]
#[encx(table = "user_notes")]
pub struct Note {
    #[encx(id)]
    pub id: uuid::Uuid,
    #[encx(subject)]
    pub user_id: uuid::Uuid,
    #[encx(encrypt)]
    pub body: String,
}

/// Inserts three users, finds one by email, erases another; returns the ids of the first two
/// (live, erased) for the caller to show their stored rows.
pub async fn run<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    key_file: &Path,
) -> Result<[uuid::Uuid; 2], Box<dyn std::error::Error>> {
    let key = encx_examples::load_or_create_master_key(key_file)?;

    // Key hierarchy: the master key wraps KEKs kept in the `encx_keks` table; KEKs wrap one
    // data key per record. The blind-index key lives in `encx_keks` too.
    encx_sqlx::migrate(&pool).await?;
    let root: Arc<dyn encx::Keyring> = Arc::new(encx::LocalKeyring::new(vec![key])?);
    let store = SqlKekStore::shared(pool.clone());
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::shared(pool.clone()))
        .build()
        .await?;

    let users = Repo::<User, DB>::new(pool.clone(), crypto.clone());
    users.create_table().await?;
    let notes = Repo::<Note, DB>::new(pool.clone(), crypto);
    notes.create_table().await?;

    let people = [
        ("ada", "Ada@Example.com", Some("+44 20 7946 0958")),
        ("grace", "grace@navy.example", None),
        ("alan", "alan@bletchley.example", Some("+44 1908 640404")),
    ];
    let mut ids = Vec::new();
    for (username, email, phone) in people {
        let user = User {
            id: uuid::Uuid::new_v4(),
            username: username.into(),
            email: email.into(),
            phone: phone.map(Into::into),
        };
        ids.push(user.id);
        users.insert(&pool, &user).await?;
        let note = Note {
            id: uuid::Uuid::new_v4(),
            user_id: user.id,
            body: format!("{username} prefers email"),
        };
        notes.insert(&pool, &note).await?;
    }
    println!("inserted 3 users, and a note about each under the user's own subject key");

    let found = users
        .find_by(&pool, User::EMAIL, "  ada@EXAMPLE.com ")
        .await?;
    let found: Vec<_> = found.iter().map(|u| (&u.username, &u.email)).collect();
    println!("find_by(email, \"  ada@EXAMPLE.com \") -> {found:?}");

    users.erase(&pool, ids[1]).await?;
    match users.get(&pool, ids[1]).await {
        Err(e) if e.is_shredded() => println!("erased grace: reading her record now fails: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok([ids[0], ids[1]])
}

/// Prints the stored rows of the live and the erased user as the database holds them: plain
/// sqlx, outside encx (hence sqlx's own bounds), to show what an attacker with the database sees.
pub async fn show_stored_rows<DB>(
    pool: &sqlx::Pool<DB>,
    select_by_id: &str,
    [live, erased]: [uuid::Uuid; 2],
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> uuid::Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> Vec<u8>: sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<<DB as sqlx::Database>::Row>,
{
    use sqlx::{Column, Row};
    for (label, id) in [("ada (live)", live), ("grace (erased)", erased)] {
        let row = sqlx::query(sqlx::AssertSqlSafe((select_by_id).to_string()))
            .bind(id)
            .fetch_one(pool)
            .await?;
        println!("\nstored row of {label}:");
        for (i, column) in row.columns().iter().enumerate() {
            let cell: Option<Vec<u8>> = row.try_get_unchecked(i).unwrap_or_default();
            println!("  {:<12} {}", column.name(), encx_examples::show_cell(cell));
        }
    }
    println!("\nThe erased row is still there, and its ciphertexts too, but nothing in this database can open");
    println!("them any more. A copy of the database taken before the erase still could, until the key that");
    println!("wrapped that data key is destroyed everywhere (docs/operations.md, erasure).");
    Ok(())
}
