//! An application with one database: the smallest use of encx and encx-sqlx (a record with an
//! encrypted, searchable field; insert, find, erase). With feature `sqlite` it runs on an
//! in-memory database; with `postgres` or `mysql` it is only built.

use std::sync::Arc;

use encx_sqlx::{EncxDatabase, Repo, SqlKekStore};

#[derive(Debug, encx::Encrypted)]
#[encx(table = "customers")]
struct Customer {
    #[encx(id)]
    id: uuid::Uuid,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

/// Insert, find by email, erase: what an application does with encx on database `DB`.
#[allow(dead_code)] // only called with feature `sqlite`
async fn tour<DB: EncxDatabase>(pool: sqlx::Pool<DB>) -> Result<(), Box<dyn std::error::Error>> {
    encx_sqlx::migrate(&pool).await?;
    let root: Arc<dyn encx::Keyring> = Arc::new(encx::LocalKeyring::new(vec![
        encx::MasterKey::generate("v1")?,
    ])?);
    let store = SqlKekStore::shared(pool.clone());
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .build()
        .await?;
    let customers = Repo::<Customer, DB>::new(pool.clone(), crypto);
    customers.create_table().await?;
    let ada = Customer {
        id: uuid::Uuid::new_v4(),
        email: "ada@example.com".into(),
    };
    customers.insert(&pool, &ada).await?;
    let found = customers.find_by(&pool, Customer::EMAIL, "ADA@example.com").await?;
    assert_eq!(found.len(), 1);
    let mut tx = pool.begin().await?;
    customers.erase(&mut tx, ada.id).await?;
    tx.commit().await?;
    assert!(customers.get(&pool, ada.id).await.is_err());
    println!("found {} by email, then erased it", found[0].email);
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "sqlite")]
    tour(sqlx::SqlitePool::connect("sqlite::memory:").await?).await?;
    Ok(())
}
