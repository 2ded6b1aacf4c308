//! Partial-index searches on PostgreSQL beside their plaintext counterparts, in one run.
//!
//! `ENCX_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p encx-sqlx --features postgres --bench search`
//! (falls back to `ENCX_TEST_POSTGRES_URL`; prints SKIPPED without either). It creates and
//! drops its own database; the trigram baseline needs the `pg_trgm` extension (PostgreSQL's
//! contrib package).
//!
//! 100,000 customers (`ENCX_BENCH_SEARCH_ROWS`) stored twice: encrypted with prefix, suffix,
//! contains and range indexes, and as plaintext with the indexes PostgreSQL offers for each
//! query. Each pair runs interleaved, 300 rounds after 50 of warm-up, and the bench reports
//! medians and the encx/plaintext ratio:
//!
//! - prefix: `find_by_prefix("lov")` vs `lower(surname) LIKE 'lov%'` (btree,
//!   `text_pattern_ops`);
//! - suffix: `find_by_suffix` of four digits vs `right(card, 4) = $1` (expression btree);
//! - contains: `find_matching("vela")` vs `surname ILIKE '%vela%'` with a `pg_trgm` GIN index,
//!   and the same `ILIKE` with no index (a scan, as the Bloom filter test is);
//! - range: `find_in_range` of 30 days vs `born BETWEEN $1 AND $2` (btree).
//!
//! It also times the index build cost per record: `encrypt` of the indexed type against the
//! same fields with no index, per record.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use encx::{Crypto, Encrypted, LocalKeyring, MasterKey};
use encx_sqlx::Repo;
use sqlx::{Connection, Executor, PgPool, Postgres};

#[derive(Clone, Encrypted)]
#[encx(table = "search_customers")]
pub struct Customer {
    #[encx(id)]
    pub id: i64,
    #[encx(
        encrypt,
        prefix(lengths(3), bits = 11, normalize = "lowercase"),
        contains(ngram = 3, filter_bits = 512, hashes = 4, normalize = "lowercase")
    )]
    pub surname: String,
    #[encx(encrypt, suffix(lengths(4), bits = 12, normalize = "digits"))]
    pub card: String,
    #[encx(encrypt, range(width = 30, bits = 9))]
    pub born: i64,
}

/// The same fields without partial indexes (the index build cost baseline).
#[derive(Clone, Encrypted)]
#[encx(table = "search_unindexed")]
pub struct Unindexed {
    #[encx(id)]
    pub id: i64,
    #[encx(encrypt)]
    pub surname: String,
    #[encx(encrypt)]
    pub card: String,
    #[encx(encrypt)]
    pub born: i64,
}

const ONSETS: [&str; 30] = [
    "b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l", "m",
    "n", "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "y", "z",
];
const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "ou", "ai", "y"];
const CODAS: [&str; 12] = [
    "", "n", "r", "l", "s", "t", "m", "ck", "nd", "rt", "ll", "x",
];

fn customer(id: i64) -> Customer {
    let mut state = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    };
    let mut surname = String::new();
    for _ in 0..2 + next(2) {
        surname.push_str(ONSETS[next(ONSETS.len())]);
        surname.push_str(VOWELS[next(VOWELS.len()).min(next(VOWELS.len()))]);
        surname.push_str(CODAS[next(CODAS.len()).min(next(CODAS.len()))]);
    }
    let card: String = (0..16).map(|_| char::from(b'0' + next(10) as u8)).collect();
    Customer {
        id,
        surname,
        card,
        born: -10_957 + next(65 * 365) as i64,
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Runs `encx` and `plain` interleaved (order alternating), 50 warm-up rounds then 300 timed,
/// each round with the `round`-th query; prints the medians and their ratio.
async fn compare<E, P, FE, FP>(name: &str, mut encx: E, mut plain: P) -> f64
where
    E: FnMut(usize) -> FE,
    P: FnMut(usize) -> FP,
    FE: std::future::Future<Output = usize>,
    FP: std::future::Future<Output = usize>,
{
    let (mut te, mut tp) = (Vec::new(), Vec::new());
    for round in 0..350 {
        let (e, p) = if round % 2 == 0 {
            let t = Instant::now();
            let n = encx(round).await;
            let e = (t.elapsed(), n);
            let t = Instant::now();
            let n = plain(round).await;
            (e, (t.elapsed(), n))
        } else {
            let t = Instant::now();
            let n = plain(round).await;
            let p = (t.elapsed(), n);
            let t = Instant::now();
            let n = encx(round).await;
            ((t.elapsed(), n), p)
        };
        assert_eq!(e.1, p.1, "{name}: encx and plaintext found different rows");
        if round >= 50 {
            te.push(e.0);
            tp.push(p.0);
        }
    }
    let (e, p) = (median(te), median(tp));
    let ratio = e.as_secs_f64() / p.as_secs_f64();
    println!("{name}: plaintext median {p:?}, encx median {e:?}, encx/plaintext time = {ratio:.2}");
    ratio
}

async fn run(pool: &PgPool, crypto: Crypto, rows: i64) {
    let repo = &Repo::<Customer, Postgres>::new(pool.clone(), crypto.clone());
    repo.create_table().await.unwrap();
    pool.execute(
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;
         CREATE TABLE plain_customers (id BIGINT PRIMARY KEY, surname TEXT NOT NULL,
             card TEXT NOT NULL, born BIGINT NOT NULL);
         CREATE TABLE plain_unindexed (LIKE plain_customers);",
    )
    .await
    .unwrap();
    let all: Vec<Customer> = (1..=rows).map(customer).collect();
    for chunk in all.chunks(5_000) {
        repo.insert_many(pool, chunk).await.unwrap();
        for table in ["plain_customers", "plain_unindexed"] {
            let mut q = sqlx::QueryBuilder::<Postgres>::new(format!(
                "INSERT INTO {table} (id, surname, card, born) "
            ));
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id)
                    .push_bind(&c.surname)
                    .push_bind(&c.card)
                    .push_bind(c.born);
            });
            q.build().execute(pool).await.unwrap();
        }
    }
    pool.execute(
        "CREATE INDEX plain_prefix ON plain_customers (lower(surname) text_pattern_ops);
         CREATE INDEX plain_trgm ON plain_customers USING gin (surname gin_trgm_ops);
         CREATE INDEX plain_suffix ON plain_customers (right(card, 4));
         CREATE INDEX plain_born ON plain_customers (born);",
    )
    .await
    .unwrap();
    pool.execute("VACUUM ANALYZE").await.unwrap();
    println!("search bench: {rows} rows");

    let pick = |round: usize| &all[(round * 7919) % all.len()];
    let count = |sql: &'static str, bind: String| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(bind)
            .fetch_all(pool)
            .await
            .unwrap()
            .len()
    };
    let prefix = |c: &Customer| c.surname[..3].to_lowercase();
    compare(
        "prefix 'abc%'",
        |r| async move {
            repo.find_by_prefix(pool, Customer::SURNAME_PREFIX, &prefix(pick(r)))
                .await
                .unwrap()
                .len()
        },
        |r| {
            count(
                "SELECT id FROM plain_customers WHERE lower(surname) LIKE $1 || '%'",
                prefix(pick(r)),
            )
        },
    )
    .await;
    compare(
        "suffix (last 4 digits)",
        |r| async move {
            repo.find_by_suffix(pool, Customer::CARD_SUFFIX, &pick(r).card[12..])
                .await
                .unwrap()
                .len()
        },
        |r| {
            count(
                "SELECT id FROM plain_customers WHERE right(card, 4) = $1",
                pick(r).card[12..].to_owned(),
            )
        },
    )
    .await;
    let fragment =
        |c: &Customer| -> String { c.surname.to_lowercase().chars().skip(1).take(4).collect() };
    compare(
        "contains '%abcd%' (plaintext: pg_trgm GIN)",
        |r| async move {
            repo.find_matching(pool, Customer::SURNAME_CONTAINS, &fragment(pick(r)))
                .await
                .unwrap()
                .len()
        },
        |r| {
            count(
                "SELECT id FROM plain_customers WHERE surname ILIKE '%' || $1 || '%'",
                fragment(pick(r)),
            )
        },
    )
    .await;
    compare(
        "contains '%abcd%' (plaintext: no index, a scan)",
        |r| async move {
            repo.find_matching(pool, Customer::SURNAME_CONTAINS, &fragment(pick(r)))
                .await
                .unwrap()
                .len()
        },
        |r| {
            count(
                "SELECT id FROM plain_unindexed WHERE surname ILIKE '%' || $1 || '%'",
                fragment(pick(r)),
            )
        },
    )
    .await;
    compare(
        "range (30 days)",
        |r| async move {
            let low = pick(r).born;
            repo.find_in_range(pool, Customer::BORN_RANGE, &low, &(low + 29))
                .await
                .unwrap()
                .len()
        },
        |r| async move {
            let low = pick(r).born;
            sqlx::query_scalar::<_, i64>(
                "SELECT id FROM plain_customers WHERE born BETWEEN $1 AND $2",
            )
            .bind(low)
            .bind(low + 29)
            .fetch_all(pool)
            .await
            .unwrap()
            .len()
        },
    )
    .await;

    // Index build cost: encrypt the same 10,000 records with and without partial indexes.
    let sample: Vec<Customer> = all.iter().take(10_000).cloned().collect();
    let bare: Vec<Unindexed> = sample
        .iter()
        .map(|c| Unindexed {
            id: c.id,
            surname: c.surname.clone(),
            card: c.card.clone(),
            born: c.born,
        })
        .collect();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..12 {
        let t = Instant::now();
        for c in &sample {
            std::hint::black_box(c.encrypt(&crypto).await.unwrap());
        }
        let w = t.elapsed();
        let t = Instant::now();
        for c in &bare {
            std::hint::black_box(c.encrypt(&crypto).await.unwrap());
        }
        if round >= 2 {
            with.push(w);
            without.push(t.elapsed());
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1e9 / sample.len() as f64;
    let (w, wo) = (per(median(with)), per(median(without)));
    println!(
        "index build per record (prefix 3 + contains 512/4 + suffix 4 + range): \
         encrypt {w:.0} ns with, {wo:.0} ns without: {:.0} ns of indexes",
        w - wo
    );
}

fn main() {
    let Some(admin) = std::env::var("ENCX_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("ENCX_TEST_POSTGRES_URL"))
        .ok()
    else {
        println!("SKIPPED search bench: set ENCX_BENCH_POSTGRES_URL");
        return;
    };
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a listing
    }
    let rows: i64 = std::env::var("ENCX_BENCH_SEARCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = format!("encx_bench_search_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
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
        let crypto = Crypto::builder()
            .keyring(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap())
            .index_keys(encx::index::IndexKeys::generate().unwrap())
            .build()
            .await
            .unwrap();
        run(&pool, crypto, rows).await;
        pool.close().await;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .await
        .unwrap();
    });
}
