//! Many tasks at once: 32 tasks, each doing 10 × (insert, get, find_by) through one `Repo`,
//! on SQLite under several connection settings, beside PostgreSQL and MariaDB, in one run.
//!
//! `cargo bench -p encx-sqlx --features postgres,mysql,sqlite --bench concurrency`
//! (PostgreSQL with `ENCX_BENCH_POSTGRES_URL` or `ENCX_TEST_POSTGRES_URL`, MariaDB with
//! `ENCX_BENCH_MYSQL_URL` or `ENCX_TEST_MYSQL_URL`; each prints SKIPPED without one). Each
//! server gets a database of its own, `encx_bench_concurrency`, dropped when done.
//! `ENCX_BENCH_ROUNDS` (default 5) rounds, the median printed.
//!
//! The setup is the quickstart's: keys in the database (`SqlKekStore`, blind-index and subject
//! keys too), so a cold start also reads and writes `encx_keks` from the same pool. Keys are
//! warmed before the clock starts: what is timed is the records' traffic. The SQLite variants
//! separate what the time goes to:
//!
//! - `sqlx defaults`: what `SqlitePoolOptions::new().connect_with(options)` gives (a rollback
//!   journal, `synchronous = FULL`, a 5 s busy timeout, up to 10 connections): readers wait for
//!   writers, and SQLite's busy handler waits by sleeping (1 ms, 2 ms, 5 ms, … up to 100 ms);
//!   every commit syncs the journal and the database file.
//! - `WAL`: readers no longer wait for the writer; every commit still syncs the log.
//! - `WAL, synchronous = NORMAL`: commits do not sync (the log is synced at checkpoints;
//!   a power cut may lose the last commits, never corrupt the file).
//! - `WAL, NORMAL, 1 connection`: writers queue in the pool instead of sleeping in the busy
//!   handler.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use encx::{Crypto, Encrypted, HierarchicalKeyring, Keyring, LocalKeyring, MasterKey};
use encx_sqlx::{EncxDatabase, Repo, SqlKekStore, SqlSubjectKeyStore};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use uuid::Uuid;

/// A change made to the connection options of a SQLite variant.
type Tune = dyn Fn(SqliteConnectOptions) -> SqliteConnectOptions;

const TASKS: usize = 32;
const PER_TASK: usize = 10;

#[derive(Clone, Debug, PartialEq, Encrypted)]
#[encx(table = "bench_people")]
pub struct Person {
    #[encx(id)]
    pub id: Uuid,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: String,
}

fn person(task: usize, i: usize, round: usize) -> Person {
    Person {
        id: Uuid::new_v4(),
        username: format!("user{task}-{i}"),
        email: format!("user.{round}.{task}.{i}@example.com"),
        phone: format!("+1 555 {task:03}{i:04}"),
    }
}

/// The quickstart's key hierarchy on `pool`, keys warmed.
async fn repo<DB: EncxDatabase>(pool: sqlx::Pool<DB>) -> Repo<Person, DB> {
    encx_sqlx::migrate(&pool).await.unwrap();
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("v1", [7; 32]).unwrap()]).unwrap());
    let store = SqlKekStore::shared(pool.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .subject_keys_in(SqlSubjectKeyStore::shared(pool.clone()))
        .build()
        .await
        .unwrap();
    let repo = Repo::<Person, DB>::new(pool, crypto);
    repo.create_table().await.unwrap();
    repo.warm_keys(&[]).await.unwrap();
    repo.warm_keys(&[person(0, 0, usize::MAX)]).await.unwrap();
    repo
}

/// One round: `TASKS` tasks at once, each `PER_TASK` × (insert, get, find_by), every answer
/// checked.
async fn round<DB: EncxDatabase>(repo: &Repo<Person, DB>, round: usize) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    let p = person(t, i, round);
                    repo.insert(repo.pool(), &p).await.unwrap();
                    assert_eq!(repo.get(repo.pool(), p.id).await.unwrap(), p);
                    let found = repo
                        .find_by(repo.pool(), Person::EMAIL, &p.email)
                        .await
                        .unwrap();
                    assert_eq!(found, vec![p]);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

async fn median_of<DB: EncxDatabase>(repo: &Repo<Person, DB>, rounds: usize) -> Duration {
    round(repo, usize::MAX - 1).await; // warm-up: connections opened, statements prepared
    let mut times = Vec::new();
    for r in 0..rounds {
        times.push(round(repo, r).await);
    }
    times.sort();
    times[times.len() / 2]
}

/// The median round on a database of its own, `encx_bench_concurrency`, dropped and created
/// anew on the server of `$url` and dropped when done (so that the bench's key tables stay out
/// of the database named there).
macro_rules! median_on_own_database {
    ($pool:ty, $url:expr, $rounds:expr) => {{
        let url: &str = $url;
        let admin = <$pool>::connect(url).await.unwrap();
        for sql in [
            "DROP DATABASE IF EXISTS encx_bench_concurrency",
            "CREATE DATABASE encx_bench_concurrency",
        ] {
            sqlx::query(sql).execute(&admin).await.unwrap();
        }
        let server = url.split('?').next().unwrap();
        let server = server.rsplit_once('/').map_or(server, |(server, _)| server);
        let pool = <$pool>::connect(&format!("{server}/encx_bench_concurrency"))
            .await
            .unwrap();
        let took = median_of(&repo(pool.clone()).await, $rounds).await;
        pool.close().await;
        sqlx::query("DROP DATABASE encx_bench_concurrency")
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        took
    }};
}

fn url(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok())
}

fn print_row(name: &str, took: Duration, postgres: Option<Duration>) {
    let ratio = postgres
        .map(|pg| format!("{:.1}×", took.as_secs_f64() / pg.as_secs_f64()))
        .unwrap_or_else(|| "-".into());
    println!("| {name} | {:.3} s | {ratio} |", took.as_secs_f64());
}

async fn sqlite(
    dir: &std::path::Path,
    name: &str,
    connections: Option<u32>,
    tune: &Tune,
    rounds: usize,
) -> Duration {
    let file = dir.join(format!("{}.db", name.replace([' ', ',', '='], "_")));
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", file.display()))
        .unwrap()
        .create_if_missing(true);
    let mut pool = SqlitePoolOptions::new();
    if let Some(n) = connections {
        pool = pool.max_connections(n);
    }
    let pool = pool.connect_with(tune(options)).await.unwrap();
    let took = median_of(&repo(pool.clone()).await, rounds).await;
    pool.close().await;
    took
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("ENCX_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!("{TASKS} tasks × {PER_TASK} × (insert, get, find_by), median of {rounds} rounds");

    // PostgreSQL first: the other rows are given as multiples of it.
    let postgres = match url(&["ENCX_BENCH_POSTGRES_URL", "ENCX_TEST_POSTGRES_URL"]) {
        Some(url) => Some(median_on_own_database!(sqlx::PgPool, &url, rounds)),
        None => {
            println!("PostgreSQL: SKIPPED (no ENCX_BENCH_POSTGRES_URL or ENCX_TEST_POSTGRES_URL)");
            None
        }
    };

    let mariadb = match url(&["ENCX_BENCH_MYSQL_URL", "ENCX_TEST_MYSQL_URL"]) {
        Some(url) => Some(median_on_own_database!(sqlx::MySqlPool, &url, rounds)),
        None => {
            println!("MariaDB: SKIPPED (no ENCX_BENCH_MYSQL_URL or ENCX_TEST_MYSQL_URL)");
            None
        }
    };

    let dir = std::env::temp_dir().join(format!("encx-bench-concurrency-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let wal = |o: SqliteConnectOptions| o.journal_mode(SqliteJournalMode::Wal);
    let wal_normal = |o: SqliteConnectOptions| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    let defaults = |o: SqliteConnectOptions| o;
    let normal = |o: SqliteConnectOptions| o.synchronous(SqliteSynchronous::Normal);
    let variants: [(&str, Option<u32>, &Tune); 5] = [
        ("SQLite, sqlx defaults", None, &defaults),
        ("SQLite, synchronous = NORMAL", None, &normal),
        ("SQLite, WAL", None, &wal),
        ("SQLite, WAL, synchronous = NORMAL", None, &wal_normal),
        (
            "SQLite, WAL, synchronous = NORMAL, 1 connection",
            Some(1),
            &wal_normal,
        ),
    ];
    let mut sqlite_rows = Vec::new();
    for (name, connections, tune) in variants {
        sqlite_rows.push((name, sqlite(&dir, name, connections, tune, rounds).await));
    }
    std::fs::remove_dir_all(&dir).unwrap();

    println!("| database | time | ÷ PostgreSQL |");
    println!("|---|---|---|");
    if let Some(pg) = postgres {
        print_row("PostgreSQL", pg, postgres);
    }
    if let Some(my) = mariadb {
        print_row("MariaDB", my, postgres);
    }
    for (name, took) in sqlite_rows {
        print_row(name, took, postgres);
    }
}
