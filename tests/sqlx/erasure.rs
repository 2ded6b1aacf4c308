//! GDPR erasure that never loses live data: a re-applied ledger clears only the rows under the
//! keys its entry covers (by key identity, whatever the clocks say), a subject erased before it
//! had a key stays blocked, rows that other processes write during their cache window are
//! swept, and a ledger kept apart from both databases undoes a full restore.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use encx_integration_tests::{test_case, Service, Test};
use encx_sqlx::{EncxDatabase, Repo, SubjectEraser};
use futures_util::future::BoxFuture;

use super::generic::{member, subject_crypto, Member, Purchase};
use super::*;

/// The environment variable that turns this test binary into a writer process: the database
/// URL it writes purchases of subject [`SUBJECT_ENV`] into, ids from [`ID_BASE_ENV`] on.
pub const WRITER_ENV: &str = "ENCX_TEST_ERASURE_WRITER";
const SUBJECT_ENV: &str = "ENCX_TEST_ERASURE_SUBJECT";
const ID_BASE_ENV: &str = "ENCX_TEST_ERASURE_ID_BASE";

/// How long a writer process keeps writing.
const WRITER_RUN: Duration = Duration::from_secs(4);

/// Runs `$run(data, keys)` on two fresh databases of each kind named, as tests
/// `erasure::<test>_on_<database>`.
macro_rules! two_databases {
    ($($test:ident: $run:ident => [$($database:ident),+];)+) => {
        $(mod $test {
            use super::*;
            $(two_databases!(@run $database, $test, $run);)+
        })+

        pub fn tests() -> Vec<Test> {
            let mut tests = vec![$($(two_databases!(@case $database, $test)),+),+];
            tests.extend(single::tests());
            tests.extend(in_transaction::tests());
            tests.push(test_case!(
                Service::Sqlite,
                "erasure::migrations_at_once_on_a_fresh_sqlite_file",
                migrations_at_once_on_a_fresh_sqlite_file
            ));
            tests.push(test_case!(
                Service::Sqlite,
                "erasure::the_cli_takes_a_keys_database",
                the_cli_takes_a_keys_database
            ));
            tests
        }
    };
    (@run $database:ident, $test:ident, $run:ident) => {
        pub async fn $database() {
            let name = concat!("erasure::", stringify!($test), "_on_", stringify!($database));
            let (Some(data), Some(keys)) = (
                two_databases!(@open $database, name),
                two_databases!(@open $database, name),
            ) else {
                return;
            };
            $run(data.pool.clone(), keys.pool.clone()).await;
            data.cleanup().await;
            keys.cleanup().await;
        }
    };
    (@open postgres, $name:ident) => { encx_integration_tests::postgres($name).await };
    (@open mariadb, $name:ident) => { encx_integration_tests::mysql($name).await };
    (@open sqlite, $name:ident) => { encx_integration_tests::sqlite($name).await };
    (@case $database:ident, $test:ident) => {
        test_case!(
            two_databases!(@service $database),
            concat!("erasure::", stringify!($test), "_on_", stringify!($database)),
            $test::$database
        )
    };
    (@service postgres) => { Service::Postgres };
    (@service mariadb) => { Service::MySql };
    (@service sqlite) => { Service::Sqlite };
}

two_databases! {
    reapplying_the_ledger_spares_rows_written_after_reenabling: reapply_spares_later_rows => [postgres, mariadb, sqlite];
    erasing_a_subject_with_no_key_blocks_it: erase_before_first_key => [postgres, mariadb, sqlite];
}

mod single {
    use super::*;

    on_databases! {
        "erasure";
        writes_of_other_processes_during_their_cache_window_are_swept: |db| writers_are_swept(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
        a_kek_state_change_is_guarded_against_a_concurrent_one: |db| kek_state_race(db.pool.clone()) => [postgres, mariadb];
        two_processes_run_migration_7_at_once: |db| migration_7_at_once(db.pool.clone()) => [postgres, mariadb];
        a_described_table_is_erased_as_its_repository_would_be: |db| described_tables(db.pool.clone()) => [postgres, mariadb, sqlite];
        an_erasure_is_refused_while_an_encrypted_table_is_not_covered: |db| uncovered_tables(db.pool.clone()) => [postgres, mariadb, sqlite];
    }
}

/// The members and purchases tables of `pool`, with two members (ada and bob) and a
/// purchase of each stored.
async fn ada_and_bob<DB: EncxDatabase>(
    pool: &sqlx::Pool<DB>,
    crypto: &encx::Crypto,
) -> (
    Repo<Member, DB>,
    Repo<Purchase, DB>,
    [(Member, Purchase); 2],
) {
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    let purchases = Repo::<Purchase, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();
    purchases.create_table().await.unwrap();
    let both = [member(1), member(2)];
    for (person, order) in &both {
        members.insert(pool, person).await.unwrap();
        purchases.insert(pool, order).await.unwrap();
    }
    (members, purchases, both)
}

/// An eraser covering its database refuses, before it changes anything, while a table that
/// encx writes is neither cleared by it nor declared to hold no subject's rows; the dry run
/// names the table, and either way of naming it lets the erasure through.
async fn uncovered_tables<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let events = Arc::new(super::rewrap::Captured::default());
    let crypto = super::generic::subject_crypto_audited(pool.clone(), events.clone()).await;
    let (members, purchases, [(ada, ada_order), (bob, _)]) = ada_and_bob(&pool, &crypto).await;
    let users_only = || async {
        SubjectEraser::<Uuid>::new(crypto.clone())
            .writer_window(Duration::ZERO)
            .described_table(pool.clone(), "subject_users", "id")
            .await
            .unwrap()
            .covering(pool.clone())
    };

    // Refused: subject_orders has an encx_dek column and is not named. Nothing changed.
    let eraser = users_only().await;
    let footprint = eraser.footprint(&ada.id).await.unwrap();
    assert_eq!(footprint.not_covered, vec!["subject_orders".to_owned()]);
    assert!(
        footprint.to_string().contains("subject_orders"),
        "{footprint}"
    );
    let refused = eraser
        .erase_by(&ada.id, Some("dpo"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, encx_sqlx::Error::TablesNotCovered { tables } if tables == &["subject_orders"]),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("--not-subject-table"),
        "{refused}"
    );
    assert_eq!(members.get(&pool, ada.id).await.unwrap(), ada);
    assert_eq!(purchases.get(&pool, ada_order.id).await.unwrap(), ada_order);
    assert_eq!(eraser.footprint(&ada.id).await.unwrap().live_keys, 1);
    // The refusal is on record, with its actor.
    let refusals: Vec<_> = std::mem::take(&mut *events.0.lock().unwrap())
        .into_iter()
        .filter(|e| e.action == encx::audit::AuditAction::EraseSubject)
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].actor.as_deref(), Some("dpo"));
    assert!(
        matches!(
            refusals[0].outcome,
            encx::audit::AuditOutcome::FailedElsewhere
        ),
        "{refusals:?}"
    );

    // Declared as holding no subject's rows: left alone, the erasure goes through.
    let declared = users_only().await.not_subject_table("subject_orders");
    assert!(declared.tables_not_covered().await.unwrap().is_empty());
    let receipt = declared.erase(&ada.id).await.unwrap();
    assert_eq!(receipt.tables, vec![("subject_users", 1)]);
    assert!(members.get(&pool, ada.id).await.unwrap_err().is_shredded());

    // Both tables named: covered, and bob's erasure clears both.
    let both = users_only()
        .await
        .described_table(pool.clone(), "subject_orders", "member_id")
        .await
        .unwrap();
    assert!(both.tables_not_covered().await.unwrap().is_empty());
    let receipt = both.erase(&bob.id).await.unwrap();
    assert_eq!(
        receipt.tables,
        vec![("subject_users", 1), ("subject_orders", 1)]
    );
}

/// An eraser that knows the tables by name and subject column only (as the bare `encx`
/// binary does, `--subject-table`) clears them as one built on their record types: the
/// subject's rows leave every lookup and read as erased, another subject's stay, and a table
/// or column that is not there is a configuration error.
async fn described_tables<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let crypto = subject_crypto(pool.clone()).await;
    let (members, purchases, [(ada, ada_order), (bob, bob_order)]) =
        ada_and_bob(&pool, &crypto).await;
    let eraser = SubjectEraser::<Uuid>::new(crypto.clone())
        .writer_window(Duration::ZERO)
        .described_table(pool.clone(), "subject_users", "id")
        .await
        .unwrap()
        .described_table(pool.clone(), "subject_orders", "member_id")
        .await
        .unwrap();
    assert_eq!(
        eraser.footprint(&ada.id).await.unwrap().tables,
        vec![("subject_users", 1), ("subject_orders", 1)]
    );
    let receipt = eraser.erase(&ada.id).await.unwrap();
    assert_eq!(
        receipt.tables,
        vec![("subject_users", 1), ("subject_orders", 1)]
    );
    assert!(members.get(&pool, ada.id).await.unwrap_err().is_shredded());
    assert!(purchases
        .get(&pool, ada_order.id)
        .await
        .unwrap_err()
        .is_shredded());
    assert!(members
        .find_by(&pool, Member::EMAIL, &ada.email)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(members.get(&pool, bob.id).await.unwrap(), bob);
    assert_eq!(purchases.get(&pool, bob_order.id).await.unwrap(), bob_order);

    for (table, column) in [
        ("no_such_table", "id"),
        ("subject_orders", "no_such_column"),
    ] {
        let refused = SubjectEraser::<Uuid>::new(crypto.clone())
            .described_table(pool.clone(), table, column)
            .await
            .expect_err("refused");
        assert!(
            matches!(&refused, encx_sqlx::Error::InvalidConfig(m) if m.contains(table) || m.contains(column)),
            "{refused}"
        );
    }
}

/// The data and key repositories of one process, and the eraser over both tables with its
/// ledger in `ledger`.
async fn setup<DB: EncxDatabase, L: EncxDatabase>(
    data: &sqlx::Pool<DB>,
    keys: &sqlx::Pool<DB>,
    ledger: &sqlx::Pool<L>,
) -> (Repo<Member, DB>, Repo<Purchase, DB>, SubjectEraser<Uuid>) {
    let crypto = subject_crypto(keys.clone()).await;
    encx_sqlx::migrate(ledger).await.unwrap();
    let members = Repo::<Member, DB>::new(data.clone(), crypto.clone());
    let purchases = Repo::<Purchase, DB>::new(data.clone(), crypto.clone());
    members.create_table().await.unwrap();
    purchases.create_table().await.unwrap();
    let eraser = SubjectEraser::<Uuid>::new(crypto)
        .ledger(encx_sqlx::SqlErasureLedger::shared(ledger.clone()))
        .table(members.clone())
        .table(purchases.clone());
    (members, purchases, eraser)
}

/// The raw SQL these tests run beside the repositories (what a restore or an auditor does).
pub trait Raw: EncxDatabase {
    /// Every subject key row: id and wrapped key.
    fn key_rows(pool: &sqlx::Pool<Self>) -> BoxFuture<'_, Vec<(Uuid, Option<Vec<u8>>)>>;
    /// Puts a key row back as a restore of the key database would.
    fn restore_key(pool: &sqlx::Pool<Self>, id: Uuid, wrapped: Vec<u8>) -> BoxFuture<'_, ()>;
    /// The stored `encx_dek` of purchase `id`.
    fn order_dek(pool: &sqlx::Pool<Self>, id: i64) -> BoxFuture<'_, Option<Vec<u8>>>;
    /// Puts a purchase's `encx_dek` back as a restore of the data would.
    fn restore_order_dek(pool: &sqlx::Pool<Self>, id: i64, dek: Vec<u8>) -> BoxFuture<'_, ()>;
    /// `SELECT COUNT(*) ...` with the one parameter `subject`.
    fn count<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str, subject: Uuid) -> BoxFuture<'a, i64>;
    /// Runs a statement without parameters.
    fn run<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, ()>;
    /// The one placeholder of a statement.
    const P: [&'static str; 2];
}

macro_rules! raw {
    ($db:ty, $p1:literal, $p2:literal) => {
        impl Raw for $db {
            const P: [&'static str; 2] = [$p1, $p2];
            fn key_rows(pool: &sqlx::Pool<Self>) -> BoxFuture<'_, Vec<(Uuid, Option<Vec<u8>>)>> {
                Box::pin(async move {
                    sqlx::query_as("SELECT id, wrapped FROM encx_subject_keys")
                        .fetch_all(pool)
                        .await
                        .unwrap()
                })
            }
            fn restore_key(
                pool: &sqlx::Pool<Self>,
                id: Uuid,
                wrapped: Vec<u8>,
            ) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let sql = concat!(
                        "UPDATE encx_subject_keys SET wrapped = ",
                        $p1,
                        ", erased_at = NULL WHERE id = ",
                        $p2
                    );
                    sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                        .bind(wrapped)
                        .bind(id)
                        .execute(pool)
                        .await
                        .unwrap();
                })
            }
            fn order_dek(pool: &sqlx::Pool<Self>, id: i64) -> BoxFuture<'_, Option<Vec<u8>>> {
                Box::pin(async move {
                    let sql = concat!("SELECT encx_dek FROM subject_orders WHERE id = ", $p1);
                    sqlx::query_scalar(sqlx::AssertSqlSafe((sql).to_string()))
                        .bind(id)
                        .fetch_one(pool)
                        .await
                        .unwrap()
                })
            }
            fn restore_order_dek(
                pool: &sqlx::Pool<Self>,
                id: i64,
                dek: Vec<u8>,
            ) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let sql = concat!(
                        "UPDATE subject_orders SET encx_dek = ",
                        $p1,
                        " WHERE id = ",
                        $p2
                    );
                    sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                        .bind(dek)
                        .bind(id)
                        .execute(pool)
                        .await
                        .unwrap();
                })
            }
            fn count<'a>(
                pool: &'a sqlx::Pool<Self>,
                sql: &'a str,
                subject: Uuid,
            ) -> BoxFuture<'a, i64> {
                Box::pin(async move {
                    sqlx::query_scalar(sqlx::AssertSqlSafe((sql).to_string()))
                        .bind(subject)
                        .fetch_one(pool)
                        .await
                        .unwrap()
                })
            }
            fn run<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, ()> {
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                        .execute(pool)
                        .await
                        .unwrap();
                })
            }
        }
    };
}

raw!(sqlx::Postgres, "$1", "$2");
raw!(sqlx::MySql, "?", "?");
raw!(sqlx::Sqlite, "?", "?");

/// Issue 23, item 1, as a new user met it: erase G, re-enable G, insert a new order for G,
/// re-apply the ledger (as the runbook says after every key-database restore). The new order
/// must survive: coverage is decided by key version, not by time. Then a real restore of the
/// key row and of the old order's DEK, with the ledger's clock an hour behind the writers':
/// the re-applied entry destroys the restored key and clears the old order only.
async fn reapply_spares_later_rows<DB: Raw>(data: sqlx::Pool<DB>, keys: sqlx::Pool<DB>) {
    let (members, purchases, eraser) = setup(&data, &keys, &data).await;
    let ((g, old_order), (h, h_order)) = (member(1), member(2));
    for (m, p) in [(&g, &old_order), (&h, &h_order)] {
        members.insert(members.pool(), m).await.unwrap();
        purchases.insert(purchases.pool(), p).await.unwrap();
    }
    let key_rows_before = DB::key_rows(&keys).await;
    assert_eq!(key_rows_before.len(), 2);
    let old_dek = DB::order_dek(&data, old_order.id).await.unwrap();

    let receipt = eraser.erase(&g.id).await.unwrap();
    assert_eq!(receipt.up_to_version, 1);
    assert_eq!(receipt.keys_destroyed.len(), 1);
    // Updating a record of an erased subject is refused as new data for it (issue 23, item 5:
    // the docs say so; `is_shredded` holds for it as for an erased record).
    let refused = purchases
        .update(purchases.pool(), &old_order)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            encx_sqlx::Error::Crypto(encx::Error::SubjectErased { .. })
        ),
        "{refused:?}"
    );
    assert!(refused.is_shredded());
    eraser.reenable(&g.id).await.unwrap();
    let mut new_order = old_order.clone();
    new_order.id = 10;
    new_order.address = "written after re-enabling".into();
    purchases
        .insert(purchases.pool(), &new_order)
        .await
        .unwrap();

    let receipts = eraser.reapply_ledger().await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert!(receipts[0].keys_destroyed.is_empty(), "{}", receipts[0]);
    assert_eq!(
        receipts[0].tables,
        vec![("subject_users", 0), ("subject_orders", 0)],
        "nothing written under the re-enabled key is cleared: {}",
        receipts[0]
    );
    assert_eq!(
        purchases.get(purchases.pool(), new_order.id).await.unwrap(),
        new_order
    );
    let cold = Repo::<Purchase, DB>::new(data.clone(), subject_crypto(keys.clone()).await);
    assert_eq!(
        cold.get(cold.pool(), new_order.id).await.unwrap(),
        new_order
    );

    // A restore of the key database brings G's first key back, and a restore of the data
    // brings back the old order's DEK; the eraser's clock ran an hour behind.
    for (id, wrapped) in key_rows_before {
        DB::restore_key(&keys, id, wrapped.unwrap()).await;
    }
    DB::restore_order_dek(&data, old_order.id, old_dek).await;
    DB::run(
        &data,
        "UPDATE encx_erasure_ledger SET erased_at = erased_at - 3600000",
    )
    .await;
    let restored = Repo::<Purchase, DB>::new(data.clone(), subject_crypto(keys.clone()).await);
    assert_eq!(
        restored.get(restored.pool(), old_order.id).await.unwrap(),
        old_order,
        "the restore resurrected G's old order"
    );

    let receipts = eraser.reapply_ledger().await.unwrap();
    assert_eq!(receipts[0].keys_destroyed.len(), 1, "{}", receipts[0]);
    assert_eq!(
        receipts[0].tables,
        vec![("subject_users", 0), ("subject_orders", 1)],
        "exactly the old order: {}",
        receipts[0]
    );
    let fresh = Repo::<Purchase, DB>::new(data.clone(), subject_crypto(keys.clone()).await);
    assert!(fresh
        .get(fresh.pool(), old_order.id)
        .await
        .unwrap_err()
        .is_shredded());
    assert_eq!(
        fresh.get(fresh.pool(), new_order.id).await.unwrap(),
        new_order
    );
    assert_eq!(fresh.get(fresh.pool(), h_order.id).await.unwrap(), h_order);
    assert_eq!(members.get(members.pool(), h.id).await.unwrap(), h);
}

/// Issue 23, item 2: erasing a subject that has no key yet leaves a tombstone; the next
/// insert for it is refused, in this process and in a cold one, until it is re-enabled.
async fn erase_before_first_key<DB: EncxDatabase>(data: sqlx::Pool<DB>, keys: sqlx::Pool<DB>) {
    let (members, purchases, eraser) = setup(&data, &keys, &data).await;
    let (g, order) = member(1);
    let receipt = eraser.erase(&g.id).await.unwrap();
    assert!(receipt.keys_destroyed.is_empty());
    assert_eq!(receipt.up_to_version, 1);
    let cold = Repo::<Purchase, DB>::new(data.clone(), subject_crypto(keys.clone()).await);
    for repo in [&purchases, &cold] {
        let err = repo.insert(repo.pool(), &order).await.unwrap_err();
        assert!(
            matches!(
                err,
                encx_sqlx::Error::Crypto(encx::Error::SubjectErased { .. })
            ),
            "{err:?}"
        );
    }
    assert!(members.insert(members.pool(), &g).await.is_err());
    assert!(matches!(
        purchases.get(purchases.pool(), order.id).await,
        Err(encx_sqlx::Error::NotFound { .. })
    ));
    eraser.reenable(&g.id).await.unwrap();
    purchases.insert(purchases.pool(), &order).await.unwrap();
    members.insert(members.pool(), &g).await.unwrap();
    assert_eq!(cold.get(cold.pool(), order.id).await.unwrap(), order);
}

/// Issue 23, item 3: two writer processes keep inserting purchases of subject G with G's key
/// in their cache while this process (the third) erases G. After `erase` returns (it waits
/// out the writers' cache window and sweeps), no row of G holds a DEK or a blind index,
/// whichever process wrote it; the sweep cleared rows the writers wrote after the keys were
/// destroyed; another subject's rows are untouched.
async fn writers_are_swept<DB: Raw>(pool: sqlx::Pool<DB>, url: &str) {
    let (members, purchases, eraser) = setup(&pool, &pool, &pool).await;
    let ((g, g_order), (h, h_order)) = (member(1), member(2));
    for (m, p) in [(&g, &g_order), (&h, &h_order)] {
        members.insert(&pool, m).await.unwrap();
        purchases.insert(&pool, p).await.unwrap();
    }
    let mut writers: Vec<_> = (1..=2)
        .map(|n| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .env(WRITER_ENV, url)
                .env(SUBJECT_ENV, g.id.to_string())
                .env(ID_BASE_ENV, (n * 1_000_000).to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            assert_eq!(lines.next().unwrap().unwrap(), "ready", "writer {n}");
            (child, lines)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let receipt = eraser.erase(&g.id).await.unwrap();
    let swept: u64 = receipt.swept.iter().map(|(_, n)| n).sum();
    let mut written = 0u64;
    for (mut child, mut lines) in writers.drain(..) {
        let summary = lines.next().unwrap().unwrap();
        assert!(child.wait().unwrap().success(), "{summary}");
        // "wrote N refused M"
        let words: Vec<&str> = summary.split_whitespace().collect();
        assert_eq!(words[0], "wrote", "{summary}");
        assert!(
            words[3].parse::<u64>().unwrap() > 0,
            "the writer was refused in the end: {summary}"
        );
        written += words[1].parse::<u64>().unwrap();
    }
    assert!(written > 0);
    assert!(
        swept > 0,
        "the writers wrote rows of G with the cached key after the erasure, and the sweep \
         cleared them: {receipt}"
    );
    let p1 = DB::P[0];
    for (table, column, kept) in [
        ("subject_orders", "member_id", "encx_dek IS NOT NULL"),
        (
            "subject_users",
            "id",
            "encx_dek IS NOT NULL OR email_bidx IS NOT NULL",
        ),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = {p1} AND ({kept})");
        let left = DB::count(&pool, &sql, g.id).await;
        assert_eq!(left, 0, "rows of the erased subject still keyed in {table}");
    }
    let all = DB::count(
        &pool,
        &format!("SELECT COUNT(*) FROM subject_orders WHERE member_id = {p1}"),
        g.id,
    )
    .await;
    assert!(all as u64 > swept, "the rows are there, cleared");
    assert_eq!(purchases.get(&pool, h_order.id).await.unwrap(), h_order);
    assert_eq!(members.get(&pool, h.id).await.unwrap(), h);
}

/// The body of a writer process: with a crypto of its own (subject cache TTL
/// [`SUBJECT_CACHE_TTL`]), inserts purchases of the subject until [`WRITER_RUN`] has passed,
/// says `ready` after the first, and ends with `wrote N refused M`: the rows it wrote after
/// the first, and the inserts refused because the subject was erased.
pub fn writer(url: &str) -> std::process::ExitCode {
    async fn run<DB: EncxDatabase>(url: &str) {
        let subject: Uuid = std::env::var(SUBJECT_ENV).unwrap().parse().unwrap();
        let base: i64 = std::env::var(ID_BASE_ENV).unwrap().parse().unwrap();
        let pool = sqlx::Pool::<DB>::connect(url).await.unwrap();
        let crypto = subject_crypto(pool.clone()).await;
        let purchases = Repo::<Purchase, DB>::new(pool.clone(), crypto);
        let started = Instant::now();
        let (mut wrote, mut refused) = (0u64, 0u64);
        let mut n = 0;
        while started.elapsed() < WRITER_RUN {
            n += 1;
            let order = Purchase {
                id: base + n,
                member_id: subject,
                address: format!("{n} Written Street"),
            };
            match purchases.insert(&pool, &order).await {
                Ok(()) if n == 1 => println!("ready"),
                Ok(()) => wrote += 1,
                Err(e) if e.is_shredded() => refused += 1,
                Err(e) => panic!("writer: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        println!("wrote {wrote} refused {refused}");
    }
    on_url!(url, run)
}

/// Issue 23, item 11: `SqlKekStore::set_state` writes only if the state it checked is still
/// there. Two processes change one retired KEK at once, one destroying it, one marking it
/// retired again: a destroyed key must stay destroyed, whichever order they land in.
async fn kek_state_race<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    use encx::{KekState, KeyPurpose};
    encx_sqlx::migrate(&pool).await.unwrap();
    let store = encx_sqlx::SqlKekStore::shared(pool.clone());
    let other = encx_sqlx::SqlKekStore::shared(pool.clone());
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root, store.clone()))
        .build()
        .await
        .unwrap();
    crypto.rotate_kek(None).await.unwrap(); // the first key
    let mut refused = 0;
    for _ in 0..150 {
        crypto.rotate_kek(None).await.unwrap();
        let retired = store
            .list(KeyPurpose::Kek)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.state == KekState::Retired)
            .expect("the previous key is retired");
        let (destroy, retire) = tokio::join!(
            store.set_state(retired.id, KekState::Destroyed),
            other.set_state(retired.id, KekState::Retired),
        );
        destroy.unwrap();
        refused += usize::from(retire.is_err());
        let now = store.get(retired.id).await.unwrap().unwrap();
        assert_eq!(
            now.state,
            KekState::Destroyed,
            "a destroyed key came back as retired"
        );
        assert!(now.wrapped.is_empty());
    }
    println!("kek_state_race: {refused} of 150 concurrent changes refused");
}

mod in_transaction {
    //! Issue 23, item 16: a repository call on the caller's own transaction, with the keys not
    //! cached yet.
    use super::*;
    use encx_integration_tests::{test_case, Service, Test};

    pub fn tests() -> Vec<Test> {
        vec![
            test_case!(
                Service::Sqlite,
                "erasure::insert_on_a_transaction_that_wrote_works_cold_on_sqlite",
                sqlite
            ),
            test_case!(
                Service::Postgres,
                "erasure::insert_on_a_transaction_works_cold_on_a_postgres_pool_of_one",
                postgres
            ),
        ]
    }

    /// A fresh process's crypto over `pool` (KEKs, index keys and subject keys in it).
    async fn cold_crypto<DB: EncxDatabase>(pool: &sqlx::Pool<DB>) -> Crypto {
        subject_crypto(pool.clone()).await
    }

    /// Keys warmed before the transaction (`Repo::warm_keys`): every call on the transaction
    /// answers from memory, the first record of a new subject included, and reads back what
    /// it wrote. Then a cold new subject inside a transaction that holds the database: the
    /// error says what to do and is not called retryable (a retry would meet the same lock).
    async fn run<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
        encx_sqlx::migrate(&pool).await.unwrap();
        // One process made the tables and keys; this one starts cold.
        let setup = cold_crypto(&pool).await;
        let members = Repo::<Member, DB>::new(pool.clone(), setup.clone());
        let purchases = Repo::<Purchase, DB>::new(pool.clone(), setup);
        members.create_table().await.unwrap();
        purchases.create_table().await.unwrap();
        let (ada, order) = member(1);
        members.insert(&pool, &ada).await.unwrap();

        let cold = cold_crypto(&pool).await;
        let purchases = Repo::<Purchase, DB>::new(pool.clone(), cold.clone());
        let members = Repo::<Member, DB>::new(pool.clone(), cold.clone());
        let (bob, bob_order) = member(2);
        members.warm_keys(std::slice::from_ref(&bob)).await.unwrap();
        purchases
            .warm_keys(&[order.clone(), bob_order.clone()])
            .await
            .unwrap();
        let started = Instant::now();
        let mut tx = pool.begin().await.unwrap();
        members.insert(&mut tx, &bob).await.unwrap(); // the transaction has written
        purchases.insert(&mut tx, &order).await.unwrap();
        purchases.insert(&mut tx, &bob_order).await.unwrap();
        assert_eq!(purchases.get(&mut tx, order.id).await.unwrap(), order);
        assert_eq!(members.get(&mut tx, bob.id).await.unwrap(), bob);
        tx.commit().await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no wait for a lock: {:?}",
            started.elapsed()
        );
        assert_eq!(members.get(&pool, bob.id).await.unwrap(), bob);
        assert_eq!(purchases.get(&pool, bob_order.id).await.unwrap(), bob_order);

        // Not warmed: a new subject's key cannot be stored while the transaction holds the
        // database.
        let (carl, _) = member(3);
        let (dora, _) = member(4);
        members
            .warm_keys(std::slice::from_ref(&dora))
            .await
            .unwrap();
        let mut tx = pool.begin().await.unwrap();
        members.insert(&mut tx, &dora).await.unwrap();
        let err = members.insert(&mut tx, &carl).await.unwrap_err();
        assert!(!err.is_retryable(), "{err:?}");
        assert!(
            matches!(&err, encx_sqlx::Error::InvalidConfig(m) if m.contains("warm_keys")),
            "{err}"
        );
        tx.rollback().await.unwrap();
    }

    async fn sqlite() {
        // The journal mode sqlx gives a new user: SQLite's default (no WAL), a new file.
        let file = std::env::temp_dir().join(format!("encx_tx_{}.db", Uuid::new_v4().simple()));
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
            "sqlite://{}?mode=rwc",
            file.display()
        ))
        .unwrap()
        .busy_timeout(Duration::from_secs(5));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        run(pool.clone()).await;
        pool.close().await;
        let _ = std::fs::remove_file(&file);
    }

    async fn postgres() {
        let Some(db) = encx_integration_tests::postgres("in_transaction").await else {
            return;
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&db.url)
            .await
            .unwrap();
        run(pool.clone()).await;
        pool.close().await;
        db.cleanup().await;
    }
}

/// Every migration, run by two pools of one fresh SQLite file at once (SQLite has no
/// `ADD COLUMN IF NOT EXISTS`): both succeed, and the ledger has its version and scope columns.
pub async fn migrations_at_once_on_a_fresh_sqlite_file() {
    let file = std::env::temp_dir().join(format!("encx_mig_{}.db", Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .busy_timeout(Duration::from_secs(30));
    let (a, b) = (
        sqlx::SqlitePool::connect_with(options.clone())
            .await
            .unwrap(),
        sqlx::SqlitePool::connect_with(options).await.unwrap(),
    );
    let (ra, rb) = tokio::join!(encx_sqlx::migrate(&a), encx_sqlx::migrate(&b));
    ra.unwrap();
    rb.unwrap();
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('encx_erasure_ledger')")
            .fetch_all(&a)
            .await
            .unwrap();
    assert_eq!(columns, ["subject", "erased_at", "up_to_version", "scope"]);
    a.close().await;
    b.close().await;
    let _ = std::fs::remove_file(&file);
}

/// Issue 23, item 5: the CLI hands the registry builder the key tables' own database
/// (`--keys-database-url`), and `keys rotate` through it writes there, not into the data's.
pub async fn the_cli_takes_a_keys_database() {
    let (Some(data), Some(keys)) = (
        encx_integration_tests::sqlite("cli_keys").await,
        encx_integration_tests::sqlite("cli_keys").await,
    ) else {
        return;
    };
    let argv = [
        "encx",
        "keys",
        "rotate",
        "--database-url",
        data.url.as_str(),
        "--keys-database-url",
        keys.url.as_str(),
        "--master-keys",
        super::rewrap::ROOT_SPEC,
    ]
    .map(String::from);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = seen.clone();
    let code = encx_cli::main_from(argv, |ctx: encx_cli::Context| async move {
        *seen_in.lock().unwrap() = Some((ctx.database_url.clone(), ctx.keys_database_url.clone()));
        let keys = sqlx::SqlitePool::connect(&ctx.keys_database_url).await?;
        let keks = encx_sqlx::SqlKekStore::shared(keys);
        let crypto = Crypto::builder()
            .keyring(HierarchicalKeyring::new(ctx.root, keks.clone()))
            .build()
            .await?;
        Ok(encx_sqlx::Registry::new(crypto).kek_store(keks))
    })
    .await;
    assert_eq!(super::rewrap::exit_code(code), 0);
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some((data.url.clone(), keys.url.clone()))
    );
    let in_keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM encx_keks")
        .fetch_one(&keys.pool)
        .await
        .unwrap();
    let in_data: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM encx_keks")
        .fetch_one(&data.pool)
        .await
        .unwrap();
    assert_eq!(
        (in_keys, in_data),
        (1, 0),
        "the KEK went to the keys database"
    );
    data.cleanup().await;
    keys.cleanup().await;
}

/// Migration 7 adds a column, which has no `IF NOT EXISTS` on SQLite and MySQL: two
/// processes migrating at once must both succeed all the same.
async fn migration_7_at_once<DB: Raw>(pool: sqlx::Pool<DB>) {
    DB::run(
        &pool,
        "ALTER TABLE encx_erasure_ledger DROP COLUMN up_to_version",
    )
    .await;
    DB::run(
        &pool,
        "DELETE FROM encx_schema_migrations WHERE version = 7",
    )
    .await;
    let (a, b) = tokio::join!(encx_sqlx::migrate(&pool), encx_sqlx::migrate(&pool));
    a.unwrap();
    b.unwrap();
    DB::run(&pool, "SELECT up_to_version FROM encx_erasure_ledger").await;
    encx_sqlx::migrate(&pool).await.unwrap();
}
