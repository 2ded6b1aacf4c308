//! encx with SeaORM 2, on a SQLite file with a local master key: no setup.
//!
//! `cargo run -p encx-examples --example sea_orm`
//!
//! A `Customer` entity with encrypted fields and a searchable e-mail: encx's tables made by a
//! `sea-orm-migration` migrator, customers inserted inside a SeaORM transaction (one data key
//! each), found with `Entity::find().filter(...)` on the blind index and re-checked, one
//! erased (crypto-shredding), and the stored row printed as an attacker with the database
//! would see it. The same table reads and writes through `encx_sqlx::Repo` and the `encx` CLI.

use std::sync::Arc;

use encx::Encrypted;
use encx_sea_orm::sea_orm::{self, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use encx_sea_orm::Encx;
use sea_orm_migration::prelude::*;

#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "customers", sea_orm)] // also generates the SeaORM entity `customer_entity`
struct Customer {
    #[encx(id)]
    id: uuid::Uuid,
    plan: String, // stays plain
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    phone: Option<String>,
}

/// The application's migrator: encx's tables are one migration among the application's.
struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(encx_sea_orm::EncxMigration)]
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // More than one connection: a transaction holds one while a cold key load takes another.
    let mut options = sea_orm::ConnectOptions::new("sqlite://sea_orm.db?mode=rwc");
    options.max_connections(4);
    let db = sea_orm::Database::connect(options).await?;
    db.execute_unprepared("DROP TABLE IF EXISTS customers")
        .await?; // start afresh
    Migrator::up(&db, None).await?;
    for ddl in encx::schema::create_table::<Customer>(encx::schema::Dialect::Sqlite)? {
        db.execute_unprepared(&ddl).await?;
    }

    // The key hierarchy, as for encx-sqlx: a master key wraps KEKs kept in `encx_keks`.
    let key = encx_examples::load_or_create_master_key(std::path::Path::new("sea_orm.key"))?;
    let root: Arc<dyn encx::Keyring> = Arc::new(encx::LocalKeyring::new(vec![key])?);
    let store = encx_sea_orm::kek_store(&db)?; // on SeaORM's own pool
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .build()
        .await?;
    let encx = Encx::new(crypto);

    let ada = Customer {
        id: uuid::Uuid::new_v4(),
        plan: "pro".into(),
        email: "Ada@Example.com".into(),
        phone: Some("+44 20 7946 0958".into()),
    };
    let grace = Customer {
        id: uuid::Uuid::new_v4(),
        plan: "free".into(),
        email: "grace@navy.example".into(),
        phone: None,
    };
    let txn = db.begin().await?;
    encx.insert(&txn, &ada).await?; // encrypted under a fresh data key
    encx.insert(&txn, &grace).await?;
    txn.commit().await?;

    // SeaORM's query builder with the blind index, then the re-check of the candidates.
    let candidates = customer_entity::Entity::find()
        .filter(encx.matches(Customer::EMAIL, " ada@example.COM")?)
        .all(&db)
        .await?;
    let found = encx
        .recheck(Customer::EMAIL, "ada@example.com", candidates)
        .await?
        .found;
    println!("found by e-mail: {found:?}");
    assert_eq!(found, vec![ada.clone()]);

    encx.erase::<Customer, _>(&db, grace.id).await?; // crypto-shred
    match encx.find_by_id::<Customer, _>(&db, grace.id).await {
        Err(err) if err.is_shredded() => println!("grace after erasure: {err}"),
        other => return Err(format!("grace should be shredded: {other:?}").into()),
    }

    let stored = customer_entity::Entity::find_by_id(ada.id)
        .one(&db)
        .await?
        .ok_or("ada's row")?;
    println!(
        "ada's stored row: plan {:?}, email {} bytes of ciphertext, email_bidx {:?}, encx_dek {} bytes",
        stored.plan,
        stored.email.len(),
        stored.email_bidx.as_deref().map(hex),
        stored.encx_dek.as_ref().map_or(0, Vec::len),
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
