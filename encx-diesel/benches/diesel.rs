//! encx-diesel beside plain Diesel doing the same work with plaintext columns, in one run, on a
//! SQLite file (no service needed): insert 10,000 records (one transaction, one statement per
//! record), a blind-index lookup among 100,000 rows (plain: an equality on an indexed column),
//! and a read of 10,000 by id (`id IN (...)`).
//!
//! `cargo bench -p encx-diesel --features sqlite --bench diesel`

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

fn setup() -> (tokio::runtime::Runtime, SqliteConnection, Encx) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let file = std::env::temp_dir().join(format!("encx-bench-diesel-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let crypto = rt.block_on(async {
        let keys = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap();
        encx_sqlx::migrate(&keys).await.unwrap();
        let root: Arc<dyn encx::Keyring> = Arc::new(
            encx::LocalKeyring::new(vec![encx::MasterKey::new("bench", [7; 32]).unwrap()]).unwrap(),
        );
        let store = encx_sqlx::SqlKekStore::shared(keys);
        encx::Crypto::builder()
            .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
            .index_keys_in(store, root)
            .build()
            .await
            .unwrap()
    });
    let mut conn = SqliteConnection::establish(&file.display().to_string()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 30000")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("PRAGMA journal_mode = WAL")
        .execute(&mut conn)
        .unwrap();
    for ddl in encx::schema::create_table::<Member>(encx::schema::Dialect::Sqlite).unwrap() {
        diesel::sql_query(ddl).execute(&mut conn).unwrap();
    }
    diesel::sql_query(
        "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, plan TEXT NOT NULL, email TEXT NOT NULL, \
         phone TEXT NULL, name TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("CREATE INDEX bench_plain_email ON bench_plain (email)")
        .execute(&mut conn)
        .unwrap();
    let encx = Encx::new(crypto, rt.handle().clone());
    (rt, conn, encx)
}

fn insert_encrypted(conn: &mut SqliteConnection, encx: &Encx, members: &[Member]) {
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

fn insert_plain(conn: &mut SqliteConnection, members: &[Member]) {
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

fn benches(c: &mut Criterion) {
    let (_rt, mut conn, encx) = setup();
    let batch: Vec<Member> = (1_000_000..1_010_000).map(member).collect();

    let mut group = c.benchmark_group("diesel_insert_10k");
    group.sample_size(10);
    group.bench_function("plain", |b| {
        b.iter(|| {
            diesel::delete(bench_plain::table)
                .execute(&mut conn)
                .unwrap();
            insert_plain(&mut conn, &batch);
        })
    });
    group.bench_function("encx", |b| {
        b.iter(|| {
            diesel::delete(bench_encrypted::table)
                .execute(&mut conn)
                .unwrap();
            insert_encrypted(&mut conn, &encx, &batch);
        })
    });
    group.finish();

    let all: Vec<Member> = (0..100_000).map(member).collect();
    diesel::delete(bench_plain::table)
        .execute(&mut conn)
        .unwrap();
    diesel::delete(bench_encrypted::table)
        .execute(&mut conn)
        .unwrap();
    for chunk in all.chunks(10_000) {
        insert_plain(&mut conn, chunk);
        insert_encrypted(&mut conn, &encx, chunk);
    }

    let mut group = c.benchmark_group("diesel_lookup_in_100k");
    group.bench_function("plain", |b| {
        b.iter(|| {
            let found: Vec<PlainMember> = bench_plain::table
                .filter(bench_plain::email.eq("member4242@example.com"))
                .select(PlainMember::as_select())
                .load(&mut conn)
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
                .load(&mut conn)
                .unwrap();
            let found = encx.recheck(Member::EMAIL, value, rows).unwrap().found;
            assert_eq!(found.len(), 1);
        })
    });
    group.finish();

    let ids: Vec<i64> = (0..100_000).step_by(10).collect();
    let mut group = c.benchmark_group("diesel_read_10k_by_id");
    group.sample_size(10);
    group.bench_function("plain", |b| {
        b.iter(|| {
            let rows: Vec<PlainMember> = bench_plain::table
                .filter(bench_plain::id.eq_any(&ids))
                .select(PlainMember::as_select())
                .load(&mut conn)
                .unwrap();
            assert_eq!(rows.len(), 10_000);
        })
    });
    group.bench_function("encx", |b| {
        b.iter(|| {
            let rows: Vec<MemberRow> = bench_encrypted::table
                .filter(bench_encrypted::id.eq_any(&ids))
                .select(MemberRow::as_select())
                .load(&mut conn)
                .unwrap();
            let members: Vec<Member> = encx.decrypt_all(rows).unwrap();
            assert_eq!(members.len(), 10_000);
        })
    });
    group.finish();
}

criterion_group!(diesel_benches, benches);
criterion_main!(diesel_benches);
