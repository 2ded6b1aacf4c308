//! encx-diesel beside plain Diesel doing the same work with plaintext columns, in one run, on a
//! SQLite file (no service needed): insert 10,000 records (one transaction, one statement per
//! record), a blind-index lookup among 100,000 rows (plain: an equality on an indexed column),
//! and a read of 10,000 by id (`id IN (...)`).
//!
//! `cargo bench -p encx-diesel --features sqlite --bench diesel`
//!
//! With `--features sqlite,postgres` and `ENCX_BENCH_POSTGRES_URL` (or `ENCX_TEST_POSTGRES_URL`)
//! the same on PostgreSQL too (groups `diesel_postgres_*`), in a database of its own
//! (`encx_bench_diesel`, dropped and created anew).

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use diesel::prelude::*;
use encx::Encrypted;
use encx_diesel::Encx;

mod schema {
    diesel::table! {
        bench_encrypted (id) {
            id -> BigInt,
            plan -> Text,
            email -> Binary,
            email_bidx -> Nullable<Binary>,
            phone -> Nullable<Binary>,
            name -> Binary,
            encx_dek -> Nullable<Binary>,
        }
    }

    diesel::table! {
        bench_plain (id) {
            id -> BigInt,
            plan -> Text,
            email -> Text,
            phone -> Nullable<Text>,
            name -> Text,
        }
    }
}
use schema::{bench_encrypted, bench_plain};

#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "bench_encrypted", diesel(table = schema::bench_encrypted))]
struct Member {
    #[encx(id)]
    id: i64,
    plan: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    phone: Option<String>,
    #[encx(encrypt)]
    name: String,
}

/// The same record in plaintext columns.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = bench_plain)]
struct PlainMember {
    id: i64,
    plan: String,
    email: String,
    phone: Option<String>,
    name: String,
}

fn member(id: i64) -> Member {
    Member {
        id,
        plan: "pro".into(),
        email: format!("member{id}@example.com"),
        phone: Some(format!("+44 20 7946 {:04}", id % 10_000)),
        name: format!("Member Number {id}"),
    }
}

fn plain_of(m: &Member) -> PlainMember {
    PlainMember {
        id: m.id,
        plan: m.plan.clone(),
        email: m.email.clone(),
        phone: m.phone.clone(),
        name: m.name.clone(),
    }
}

/// A runtime for encx's key store, with one worker.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// encx's tables on `pool` and a `Crypto` whose KEKs and index key are kept there.
async fn crypto_on<DB: encx_sqlx::EncxDatabase>(pool: sqlx::Pool<DB>) -> encx::Crypto {
    encx_sqlx::migrate(&pool).await.unwrap();
    let root: Arc<dyn encx::Keyring> = Arc::new(
        encx::LocalKeyring::new(vec![encx::MasterKey::new("bench", [7; 32]).unwrap()]).unwrap(),
    );
    let store = encx_sqlx::SqlKekStore::shared(pool);
    encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .build()
        .await
        .unwrap()
}

/// The DDL of the encrypted table and its plaintext twin (an index on its email).
fn table_ddl(dialect: encx::schema::Dialect) -> Vec<String> {
    let mut ddl = encx::schema::create_table::<Member>(dialect).unwrap();
    ddl.push(
        "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, plan TEXT NOT NULL, email TEXT NOT NULL, \
         phone TEXT NULL, name TEXT NOT NULL)"
            .to_string(),
    );
    ddl.push("CREATE INDEX bench_plain_email ON bench_plain (email)".to_string());
    ddl
}

/// A SQLite file in the temporary directory (WAL), with its tables and keys.
fn setup_sqlite() -> (tokio::runtime::Runtime, SqliteConnection, Encx) {
    let rt = runtime();
    let file = std::env::temp_dir().join(format!("encx-bench-diesel-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let crypto = rt.block_on(async {
        let keys = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        crypto_on(keys).await
    });
    let mut conn = SqliteConnection::establish(&file.display().to_string()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .unwrap();
    for ddl in table_ddl(encx::schema::Dialect::Sqlite) {
        diesel::sql_query(ddl).execute(&mut conn).unwrap();
    }
    let encx = Encx::new(crypto, rt.handle().clone());
    (rt, conn, encx)
}

/// A database of its own (`encx_bench_diesel`, dropped and created anew) on the PostgreSQL
/// server of `url`, with its tables and keys.
#[cfg(feature = "postgres")]
fn setup_postgres(url: &str) -> (tokio::runtime::Runtime, PgConnection, Encx) {
    const DB: &str = "encx_bench_diesel";
    let mut server = PgConnection::establish(url).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        .execute(&mut server)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {DB}"))
        .execute(&mut server)
        .unwrap();
    drop(server);
    let base = url.split('?').next().unwrap();
    let url = format!("{}/{DB}", base.rsplit_once('/').unwrap().0);
    let rt = runtime();
    let crypto = rt.block_on(async {
        let keys = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        crypto_on(keys).await
    });
    let mut conn = PgConnection::establish(&url).unwrap();
    for ddl in table_ddl(encx::schema::Dialect::Postgres) {
        diesel::sql_query(ddl).execute(&mut conn).unwrap();
    }
    let encx = Encx::new(crypto, rt.handle().clone());
    (rt, conn, encx)
}

/// The three measures on one kind of connection, each plain Diesel beside encx-diesel, as
/// groups `{name}_...` (a macro: Diesel's DSL is checked per backend).
macro_rules! measures {
    ($run:ident, $conn:ty) => {
        fn $run(c: &mut Criterion, name: &str, conn: &mut $conn, encx: &Encx) {
            fn insert_encrypted(conn: &mut $conn, encx: &Encx, members: &[Member]) {
                conn.transaction(|conn| {
                    for m in members {
                        diesel::insert_into(bench_encrypted::table)
                            .values(&encx.encrypt(m).unwrap())
                            .execute(conn)?;
                    }
                    Ok::<_, diesel::result::Error>(())
                })
                .unwrap();
            }

            fn insert_plain(conn: &mut $conn, members: &[Member]) {
                conn.transaction(|conn| {
                    for m in members {
                        diesel::insert_into(bench_plain::table)
                            .values(&plain_of(m))
                            .execute(conn)?;
                    }
                    Ok::<_, diesel::result::Error>(())
                })
                .unwrap();
            }

            let batch: Vec<Member> = (1_000_000..1_010_000).map(member).collect();

            let mut group = c.benchmark_group(format!("{name}_insert_10k"));
            group.sample_size(10);
            group.bench_function("plain", |b| {
                b.iter(|| {
                    diesel::delete(bench_plain::table).execute(conn).unwrap();
                    insert_plain(conn, &batch);
                })
            });
            group.bench_function("encx", |b| {
                b.iter(|| {
                    diesel::delete(bench_encrypted::table)
                        .execute(conn)
                        .unwrap();
                    insert_encrypted(conn, encx, &batch);
                })
            });
            group.finish();

            let all: Vec<Member> = (0..100_000).map(member).collect();
            diesel::delete(bench_plain::table).execute(conn).unwrap();
            diesel::delete(bench_encrypted::table)
                .execute(conn)
                .unwrap();
            for chunk in all.chunks(10_000) {
                insert_plain(conn, chunk);
                insert_encrypted(conn, encx, chunk);
            }

            let mut group = c.benchmark_group(format!("{name}_lookup_in_100k"));
            group.bench_function("plain", |b| {
                b.iter(|| {
                    let found: Vec<PlainMember> = bench_plain::table
                        .filter(bench_plain::email.eq("member4242@example.com"))
                        .select(PlainMember::as_select())
                        .load(conn)
                        .unwrap();
                    assert_eq!(found.len(), 1);
                })
            });
            group.bench_function("encx", |b| {
                b.iter(|| {
                    let value = "member4242@example.com";
                    let rows: Vec<MemberRow> = bench_encrypted::table
                        .filter(
                            bench_encrypted::email_bidx
                                .eq_any(encx.blind_indexes(Member::EMAIL, value).unwrap()),
                        )
                        .select(MemberRow::as_select())
                        .load(conn)
                        .unwrap();
                    let found = encx.recheck(Member::EMAIL, value, rows).unwrap().found;
                    assert_eq!(found.len(), 1);
                })
            });
            group.finish();

            let ids: Vec<i64> = (0..100_000).step_by(10).collect();
            let mut group = c.benchmark_group(format!("{name}_read_10k_by_id"));
            group.sample_size(10);
            group.bench_function("plain", |b| {
                b.iter(|| {
                    let rows: Vec<PlainMember> = bench_plain::table
                        .filter(bench_plain::id.eq_any(&ids))
                        .select(PlainMember::as_select())
                        .load(conn)
                        .unwrap();
                    assert_eq!(rows.len(), 10_000);
                })
            });
            group.bench_function("encx", |b| {
                b.iter(|| {
                    let rows: Vec<MemberRow> = bench_encrypted::table
                        .filter(bench_encrypted::id.eq_any(&ids))
                        .select(MemberRow::as_select())
                        .load(conn)
                        .unwrap();
                    let members: Vec<Member> = encx.decrypt_all(rows).unwrap();
                    assert_eq!(members.len(), 10_000);
                })
            });
            group.finish();
        }
    };
}

measures!(measure_sqlite, SqliteConnection);
#[cfg(feature = "postgres")]
measures!(measure_postgres, PgConnection);

fn benches(c: &mut Criterion) {
    let (_rt, mut conn, encx) = setup_sqlite();
    measure_sqlite(c, "diesel", &mut conn, &encx);
    #[cfg(feature = "postgres")]
    match ["ENCX_BENCH_POSTGRES_URL", "ENCX_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
    {
        Some(url) => {
            let (_rt, mut conn, encx) = setup_postgres(&url);
            measure_postgres(c, "diesel_postgres", &mut conn, &encx);
        }
        None => {
            println!("PostgreSQL: SKIPPED (no ENCX_BENCH_POSTGRES_URL or ENCX_TEST_POSTGRES_URL)")
        }
    }
}

criterion_group!(diesel_benches, benches);
criterion_main!(diesel_benches);
