//! encx-sea-orm beside plain SeaORM doing the same work with plaintext columns, in one run, on
//! a SQLite file (no service needed): insert 10,000 records (one transaction, one statement
//! per record, as `Encx::insert` does), a blind-index lookup among 100,000 rows (plain: an
//! equality on an indexed column), and a read of 10,000 by id (`id IN (...)`).
//!
//! `cargo bench -p encx-sea-orm --features sqlite --bench sea_orm`
//!
//! With `--features sqlite,postgres` and `ENCX_BENCH_POSTGRES_URL` (or `ENCX_TEST_POSTGRES_URL`)
//! the same on PostgreSQL too (groups `sea_orm_postgres_*`), in a database of its own
//! (`encx_bench_sea_orm`, dropped and created anew).

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use encx::Encrypted;
use encx_sea_orm::sea_orm::{
    self, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use encx_sea_orm::Encx;

#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "bench_encrypted", sea_orm)]
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
mod plain {
    use encx_sea_orm::sea_orm;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_plain")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub plan: String,
        pub email: String,
        pub phone: Option<String>,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
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

fn plain_of(m: &Member) -> plain::ActiveModel {
    use sea_orm::ActiveValue::Set;
    plain::ActiveModel {
        id: Set(m.id),
        plan: Set(m.plan.clone()),
        email: Set(m.email.clone()),
        phone: Set(m.phone.clone()),
        name: Set(m.name.clone()),
    }
}

struct Bench {
    rt: tokio::runtime::Runtime,
    db: DatabaseConnection,
    encx: Encx,
}

/// A SQLite file in the temporary directory.
fn setup_sqlite() -> Bench {
    let file = std::env::temp_dir().join(format!("encx-bench-sea-orm-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    setup(
        format!("sqlite://{}?mode=rwc", file.display()),
        encx::schema::Dialect::Sqlite,
    )
}

/// A database of its own (`encx_bench_sea_orm`, dropped and created anew) on the PostgreSQL
/// server of `url`.
#[cfg(feature = "postgres")]
fn setup_postgres(url: &str) -> Bench {
    const DB: &str = "encx_bench_sea_orm";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = sea_orm::Database::connect(url).await.unwrap();
        server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
            .await
            .unwrap();
        server
            .execute_unprepared(&format!("CREATE DATABASE {DB}"))
            .await
            .unwrap();
        server.close().await.unwrap();
    });
    let base = url.split('?').next().unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    setup(format!("{server}/{DB}"), encx::schema::Dialect::Postgres)
}

/// encx's tables and keys, the encrypted table and its plaintext twin, on the database of `url`.
fn setup(url: String, dialect: encx::schema::Dialect) -> Bench {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (db, encx) = rt.block_on(async {
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(4).sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.unwrap();
        if dialect == encx::schema::Dialect::Sqlite {
            db.execute_unprepared("PRAGMA journal_mode = WAL").await.unwrap();
        }
        encx_sea_orm::migrate(&db).await.unwrap();
        for ddl in encx::schema::create_table::<Member>(dialect).unwrap() {
            db.execute_unprepared(&ddl).await.unwrap();
        }
        db.execute_unprepared(
            "CREATE TABLE bench_plain (id BIGINT PRIMARY KEY, plan TEXT NOT NULL, email TEXT NOT NULL, \
             phone TEXT NULL, name TEXT NOT NULL)",
        )
        .await
        .unwrap();
        db.execute_unprepared("CREATE INDEX bench_plain_email ON bench_plain (email)")
            .await
            .unwrap();
        let root: Arc<dyn encx::Keyring> = Arc::new(
            encx::LocalKeyring::new(vec![encx::MasterKey::new("bench", [7; 32]).unwrap()]).unwrap(),
        );
        let store = encx_sea_orm::kek_store(&db).unwrap();
        let crypto = encx::Crypto::builder()
            .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
            .index_keys_in(store, root)
            .build()
            .await
            .unwrap();
        (db, Encx::new(crypto))
    });
    Bench { rt, db, encx }
}

async fn insert_encrypted(b: &Bench, members: &[Member]) {
    let txn = b.db.begin().await.unwrap();
    for m in members {
        b.encx.insert(&txn, m).await.unwrap();
    }
    txn.commit().await.unwrap();
}

async fn insert_plain(b: &Bench, members: &[Member]) {
    let txn = b.db.begin().await.unwrap();
    for m in members {
        plain::Entity::insert(plain_of(m))
            .exec_without_returning(&txn)
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
}

fn benches(c: &mut Criterion) {
    run(c, "sea_orm", &setup_sqlite());
    #[cfg(feature = "postgres")]
    match ["ENCX_BENCH_POSTGRES_URL", "ENCX_TEST_POSTGRES_URL"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
    {
        Some(url) => run(c, "sea_orm_postgres", &setup_postgres(&url)),
        None => {
            println!("PostgreSQL: SKIPPED (no ENCX_BENCH_POSTGRES_URL or ENCX_TEST_POSTGRES_URL)")
        }
    }
}

/// The three measures, each plain SeaORM beside encx-sea-orm, as groups `{name}_...`.
fn run(c: &mut Criterion, name: &str, b: &Bench) {
    let batch: Vec<Member> = (1_000_000..1_010_000).map(member).collect();

    let mut group = c.benchmark_group(format!("{name}_insert_10k"));
    group.sample_size(10);
    group.bench_function("plain", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                b.db.execute_unprepared("DELETE FROM bench_plain")
                    .await
                    .unwrap();
                insert_plain(b, &batch).await;
            })
        })
    });
    group.bench_function("encx", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                b.db.execute_unprepared("DELETE FROM bench_encrypted")
                    .await
                    .unwrap();
                insert_encrypted(b, &batch).await;
            })
        })
    });
    group.finish();

    // 100,000 rows in each table for the lookups and reads.
    let all: Vec<Member> = (0..100_000).map(member).collect();
    b.rt.block_on(async {
        b.db.execute_unprepared("DELETE FROM bench_plain")
            .await
            .unwrap();
        b.db.execute_unprepared("DELETE FROM bench_encrypted")
            .await
            .unwrap();
        for chunk in all.chunks(10_000) {
            insert_plain(b, chunk).await;
            insert_encrypted(b, chunk).await;
        }
    });

    let mut group = c.benchmark_group(format!("{name}_lookup_in_100k"));
    group.bench_function("plain", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let found = plain::Entity::find()
                    .filter(plain::Column::Email.eq("member4242@example.com"))
                    .all(&b.db)
                    .await
                    .unwrap();
                assert_eq!(found.len(), 1);
            })
        })
    });
    group.bench_function("encx", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let found = b
                    .encx
                    .find_by(&b.db, Member::EMAIL, "member4242@example.com")
                    .await
                    .unwrap();
                assert_eq!(found.len(), 1);
            })
        })
    });
    group.finish();

    let ids: Vec<i64> = (0..100_000).step_by(10).collect();
    let mut group = c.benchmark_group(format!("{name}_read_10k_by_id"));
    group.sample_size(10);
    group.bench_function("plain", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let rows = plain::Entity::find()
                    .filter(plain::Column::Id.is_in(ids.clone()))
                    .all(&b.db)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 10_000);
            })
        })
    });
    group.bench_function("encx", |bench| {
        bench.iter(|| {
            b.rt.block_on(async {
                let rows = member_entity::Entity::find()
                    .filter(member_entity::Column::Id.is_in(ids.clone()))
                    .all(&b.db)
                    .await
                    .unwrap();
                let members: Vec<Member> = b.encx.decrypt_all(rows).await.unwrap();
                assert_eq!(members.len(), 10_000);
            })
        })
    });
    group.finish();
}

criterion_group!(sea_orm_benches, benches);
criterion_main!(sea_orm_benches);
