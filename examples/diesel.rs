//! encx with Diesel 2, on a SQLite file with a local master key: no setup.
//!
//! `cargo run -p encx-examples --example diesel`
//!
//! A `Patient` with encrypted fields and a searchable e-mail, stored through Diesel's own DSL
//! (`table!`, `insert_into`, `filter`, `update`) over an r2d2 pool: rows encrypted inside
//! `conn.transaction` (one data key each), found with `eq_any` on the blind index and
//! re-checked, one crypto-shredded with the generated `PatientErasure` changeset. encx's
//! key table lives in the same file, read through sqlx on a small tokio runtime: with the keys
//! in memory, Diesel's calls never wait on it.

use std::sync::Arc;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use encx::Encrypted;
use encx_diesel::Encx;

mod schema {
    diesel::table! {
        patients (id) {
            id -> BigInt,
            ward -> Text,
            email -> Binary,
            email_bidx -> Nullable<Binary>,
            diagnosis -> Nullable<Binary>,
            encx_dek -> Nullable<Binary>,
        }
    }
}
use schema::patients;

#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "patients", diesel(table = schema::patients))] // also PatientRow, PatientErasure
struct Patient {
    #[encx(id)]
    id: i64,
    ward: String, // stays plain
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    diagnosis: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // encx's key store (the `encx_keks` table) runs on sqlx, on a runtime of its own.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let crypto = runtime.block_on(async {
        let options =
            "sqlite://diesel.db?mode=rwc".parse::<sqlx::sqlite::SqliteConnectOptions>()?;
        let keys = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        encx_sqlx::migrate(&keys).await?;
        let key = encx_examples::load_or_create_master_key(std::path::Path::new("diesel.key"))?;
        let root: Arc<dyn encx::Keyring> = Arc::new(encx::LocalKeyring::new(vec![key])?);
        let store = encx_sqlx::SqlKekStore::shared(keys);
        let crypto = encx::Crypto::builder()
            .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
            .index_keys_in(store, root)
            .build()
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(crypto)
    })?;
    let encx = Encx::new(crypto, runtime.handle().clone());

    let pool = Pool::builder()
        .max_size(2)
        .build(ConnectionManager::<SqliteConnection>::new("diesel.db"))?;
    let conn = &mut pool.get()?;
    diesel::sql_query("PRAGMA busy_timeout = 5000").execute(conn)?;
    diesel::sql_query("DROP TABLE IF EXISTS patients").execute(conn)?; // start afresh
    for ddl in encx::schema::create_table::<Patient>(encx::schema::Dialect::Sqlite)? {
        diesel::sql_query(ddl).execute(conn)?;
    }

    let ada = Patient {
        id: 1,
        ward: "north".into(),
        email: "Ada@Example.com".into(),
        diagnosis: Some("hypertension".into()),
    };
    let grace = Patient {
        id: 2,
        ward: "south".into(),
        email: "grace@navy.example".into(),
        diagnosis: None,
    };
    conn.transaction(|conn| {
        diesel::insert_into(patients::table)
            .values(encx.encrypt_all(&[ada.clone(), grace.clone()])?) // a data key each
            .execute(conn)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    // Diesel's query with the blind index, then the re-check of the candidates.
    let candidates: Vec<PatientRow> = patients::table
        .filter(
            patients::email_bidx.eq_any(encx.blind_indexes(Patient::EMAIL, " ada@example.COM")?),
        )
        .select(PatientRow::as_select())
        .load(conn)?;
    let found = encx
        .recheck(Patient::EMAIL, "ada@example.com", candidates)?
        .found;
    println!("found by e-mail: {found:?}");
    assert_eq!(found, vec![ada.clone()]);

    // Crypto-shredding: the wrapped data key and the blind index become NULL.
    let erased = diesel::update(patients::table.find(grace.id))
        .set(&encx.erasure::<Patient>())
        .execute(conn)?;
    encx.erased::<Patient, _>(&grace.id, erased);
    let row: PatientRow = patients::table
        .find(grace.id)
        .select(PatientRow::as_select())
        .first(conn)?;
    match encx.decrypt::<Patient>(row) {
        Err(err) if err.is_shredded() => println!("grace after erasure: {err}"),
        other => return Err(format!("grace should be shredded: {other:?}").into()),
    }

    let stored: PatientRow = patients::table
        .find(ada.id)
        .select(PatientRow::as_select())
        .first(conn)?;
    println!(
        "ada's stored row: ward {:?}, email {} bytes of ciphertext, diagnosis {} bytes, encx_dek {} bytes",
        stored.ward,
        stored.email.len(),
        stored.diagnosis.as_ref().map_or(0, Vec::len),
        stored.encx_dek.as_ref().map_or(0, Vec::len),
    );
    Ok(())
}
