//! Erasing a person (GDPR Art. 17) with data-subject keys, on SQLite files: no setup.
//!
//! `cargo run --example gdpr`
//!
//! Users and their orders are two tables; every record names its data subject (the user), so
//! its data key is wrapped under that user's subject key. The subject keys live in a database
//! of their own (`gdpr-keys.db`), apart from the data (`gdpr-data.db`). Erasing a user destroys
//! their key, then clears their rows' keys and blind indexes in both tables; a copy of the data
//! taken before the erase cannot bring them back. Prints both tables before and after, and the
//! receipt.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use encx::Encrypted;
use encx_sqlx::{Repo, SqlKekStore, SqlSubjectKeyStore, SubjectEraser};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use uuid::Uuid;

/// A user: the record is its own data subject.
#[derive(Debug, Clone, Encrypted)]
#[encx(table = "users")]
struct User {
    #[encx(id, subject)]
    id: Uuid,
    username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

/// An order: its data subject is the user who placed it.
#[derive(Debug, Clone, Encrypted)]
#[encx(table = "orders")]
struct Order {
    #[encx(id)]
    id: i64,
    #[encx(subject)]
    user_id: Uuid,
    #[encx(encrypt)]
    address: String,
}

async fn open(file: &str) -> Result<SqlitePool, sqlx::Error> {
    let _ = std::fs::remove_file(file); // start afresh
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{file}"))?.create_if_missing(true);
    SqlitePoolOptions::new().connect_with(options).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = encx_examples::load_or_create_master_key(Path::new("quickstart.key"))?;
    let data = open("gdpr-data.db").await?;
    let keys = open("gdpr-keys.db").await?;

    // KEKs, the blind-index key and the subject keys: all in the key database.
    encx_sqlx::migrate(&keys).await?;
    let root: Arc<dyn encx::Keyring> = Arc::new(encx::LocalKeyring::new(vec![key])?);
    let kek_store = SqlKekStore::shared(keys.clone());
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(
            root.clone(),
            kek_store.clone(),
        ))
        .index_keys_in(kek_store, root)
        .subject_keys_in(SqlSubjectKeyStore::shared(keys.clone()))
        // How long any process keeps a subject key cached (60 s by default): the eraser
        // waits this long (plus 1 s) before clearing rows that other processes wrote with
        // the key still cached. Short here, so that the example finishes quickly.
        .subject_cache(std::time::Duration::from_secs(1), 10_000)
        .build()
        .await?;

    let users = Repo::<User, sqlx::Sqlite>::new(data.clone(), crypto.clone());
    let orders = Repo::<Order, sqlx::Sqlite>::new(data.clone(), crypto.clone());
    users.create_table().await?;
    orders.create_table().await?;

    let ada = User {
        id: Uuid::new_v4(),
        username: "ada".into(),
        email: "ada@example.com".into(),
    };
    let bob = User {
        id: Uuid::new_v4(),
        username: "bob".into(),
        email: "bob@example.com".into(),
    };
    let mut next_order = 0;
    for (user, addresses) in [
        (&ada, ["12 Analytical Row", "1 Engine Lane"]),
        (&bob, ["7 Harbour St", "9 Quay Road"]),
    ] {
        users.insert(&data, user).await?;
        for address in addresses {
            next_order += 1;
            orders
                .insert(
                    &data,
                    &Order {
                        id: next_order,
                        user_id: user.id,
                        address: address.into(),
                    },
                )
                .await?;
        }
    }
    show("before", &data, &users, &orders, &[ada.id, bob.id]).await?;

    // A backup of the data database, taken before the erasure.
    sqlx::query("VACUUM INTO 'gdpr-data-backup.db'")
        .execute(&data)
        .await
        .ok();

    let eraser = SubjectEraser::<Uuid>::new(crypto.clone())
        .table(users.clone())
        .table(orders.clone());
    let receipt = eraser.erase(&ada.id).await?;
    println!("\nreceipt: {receipt}");
    show(
        "after erasing ada",
        &data,
        &users,
        &orders,
        &[ada.id, bob.id],
    )
    .await?;

    match orders
        .insert(
            &data,
            &Order {
                id: 99,
                user_id: ada.id,
                address: "new".into(),
            },
        )
        .await
    {
        Err(e) if e.is_shredded() => println!("\nnew data for ada is refused: {e}"),
        other => println!("\nunexpected: {other:?}"),
    }

    let backup = SqlitePool::connect("sqlite://gdpr-data-backup.db").await?;
    let restored = Repo::<Order, sqlx::Sqlite>::new(backup.clone(), crypto);
    println!("\nthe backup taken before the erasure, read with the live keys:");
    for id in 1..=next_order {
        match restored.get(&backup, id).await {
            Ok(order) => println!("  order {id}: {}", order.address),
            Err(e) => println!("  order {id}: {e}"),
        }
    }
    let _ = std::fs::remove_file("gdpr-data-backup.db");
    Ok(())
}

/// Prints what each table holds, as the application reads it and as the database stores it.
async fn show(
    when: &str,
    data: &SqlitePool,
    users: &Repo<User, sqlx::Sqlite>,
    orders: &Repo<Order, sqlx::Sqlite>,
    ids: &[Uuid],
) -> Result<(), Box<dyn std::error::Error>> {
    println!("\n{when}:");
    for id in ids {
        match users.get(data, *id).await {
            Ok(u) => println!("  users  {}: <{}>", u.username, u.email),
            Err(e) => println!("  users  {id}: {e}"),
        }
    }
    let rows: Vec<(i64, Uuid, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT id, user_id, encx_dek FROM orders ORDER BY id")
            .fetch_all(data)
            .await?;
    for (id, user_id, dek) in rows {
        let shown = match orders.get(data, id).await {
            Ok(order) => order.address,
            Err(e) => e.to_string(),
        };
        let dek = dek.map_or("NULL".to_string(), |d| format!("{} bytes", d.len()));
        println!("  orders {id} (user {user_id}, encx_dek {dek}): {shown}");
    }
    Ok(())
}
