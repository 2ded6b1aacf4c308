//! Plaintext migration on the three databases: a table of plaintext vouchers that existed
//! before encx is migrated, verified, read and written during the migration, shared by four
//! workers, and killed with SIGKILL at random points, then resumed.

use std::process::Command;

use encx_integration_tests::{test_case, Service, Test};
use encx_sqlx::{EncxDatabase, Plaintext};
use futures_util::future::BoxFuture;

use super::generic::Member;
use super::rewrap::{voucher, vouchers};
use super::*;

/// The environment variable that turns this test binary into the migration child process:
/// the database URL it migrates (500 rows per batch, printing `batches N`).
pub const CHILD_ENV: &str = "ENCX_TEST_MIGRATE_CHILD";

on_databases! {
    "migration";
    migrate_verify_and_the_read_mode: |db| migrate_and_verify(db.pool.clone()) => [postgres, mariadb, sqlite];
    four_workers_share_a_migration: |db| four_workers(db.pool.clone(), &db.url) => [postgres, mariadb];
    a_migration_of_50k_killed_at_random_points_resumes: |db| crash_at_random_points(db.pool.clone(), &db.url) => [postgres, sqlite];
    records_of_data_subjects_migrate_under_their_subject_keys: |db| migrate_members(db.pool.clone()) => [postgres, mariadb];
    the_cli_migrates_and_verifies: |db| cli_migration(db.pool.clone(), &db.url) => [sqlite, postgres];
}

/// The vouchers table as it was before encx: the code in plaintext, in `code_plain` (renamed
/// from `code`, the column name encx's ciphertext takes).
#[derive(sqlx::FromRow)]
struct PlainVoucher {
    id: i64,
    code_plain: String,
}

/// What the tests need to say per database in plain SQL.
pub trait Legacy: encx_secrets::SecretsDatabase {
    /// The plaintext source of the vouchers table.
    fn source() -> Plaintext<Voucher, Self>;
    /// Runs `sql`.
    fn run<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, ()>;
    /// Runs `sql`, a `SELECT COUNT(*)`.
    fn count<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, i64>;
    /// An SQL condition: byte column `column` contains the ASCII text `needle`.
    fn contains(column: &str, needle: &str) -> String;
    /// The plaintext source of the members table (`subject_users`).
    fn members_source() -> Plaintext<Member, Self>;
    /// Inserts a plaintext member.
    fn insert_member<'a>(pool: &'a sqlx::Pool<Self>, member: &'a Member) -> BoxFuture<'a, ()>;
}

/// A row of the members table before encx.
#[derive(sqlx::FromRow)]
struct PlainMember {
    id: uuid::Uuid,
    email_plain: String,
}

macro_rules! legacy {
    ($db:ty, $contains:expr, $insert_member:literal) => {
        impl Legacy for $db {
            fn source() -> Plaintext<Voucher, Self> {
                Plaintext::new(|p: PlainVoucher| Voucher {
                    id: p.id,
                    code: p.code_plain,
                })
                .column("code", "code_plain")
            }

            fn run<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, ()> {
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                        .execute(pool)
                        .await
                        .unwrap();
                })
            }

            fn count<'a>(pool: &'a sqlx::Pool<Self>, sql: &'a str) -> BoxFuture<'a, i64> {
                Box::pin(async move {
                    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe((sql).to_string()))
                        .fetch_one(pool)
                        .await
                        .unwrap();
                    n
                })
            }

            fn contains(column: &str, needle: &str) -> String {
                #[allow(clippy::redundant_closure_call)]
                ($contains)(column, needle)
            }

            fn members_source() -> Plaintext<Member, Self> {
                Plaintext::new(|p: PlainMember| Member {
                    id: p.id,
                    email: p.email_plain,
                })
                .column("email", "email_plain")
            }

            fn insert_member<'a>(
                pool: &'a sqlx::Pool<Self>,
                member: &'a Member,
            ) -> BoxFuture<'a, ()> {
                Box::pin(async move {
                    sqlx::query(sqlx::AssertSqlSafe(($insert_member).to_string()))
                        .bind(member.id)
                        .bind(&member.email)
                        .execute(pool)
                        .await
                        .unwrap();
                })
            }
        }
    };
}

legacy!(
    sqlx::Postgres,
    |c: &str, n: &str| format!("position(convert_to('{n}', 'UTF8') in {c}) > 0"),
    "INSERT INTO subject_users (id, email_plain) VALUES ($1, $2)"
);
legacy!(
    sqlx::MySql,
    |c: &str, n: &str| format!("LOCATE(CAST('{n}' AS BINARY), {c}) > 0"),
    "INSERT INTO subject_users (id, email_plain) VALUES (?, ?)"
);
legacy!(
    sqlx::Sqlite,
    |c: &str, n: &str| format!("instr({c}, CAST('{n}' AS BLOB)) > 0"),
    "INSERT INTO subject_users (id, email_plain) VALUES (?, ?)"
);

/// A plaintext vouchers table with vouchers `0..count` (codes `CODE-00000`, ...), encx's
/// columns added: the repository, and the same in the migration's read mode.
async fn legacy_vouchers<DB: Legacy>(
    pool: sqlx::Pool<DB>,
    count: i64,
) -> (Repo<Voucher, DB>, Repo<Voucher, DB>) {
    DB::run(
        &pool,
        "CREATE TABLE vouchers (id BIGINT NOT NULL PRIMARY KEY, code_plain VARCHAR(64) NULL)",
    )
    .await;
    let ids: Vec<i64> = (0..count).collect();
    for chunk in ids.chunks(1_000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|&id| format!("({id}, '{}')", voucher(id).code))
            .collect();
        let sql = format!(
            "INSERT INTO vouchers (id, code_plain) VALUES {}",
            values.join(", ")
        );
        DB::run(&pool, &sql).await;
    }
    let repo = vouchers(pool).await;
    repo.add_encrypted_columns().await.unwrap();
    let reading = repo.with_plaintext(DB::source()).unwrap();
    (repo, reading)
}

/// Every voucher of `0..count` but `missing`, as `repo` reads them, in id order.
async fn read_all<DB: EncxDatabase>(repo: &Repo<Voucher, DB>, count: i64) -> Vec<Voucher> {
    let ids: Vec<i64> = (0..count).collect();
    let mut read = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5_000) {
        read.extend(repo.get_many(repo.pool(), chunk).await.unwrap());
    }
    read.sort_by_key(|v| v.id);
    read
}

/// 300 plaintext vouchers. Before the migration, the read mode gets, gets many and finds
/// unmigrated rows (an ordinary repository cannot read them), updates one (its plaintext is
/// cleared), erases one (plaintext cleared, never revived), and inserts a new one. The
/// migration writes exactly the rest, a second run nothing; no ciphertext column holds the
/// plaintext; an ordinary repository reads and finds every row. `verify` counts every row
/// right, then reports a changed plaintext and a ciphertext moved from another row by id.
async fn migrate_and_verify<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let (repo, reading) = legacy_vouchers(pool.clone(), 300).await;
    assert_eq!(reading.unmigrated_rows().await.unwrap(), 300);

    // The read mode, before the migration.
    assert_eq!(reading.get(&pool, 5).await.unwrap(), voucher(5));
    assert!(
        repo.get(&pool, 5).await.is_err(),
        "an ordinary repo cannot read it"
    );
    let mut some = reading.get_many(&pool, &[1, 2, 3]).await.unwrap();
    some.sort_by_key(|v| v.id);
    assert_eq!(some, vec![voucher(1), voucher(2), voucher(3)]);
    let code = voucher(42).code;
    assert_eq!(
        reading.find_by(&pool, Voucher::CODE, &code).await.unwrap(),
        vec![voucher(42)]
    );
    let changed = Voucher {
        id: 7,
        code: "NEW-7".into(),
    };
    reading.update(&pool, &changed).await.unwrap();
    assert_eq!(reading.get(&pool, 7).await.unwrap(), changed);
    assert_eq!(repo.get(&pool, 7).await.unwrap(), changed, "now migrated");
    assert!(reading.erase(&pool, 9).await.unwrap());
    assert!(reading.get(&pool, 9).await.unwrap_err().is_shredded());
    let plaintext_left =
        "SELECT COUNT(*) FROM vouchers WHERE id IN (7, 9) AND code_plain IS NOT NULL";
    assert_eq!(
        DB::count(&pool, plaintext_left).await,
        0,
        "plaintext cleared"
    );
    let fresh = Voucher {
        id: 1_000,
        code: "FRESH".into(),
    };
    reading.insert(&pool, &fresh).await.unwrap();
    assert_eq!(reading.unmigrated_rows().await.unwrap(), 298);

    // The migration.
    let done = reading.migrate(64).await.unwrap();
    assert_eq!(done.rewrapped, 298);
    assert_eq!(
        reading.migrate(64).await.unwrap().rewrapped,
        0,
        "idempotent"
    );
    assert_eq!(reading.unmigrated_rows().await.unwrap(), 0);
    let leaked = format!(
        "SELECT COUNT(*) FROM vouchers WHERE {} OR {}",
        DB::contains("code", "CODE-"),
        DB::contains("encx_dek", "CODE-")
    );
    assert_eq!(
        DB::count(&pool, &leaked).await,
        0,
        "no plaintext in encx columns"
    );
    assert!(
        reading.get(&pool, 9).await.unwrap_err().is_shredded(),
        "not revived"
    );
    let expected: Vec<Voucher> = (0..300)
        .filter(|&id| id != 9)
        .map(|id| {
            if id == 7 {
                changed.clone()
            } else {
                voucher(id)
            }
        })
        .collect();
    assert!(
        read_all(&repo, 300).await == expected,
        "an ordinary repo reads all"
    );
    for v in expected.iter().step_by(37) {
        assert_eq!(
            repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap(),
            vec![v.clone()]
        );
    }

    // Verify.
    let report = reading.verify(50).await.unwrap();
    assert_eq!(
        (report.checked, report.mismatched, report.unreadable),
        (298, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        (report.unmigrated, report.retired, report.erased),
        (0, 2, 1)
    );
    assert!(report.is_complete());
    DB::run(
        &pool,
        "UPDATE vouchers SET code_plain = 'WRONG' WHERE id = 3",
    )
    .await;
    let copy = match DB::DIALECT {
        encx::schema::Dialect::MySql => {
            "UPDATE vouchers AS a JOIN vouchers AS b ON a.id = 4 AND b.id = 5 SET a.code = b.code"
        }
        _ => "UPDATE vouchers SET code = (SELECT v.code FROM vouchers AS v WHERE v.id = 5) WHERE id = 4",
    };
    DB::run(&pool, copy).await; // voucher 5's ciphertext moved into row 4
    let report = reading.verify(50).await.unwrap();
    assert_eq!(
        (report.checked, report.mismatched, report.unreadable),
        (298, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.failed_ids, vec!["3", "4"]);
    assert!(!report.is_complete());
}

/// 20,000 plaintext vouchers migrated by 4 workers at once, each with its own `Crypto` and
/// pool: the rows they write add up to exactly 20,000, more than one did work, and `verify`
/// finds every row migrated and equal to its plaintext.
async fn four_workers<DB: Legacy>(pool: sqlx::Pool<DB>, url: &str) {
    let (_, reading) = legacy_vouchers(pool, 20_000).await;
    let migrate = |repo: Repo<Voucher, DB>| async move {
        let reading = repo.with_plaintext(DB::source()).unwrap();
        reading.migrate(250).await.unwrap()
    };
    super::rewrap::four_workers_write(url, 20_000, migrate).await;
    let report = reading.verify(2_000).await.unwrap();
    assert_eq!(report.checked, 20_000, "{report:?}");
    assert!(report.is_complete(), "{report:?}");
}

/// 50,000 plaintext vouchers; three child processes in turn migrate them, 500 rows per
/// batch, each killed with SIGKILL at a point drawn from a seed (after 1 to 25 batches, then
/// 0 to 30 ms more). After each kill the migration has moved on, is not finished, and every
/// voucher reads as written (in the read mode: migrated or not, nothing half-written); then
/// this process migrates exactly the rest, `verify` finds every row equal to its plaintext,
/// and every 101st voucher is found by its blind index. The seed is printed;
/// `ENCX_TEST_CRASH_SEED` replays one.
async fn crash_at_random_points<DB: Legacy>(pool: sqlx::Pool<DB>, url: &str) {
    const ROWS: i64 = 50_000;
    let seed = super::rewrap::crash_seed("migration crash_at_random_points");
    let mut draw = super::rewrap::kill_points(seed);
    let (repo, reading) = legacy_vouchers(pool.clone(), ROWS).await;
    let all: Vec<Voucher> = (0..ROWS).map(voucher).collect();
    let mut migrated_before = 0;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child.env(CHILD_ENV, url);
        super::rewrap::kill_at_random_point(child, &mut draw, round, url).await;
        let left = reading.unmigrated_rows().await.unwrap();
        let migrated = ROWS as u64 - left;
        assert!(
            migrated >= migrated_before + 500 && left > 0,
            "round {round} (seed {seed}): the job moved on and was killed mid-way ({left} left)"
        );
        migrated_before = migrated;
        assert!(
            read_all(&reading, ROWS).await == all,
            "round {round} (seed {seed}): every voucher reads as written"
        );
    }
    let rest = reading.migrate(1_000).await.unwrap();
    assert_eq!(
        rest.rewrapped,
        ROWS as u64 - migrated_before,
        "resumed exactly the rest"
    );
    let report = reading.verify(5_000).await.unwrap();
    assert_eq!(report.checked, ROWS as u64, "{report:?}");
    assert!(report.is_complete(), "seed {seed}: {report:?}");
    assert!(
        read_all(&repo, ROWS).await == all,
        "an ordinary repo reads all"
    );
    for v in all.iter().step_by(101) {
        let found = repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap();
        assert_eq!(found, vec![v.clone()], "seed {seed}: blind index current");
    }
}

/// 40 plaintext members (each its own data subject): the migration encrypts each under its
/// subject's key (key usage counts them as subject rows), `verify` is complete, every member
/// reads and is found; erasing one subject afterwards shreds its record.
async fn migrate_members<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let uuid_type = match DB::DIALECT {
        encx::schema::Dialect::Postgres => "UUID",
        _ => "BINARY(16)",
    };
    let ddl = format!(
        "CREATE TABLE subject_users (id {uuid_type} NOT NULL PRIMARY KEY, email_plain VARCHAR(64))"
    );
    DB::run(&pool, &ddl).await;
    let all = super::rewrap::members_named("m", 40);
    for m in &all {
        DB::insert_member(&pool, m).await;
    }
    let crypto = super::generic::subject_crypto(pool.clone()).await;
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.add_encrypted_columns().await.unwrap();
    let reading = members.with_plaintext(DB::members_source()).unwrap();
    assert_eq!(reading.migrate(16).await.unwrap().rewrapped, 40);
    assert_eq!(
        members.key_usage().await.unwrap(),
        vec![(encx::KeyInUse::SubjectKey, 40)]
    );
    let report = reading.verify(100).await.unwrap();
    assert!(report.is_complete() && report.checked == 40, "{report:?}");
    for m in &all {
        assert_eq!(members.get(&pool, m.id).await.unwrap(), *m);
        assert_eq!(
            members
                .find_by(&pool, Member::EMAIL, &m.email)
                .await
                .unwrap(),
            vec![m.clone()]
        );
    }
    let eraser = encx_sqlx::SubjectEraser::new(crypto).table(members.clone());
    eraser.erase(&all[0].id).await.unwrap();
    assert!(members
        .get(&pool, all[0].id)
        .await
        .unwrap_err()
        .is_shredded());
    assert_eq!(members.get(&pool, all[1].id).await.unwrap(), all[1]);
}

/// Runs the CLI in this process with the vouchers table registered as being migrated; its
/// exit code.
async fn encx_cli<DB: Legacy>(pool: &sqlx::Pool<DB>, url: &str, args: &[&str]) -> u8 {
    let pool = pool.clone();
    let root = ["--master-keys", super::rewrap::ROOT_SPEC];
    // The registry is built on `pool`, the database of `url` (which the CLI looks at first).
    let argv = ["encx", "--database-url", url]
        .into_iter()
        .chain(root)
        .chain(args.iter().copied())
        .map(str::to_owned);
    let code = encx_cli::main_from(argv, |ctx: encx_cli::Context| async move {
        let (crypto, keks) = super::rewrap::keys_crypto(&pool, ctx.root).await?;
        let reading = Repo::<Voucher, DB>::new(pool, crypto.clone()).with_plaintext(DB::source())?;
        Ok(encx_sqlx::Registry::new(crypto)
            .kek_store(keks)
            .migrating_table(reading))
    })
    .await;
    super::rewrap::exit_code(code)
}

/// `encx migrate` and `encx verify` on 500 plaintext vouchers: a dry run changes nothing,
/// `verify` exits 1 while rows are left, `migrate` does them all, `verify` then exits 0, and
/// 5 once a plaintext differs; `status` counts the unmigrated rows apart from erased ones;
/// `reindex` is `reencrypt`.
async fn cli_migration<DB: Legacy>(pool: sqlx::Pool<DB>, url: &str) {
    let (repo, reading) = legacy_vouchers(pool.clone(), 500).await;
    assert_eq!(encx_cli(&pool, url, &["migrate", "--dry-run"]).await, 0);
    assert_eq!(reading.unmigrated_rows().await.unwrap(), 500);
    let usage = reading.key_usage().await.unwrap();
    assert_eq!(usage, vec![(encx::KeyInUse::Unmigrated, 500)]);
    assert_eq!(encx_cli(&pool, url, &["status"]).await, 0);
    assert_eq!(encx_cli(&pool, url, &["verify"]).await, 1, "rows left");
    assert_eq!(encx_cli(&pool, url, &["migrate", "--batch", "0"]).await, 3);
    assert_eq!(
        encx_cli(&pool, url, &["migrate", "--batch", "64", "--json"]).await,
        0
    );
    assert_eq!(reading.unmigrated_rows().await.unwrap(), 0);
    assert!(read_all(&repo, 500).await == (0..500).map(voucher).collect::<Vec<_>>());
    assert_eq!(encx_cli(&pool, url, &["verify", "--batch", "100"]).await, 0);
    DB::run(
        &pool,
        "UPDATE vouchers SET code_plain = 'WRONG' WHERE id = 3",
    )
    .await;
    assert_eq!(
        encx_cli(&pool, url, &["verify", "--json"]).await,
        5,
        "a mismatch"
    );
    assert_eq!(encx_cli(&pool, url, &["reindex", "--dry-run"]).await, 0);
}

/// The child process: migrates the vouchers of the database at `url`, 500 per batch,
/// printing `batches N` after each batch, until it is killed (or done).
pub fn child(url: &str) -> std::process::ExitCode {
    async fn run<DB: Legacy + super::rewrap::ChildSessions>(url: &str) {
        let pool = super::rewrap::child_pool::<DB>(url).await;
        let repo = vouchers(pool).await.with_plaintext(DB::source()).unwrap();
        repo.migrate_with_progress(500, super::rewrap::say_batches)
            .await
            .unwrap();
    }
    on_url!(url, run)
}
