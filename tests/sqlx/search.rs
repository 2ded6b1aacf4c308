//! Partial indexes on the three databases: prefix, suffix, contains and range searches return
//! exactly the true matches (false positives re-checked away, tampered rows set aside),
//! updates and erasure maintain and clear the index columns, an index key rotation rebuilds
//! them through `reencrypt`, a new index reaches an existing table through `add_columns` and
//! a re-encryption, and, on 100,000 rows, the rates the planner predicts are what the
//! database returns.

use encx::index::leakage::{plan, Population};
use encx::index::{IndexKeys, PartialKind};
use encx_integration_tests::{test_case, Service, Test};

use super::migration::Legacy;
use super::*;

on_databases! {
    "search";
    partial_searches_return_true_matches_only: |db| true_matches(db.pool.clone()) => [postgres, mariadb, sqlite];
    index_key_rotation_rebuilds_partial_indexes: |db| rotation(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_new_index_is_backfilled_by_reencryption: |db| backfill(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_backfill_killed_with_sigkill_resumes: |db| killed_backfill_resumes(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
    planner_predictions_hold_on_100k_rows: |db| planner_on_100k(db.pool.clone()) => [postgres];
}

/// Small indexes (8-bit hashes, a 128-bit filter) so that 300 rows share buckets: every
/// search reads false positives the re-check must drop.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "customers")]
pub struct Customer {
    #[encx(id)]
    pub id: i64,
    #[encx(
        encrypt,
        prefix(lengths(2, 3), bits = 8, normalize = "lowercase"),
        contains(ngram = 3, filter_bits = 128, hashes = 2, normalize = "lowercase")
    )]
    pub surname: String,
    #[encx(encrypt, suffix(lengths(4), bits = 8, normalize = "digits"))]
    pub card: String,
    #[encx(encrypt, range(width = 30, bits = 8))]
    pub born: i64,
    #[encx(encrypt, prefix(lengths(1), bits = 8))]
    pub nickname: Option<String>,
}

/// The same table before its partial indexes existed.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "customers")]
pub struct CustomerBefore {
    #[encx(id)]
    pub id: i64,
    #[encx(encrypt)]
    pub surname: String,
    #[encx(encrypt)]
    pub card: String,
    #[encx(encrypt)]
    pub born: i64,
    #[encx(encrypt)]
    pub nickname: Option<String>,
}

const ONSETS: [&str; 30] = [
    "b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kr", "l", "m",
    "n", "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "y", "z",
];
const VOWELS: [&str; 8] = ["a", "e", "i", "o", "u", "ou", "ai", "y"];
const CODAS: [&str; 12] = [
    "", "n", "r", "l", "s", "t", "m", "ck", "nd", "rt", "ll", "x",
];

/// A deterministic generator (xorshift64*), so every run builds the same rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A surname of 2 or 3 syllables (onset, vowel, coda; earlier vowels and codas are more
/// common), a 16-digit card number written with spaces, a birth day (days since 1970)
/// between 1940 and 2005.
fn customer(id: i64, rng: &mut Rng) -> Customer {
    let syllables = 2 + rng.below(2);
    let mut surname = String::new();
    let skewed = |rng: &mut Rng, n: usize| {
        let (a, b) = (rng.below(n as u64), rng.below(n as u64));
        a.min(b) as usize
    };
    for _ in 0..syllables {
        surname.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
        surname.push_str(VOWELS[skewed(rng, VOWELS.len())]);
        surname.push_str(CODAS[skewed(rng, CODAS.len())]);
    }
    let mut chars = surname.chars();
    let surname: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    let digits: String = (0..16)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect();
    let card = format!(
        "{} {} {} {}",
        &digits[0..4],
        &digits[4..8],
        &digits[8..12],
        &digits[12..16]
    );
    Customer {
        id,
        surname,
        card,
        born: -10_957 + rng.below(65 * 365) as i64,
        nickname: (id % 3 != 0).then(|| format!("nick{}", id % 7)),
    }
}

fn customers(n: i64, seed: u64) -> Vec<Customer> {
    let mut rng = Rng(seed);
    (1..=n).map(|id| customer(id, &mut rng)).collect()
}

/// A process's setup: KEKs and index keys in the database's `encx_keks`, under one root.
async fn search_crypto<DB: EncxDatabase>(pool: &sqlx::Pool<DB>) -> Crypto {
    encx_sqlx::migrate(pool).await.unwrap();
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let store = SqlKekStore::shared(pool.clone());
    Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .build()
        .await
        .unwrap()
}

async fn customers_repo<DB: EncxDatabase>(pool: sqlx::Pool<DB>) -> Repo<Customer, DB> {
    let crypto = search_crypto(&pool).await;
    Repo::new(pool, crypto)
}

fn ids(found: &[Customer]) -> Vec<i64> {
    let mut ids: Vec<i64> = found.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids
}

fn expected(all: &[Customer], keep: impl Fn(&Customer) -> bool) -> Vec<i64> {
    all.iter().filter(|c| keep(c)).map(|c| c.id).collect()
}

fn card_digits(c: &Customer) -> String {
    c.card.chars().filter(char::is_ascii_digit).collect()
}

use encx_sqlx::EncxDatabase;

async fn true_matches<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let repo = customers_repo(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all = customers(300, 7);
    repo.insert_many(&pool, &all).await.unwrap();
    let mut false_positives = 0;

    for c in all.iter().step_by(37) {
        let term: String = c.surname.chars().take(3).collect::<String>().to_uppercase();
        let lookup = repo
            .find_by_prefix_report(&pool, Customer::SURNAME_PREFIX, &term)
            .await
            .unwrap();
        let want = expected(&all, |x| {
            x.surname.to_lowercase().starts_with(&term.to_lowercase())
        });
        assert_eq!(ids(&lookup.found), want, "prefix {term}");
        false_positives += lookup.candidates - lookup.found.len();
        // A term longer than every indexed length: the longest column, then the re-check.
        let long: String = c.surname.chars().take(5).collect();
        let found = repo
            .find_by_prefix(&pool, Customer::SURNAME_PREFIX, &long)
            .await
            .unwrap();
        assert_eq!(
            ids(&found),
            expected(&all, |x| x
                .surname
                .to_lowercase()
                .starts_with(&long.to_lowercase()))
        );

        let last4 = &card_digits(c)[12..];
        let lookup = repo
            .find_by_suffix_report(&pool, Customer::CARD_SUFFIX, last4)
            .await
            .unwrap();
        assert_eq!(
            ids(&lookup.found),
            expected(&all, |x| card_digits(x).ends_with(last4))
        );
        false_positives += lookup.candidates - lookup.found.len();

        let middle: String = c.surname.to_lowercase().chars().skip(1).take(4).collect();
        let lookup = repo
            .find_matching_report(&pool, Customer::SURNAME_CONTAINS, &middle)
            .await
            .unwrap();
        let want = expected(&all, |x| x.surname.to_lowercase().contains(&middle));
        assert_eq!(ids(&lookup.found), want, "contains {middle}");
        assert!(want.contains(&c.id));
        false_positives += lookup.candidates - lookup.found.len();

        let (low, high) = (c.born - 200, c.born + 400);
        let lookup = repo
            .find_in_range_report(&pool, Customer::BORN_RANGE, &low, &high)
            .await
            .unwrap();
        assert_eq!(
            ids(&lookup.found),
            expected(&all, |x| (low..=high).contains(&x.born))
        );
        false_positives += lookup.candidates - lookup.found.len();
    }
    assert!(
        false_positives > 0,
        "the small indexes share buckets: the re-check ran"
    );
    let found = repo
        .find_by_prefix(&pool, Customer::NICKNAME_PREFIX, "n")
        .await
        .unwrap();
    assert_eq!(
        ids(&found),
        expected(&all, |x| x.nickname.is_some()),
        "None is not indexed"
    );

    // A term shorter than the index: refused, without the term in the message.
    let err = repo
        .find_by_prefix(&pool, Customer::SURNAME_PREFIX, "Q")
        .await
        .unwrap_err();
    assert!(err.is_config() && !err.to_string().contains('Q'), "{err}");
    assert!(repo
        .find_matching(&pool, Customer::SURNAME_CONTAINS, "ab")
        .await
        .unwrap_err()
        .is_config());
    assert!(repo
        .find_in_range(&pool, Customer::BORN_RANGE, &0, &(365 * 5000))
        .await
        .unwrap_err()
        .is_config());

    // Updates recompute the indexes.
    let mut moved = all[10].clone();
    moved.surname = "Qxzorbit".into();
    moved.born = 40_000;
    repo.update(&pool, &moved).await.unwrap();
    assert_eq!(
        ids(&repo
            .find_by_prefix(&pool, Customer::SURNAME_PREFIX, "qxz")
            .await
            .unwrap()),
        vec![moved.id]
    );
    assert_eq!(
        ids(&repo
            .find_matching(&pool, Customer::SURNAME_CONTAINS, "zorb")
            .await
            .unwrap()),
        vec![moved.id]
    );
    assert_eq!(
        ids(&repo
            .find_in_range(&pool, Customer::BORN_RANGE, &39_990, &40_010)
            .await
            .unwrap()),
        vec![moved.id]
    );

    // Erasure clears every index column; the row is found no more.
    assert!(repo.erase(&pool, moved.id).await.unwrap());
    let left = DB::count(
        &pool,
        "SELECT COUNT(*) FROM customers WHERE id = 11 AND (surname_prefix2_bidx IS NOT NULL \
         OR surname_prefix3_bidx IS NOT NULL OR surname_contains_bloom IS NOT NULL \
         OR card_suffix4_bidx IS NOT NULL OR born_range_bidx IS NOT NULL \
         OR nickname_prefix1_bidx IS NOT NULL OR encx_dek IS NOT NULL)",
    )
    .await;
    assert_eq!(left, 0, "erasure left an index column");
    assert!(repo
        .find_matching(&pool, Customer::SURNAME_CONTAINS, "zorb")
        .await
        .unwrap()
        .is_empty());

    // A tampered candidate is set aside, and hides no other match.
    let (a, b) = (&all[20], &all[21]);
    let sql = if DB::NAME == "MySQL" {
        format!("UPDATE customers x JOIN customers y ON y.id = {} SET x.surname = y.surname WHERE x.id = {}", b.id, a.id)
    } else {
        format!("UPDATE customers SET surname = (SELECT surname FROM customers WHERE id = {}) WHERE id = {}", b.id, a.id)
    };
    DB::run(&pool, &sql).await;
    let term: String = a.surname.chars().take(3).collect();
    let lookup = repo
        .find_by_prefix_report(&pool, Customer::SURNAME_PREFIX, &term)
        .await
        .unwrap();
    assert_eq!(lookup.rejected.len(), 1);
    assert_eq!(lookup.rejected[0].record, a.id.to_string());
    assert_eq!(
        ids(&lookup.found),
        expected(&all, |x| x.id != a.id
            && x.id != moved.id
            && x.surname.to_lowercase().starts_with(&term.to_lowercase()))
    );
}

async fn rotation<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let repo = customers_repo(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all = customers(60, 11);
    repo.insert_many(&pool, &all).await.unwrap();
    let store = SqlKekStore::shared(pool.clone());
    let root = LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap();
    let v1 = store
        .active(encx::KeyPurpose::IndexRoot)
        .await
        .unwrap()
        .unwrap();
    IndexKeys::add_stored_version(&*store, &root).await.unwrap();
    let repo = customers_repo(pool.clone()).await;
    repo.crypto().rotate_kek(None).await.unwrap();
    assert_eq!(repo.reencrypt(16).await.unwrap().rewrapped, 60);
    store
        .set_state(v1.id, encx::KekState::Destroyed)
        .await
        .unwrap();
    let fresh = customers_repo(pool.clone()).await; // version 2 only
    for c in all.iter().step_by(7) {
        let found = fresh
            .find_matching(&pool, Customer::SURNAME_CONTAINS, &c.surname)
            .await
            .unwrap();
        assert!(found.contains(c), "contains under version 2");
        let found = fresh
            .find_in_range(&pool, Customer::BORN_RANGE, &c.born, &c.born)
            .await
            .unwrap();
        assert!(found.contains(c), "range under version 2");
        let found = fresh
            .find_by_suffix(&pool, Customer::CARD_SUFFIX, &card_digits(c)[12..])
            .await
            .unwrap();
        assert!(found.contains(c), "suffix under version 2");
    }
}

/// `rows` customers stored before their partial indexes existed, then the new columns added
/// and the KEK rotated: what a backfill starts from.
async fn before_backfill<DB: Legacy>(pool: &sqlx::Pool<DB>, rows: i64) -> Vec<Customer> {
    let crypto = search_crypto(pool).await;
    let before = Repo::<CustomerBefore, DB>::new(pool.clone(), crypto);
    before.create_table().await.unwrap();
    let all = customers(rows, 3);
    let old: Vec<CustomerBefore> = all
        .iter()
        .map(|c| CustomerBefore {
            id: c.id,
            surname: c.surname.clone(),
            card: c.card.clone(),
            born: c.born,
            nickname: c.nickname.clone(),
        })
        .collect();
    before.insert_many(pool, &old).await.unwrap();
    let new_columns: Vec<&str> = <Customer as encx::schema::Schema>::columns()
        .iter()
        .filter(|c| c.kind.is_search_index())
        .map(|c| c.name)
        .collect();
    let dialect = <DB as EncxDatabase>::DIALECT;
    for sql in encx::schema::add_columns::<Customer>(dialect, &new_columns).unwrap() {
        DB::run(pool, &sql).await;
    }
    let repo = customers_repo(pool.clone()).await;
    repo.crypto()
        .rotate_kek(Some("ops: backfill"))
        .await
        .unwrap();
    all
}

/// The environment variable that turns this test binary into a backfill child: the database
/// URL whose customers it re-encrypts, 20 per batch, printing `batches N` after each.
pub const BACKFILL_CHILD_ENV: &str = "ENCX_TEST_BACKFILL_CHILD";

/// The backfill child process (see [`BACKFILL_CHILD_ENV`]).
pub fn backfill_child(url: &str) -> std::process::ExitCode {
    async fn run<DB: super::rewrap::ChildSessions>(url: &str) {
        let pool = super::rewrap::child_pool::<DB>(url).await;
        let repo = customers_repo(pool).await;
        repo.reencrypt_with_progress(20, super::rewrap::say_batches)
            .await
            .unwrap();
    }
    on_url!(url, run)
}

/// A backfill of 1,000 rows killed with SIGKILL after three batches: every row still reads,
/// the rows done are found by the new index, and a second run does exactly the rest.
async fn killed_backfill_resumes<DB: Legacy + super::rewrap::ChildSessions>(
    pool: sqlx::Pool<DB>,
    url: &str,
) {
    let all = before_backfill(&pool, 1_000).await;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(BACKFILL_CHILD_ENV, url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    super::rewrap::wait_for_line(&mut child, "batches 3");
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success(), "killed, not finished");
    super::rewrap::child_sessions_closed(url).await;

    let repo = customers_repo(pool.clone()).await;
    let indexed = DB::count(
        &pool,
        "SELECT COUNT(*) FROM customers WHERE surname_prefix3_bidx IS NOT NULL",
    )
    .await;
    assert!((60..1_000).contains(&indexed), "killed mid-way: {indexed}");
    let ids: Vec<i64> = (1..=1_000).collect();
    let mut read = repo.get_many(&pool, &ids).await.unwrap();
    read.sort_by_key(|c| c.id);
    assert!(read == all, "every row reads as written");

    let rest = repo.reencrypt(100).await.unwrap();
    assert_eq!(
        rest.rewrapped,
        1_000 - indexed as u64,
        "resumed exactly the rest"
    );
    for c in all.iter().step_by(53) {
        let found = repo
            .find_by_prefix(&pool, Customer::SURNAME_PREFIX, &c.surname)
            .await
            .unwrap();
        assert!(found.contains(c), "backfilled");
    }
}

async fn backfill<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let all = before_backfill(&pool, 40).await;
    let repo = customers_repo(pool.clone()).await;
    assert!(
        repo.find_by_prefix(&pool, Customer::SURNAME_PREFIX, &all[0].surname)
            .await
            .unwrap()
            .is_empty(),
        "not indexed yet"
    );
    assert_eq!(repo.reencrypt(7).await.unwrap().rewrapped, 40);
    for c in &all {
        let found = repo
            .find_by_prefix(&pool, Customer::SURNAME_PREFIX, &c.surname)
            .await
            .unwrap();
        assert!(found.contains(c), "backfilled");
    }
    assert_eq!(
        repo.reencrypt(7).await.unwrap().rewrapped,
        0,
        "nothing left"
    );
}

/// Rows and tolerance of the measurement.
const MEASURED_ROWS: i64 = 100_000;

/// The rates the planner predicts against what PostgreSQL returns, over 100,000 rows of
/// generated customers. Candidate counts are read with `SELECT COUNT(*)` on the index
/// columns (what a search reads before its re-check), true matches from the plaintext.
async fn planner_on_100k(pool: sqlx::Pool<sqlx::Postgres>) {
    // Fixed index keys: the same hashes, so the same measurement, in every run.
    encx_sqlx::migrate(&pool).await.unwrap();
    let root = LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap();
    let crypto = Crypto::builder()
        .keyring(root)
        .index_keys(IndexKeys::new(vec![(1, [0x5e; 32])]).unwrap())
        .build()
        .await
        .unwrap();
    let repo = Repo::<Customer, sqlx::Postgres>::new(pool.clone(), crypto);
    repo.create_table().await.unwrap();
    let all = customers(MEASURED_ROWS, 42);
    for chunk in all.chunks(5_000) {
        repo.insert_many(&pool, chunk).await.unwrap();
    }
    let rows = all.len() as f64;
    let count = |sql: String, values: Vec<encx::BlindIndex>| {
        let pool = pool.clone();
        async move {
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for v in values {
                q = q.bind(v.as_bytes().to_vec());
            }
            q.fetch_one(&pool).await.unwrap()
        }
    };

    // Prefix of three characters, 8 bits: every distinct prefix is one query.
    let mut by_prefix: std::collections::HashMap<String, i64> = Default::default();
    for c in &all {
        *by_prefix
            .entry(c.surname.to_lowercase().chars().take(3).collect())
            .or_default() += 1;
    }
    let keys = by_prefix.len() as u64;
    let predicted = plan(
        PartialKind::Prefix { chars: 3 },
        8,
        Population::new(all.len() as u64, keys, 0),
    );
    let mut measured = 0f64;
    for (prefix, true_rows) in &by_prefix {
        let (column, values) = Customer::SURNAME_PREFIX
            .lookup(repo.crypto(), prefix.as_str())
            .unwrap();
        let n = count(
            format!("SELECT COUNT(*) FROM customers WHERE {column} = $1"),
            values,
        )
        .await;
        measured += (n - true_rows) as f64;
    }
    measured /= keys as f64;
    eprintln!(
        "prefix3/8 bits: {keys} prefixes, coincidence {:.2}, false positives per search predicted {:.1}, measured {measured:.1}",
        predicted.coincidence, predicted.false_positives_per_query
    );
    assert_within(
        measured,
        predicted.false_positives_per_query,
        0.25,
        "prefix false positives",
    );
    // Two characters: few enough prefixes that some of the 256 hash values stay unused. The
    // planner's coincidence (prefixes per hash value) predicts how many are in use.
    let prefixes2: std::collections::HashSet<String> = all
        .iter()
        .map(|c| c.surname.to_lowercase().chars().take(2).collect())
        .collect();
    let coincidence2 = plan(
        PartialKind::Prefix { chars: 2 },
        8,
        Population::new(all.len() as u64, prefixes2.len() as u64, 0),
    )
    .coincidence;
    let in_use: i64 = count(
        "SELECT COUNT(DISTINCT surname_prefix2_bidx) FROM customers".into(),
        vec![],
    )
    .await;
    let predicted_in_use = 256.0 * (1.0 - (-coincidence2).exp());
    eprintln!(
        "prefix2/8 bits: {} prefixes, coincidence {coincidence2:.3}: hash values in use predicted {predicted_in_use:.1}, measured {in_use}",
        prefixes2.len()
    );
    assert_within(
        in_use as f64,
        predicted_in_use,
        0.10,
        "prefix2 hash values in use",
    );

    // Last four digits, 8 bits.
    let mut by_suffix: std::collections::HashMap<String, i64> = Default::default();
    for c in &all {
        *by_suffix
            .entry(card_digits(c)[12..].to_owned())
            .or_default() += 1;
    }
    let keys = by_suffix.len() as u64;
    let predicted = plan(
        PartialKind::Suffix { chars: 4 },
        8,
        Population::new(all.len() as u64, keys, 0),
    );
    let mut measured = 0f64;
    for (suffix, true_rows) in by_suffix.iter().step_by(5) {
        let (column, values) = Customer::CARD_SUFFIX
            .lookup(repo.crypto(), suffix.as_str())
            .unwrap();
        let n = count(
            format!("SELECT COUNT(*) FROM customers WHERE {column} = $1"),
            values,
        )
        .await;
        measured += (n - true_rows) as f64;
    }
    measured /= by_suffix.iter().step_by(5).count() as f64;
    eprintln!(
        "suffix4/8 bits: {keys} suffixes, coincidence {:.2}, false positives per search predicted {:.1}, measured {measured:.1}",
        predicted.coincidence, predicted.false_positives_per_query
    );
    assert_within(
        measured,
        predicted.false_positives_per_query,
        0.10,
        "suffix false positives",
    );

    // Range: 30-day buckets, 8 bits, each bucket searched.
    let mut by_bucket: std::collections::HashMap<i64, i64> = Default::default();
    for c in &all {
        *by_bucket.entry(c.born.div_euclid(30)).or_default() += 1;
    }
    let keys = by_bucket.len() as u64;
    let predicted = plan(
        PartialKind::Range { width: 30 },
        8,
        Population::new(all.len() as u64, keys, 0),
    );
    let mut measured = 0f64;
    for (bucket, true_rows) in &by_bucket {
        let values = Customer::BORN_RANGE
            .lookup(repo.crypto(), &(bucket * 30), &(bucket * 30))
            .unwrap();
        let n = count(
            "SELECT COUNT(*) FROM customers WHERE born_range_bidx = $1".into(),
            values,
        )
        .await;
        measured += (n - true_rows) as f64;
    }
    measured /= keys as f64;
    eprintln!(
        "range 30/8 bits: {keys} buckets, coincidence {:.3}, false positives per search predicted {:.1}, measured {measured:.1}",
        predicted.coincidence, predicted.false_positives_per_query
    );
    assert_within(
        measured,
        predicted.false_positives_per_query,
        0.25,
        "range false positives",
    );

    // Contains: 128-bit filter, 2 hashes per trigram; one-trigram searches.
    let chars = all.iter().map(|c| c.surname.chars().count()).sum::<usize>() as f64 / rows;
    let predicted = plan(
        PartialKind::Contains {
            ngram: 3,
            filter_bits: 128,
            hashes: 2,
        },
        0,
        Population::new(all.len() as u64, all.len() as u64, chars.round() as u32),
    );
    let mut grams: Vec<String> = Vec::new();
    for c in all.iter().step_by(997) {
        let lower = c.surname.to_lowercase();
        let g: String = lower.chars().take(3).collect();
        if !grams.contains(&g) {
            grams.push(g);
        }
    }
    let mut measured = 0f64;
    let mut fill = 0f64;
    for g in &grams {
        let lookup = repo
            .find_matching_report(&pool, Customer::SURNAME_CONTAINS, g.as_str())
            .await
            .unwrap();
        let want = all
            .iter()
            .filter(|c| c.surname.to_lowercase().contains(g.as_str()))
            .count();
        assert_eq!(lookup.found.len(), want, "contains {g}");
        measured += (lookup.candidates - want) as f64;
    }
    measured /= grams.len() as f64;
    let set_bits: i64 = {
        let filters: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT surname_contains_bloom FROM customers")
                .fetch_all(&pool)
                .await
                .unwrap();
        filters
            .iter()
            .flatten()
            .map(|b| i64::from(b.count_ones()))
            .sum()
    };
    fill += set_bits as f64 / (rows * 128.0);
    eprintln!(
        "contains 128 bits x2, {chars:.1} chars: fill predicted {:.3}, measured {fill:.3}; false positives per one-trigram search predicted {:.0}, measured {measured:.0} ({} searches)",
        predicted.fill.unwrap_or_default(),
        predicted.false_positives_per_query,
        grams.len()
    );
    assert_within(
        fill,
        predicted.fill.unwrap_or_default(),
        0.10,
        "filter fill",
    );
    // Fill varies with the length of each value; the planner takes one typical length, and
    // false positives grow with fill^k, so they are checked within a wider margin.
    assert_within(
        measured,
        predicted.false_positives_per_query,
        0.30,
        "contains false positives",
    );
}

fn assert_within(measured: f64, predicted: f64, tolerance: f64, what: &str) {
    let ok = (measured - predicted).abs() <= tolerance * predicted;
    eprintln!(
        "{}: {what}: measured {measured:.2}, predicted {predicted:.2} (tolerance {:.0}%)",
        if ok { "within" } else { "OUTSIDE" },
        tolerance * 100.0
    );
    if std::env::var_os("ENCX_SEARCH_MEASURE_ONLY").is_none() {
        assert!(
            ok,
            "{what}: measured {measured:.2}, predicted {predicted:.2}"
        );
    }
}
