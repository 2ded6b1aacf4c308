//! PostgreSQL: encx repositories against plain sqlx on the same rows, in the same run.
//!
//! `ENCX_BENCH_POSTGRES_URL=postgres://encx:encx@127.0.0.1:5432/postgres cargo bench -p encx-sqlx --features postgres --bench postgres`
//! (falls back to `ENCX_TEST_POSTGRES_URL`; prints SKIPPED without either). It creates and
//! drops its own database.
//!
//! An interleaved design, not criterion: on a 2-core machine that also runs the database
//! server, run-to-run noise (±20%) is larger than the effects measured. So the variants run
//! interleaved, round by round, in an order rotated every round, after a warm-up, and the
//! bench reports the median of each and their ratios.
//!
//! - `insert_10k`: 10,000 records through `Repo::insert_many` (encrypt + one transaction of
//!   `UNNEST` inserts) versus the same rows as plaintext with sqlx's `QueryBuilder::push_values`
//!   (the headline baseline: how sqlx's docs insert many rows), also in one transaction of
//!   1,000-row INSERTs. Two more variants in the same rounds: the plaintext rows through the same
//!   `UNNEST` statements, and the encrypted rows, encrypted beforehand, through them (what the
//!   database alone costs for rows of encx's size).
//! - `lookup_100k`: `Repo::find_by` on a 100,000-row table (blind index, decrypt, re-check)
//!   versus `SELECT ... WHERE email = $1` on an indexed plaintext column of the same rows.
//! - `get_many_10k` and `stream_all_100k` (see [`get_many_10k`]): bulk reads against plain
//!   sqlx reading the same rows, the encrypted rows read without decryption (the floor), and
//!   a repository decrypting on one thread per core (`Repo::decrypt_workers`) beside the
//!   default. `ENCX_BENCH_ONLY=get_many` (a comma-separated list of sections) runs only some sections.
//! - `rewrap`, `reencrypt`, `status` (see [`rewrap_and_status`]), and `migrate`/`verify` of a
//!   100,000-row plaintext table with one worker and four (see [`migrate_throughput`]).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use encx::sql::PgBindArrays;
use encx::{Crypto, Encrypted, HierarchicalKeyring, KekStore, Keyring, LocalKeyring, MasterKey};
use encx_sqlx::{Repo, SqlKekStore};
use sqlx::{Connection, Executor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

#[derive(Clone, Encrypted)]
#[encx(table = "bench_users")]
pub struct User {
    #[encx(id)]
    pub id: Uuid,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: String,
    #[encx(encrypt)]
    pub name: String,
    #[encx(encrypt)]
    pub city: String,
}

fn user(n: usize) -> User {
    User {
        id: Uuid::new_v4(),
        username: format!("user{n}"),
        email: format!("user.{n}@example.com"),
        phone: format!("+1 555 {n:07}"),
        name: format!("Firstname{n} Lastname"),
        city: ["London", "Paris", "Lyon", "Springfield"][n % 4].into(),
    }
}

/// The migrated table of [`migrate_throughput`]: `legacy_users`, plaintext in `*_plain`.
#[derive(Clone, PartialEq, Encrypted)]
#[encx(table = "legacy_users")]
pub struct Customer {
    #[encx(id)]
    pub id: i64,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: String,
    #[encx(encrypt)]
    pub name: String,
    #[encx(encrypt)]
    pub city: String,
}

/// A row of `legacy_users` as it was before encx.
#[derive(sqlx::FromRow)]
struct PlainCustomer {
    id: i64,
    username: String,
    email_plain: String,
    phone_plain: String,
    name_plain: String,
    city_plain: String,
}

fn plaintext_customers() -> encx_sqlx::Plaintext<Customer, Postgres> {
    encx_sqlx::Plaintext::new(|p: PlainCustomer| Customer {
        id: p.id,
        username: p.username,
        email: p.email_plain,
        phone: p.phone_plain,
        name: p.name_plain,
        city: p.city_plain,
    })
    .column("email", "email_plain")
    .column("phone", "phone_plain")
    .column("name", "name_plain")
    .column("city", "city_plain")
}

/// Vacuums and checkpoints, so that a timed job does not share the server with the cleanup
/// of the sections before it.
async fn settle(pool: &PgPool) {
    pool.execute("VACUUM").await.unwrap();
    pool.execute("CHECKPOINT").await.unwrap();
}

/// `migrate`: a 100,000-row plaintext table (`ENCX_BENCH_MIGRATE_ROWS`) encrypted into encx's
/// columns by one worker, then (columns cleared) by four, 500 rows per batch; then `verify`
/// (decrypt every row, compare with its plaintext), timed.
async fn migrate_throughput(s: &Setup) {
    let rows: i64 = std::env::var("ENCX_BENCH_MIGRATE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    s.pool
        .execute(
            "CREATE TABLE legacy_users (id BIGINT PRIMARY KEY, username TEXT NOT NULL, \
             email_plain TEXT, phone_plain TEXT, name_plain TEXT, city_plain TEXT)",
        )
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO legacy_users SELECT n, 'user' || n, 'user.' || n || '@example.com', \
         '+1 555 ' || lpad(n::text, 7, '0'), 'Firstname' || n || ' Lastname', \
         (ARRAY['London', 'Paris', 'Lyon', 'Springfield'])[n % 4 + 1] \
         FROM generate_series(0, $1 - 1) AS n",
    )
    .bind(rows)
    .execute(&s.pool)
    .await
    .unwrap();
    let customers = Repo::<Customer, Postgres>::new(s.pool.clone(), s.repo.crypto().clone());
    customers.add_encrypted_columns().await.unwrap();
    s.pool.execute("VACUUM ANALYZE legacy_users").await.unwrap();
    let url = format!("{}/{}", &s.admin[..s.admin.rfind('/').unwrap()], s.db);
    for workers in [1, 4] {
        s.pool
            .execute(
                "UPDATE legacy_users SET email = NULL, email_bidx = NULL, phone = NULL, \
                 name = NULL, city = NULL, encx_dek = NULL",
            )
            .await
            .unwrap();
        s.pool.execute("VACUUM ANALYZE legacy_users").await.unwrap();
        settle(&s.pool).await;
        let mut repos = Vec::new();
        for _ in 0..workers {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap();
            let repo = Repo::<Customer, Postgres>::new(pool, s.repo.crypto().clone());
            repos.push(repo.with_plaintext(plaintext_customers()).unwrap());
        }
        let t = Instant::now();
        let handles: Vec<_> = repos
            .into_iter()
            .map(|repo| tokio::spawn(async move { repo.migrate(500).await.unwrap().rewrapped }))
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        let took = t.elapsed();
        println!(
            "migrate, {workers} worker(s): {total} of {rows} plaintext rows encrypted in {took:?} = {:.0} rows/s",
            total as f64 / took.as_secs_f64()
        );
        assert_eq!(total as i64, rows);
    }
    let reading = customers.with_plaintext(plaintext_customers()).unwrap();
    let t = Instant::now();
    let report = reading.verify(2_000).await.unwrap();
    let took = t.elapsed();
    println!(
        "verify: {} rows decrypted and compared in {took:?} = {:.0} rows/s, complete: {}",
        report.checked,
        report.checked as f64 / took.as_secs_f64(),
        report.is_complete()
    );
    assert!(report.is_complete());
}

const PLAIN_DDL: &str =
    "CREATE TABLE plain_users (id UUID PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL, \
                         phone TEXT NOT NULL, name TEXT NOT NULL, city TEXT NOT NULL)";

async fn plain_insert(pool: &PgPool, users: &[User]) {
    let mut tx = pool.begin().await.unwrap();
    for chunk in users.chunks(1000) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO plain_users (id, username, email, phone, name, city) ",
        );
        q.push_values(chunk, |mut b, u| {
            b.push_bind(u.id)
                .push_bind(&u.username)
                .push_bind(&u.email)
                .push_bind(&u.phone)
                .push_bind(&u.name)
                .push_bind(&u.city);
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

/// The same plaintext rows as one `INSERT ... SELECT * FROM UNNEST(...)` of column arrays per
/// 1,000 rows: the insert technique `insert_many` uses on PostgreSQL, without encryption.
async fn plain_insert_unnest(pool: &PgPool, users: &[User]) {
    let mut tx = pool.begin().await.unwrap();
    for chunk in users.chunks(1000) {
        sqlx::query(
            "INSERT INTO plain_users (id, username, email, phone, name, city) \
             SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6)",
        )
        .bind(chunk.iter().map(|u| u.id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| &u.username).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| &u.email).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| &u.phone).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| &u.name).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| &u.city).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The encrypted rows themselves, encrypted beforehand, through the same `UNNEST` statements
/// `insert_many` sends: what the database alone costs for rows of encx's size.
async fn encrypted_rows_insert(pool: &PgPool, records: &[UserRecord]) {
    let mut tx = pool.begin().await.unwrap();
    for chunk in records.chunks(1000) {
        let mut args = sqlx::postgres::PgArguments::default();
        UserRecord::pg_bind_arrays(chunk, &mut args)
            .unwrap()
            .unwrap();
        sqlx::query_with(
            "INSERT INTO bench_users (id, username, email, email_bidx, phone, name, city, encx_dek) \
             SELECT * FROM UNNEST($1, $2, $3, $4, $5, $6, $7, $8)",
            args,
        )
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

struct Setup {
    pool: PgPool,
    repo: Repo<User, Postgres>,
    /// The same table, audit events dropped (`NoAudit`) / written to `encx_audit`.
    audit_off: Repo<User, Postgres>,
    audit_on: Repo<User, Postgres>,
    audit_sink: Arc<encx_sqlx::SqlAuditSink>,
    admin: String,
    db: String,
}

async fn setup(admin: &str) -> Setup {
    let db = format!("encx_bench_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .unwrap();
    let url = format!("{}/{db}", &admin[..admin.rfind('/').unwrap()]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .unwrap();
    encx_sqlx::migrate(&pool).await.unwrap();
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap());
    let store: Arc<dyn KekStore> = Arc::new(SqlKekStore::<Postgres>::new(pool.clone()));
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store.clone(), root.clone())
        .build()
        .await
        .unwrap();
    let repo = Repo::<User, Postgres>::new(pool.clone(), crypto.clone());
    repo.create_table().await.unwrap();
    let with_audit = |sink: Arc<dyn encx::AuditSink>| {
        let store = store.clone();
        let root = root.clone();
        async move {
            Crypto::builder()
                .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
                .index_keys_in(store, root)
                .audit(sink)
                .build()
                .await
                .unwrap()
        }
    };
    let audit_sink = encx_sqlx::SqlAuditSink::spawn(pool.clone(), 100_000);
    let audit_off = Repo::<User, Postgres>::new(
        pool.clone(),
        with_audit(Arc::new(encx::audit::NoAudit)).await,
    );
    let audit_on = Repo::<User, Postgres>::new(pool.clone(), with_audit(audit_sink.clone()).await);
    pool.execute(PLAIN_DDL).await.unwrap();
    pool.execute("CREATE INDEX plain_users_email ON plain_users (email)")
        .await
        .unwrap();
    Setup {
        pool,
        repo,
        audit_off,
        audit_on,
        audit_sink,
        admin: admin.to_owned(),
        db,
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn report(name: &str, plain: Vec<Duration>, encx: Vec<Duration>) -> (Duration, Duration) {
    let (p, e) = (median(plain), median(encx));
    println!(
        "{name}: plaintext median {p:?}, encx median {e:?}, encx/plaintext time = {:.3}, throughput ratio = {:.3}",
        e.as_secs_f64() / p.as_secs_f64(),
        p.as_secs_f64() / e.as_secs_f64()
    );
    (p, e)
}

/// Whether the section `name` runs: all of them unless `ENCX_BENCH_ONLY` lists some
/// (comma-separated: insert, lookup, get_many, audit, rewrap, migrate).
fn section(name: &str) -> bool {
    match std::env::var("ENCX_BENCH_ONLY") {
        Ok(only) => only.split(',').any(|s| s.trim() == name),
        Err(_) => true,
    }
}

async fn run(s: &Setup) {
    if section("insert") {
        insert_10k(s).await;
    }
    let rows: Vec<User> = (0..100_000).map(user).collect();
    if section("lookup") || section("get_many") {
        s.pool.execute("TRUNCATE plain_users").await.unwrap();
        s.pool.execute("TRUNCATE bench_users").await.unwrap();
        for chunk in rows.chunks(10_000) {
            plain_insert(&s.pool, chunk).await;
            s.repo.insert_many(s.repo.pool(), chunk).await.unwrap();
        }
        s.pool.execute("VACUUM ANALYZE").await.unwrap();
    }
    if section("lookup") {
        lookup_100k(s, &rows).await;
    }
    if section("get_many") {
        get_many_10k(s, &rows).await;
    }
    if section("audit") {
        audit_cost(s).await;
    }
    if section("rewrap") {
        rewrap_and_status(s).await;
    }
    if section("migrate") {
        migrate_throughput(s).await;
    }
}

/// The plaintext twin of `User`, read by plain sqlx.
#[derive(sqlx::FromRow)]
struct PlainUser {
    id: Uuid,
    username: String,
    email: String,
    phone: String,
    name: String,
    city: String,
}

impl From<PlainUser> for User {
    fn from(p: PlainUser) -> User {
        User {
            id: p.id,
            username: p.username,
            email: p.email,
            phone: p.phone,
            name: p.name,
            city: p.city,
        }
    }
}

/// `get_many_10k`: `Repo::get_many` of 10,000 ids of the 100,000-row table (rows decrypted
/// while they arrive) versus plain sqlx reading the same rows of the plaintext table
/// (`WHERE id = ANY($1)`) into the same struct; and `stream_all_100k`: `Repo::stream_all`
/// over the whole table versus plain sqlx's `fetch` stream of the plaintext table. 3 warm-up
/// rounds, then 15 measured, the two variants alternating first.
async fn get_many_10k(s: &Setup, rows: &[User]) {
    use futures_util::TryStreamExt;
    let ids: Vec<Uuid> = (0..10_000)
        .map(|i| rows[(i * 7919) % rows.len()].id)
        .collect();
    let plain_read = || async {
        let t = Instant::now();
        let found: Vec<User> = sqlx::query_as::<_, PlainUser>(
            "SELECT id, username, email, phone, name, city FROM plain_users WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&s.pool)
        .await
        .unwrap()
        .into_iter()
        .map(User::from)
        .collect();
        assert_eq!(found.len(), ids.len());
        t.elapsed()
    };
    let encx_read = || async {
        let t = Instant::now();
        let found = s.repo.get_many(s.repo.pool(), &ids).await.unwrap();
        assert_eq!(found.len(), ids.len());
        t.elapsed()
    };
    // The floor: the same encrypted rows read by plain sqlx, not decrypted.
    let floor_read = || async {
        let t = Instant::now();
        let found = sqlx::query("SELECT * FROM bench_users WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&s.pool)
            .await
            .unwrap();
        assert_eq!(found.len(), ids.len());
        t.elapsed()
    };
    // get_many decrypting on one thread per core (at least two): the default on a machine of
    // four cores or more; on fewer the default decrypts on the reading task alone.
    let threads = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .max(2);
    let parallel_repo = s.repo.decrypt_workers(threads);
    let parallel_read = || async {
        let t = Instant::now();
        let found = parallel_repo
            .get_many(parallel_repo.pool(), &ids)
            .await
            .unwrap();
        assert_eq!(found.len(), ids.len());
        t.elapsed()
    };
    let (mut plain, mut encx, mut floor, mut parallel) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..18 {
        let (p, e, f, one) = if round % 2 == 0 {
            let p = plain_read().await;
            let f = floor_read().await;
            let one = parallel_read().await;
            (p, encx_read().await, f, one)
        } else {
            let e = encx_read().await;
            let one = parallel_read().await;
            let f = floor_read().await;
            (plain_read().await, e, f, one)
        };
        if round >= 3 {
            plain.push(p);
            encx.push(e);
            floor.push(f);
            parallel.push(one);
        }
    }
    let floor = median(floor);
    let parallel = median(parallel);
    let (p, e) = report(
        "get_many_10k (get_many vs plain sqlx, same rows)",
        plain,
        encx,
    );
    println!(
        "get_many_10k detail: the encrypted rows read by plain sqlx, not decrypted: median \
         {floor:?} = {:.3} x plaintext; get_many / that = {:.3}",
        floor.as_secs_f64() / p.as_secs_f64(),
        e.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "get_many_10k detail: decrypt_workers({threads}): median {parallel:?} = {:.3} x \
         plaintext, {:.3} x the default (decrypt_workers = {})",
        parallel.as_secs_f64() / p.as_secs_f64(),
        parallel.as_secs_f64() / e.as_secs_f64(),
        if threads >= 4 { threads } else { 1 }
    );

    let plain_stream = || async {
        let t = Instant::now();
        let n = sqlx::query_as::<_, PlainUser>(
            "SELECT id, username, email, phone, name, city FROM plain_users ORDER BY id",
        )
        .fetch(&s.pool)
        .map_ok(User::from)
        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
        assert_eq!(n, rows.len());
        t.elapsed()
    };
    let encx_stream = || async {
        let t = Instant::now();
        let n = s
            .repo
            .stream_all(s.repo.pool())
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap();
        assert_eq!(n, rows.len());
        t.elapsed()
    };
    let parallel_stream = || async {
        let t = Instant::now();
        let n = parallel_repo
            .stream_all(parallel_repo.pool())
            .try_fold(0usize, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap();
        assert_eq!(n, rows.len());
        t.elapsed()
    };
    let (mut plain, mut encx, mut parallel) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..8 {
        let (p, e, one) = if round % 2 == 0 {
            let p = plain_stream().await;
            let one = parallel_stream().await;
            (p, encx_stream().await, one)
        } else {
            let e = encx_stream().await;
            let one = parallel_stream().await;
            (plain_stream().await, e, one)
        };
        if round >= 2 {
            plain.push(p);
            encx.push(e);
            parallel.push(one);
        }
    }
    let parallel = median(parallel);
    let (p, e) = report(
        "stream_all_100k (stream_all vs plain sqlx fetch stream, whole table)",
        plain,
        encx,
    );
    println!(
        "stream_all_100k detail: decrypt_workers({threads}): median {parallel:?} = {:.3} x \
         plaintext, {:.3} x the default",
        parallel.as_secs_f64() / p.as_secs_f64(),
        parallel.as_secs_f64() / e.as_secs_f64()
    );
}

async fn insert_10k(s: &Setup) {
    // insert_10k: 4 warm-up rounds, then 16 measured rounds; each round runs the four
    // variants in an order rotated by one per round.
    let batch: Vec<User> = (0..10_000).map(user).collect();
    let mut records = Vec::with_capacity(batch.len());
    for u in &batch {
        records.push(u.encrypt(s.repo.crypto()).await.unwrap());
    }
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..20 {
        for k in 0..4 {
            let variant = (round + k) % 4;
            s.pool.execute("TRUNCATE plain_users").await.unwrap();
            s.pool.execute("TRUNCATE bench_users").await.unwrap();
            let t = Instant::now();
            match variant {
                0 => plain_insert(&s.pool, &batch).await,
                1 => plain_insert_unnest(&s.pool, &batch).await,
                2 => s.repo.insert_many(s.repo.pool(), &batch).await.unwrap(),
                _ => encrypted_rows_insert(&s.pool, &records).await,
            }
            if round >= 4 {
                times[variant].push(t.elapsed());
            }
        }
    }
    let [plain, plain_unnest, encx, floor] = times;
    let (plain, plain_unnest, encx, floor) = (
        median(plain),
        median(plain_unnest),
        median(encx),
        median(floor),
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "insert_10k (insert_many vs plain sqlx QueryBuilder, one transaction each): plaintext \
         median {plain:?}, encx median {encx:?}, encx/plaintext time = {:.3}, throughput ratio = {:.3}",
        ratio(encx, plain),
        ratio(plain, encx)
    );
    println!(
        "insert_10k (insert_many vs plaintext through the same UNNEST statements): plaintext \
         median {plain_unnest:?}, throughput ratio = {:.3}",
        ratio(plain_unnest, encx)
    );
    println!(
        "insert_10k detail: the encrypted rows, encrypted beforehand, through the same UNNEST \
         statements: median {floor:?} = {:.3} x UNNEST plaintext time (the database's cost of \
         larger rows); insert_many / that = {:.3}",
        ratio(floor, plain_unnest),
        ratio(encx, floor)
    );
}

/// lookup_100k: 100,000 rows in both tables, then 3,000 interleaved lookups after 500 warm-up.
async fn lookup_100k(s: &Setup, rows: &[User]) {
    let (mut plain, mut encx) = (Vec::new(), Vec::new());
    for i in 0..3_500usize {
        let target = &rows[(i * 7919) % rows.len()];
        let lookup_plain = || async {
            let t = Instant::now();
            let found: Vec<(Uuid, String, String, String, String, String)> = sqlx::query_as(
                "SELECT id, username, email, phone, name, city FROM plain_users WHERE email = $1",
            )
            .bind(&target.email)
            .fetch_all(&s.pool)
            .await
            .unwrap();
            assert_eq!(found.len(), 1);
            t.elapsed()
        };
        let lookup_encx = || async {
            let t = Instant::now();
            let found = s
                .repo
                .find_by(s.repo.pool(), User::EMAIL, &target.email)
                .await
                .unwrap();
            assert_eq!(found.len(), 1);
            t.elapsed()
        };
        let (p, e) = if i % 2 == 0 {
            let p = lookup_plain().await;
            (p, lookup_encx().await)
        } else {
            let e = lookup_encx().await;
            (lookup_plain().await, e)
        };
        if i >= 500 {
            plain.push(p);
            encx.push(e);
        }
    }
    report(
        "lookup_100k (find_by vs indexed plaintext SELECT)",
        plain,
        encx,
    );
}

/// A digest of every stored column but `encx_dek`, in id order.
async fn data_digest(pool: &PgPool) -> String {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_name = 'bench_users' AND column_name <> 'encx_dek' ORDER BY column_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let row = columns
        .iter()
        .map(|c| format!("coalesce(\"{c}\"::text, 'NULL')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT md5(string_agg({row}, ',' ORDER BY id)) FROM bench_users"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// `rewrap`: a KEK rotation, then `Repo::rewrap` (one worker, 1,000 rows per batch) over every
/// row of the table (about 150,000 after the sections above), timed, with a digest of every
/// other column before and after. `status`: `Repo::key_usage` (one `GROUP BY` over the key
/// prefix) on that table, then on the table grown to `ENCX_BENCH_STATUS_ROWS` rows (default
/// 1,000,000) by copying rows in SQL (status reads headers only, so copies serve), against
/// `SELECT COUNT(*)` of the same table.
async fn rewrap_and_status(s: &Setup) {
    let live: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM bench_users WHERE encx_dek IS NOT NULL")
            .fetch_one(&s.pool)
            .await
            .unwrap();
    let before = data_digest(&s.pool).await;
    s.repo.crypto().rotate_kek(None).await.unwrap();
    settle(&s.pool).await;
    let t = Instant::now();
    let done = s.repo.rewrap(1_000).await.unwrap();
    let took = t.elapsed();
    let after = data_digest(&s.pool).await;
    println!(
        "rewrap: {} of {live} rows re-wrapped in {took:?} = {:.0} records/s (one worker, 1,000 per batch); \
         every other column byte-for-byte unchanged: {}",
        done.rewrapped,
        done.rewrapped as f64 / took.as_secs_f64(),
        before == after
    );
    assert_eq!(done.rewrapped as i64, live);
    assert_eq!(before, after);
    with_workers(s, live).await;
    let time_status = |rounds: usize| async move {
        let mut status = Vec::new();
        let mut count = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            let usage = s.repo.key_usage().await.unwrap();
            status.push(t.elapsed());
            assert!(!usage.is_empty());
            let t = Instant::now();
            let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bench_users")
                .fetch_one(&s.pool)
                .await
                .unwrap();
            count.push(t.elapsed());
        }
        (median(status), median(count))
    };

    let (grouped, count) = time_status(5).await;
    s.repo.create_key_index().await.unwrap();
    s.pool.execute("ANALYZE bench_users").await.unwrap();
    s.repo.crypto().rotate_kek(None).await.unwrap();
    let t = Instant::now();
    let done = s.repo.rewrap(1_000).await.unwrap();
    let took = t.elapsed();
    println!(
        "rewrap with the key index: {} rows in {took:?} = {:.0} records/s (one worker)",
        done.rewrapped,
        done.rewrapped as f64 / took.as_secs_f64()
    );
    let (indexed, _) = time_status(5).await;
    println!(
        "status on {live} rows: key_usage median {grouped:?} (GROUP BY), {indexed:?} (key index), \
         SELECT COUNT(*) median {count:?}"
    );

    let target: i64 = std::env::var("ENCX_BENCH_STATUS_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(column_name::text) FROM information_schema.columns \
         WHERE table_name = 'bench_users' AND column_name <> 'id' ORDER BY ordinal_position",
    )
    .fetch_all(&s.pool)
    .await
    .unwrap();
    let columns = columns.join(", ");
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bench_users")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        if rows >= target {
            break;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO bench_users (id, {columns}) SELECT gen_random_uuid(), {columns} \
             FROM bench_users LIMIT {}",
            target - rows
        )))
        .execute(&s.pool)
        .await
        .unwrap();
    }
    s.pool.execute("VACUUM ANALYZE bench_users").await.unwrap();
    let (status, count) = time_status(3).await;
    println!(
        "status on {target} rows, key index, none pending: key_usage median {status:?}, SELECT COUNT(*) median {count:?}"
    );
    s.repo.crypto().rotate_kek(None).await.unwrap();
    let (status, count) = time_status(3).await;
    println!(
        "status on {target} rows, key index, all pending (after a rotation): key_usage median {status:?}, \
         SELECT COUNT(*) median {count:?}"
    );
    s.pool
        .execute("DROP INDEX bench_users_encx_key")
        .await
        .unwrap();
    let (status, count) = time_status(3).await;
    println!(
        "status on {target} rows, no key index (GROUP BY): key_usage median {status:?}, SELECT COUNT(*) median {count:?}"
    );
}

/// `rewrap` with four workers, then `reencrypt` with one and with four, each after a KEK
/// rotation, over every row: tasks of this process sharing its `Crypto`, each with a pool of
/// its own (2 connections), timed, with the digest of every column but `encx_dek` before and
/// after (unchanged by a rewrap, changed by a re-encryption).
async fn with_workers(s: &Setup, live: i64) {
    let url = format!("{}/{}", &s.admin[..s.admin.rfind('/').unwrap()], s.db);
    for (job, workers) in [("rewrap", 4), ("reencrypt", 1), ("reencrypt", 4)] {
        let before = data_digest(&s.pool).await;
        s.repo.crypto().rotate_kek(None).await.unwrap();
        let mut repos = Vec::new();
        for _ in 0..workers {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap();
            repos.push(Repo::<User, Postgres>::new(pool, s.repo.crypto().clone()));
        }
        let t = Instant::now();
        let handles: Vec<_> = repos
            .into_iter()
            .map(|repo| {
                tokio::spawn(async move {
                    let done = if job == "rewrap" {
                        repo.rewrap(1_000).await
                    } else {
                        repo.reencrypt(500).await
                    };
                    done.unwrap().rewrapped
                })
            })
            .collect();
        let mut total = 0;
        for handle in handles {
            total += handle.await.unwrap();
        }
        let took = t.elapsed();
        let after = data_digest(&s.pool).await;
        println!(
            "{job}, {workers} worker(s): {total} of {live} rows in {took:?} = {:.0} records/s; \
             every other column unchanged: {}",
            total as f64 / took.as_secs_f64(),
            before == after
        );
        assert_eq!(total as i64, live);
        assert_eq!(before == after, job == "rewrap");
    }
}

/// insert and get, one record per call (one audit event each), with audit events dropped
/// (`NoAudit`) and written to `encx_audit` (`SqlAuditSink`): 2 warm-up and 10 measured rounds
/// of 1,000 calls per variant, the order alternating by round.
async fn audit_cost(s: &Setup) {
    let mut times: [[Vec<Duration>; 2]; 2] = Default::default(); // [insert, get][off, on]
    let mut next = 1_000_000;
    for round in 0..12 {
        for k in 0..2 {
            let variant = (round + k) % 2;
            let repo = if variant == 0 {
                &s.audit_off
            } else {
                &s.audit_on
            };
            let users: Vec<User> = (next..next + 1_000).map(user).collect();
            next += 1_000;
            let t = Instant::now();
            for u in &users {
                repo.insert(repo.pool(), u).await.unwrap();
            }
            let inserted = t.elapsed();
            let t = Instant::now();
            for u in &users {
                repo.get(repo.pool(), u.id).await.unwrap();
            }
            let read = t.elapsed();
            if round >= 2 {
                times[0][variant].push(inserted);
                times[1][variant].push(read);
            }
        }
    }
    s.audit_sink.flush().await;
    for (name, [off, on]) in ["insert (1 record per call)", "get"].iter().zip(times) {
        let (off, on) = (median(off), median(on));
        println!(
            "audit {name}: 1,000 calls, events dropped median {off:?}, events written to encx_audit median {on:?}, \
             throughput with the table sink = {:.3} x without",
            off.as_secs_f64() / on.as_secs_f64()
        );
    }
    println!(
        "audit sink: {} events written, {} dropped, {} failed",
        s.audit_sink.written(),
        s.audit_sink.dropped(),
        s.audit_sink.failed()
    );
}

fn main() {
    let Some(admin) = std::env::var("ENCX_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("ENCX_TEST_POSTGRES_URL"))
        .ok()
    else {
        println!("SKIPPED postgres bench: set ENCX_BENCH_POSTGRES_URL");
        return;
    };
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = setup(&admin).await;
        run(&s).await;
        s.pool.close().await;
        let mut conn = sqlx::PgConnection::connect(&s.admin).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            s.db
        )))
        .await
        .unwrap();
    });
}
