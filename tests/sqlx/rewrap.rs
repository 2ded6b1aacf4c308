//! KEK rotation, the rewrap job and key usage, on the three databases; a rewrap killed with
//! SIGKILL in a child process, then resumed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use encx::KeyInUse;
use encx_integration_tests::{test_case, Service, Test};
use encx_sqlx::EncxDatabase;
use futures_util::future::BoxFuture;

use super::*;

/// The environment variable that turns this test binary into the rewrap child process: the
/// database URL it rewraps.
pub const CHILD_ENV: &str = "ENCX_TEST_REWRAP_CHILD";

/// With [`CHILD_ENV`]: the job the child runs, `rewrap` (the default) or `reencrypt`.
const JOB_ENV: &str = "ENCX_TEST_REWRAP_JOB";

/// With [`CHILD_ENV`]: the child's batch size (default 20).
const BATCH_ENV: &str = "ENCX_TEST_REWRAP_BATCH";

/// Replays [`crash_at_random_points`] with the kill points of this seed (each run prints its
/// seed).
const SEED_ENV: &str = "ENCX_TEST_CRASH_SEED";

/// The environment variable that turns this test binary into a worker that dies holding
/// locks: it locks the first 500 vouchers of the database at this URL, in an open
/// transaction, says `locked`, and waits to be killed.
pub const LOCKER_ENV: &str = "ENCX_TEST_REWRAP_LOCKER";

on_databases! {
    "rewrap";
    rotate_then_rewrap: |db| rotate_then_rewrap(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_reencrypt_killed_with_sigkill_resumes: |db| killed_reencrypt_resumes(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
    a_rewrap_of_50k_killed_at_random_points_resumes: |db| crash_at_random_points(db.pool.clone(), &db.url, Job::Rewrap) => [postgres, sqlite];
    a_reencrypt_of_50k_killed_at_random_points_resumes: |db| crash_at_random_points(db.pool.clone(), &db.url, Job::Reencrypt) => [postgres, sqlite];
    a_rewrap_killed_with_sigkill_resumes: |db| killed_rewrap_resumes(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
    subject_keys_follow_a_kek_rotation: |db| subject_keys_follow_a_kek_rotation(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_registry_rotates_rewraps_and_destroys: |db| registry_lifecycle(db.pool.clone()) => [postgres, mariadb, sqlite];
    writes_during_a_rewrap_are_never_undone: |db| writes_during_a_rewrap(db.pool.clone(), Job::Rewrap) => [postgres, mariadb, sqlite];
    writes_during_a_reencrypt_are_never_undone: |db| writes_during_a_rewrap(db.pool.clone(), Job::Reencrypt) => [postgres, mariadb, sqlite];
    four_workers_share_a_rewrap: |db| four_workers(db.pool.clone(), &db.url, Job::Rewrap) => [postgres, mariadb];
    four_workers_share_a_reencrypt: |db| four_workers(db.pool.clone(), &db.url, Job::Reencrypt) => [postgres, mariadb];
    a_killed_worker_process_is_taken_over: |db| killed_worker_taken_over(db.pool.clone(), &db.url) => [postgres, mariadb];
    rows_a_dead_worker_held_are_swept_up: |db| dead_worker_rows_swept(db.pool.clone(), &db.url) => [postgres, mariadb];
    a_local_root_rotation_rewraps_the_key_table: |db| root_rotation(db.pool.clone()) => [postgres, mariadb, sqlite];
    reencrypt_moves_every_record_to_a_new_index_key: |db| reencrypt_reindexes(db.pool.clone()) => [postgres, mariadb, sqlite];
    the_cli_erases_a_subject: |db| cli_erase_subject(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
    the_audit_log_reads_back_with_filters: |db| audit_log_reads_back(db.pool.clone()) => [postgres, mariadb, sqlite];
    key_usage_reads_the_key_index_the_same: |db| key_usage_with_key_index(db.pool.clone()) => [postgres, sqlite, mariadb];
    the_cli_rotates_the_index_key: |db| cli_index_rotation(db.pool.clone(), &db.url) => [sqlite, postgres];
    the_cli_runs_a_rotation_with_exit_codes_by_kind: |db| cli_rotation(db.pool.clone(), &db.url) => [sqlite, postgres];
    a_described_table_is_rewrapped_as_its_repository_would_be: |db| described_rewrap(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_described_rewrap_killed_with_sigkill_resumes: |db| killed_described_rewrap_resumes(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
}

/// A registry that knows the vouchers by table and id column only (as the bare `encx` binary
/// does, `--rewrap-table`) counts them as registered, re-wraps every row as the repository
/// would (nothing else of a row changes: every voucher reads and is found as written), lets
/// the old KEK be destroyed afterwards, and refuses a re-encryption, which needs the type; a
/// missing table or column is a configuration error.
async fn described_rewrap<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let (repo, all, old) = rotated_vouchers(pool.clone(), 300).await;
    let registry = encx_sqlx::Registry::new(repo.crypto().clone())
        .kek_store(encx_sqlx::SqlKekStore::shared(pool.clone()))
        .kek_cache_ttl(std::time::Duration::ZERO)
        .encx_tables(pool.clone())
        .described_table::<DB, i64>(pool.clone(), "vouchers", "id")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await; // the guard's margin
    let status = registry.status().await.unwrap();
    assert_eq!(status.pending_rows(), 300, "{status}");
    assert!(status.unregistered.is_empty(), "registered: {status}");
    let refusal = registry.kek_destroy_refusal(old).await.unwrap();
    assert!(
        matches!(&refusal, Some(encx_sqlx::Error::KeyStillInUse { by, records: 300, .. }) if by == "vouchers"),
        "{refusal:?}"
    );

    let done = registry.rewrap(64, |_, _| {}).await.unwrap();
    assert_eq!(done.tables.len(), 1);
    assert_eq!(
        (done.tables[0].1.scanned, done.tables[0].1.rewrapped),
        (300, 300)
    );
    assert_all_moved(&repo, old, &all).await;
    for id in (0..300).step_by(37) {
        let v = voucher(id);
        assert_eq!(
            repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap(),
            vec![v]
        );
    }
    assert_eq!(registry.status().await.unwrap().pending_rows(), 0);
    assert_eq!(
        registry.rewrap(64, |_, _| {}).await.unwrap().tables[0]
            .1
            .rewrapped,
        0
    );
    assert!(registry.kek_destroy_refusal(old).await.unwrap().is_none());

    let reencrypt = registry
        .reencrypt(64, |_, _| {})
        .await
        .expect_err("needs the type");
    assert!(
        matches!(&reencrypt, encx_sqlx::Error::InvalidConfig(m) if m.contains("vouchers")),
        "{reencrypt}"
    );
    for (table, column) in [("no_such_table", "id"), ("vouchers", "no_such_column")] {
        let refused = encx_sqlx::Registry::new(repo.crypto().clone())
            .described_table::<DB, i64>(pool.clone(), table, column)
            .await
            .expect_err("refused");
        assert!(
            matches!(&refused, encx_sqlx::Error::InvalidConfig(m) if m.contains(table) || m.contains(column)),
            "{refused}"
        );
    }
}

/// [`killed_job_resumes`] with the rewrap of a described table.
async fn killed_described_rewrap_resumes<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    killed_job_resumes(pool, url, Job::Described).await;
}

/// A rewrap (or re-encryption) runs while another task erases every 7th voucher and updates
/// every 11th: no erased row comes back (the job writes a row only if its wrapped DEK is
/// unchanged since read), every update keeps its new value, every other row reads as before.
async fn writes_during_a_rewrap<DB: EncxDatabase>(pool: sqlx::Pool<DB>, job: Job) {
    let repo = vouchers(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..3_000).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    repo.crypto().rotate_kek(None).await.unwrap();

    let running = {
        let repo = repo.clone();
        tokio::spawn(async move { job.run(&repo, 50, |_| {}).await })
    };
    let mut expected = all.clone();
    for id in (0..3_000).rev() {
        let i = id as usize;
        if id % 7 == 0 {
            assert!(repo.erase(&pool, id).await.unwrap());
        } else if id % 11 == 0 {
            expected[i].code = format!("CHANGED-{id}");
            repo.update(&pool, &expected[i]).await.unwrap();
        }
    }
    running.await.unwrap();

    let ids: Vec<i64> = (0..3_000).collect();
    let survivors: Vec<Voucher> = expected.into_iter().filter(|v| v.id % 7 != 0).collect();
    assert!(
        read_all(&repo, &ids).await == survivors,
        "no erased row came back"
    );
    for id in (0..3_000).step_by(7) {
        assert!(
            repo.get(&pool, id).await.unwrap_err().is_shredded(),
            "row {id}"
        );
    }
    job.run(&repo, 500, |_| {}).await;
    let usage = repo.key_usage().await.unwrap();
    assert_eq!(usage.len(), 2, "erased rows and the new KEK: {usage:?}");
    assert_eq!(usage[0], (KeyInUse::Erased, 429));
}

/// 20,000 vouchers re-wrapped (or re-encrypted) by 4 workers at once, each with its own
/// `Crypto` and pool: the rows they write add up to exactly 20,000 (none twice, none missed),
/// more than one worker did work, and every row reads under the new KEK.
async fn four_workers<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str, job: Job) {
    let (repo, all, old) = rotated_vouchers(pool, 20_000).await;
    four_workers_write(url, 20_000, move |repo: Repo<Voucher, DB>| async move {
        job.run(&repo, 250, |_| {}).await
    })
    .await;
    assert_all_moved(&repo, old, &all).await;
}

/// Runs `work` in 4 tasks at once, each on a vouchers repository with a `Crypto` and a pool
/// (2 connections to `url`) of its own, and asserts that the rows they wrote add up to exactly
/// `rows` (none twice, none missed) and that more than one worker did work.
pub(super) async fn four_workers_write<DB, F, Fut>(url: &str, rows: u64, work: F)
where
    DB: EncxDatabase,
    F: Fn(Repo<Voucher, DB>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = encx_sqlx::RewrapProgress> + Send,
{
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (url, work) = (url.to_owned(), work.clone());
        workers.push(tokio::spawn(async move {
            let pool = sqlx::pool::PoolOptions::<DB>::new()
                .max_connections(2)
                .connect(&url)
                .await
                .unwrap();
            work(vouchers(pool).await).await
        }));
    }
    let mut done = Vec::new();
    for w in workers {
        done.push(w.await.unwrap());
    }
    let total: u64 = done.iter().map(|d| d.rewrapped).sum();
    assert_eq!(total, rows, "each row written exactly once: {done:?}");
    assert!(
        done.iter().filter(|d| d.rewrapped > 0).count() >= 2,
        "the work was shared: {done:?}"
    );
}

/// Two worker processes rewrap 2,000 vouchers, 20 per batch; one is killed with SIGKILL after
/// its third batch. The other, with no help and no restart, finishes every row (the dead
/// worker's open transaction is rolled back and its rows swept up).
async fn killed_worker_taken_over<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    let (repo, all, old) = rotated_vouchers(pool, 2_000).await;

    let (mut victim, mut survivor) = (
        this_test_as(CHILD_ENV, url, Job::Rewrap),
        this_test_as(CHILD_ENV, url, Job::Rewrap),
    );
    wait_for_line(&mut victim, "batches 3");
    victim.kill().unwrap(); // SIGKILL
    assert!(!victim.wait().unwrap().success());
    let survivor_out = survivor.stdout.take().unwrap();
    let survivor_batches = BufReader::new(survivor_out).lines().count();
    assert!(survivor.wait().unwrap().success());
    assert!(survivor_batches > 0);

    assert_all_moved(&repo, old, &all).await;
}

/// A worker process dies (SIGKILL) holding locks on the first 500 of 2,000 rows, while a
/// rewrap worker runs: the rewrap skips the held rows, does the rest, then waits for the held
/// rows in its closing sweep and does them once the dead worker's transaction is rolled back.
/// Without the sweep those 500 rows would be left under the old KEK.
async fn dead_worker_rows_swept<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    let (repo, all, old) = rotated_vouchers(pool, 2_000).await;

    let mut locker = this_test_as(LOCKER_ENV, url, Job::Rewrap);
    wait_for_line(&mut locker, "locked");

    let worker = {
        let repo = repo.clone();
        tokio::spawn(async move { repo.rewrap(100).await.unwrap() })
    };
    // Let the worker do the free rows and reach the held ones.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let usage = repo.key_usage().await.unwrap();
        let still_old = usage
            .iter()
            .find(|(k, _)| *k == KeyInUse::Kek(old))
            .map_or(0, |(_, n)| *n);
        // 500 held rows; InnoDB's next-key lock also holds row 500 on MariaDB.
        if (500..=501).contains(&still_old) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{usage:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!worker.is_finished(), "the worker waits for the held rows");
    locker.kill().unwrap(); // SIGKILL: its transaction dies with its connection
    assert!(!locker.wait().unwrap().success());
    let done = worker.await.unwrap();
    assert_eq!(done.rewrapped, 2_000);
    assert_all_moved(&repo, old, &all).await;
}

/// The locker process (see [`LOCKER_ENV`]).
pub fn locker(url: &str) -> std::process::ExitCode {
    use sqlx::Connection;
    const LOCK: &str = "SELECT id FROM vouchers WHERE id < 500 ORDER BY id FOR UPDATE";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query(LOCK).fetch_all(&mut *tx).await.unwrap();
            println!("locked");
            std::future::pending::<()>().await;
        } else {
            let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            sqlx::query(LOCK).fetch_all(&mut *tx).await.unwrap();
            println!("locked");
            std::future::pending::<()>().await;
        }
    });
    std::process::ExitCode::SUCCESS
}

/// `--master-keys` for the shared test root key (32 bytes of 42).
pub(super) const ROOT_SPEC: &str = "root:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// Runs the CLI in this process on the vouchers table of `url`; its exit code.
async fn encx_cli<DB: EncxDatabase, S: AsRef<str>>(pool: &sqlx::Pool<DB>, args: &[S]) -> u8 {
    encx_cli_assuming(pool, args, None).await
}

/// [`encx_cli`] whose guards assume the application caches KEKs for `kek_cache_ttl` (the
/// keyring's [`KEK_TTL`] when `None`). A refusal within the window is checked with a window
/// far longer than the test can take, so that a slow machine cannot outlast it.
async fn encx_cli_assuming<DB: EncxDatabase, S: AsRef<str>>(
    pool: &sqlx::Pool<DB>,
    args: &[S],
    kek_cache_ttl: Option<std::time::Duration>,
) -> u8 {
    let pool = pool.clone();
    let argv =
        std::iter::once("encx".to_string()).chain(args.iter().map(|s| s.as_ref().to_string()));
    let code = encx_cli::main_from(argv, |ctx: encx_cli::Context| async move {
        let (crypto, keks) = keys_crypto(&pool, ctx.root).await?;
        let registry = encx_sqlx::Registry::new(crypto.clone())
            .kek_store(keks)
            .audit_log(pool.clone())
            .table(Repo::<Voucher, DB>::new(pool, crypto));
        Ok(match kek_cache_ttl {
            Some(ttl) => registry.kek_cache_ttl(ttl),
            None => registry,
        })
    })
    .await;
    exit_code(code)
}

/// A CLI registry's crypto: KEKs and index keys in `pool`'s `encx_keks` under `root`; and
/// that key store.
pub(super) async fn keys_crypto<DB: EncxDatabase>(
    pool: &sqlx::Pool<DB>,
    root: Arc<dyn Keyring>,
) -> encx::Result<(Crypto, Arc<dyn encx::KekStore>)> {
    let keks = SqlKekStore::shared(pool.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), keks.clone()).with_cache_ttl(KEK_TTL))
        .index_keys_in(keks.clone(), root)
        .build()
        .await?;
    Ok((crypto, keks))
}

/// The KEK cache TTL of the CLI registries of these tests: `keys destroy` refuses a KEK until
/// this long (and a second) after its retirement.
pub(super) const KEK_TTL: std::time::Duration = std::time::Duration::from_millis(500);

/// Waits until `keys destroy` no longer refuses a KEK retired now for the KEK cache TTL
/// ([`KEK_TTL`] and the guard's second).
pub(super) async fn wait_out_kek_ttl() {
    tokio::time::sleep(KEK_TTL + std::time::Duration::from_millis(1_100)).await;
}

/// The number of an exit code (`ExitCode` has no accessor: compare with the codes it can be).
pub(super) fn exit_code(code: std::process::ExitCode) -> u8 {
    (0..=255u8)
        .find(|c| std::process::ExitCode::from(*c) == code)
        .unwrap()
}

/// The CLI through a whole rotation (status, rotate, rewrap with a progress callback, destroy
/// the old KEK, rotate and re-encrypt), each refusal with its own exit code, on the vouchers
/// of `url`.
async fn cli_rotation<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    let repo = vouchers(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..25).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    let (old, _) = single_kek(&repo).await;
    let with = |args: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--database-url", url, "--master-keys", ROOT_SPEC].map(String::from));
        v
    };
    assert_eq!(encx_cli(&pool, &with(&["status"])).await, 0);
    assert_eq!(encx_cli(&pool, &with(&["status", "--json"])).await, 0);
    if std::env::var_os("DATABASE_URL").is_none() {
        assert_eq!(encx_cli(&pool, &["status"]).await, 3, "no database URL");
    }
    let with_id = |args: &[String], id: &str| -> Vec<String> {
        let mut v = args.to_vec();
        v.insert(2, id.to_string());
        v
    };
    assert_eq!(encx_cli(&pool, &with(&["frobnicate"])).await, 2, "usage");
    let old_id = old.to_string();
    assert_eq!(
        encx_cli(&pool, &with_id(&with(&["keys", "destroy"]), &old_id)).await,
        4,
        "the active KEK is refused"
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "rotate", "--dry-run"])).await,
        0
    );
    assert_eq!(single_kek(&repo).await.0, old, "a dry run changes nothing");
    assert_eq!(encx_cli(&pool, &with(&["keys", "rotate"])).await, 0);
    assert_eq!(
        encx_cli(&pool, &with_id(&with(&["keys", "destroy"]), &old_id)).await,
        4,
        "25 rows still need the old KEK"
    );
    assert_eq!(encx_cli(&pool, &with(&["rewrap", "--dry-run"])).await, 0);
    assert_eq!(single_kek(&repo).await.0, old, "a dry run changes nothing");
    assert_eq!(encx_cli(&pool, &with(&["rewrap", "--batch", "0"])).await, 3);
    assert_eq!(
        encx_cli(&pool, &with(&["rewrap", "--batch", "10"])).await,
        0
    );
    let (new, live) = single_kek(&repo).await;
    assert_ne!(new, old);
    assert_eq!(live, 25);
    assert_eq!(
        encx_cli_assuming(
            &pool,
            &with_id(&with(&["keys", "destroy"]), &old_id),
            Some(std::time::Duration::from_secs(3600))
        )
        .await,
        4,
        "retired less than the KEK cache TTL ago"
    );
    wait_out_kek_ttl().await;
    assert_eq!(
        encx_cli(&pool, &with_id(&with(&["keys", "destroy"]), &old_id)).await,
        0
    );
    assert_eq!(encx_cli(&pool, &with(&["keys", "rotate"])).await, 0);
    assert_eq!(encx_cli(&pool, &with(&["reencrypt", "--dry-run"])).await, 0);
    assert_eq!(single_kek(&repo).await.0, new, "a dry run changes nothing");
    assert_eq!(
        encx_cli(&pool, &with(&["reencrypt", "--batch", "0"])).await,
        3
    );
    assert_eq!(
        encx_cli(&pool, &with(&["reencrypt", "--batch", "10", "--json"])).await,
        0
    );
    let (newest, live) = single_kek(&repo).await;
    assert_ne!(newest, new, "re-encrypted under the newest KEK");
    assert_eq!(live, 25);
    assert_eq!(
        encx_cli(&pool, &with(&["audit", "--table", "vouchers"])).await,
        0
    );
    assert_eq!(encx_cli(&pool, &with(&["audit", "--limit", "0"])).await, 3);
    assert_eq!(
        encx_cli(
            &pool,
            &with(&["audit", "--since-minutes", "18446744073709551615"])
        )
        .await,
        0,
        "any number of minutes, no overflow"
    );
    assert_eq!(
        encx_cli(&pool, &with(&["erase-subject", "anyone"])).await,
        3,
        "no subject eraser registered"
    );
    let wrong_root = ["status", "--database-url", url, "--master-keys"];
    let mut wrong = wrong_root.to_vec();
    wrong.push("root:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
    assert_eq!(
        encx_cli(&pool, &wrong).await,
        7,
        "the root that wrapped the stored KEKs is not given: a missing key"
    );
    let cold = vouchers(pool).await;
    let ids: Vec<i64> = (0..25).collect();
    assert!(read_all(&cold, &ids).await == all);
}

/// A registry of two tables (one with data subjects) through a whole KEK rotation: status
/// before and after, destruction refused while the KEK is active and while rows need it,
/// rewrap of every table and the subject keys, then destruction, and a cold process still
/// reads everything.
async fn registry_lifecycle<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    use super::generic::Member;
    use encx::KekState;
    let crypto = super::generic::subject_crypto(pool.clone()).await;
    let registry_of = |crypto: Crypto| {
        encx_sqlx::Registry::new(crypto.clone())
            .kek_cache_ttl(std::time::Duration::ZERO)
            .kek_store(SqlKekStore::shared(pool.clone()))
            .table(Repo::<Voucher, DB>::new(pool.clone(), crypto.clone()))
            .table(Repo::<Member, DB>::new(pool.clone(), crypto))
    };
    let registry = registry_of(crypto.clone());
    let vouchers = Repo::<Voucher, DB>::new(pool.clone(), crypto.clone());
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    vouchers.create_table().await.unwrap();
    members.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..30).map(voucher).collect();
    vouchers.insert_many(&pool, &all).await.unwrap();
    let people = members_named("r", 3);
    members.insert_many(&pool, &people).await.unwrap();

    let status = registry.status().await.unwrap();
    let [ref first] = status.keks[..] else {
        panic!("{status}")
    };
    let old = first.id;
    assert_eq!(first.state, KekState::Active);
    assert_eq!(
        status.tables,
        vec![
            ("vouchers", vec![(KeyInUse::Kek(old), 30)]),
            ("subject_users", vec![(KeyInUse::SubjectKey, 3)]),
        ]
    );
    assert_eq!(status.subject_keys, Some(vec![(KeyInUse::Kek(old), 3)]));
    assert_eq!(status.pending_rewrap(), 0);
    let refused = registry.destroy_kek(old, true).await.unwrap_err();
    assert!(
        matches!(refused, encx_sqlx::Error::KeyStillInUse { .. }),
        "{refused}"
    );

    crypto.rotate_kek(Some("ops")).await.unwrap();
    let status = registry.status().await.unwrap();
    assert_eq!(status.pending_rewrap(), 33, "{status}");
    assert!(status.retired_keks_unused().is_empty());
    // Within the window of processes that cache KEKs for an hour (so that a slow machine
    // cannot outlast it), the retired KEK is refused for the window before its rows.
    let hour = std::time::Duration::from_secs(3600);
    let cautious = registry_of(crypto.clone()).kek_cache_ttl(hour);
    match cautious.destroy_kek(old, false).await.unwrap_err() {
        encx_sqlx::Error::KeyStillInUse {
            records: 0, remedy, ..
        } => {
            assert!(remedy.starts_with("wait until"), "{remedy}")
        }
        other => panic!("refused for the KEK cache TTL first: {other}"),
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    match registry.destroy_kek(old, false).await.unwrap_err() {
        encx_sqlx::Error::KeyStillInUse { by, records, .. } => {
            assert_eq!((by.as_str(), records), ("vouchers", 30))
        }
        other => panic!("{other}"),
    }

    let mut batches = 0;
    let done = registry.rewrap(7, |_, _| batches += 1).await.unwrap();
    assert_eq!(
        batches, 5,
        "30 vouchers in pages of 7; no page of members: subject keys wrap their DEKs"
    );
    let counts: Vec<_> = done.tables.iter().map(|(t, p)| (*t, p.rewrapped)).collect();
    assert_eq!(counts, vec![("vouchers", 30), ("subject_users", 0)]);
    assert_eq!(done.subject_keys.map(|s| s.rewrapped), Some(3));

    let status = registry.status().await.unwrap();
    assert_eq!(status.pending_rewrap(), 0, "{status}");
    assert_eq!(status.retired_keks_unused(), vec![old]);
    assert!(
        status.to_string().ends_with("pending rewrap: 0"),
        "{status}"
    );
    registry.destroy_kek(old, false).await.unwrap();
    let status = registry.status().await.unwrap();
    assert_eq!(status.keks[0].state, KekState::Destroyed);

    let cold = super::generic::subject_crypto(pool.clone()).await;
    let cold_vouchers = Repo::<Voucher, DB>::new(pool.clone(), cold.clone());
    let ids: Vec<i64> = (0..30).collect();
    assert!(read_all(&cold_vouchers, &ids).await == all);
    let cold_members = Repo::<Member, DB>::new(pool.clone(), cold);
    for m in &people {
        assert_eq!(&cold_members.get(&pool, m.id).await.unwrap(), m);
    }
}

/// Members (their own data subjects) with subject keys in `encx_subject_keys`: the table's
/// rows all count under `SubjectKey`; after a KEK rotation the subject keys move to the new
/// KEK in pages of 2 (the records' DEKs stay), `Repo::rewrap` leaves subject records alone,
/// and a cold process reads every member.
async fn subject_keys_follow_a_kek_rotation<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    use super::generic::Member;
    let crypto = super::generic::subject_crypto(pool.clone()).await;
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();
    let all = members_named("m", 5);
    members.insert_many(&pool, &all).await.unwrap();
    assert_eq!(
        members.key_usage().await.unwrap(),
        vec![(KeyInUse::SubjectKey, 5)]
    );
    let usage = crypto.subject_key_usage().await.unwrap();
    let [(KeyInUse::Kek(old), 5)] = usage[..] else {
        panic!("{usage:?}")
    };

    crypto.rotate_kek(None).await.unwrap();
    assert_eq!(members.rewrap(10).await.unwrap().rewrapped, 0);
    let done = crypto.rewrap_subject_keys(2).await.unwrap();
    assert_eq!((done.scanned, done.rewrapped), (5, 5));
    let usage = crypto.subject_key_usage().await.unwrap();
    let [(KeyInUse::Kek(new), 5)] = usage[..] else {
        panic!("{usage:?}")
    };
    assert_ne!(new, old);
    assert_eq!(crypto.rewrap_subject_keys(2).await.unwrap().rewrapped, 0);

    let cold = Repo::<Member, DB>::new(
        pool.clone(),
        super::generic::subject_crypto(pool.clone()).await,
    );
    for m in &all {
        assert_eq!(&cold.get(&pool, m.id).await.unwrap(), m);
    }
}

/// A process's voucher repository: KEKs and index key in the database's `encx_keks`, under
/// the shared test root key.
pub(super) async fn vouchers<DB: EncxDatabase>(pool: sqlx::Pool<DB>) -> Repo<Voucher, DB> {
    vouchers_audited(pool, Arc::new(encx::audit::NoAudit)).await
}

/// Audit events kept in memory.
#[derive(Debug, Default)]
pub(super) struct Captured(pub(super) std::sync::Mutex<Vec<encx::audit::AuditEvent>>);

impl encx::AuditSink for Captured {
    fn record(&self, event: encx::audit::AuditEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub(super) async fn vouchers_audited<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    audit: Arc<dyn encx::AuditSink>,
) -> Repo<Voucher, DB> {
    let root = LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap();
    vouchers_under(pool, root, audit).await.unwrap()
}

/// The vouchers repository with a hierarchical keyring under `root`, its KEKs and index root
/// in the database's `encx_keks`.
async fn vouchers_under<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    root: LocalKeyring,
    audit: Arc<dyn encx::AuditSink>,
) -> encx::Result<Repo<Voucher, DB>> {
    encx_sqlx::migrate(&pool).await.unwrap();
    let root: Arc<dyn Keyring> = Arc::new(root);
    let store = SqlKekStore::shared(pool.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .audit(audit)
        .build()
        .await?;
    Ok(Repo::new(pool, crypto))
}

/// Index key rotation by re-encryption: 400 vouchers indexed under index key version 1; a
/// version 2 is added to `encx_keks` and the KEK rotated; while a re-encrypt job runs (25 per
/// batch), lookups of every 40th voucher keep finding it; afterwards every record is under
/// the new KEK, version 1 is destroyed, and a fresh process (version 2 only) finds every
/// voucher by its blind index and reads them all. A second run writes nothing; an erased
/// voucher stays erased.
async fn reencrypt_reindexes<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let repo = vouchers(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..400).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    assert!(repo.erase(&pool, 3).await.unwrap());
    let store = SqlKekStore::shared(pool.clone());
    let root = LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap();
    let v1 = store
        .active(encx::KeyPurpose::IndexRoot)
        .await
        .unwrap()
        .unwrap();
    let version = encx::index::IndexKeys::add_stored_version(&*store, &root)
        .await
        .unwrap();
    assert_eq!(version, 2);

    let repo = vouchers(pool.clone()).await; // a process started after the new version
    repo.crypto().rotate_kek(None).await.unwrap();
    let job = {
        let repo = repo.clone();
        tokio::spawn(async move { repo.reencrypt(25).await.unwrap() })
    };
    let mut lookups = 0;
    while !job.is_finished() {
        for v in all.iter().step_by(40) {
            let found = repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap();
            assert_eq!(found, vec![v.clone()], "found during the job");
            lookups += 1;
        }
    }
    let done = job.await.unwrap();
    assert_eq!(done.rewrapped, 399);
    assert!(lookups > 0);
    assert_eq!(
        repo.reencrypt(25).await.unwrap().rewrapped,
        0,
        "nothing left"
    );
    let (_, live) = single_kek(&repo).await;
    assert_eq!(live, 399);

    store
        .set_state(v1.id, encx::KekState::Destroyed)
        .await
        .unwrap();
    let fresh = vouchers(pool.clone()).await;
    for v in all.iter().filter(|v| v.id != 3) {
        let found = fresh.find_by(&pool, Voucher::CODE, &v.code).await.unwrap();
        assert_eq!(found, vec![v.clone()], "indexed under version 2");
    }
    let ids: Vec<i64> = (0..400).collect();
    let mut expected = all.clone();
    expected.remove(3);
    assert!(read_all(&fresh, &ids).await == expected);
    assert!(fresh.get(&pool, 3).await.unwrap_err().is_shredded());
}

/// `encx erase-subject` with the application's subject eraser over the members table: a dry
/// run changes nothing, text that is not a UUID is a configuration error (3), an erasure
/// shreds that member only, and its audit events (a `SqlAuditSink`, flushed by the CLI)
/// name the `--actor`.
async fn cli_erase_subject<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    use super::generic::Member;
    let crypto = super::generic::subject_crypto(pool.clone()).await;
    let members = Repo::<Member, DB>::new(pool.clone(), crypto);
    members.create_table().await.unwrap();
    let two = members_named("p", 2);
    members.insert_many(&pool, &two).await.unwrap();
    let (ada, bob) = (two[0].clone(), two[1].clone());
    let run = |args: Vec<String>| {
        let pool = pool.clone();
        async move {
            let argv = std::iter::once("encx".to_string()).chain(args);
            exit_code(encx_cli::main_from(argv, |ctx| members_registry(pool, ctx)).await)
        }
    };
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--database-url", url, "--master-keys", ROOT_SPEC].map(String::from));
        v
    };
    let ada_id = ada.id.to_string();
    assert_eq!(run(with(&["erase-subject", &ada_id, "--dry-run"])).await, 0);
    assert_eq!(
        members.get(&pool, ada.id).await.unwrap(),
        ada,
        "a dry run changes nothing"
    );
    assert_eq!(run(with(&["erase-subject", "not-a-uuid"])).await, 3);
    let erase = with(&[
        "erase-subject",
        &ada_id,
        "--actor",
        "dpo@example.com",
        "--json",
    ]);
    assert_eq!(run(erase).await, 0);
    let cold = Repo::<Member, DB>::new(
        pool.clone(),
        super::generic::subject_crypto(pool.clone()).await,
    );
    assert!(cold.get(&pool, ada.id).await.unwrap_err().is_shredded());
    assert_eq!(
        cold.get(&pool, bob.id).await.unwrap(),
        bob,
        "only that subject"
    );
    let query = encx_sqlx::AuditQuery::default()
        .action("erase_subject")
        .subject(ada_id.clone());
    let events = encx_sqlx::read_audit(&pool, &query).await.unwrap();
    assert!(
        !events.is_empty(),
        "the CLI's audit events are written before it exits"
    );
    assert!(events
        .iter()
        .all(|e| e.actor.as_deref() == Some("dpo@example.com")));
    // After a restore of the key database the ledger is re-applied: nothing came back here.
    assert_eq!(run(with(&["reapply-ledger", "--json"])).await, 0);
    assert!(cold.get(&pool, ada.id).await.unwrap_err().is_shredded());
    assert_eq!(cold.get(&pool, bob.id).await.unwrap(), bob);
}

/// Index key rotation through the CLI: `keys index-add` makes version 2 active; destroying
/// version 1 is refused (exit 4) while it is active, and while the records were not
/// re-encrypted since version 2 came; after `keys rotate` and `reindex` it is destroyed, and a
/// fresh process (version 2 only) finds every voucher by its blind index.
async fn cli_index_rotation<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    let repo = vouchers(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..60).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--database-url", url, "--master-keys", ROOT_SPEC].map(String::from));
        v
    };
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-add", "--dry-run"])).await,
        0
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-destroy", "1"])).await,
        4,
        "active"
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-add", "--json"])).await,
        0
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-destroy", "1"])).await,
        4,
        "records still indexed under version 1"
    );
    assert_eq!(encx_cli(&pool, &with(&["keys", "rotate"])).await, 0);
    assert_eq!(
        encx_cli(&pool, &with(&["reindex", "--batch", "25"])).await,
        0
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-destroy", "1"])).await,
        0
    );
    assert_eq!(
        encx_cli(&pool, &with(&["keys", "index-destroy", "1"])).await,
        3,
        "already destroyed"
    );
    let fresh = vouchers(pool.clone()).await;
    for v in &all {
        let found = fresh.find_by(&pool, Voucher::CODE, &v.code).await.unwrap();
        assert_eq!(found, vec![v.clone()], "found under version 2 alone");
    }
}

/// The CLI's registry for [`cli_erase_subject`]: the members table in a subject eraser, audit
/// events into `encx_audit` through a `SqlAuditSink`.
async fn members_registry<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    ctx: encx_cli::Context,
) -> Result<encx_sqlx::Registry, encx_cli::BuildError> {
    let keks = SqlKekStore::shared(pool.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(ctx.root.clone(), keks.clone()))
        .index_keys_in(keks, ctx.root)
        .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::shared(pool.clone()))
        .subject_cache(super::generic::SUBJECT_CACHE_TTL, 1_000)
        .audit(encx_sqlx::SqlAuditSink::spawn(pool.clone(), 100))
        .build()
        .await?;
    let ledger = encx_sqlx::SqlErasureLedger::<DB>::shared(pool.clone());
    let members = Repo::<super::generic::Member, DB>::new(pool, crypto.clone());
    Ok(encx_sqlx::Registry::new(crypto.clone()).subject_eraser(
        encx_sqlx::SubjectEraser::new(crypto)
            .table(members)
            .ledger(ledger),
    ))
}

/// Events written by a `SqlAuditSink` read back with `read_audit` and `Registry::audit`:
/// newest first, each filter selecting exactly its events, the limit respected, no value of a
/// record in any event, and the refusals (limit 0, no audit table registered).
async fn audit_log_reads_back<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    use encx_sqlx::{read_audit, AuditQuery};
    encx_sqlx::migrate(&pool).await.unwrap();
    let sink = encx_sqlx::SqlAuditSink::spawn(pool.clone(), 1_000);
    let repo = vouchers_audited(pool.clone(), sink.clone())
        .await
        .with_actor("alice");
    repo.create_table().await.unwrap();
    for id in 1..=3 {
        repo.insert(&pool, &voucher(id)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3)).await; // distinct times
    }
    repo.get(&pool, 1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    assert!(repo.erase(&pool, 2).await.unwrap());
    sink.flush().await;

    let read = |query: AuditQuery| {
        let pool = pool.clone();
        async move { read_audit(&pool, &query).await.unwrap() }
    };
    let all = read(AuditQuery::default().table("vouchers")).await;
    let actions: Vec<&str> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["erase", "decrypt", "encrypt", "encrypt", "encrypt"]
    );
    assert!(all.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    assert!(all.iter().all(|e| e.actor.as_deref() == Some("alice")));
    assert!(all.iter().all(|e| e.outcome == "ok"));
    for e in &all {
        let text = format!("{e:?}");
        assert!(!text.contains("CODE-"), "no value in an event: {text}");
    }
    let erased = read(AuditQuery::default().action("erase")).await;
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].record.as_deref(), Some("2"));
    assert_eq!(read(AuditQuery::default().record("1")).await.len(), 2);
    assert_eq!(read(AuditQuery::default().actor("bob")).await.len(), 0);
    assert_eq!(read(AuditQuery::default().limit(2)).await.len(), 2);
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3_600);
    assert!(read(AuditQuery::default().since(later)).await.is_empty());
    let since_first = all.last().unwrap().time();
    assert_eq!(
        read(AuditQuery::default().since(since_first)).await.len(),
        5
    );
    let zero = read_audit(&pool, &AuditQuery::default().limit(0)).await;
    assert!(matches!(zero, Err(encx_sqlx::Error::InvalidConfig(_))));

    let registry = encx_sqlx::Registry::new(repo.crypto().clone());
    let unregistered = registry.audit(AuditQuery::default()).await;
    assert!(matches!(
        unregistered,
        Err(encx_sqlx::Error::InvalidConfig(_))
    ));
    let registry = registry.audit_log(pool.clone());
    assert_eq!(registry.audit(AuditQuery::default()).await.unwrap(), all);
}

/// A local root key rotation (`root` then `root` and `root2`, `root2` active), finished by a
/// registry rewrap: the KEKs and the index root in `encx_keks` and the rows under the old KEK
/// are re-wrapped, after which a keyring holding only `root2` reads every voucher and finds
/// them by their blind index. A stale compare-and-swap of a key row is refused.
async fn root_rotation<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let (_, all, _) = rotated_vouchers(pool.clone(), 60).await;
    let no_audit = || Arc::new(encx::audit::NoAudit) as Arc<dyn encx::AuditSink>;
    let root = || MasterKey::new("root", [42; 32]).unwrap();
    let root2 = || MasterKey::new("root2", [43; 32]).unwrap();

    let v2_only = LocalKeyring::new(vec![root2()]).unwrap();
    let refused = vouchers_under(pool.clone(), v2_only, no_audit()).await;
    assert!(
        matches!(refused, Err(encx::Error::KeyNotFound { .. })),
        "{refused:?}"
    );

    let both = LocalKeyring::new(vec![root(), root2()]).unwrap();
    let repo = vouchers_under(pool.clone(), both, no_audit())
        .await
        .unwrap();
    let store = SqlKekStore::shared(pool.clone());
    let registry = encx_sqlx::Registry::new(repo.crypto().clone())
        .kek_store(store.clone())
        .table(repo.clone());
    let status = registry.status().await.unwrap();
    assert_eq!(
        status.key_rows_to_rewrap, 3,
        "two KEKs and the index root: {status}"
    );
    assert_eq!(status.pending_rewrap(), 3 + 60, "{status}");
    let done = registry.rewrap(25, |_, _| {}).await.unwrap();
    assert_eq!(done.key_rows, 3);
    assert_eq!(done.tables[0].1.rewrapped, 60);
    let status = registry.status().await.unwrap();
    assert_eq!(status.pending_rewrap(), 0, "{status}");
    let root2_name = LocalKeyring::new(vec![root2()]).unwrap().key_description();
    for kek in &status.keks {
        assert_eq!(kek.root_key, root2_name, "{status}");
    }
    assert!(status.to_string().contains(&root2_name), "{status}");
    assert_eq!(registry.rewrap(25, |_, _| {}).await.unwrap().key_rows, 0);

    let kek = store.list(encx::KeyPurpose::Kek).await.unwrap()[0].clone();
    let stale = store
        .replace_wrapped(kek.id, b"not what the row holds", b"junk", "junk")
        .await
        .unwrap();
    assert!(!stale, "a row changed since read is not replaced");
    assert_eq!(
        store.get(kek.id).await.unwrap().unwrap().wrapped,
        kek.wrapped
    );

    let v2_only = LocalKeyring::new(vec![root2()]).unwrap();
    let repo = vouchers_under(pool.clone(), v2_only, no_audit())
        .await
        .unwrap();
    let ids: Vec<i64> = (0..60).collect();
    assert!(
        read_all(&repo, &ids).await == all,
        "every row reads under root2 alone"
    );
    let found = repo
        .find_by(&pool, Voucher::CODE, "CODE-00007")
        .await
        .unwrap();
    assert_eq!(found, vec![all[7].clone()], "blind indexes unchanged");
}

pub(super) fn voucher(id: i64) -> Voucher {
    Voucher {
        id,
        code: format!("CODE-{id:05}"),
    }
}

/// `count` members (each its own data subject) with e-mail addresses `{prefix}{n}@example.com`.
pub(super) fn members_named(prefix: &str, count: usize) -> Vec<super::generic::Member> {
    (0..count)
        .map(|n| super::generic::Member {
            id: uuid::Uuid::new_v4(),
            email: format!("{prefix}{n}@example.com"),
        })
        .collect()
}

/// `count` vouchers in a new table, then a KEK rotation: the repository, the vouchers, and the
/// KEK that wraps them all (now retired).
async fn rotated_vouchers<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    count: i64,
) -> (Repo<Voucher, DB>, Vec<Voucher>, uuid::Uuid) {
    let repo = vouchers(pool.clone()).await;
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..count).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    let (old, _) = single_kek(&repo).await;
    repo.crypto().rotate_kek(None).await.unwrap();
    (repo, all, old)
}

/// Asserts that every voucher of `all` is under one KEK other than `old` and reads as written.
async fn assert_all_moved<DB: EncxDatabase>(
    repo: &Repo<Voucher, DB>,
    old: uuid::Uuid,
    all: &[Voucher],
) {
    let (new, live) = single_kek(repo).await;
    assert_ne!(new, old, "no row left under the old KEK");
    assert_eq!(live, all.len() as u64);
    let ids: Vec<i64> = all.iter().map(|v| v.id).collect();
    assert!(read_all(repo, &ids).await == all, "every row reads");
}

/// This test binary started as a child process with `env` set to `url` (see `main`), running
/// `job` where it runs one, its standard output piped.
fn this_test_as(env: &str, url: &str, job: Job) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(env, url)
        .env(JOB_ENV, job.name())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads `child`'s output until it says `line`; panics if it ends first.
pub(super) fn wait_for_line(child: &mut Child, line: &str) {
    let out = child.stdout.as_mut().unwrap();
    let found = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|said| said == line);
    assert!(found, "the child ended before it said {line:?}");
}

/// The vouchers of `ids` that read, in id order (`get_many` returns the database's order).
async fn read_all<DB: EncxDatabase>(repo: &Repo<Voucher, DB>, ids: &[i64]) -> Vec<Voucher> {
    let mut read = repo.get_many(repo.pool(), ids).await.unwrap();
    read.sort_by_key(|v| v.id);
    read
}

/// The one KEK that wraps every live row, and the erased count.
async fn single_kek<DB: EncxDatabase>(repo: &Repo<Voucher, DB>) -> (uuid::Uuid, u64) {
    let usage = repo.key_usage().await.unwrap();
    let keks: Vec<_> = usage
        .iter()
        .filter_map(|(k, n)| match k {
            KeyInUse::Kek(id) => Some((*id, *n)),
            _ => None,
        })
        .collect();
    assert_eq!(keks.len(), 1, "{usage:?}");
    keks[0]
}

/// 150 vouchers (one erased) under the first KEK; rotate; rewrap in batches of 40: every live
/// DEK moves to the new KEK, the erased row stays erased, a second run does nothing, a cold
/// process reads everything and lookups still work.
async fn rotate_then_rewrap<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let events = Arc::new(Captured::default());
    let repo = vouchers_audited(pool.clone(), events.clone())
        .await
        .with_actor("key-ops");
    repo.create_table().await.unwrap();
    let all: Vec<Voucher> = (0..150).map(voucher).collect();
    repo.insert_many(&pool, &all).await.unwrap();
    assert!(repo.erase(&pool, 0).await.unwrap());
    let (old, live) = single_kek(&repo).await;
    assert_eq!(live, 149);
    assert_eq!(repo.key_usage().await.unwrap()[0], (KeyInUse::Erased, 1));

    events.0.lock().unwrap().clear();
    let rotated = repo.crypto().rotate_kek(Some("key-ops")).await.unwrap();
    let done = repo.rewrap(40).await.unwrap();
    assert_eq!((done.scanned, done.rewrapped, done.batches), (149, 149, 4));
    {
        use encx::audit::{AuditAction, AuditOutcome};
        let events = events.0.lock().unwrap();
        let seen: Vec<_> = events
            .iter()
            .map(|e| (e.action, e.table, e.records, e.outcome, e.actor.as_deref()))
            .collect();
        let rewrap = |n| {
            (
                AuditAction::Rewrap,
                "vouchers",
                n,
                AuditOutcome::Ok,
                Some("key-ops"),
            )
        };
        assert_eq!(
            seen,
            vec![
                (
                    AuditAction::Rotate,
                    "encx_keks",
                    1,
                    AuditOutcome::Ok,
                    Some("key-ops")
                ),
                rewrap(40),
                rewrap(40),
                rewrap(40),
                rewrap(29),
            ]
        );
        assert_eq!(events[0].record.as_deref(), Some(rotated.as_str()));
    }
    let (new, live) = single_kek(&repo).await;
    assert_ne!(new, old);
    assert!(rotated.contains(&new.to_string()), "{rotated}");
    assert_eq!(live, 149);
    assert_eq!(repo.key_usage().await.unwrap()[0], (KeyInUse::Erased, 1));

    let again = repo.rewrap(40).await.unwrap();
    assert_eq!(
        (again.scanned, again.rewrapped),
        (0, 0),
        "nothing left to do"
    );

    let cold = vouchers(pool.clone()).await;
    let ids: Vec<i64> = (0..150).collect();
    assert!(
        read_all(&cold, &ids).await == all[1..],
        "every live row reads"
    );
    assert!(cold.get(&pool, 0).await.unwrap_err().is_shredded());
    assert_eq!(
        cold.find_by(&pool, Voucher::CODE, &all[77].code)
            .await
            .unwrap(),
        vec![all[77].clone()]
    );
}

/// 2,000 vouchers under the first KEK; rotate; a child process rewraps them 20 per batch and
/// is killed with SIGKILL after its third batch. Every row is then readable (under the old
/// or the new KEK, none half-written), both KEKs serve rows, and a rewrap in this process
/// finishes exactly the rest.
async fn killed_rewrap_resumes<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    killed_job_resumes(pool, url, Job::Rewrap).await;
}

/// The same with the re-encrypt job; every voucher is then also found by its blind index.
async fn killed_reencrypt_resumes<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str) {
    let repo = killed_job_resumes(pool.clone(), url, Job::Reencrypt).await;
    for id in (0..2_000).step_by(97) {
        let v = voucher(id);
        assert_eq!(
            repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap(),
            vec![v]
        );
    }
}

/// 50,000 vouchers; rotate; three child processes in turn run `job`, 500 records per batch,
/// and each is killed with SIGKILL at a point drawn from a seed (after 1 to 25 batches, then 0
/// to 30 ms more, so mostly inside a batch). After each kill every voucher reads as written
/// (nothing half-written) and the job has moved on; then this process finishes exactly the
/// rest, every record is under the new KEK, and every 101st voucher is found by its blind
/// index. The seed is random per run and printed; `ENCX_TEST_CRASH_SEED` replays one.
async fn crash_at_random_points<DB: EncxDatabase>(pool: sqlx::Pool<DB>, url: &str, job: Job) {
    const ROWS: i64 = 50_000;
    let seed = crash_seed(&format!("crash_at_random_points({job:?})"));
    let mut draw = kill_points(seed);
    let (repo, all, old) = rotated_vouchers(pool.clone(), ROWS).await;
    let ids: Vec<i64> = (0..ROWS).collect();
    let read_everything = || async {
        let mut read = Vec::with_capacity(all.len());
        for chunk in ids.chunks(5_000) {
            read.extend(read_all(&repo, chunk).await);
        }
        read
    };
    let mut moved_before = 0;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .env(CHILD_ENV, url)
            .env(JOB_ENV, job.name())
            .env(BATCH_ENV, "500");
        kill_at_random_point(child, &mut draw, round, url).await;

        let usage = repo.key_usage().await.unwrap();
        let still_old = usage
            .iter()
            .find(|(k, _)| *k == KeyInUse::Kek(old))
            .map_or(0, |(_, n)| *n);
        let moved = ROWS as u64 - still_old;
        assert!(
            moved >= moved_before + 500 && still_old > 0,
            "round {round} (seed {seed}): the job moved on and was killed mid-way: {usage:?}"
        );
        assert_eq!(usage.len(), 2, "two KEKs, nothing else: {usage:?}");
        moved_before = moved;
        assert!(
            read_everything().await == all,
            "round {round} (seed {seed}): every voucher reads as written"
        );
    }
    let rest = job.run(&repo, 1_000, |_| {}).await;
    assert_eq!(
        rest.rewrapped,
        ROWS as u64 - moved_before,
        "resumed exactly the rest"
    );
    let (new, live) = single_kek(&repo).await;
    assert_ne!(new, old);
    assert_eq!(live, ROWS as u64);
    assert!(read_everything().await == all);
    for v in all.iter().step_by(101) {
        let found = repo.find_by(&pool, Voucher::CODE, &v.code).await.unwrap();
        assert_eq!(found, vec![v.clone()], "seed {seed}: blind index current");
    }
}

/// The seed of a crash test's kill points: `ENCX_TEST_CRASH_SEED` (to replay a run), else
/// random; printed, with `test`'s name.
pub(super) fn crash_seed(test: &str) -> u64 {
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.unwrap().as_nanos() as u64
        });
    eprintln!("{test}: seed {seed} (set {SEED_ENV} to replay)");
    seed
}

/// Starts `child` (a job printing `batches N` after each batch) and kills it with SIGKILL
/// after 1 to 25 batches and then 0 to 30 ms more (so mostly inside a batch), as `draw`
/// decides; asserts that it did not finish first.
pub(super) async fn kill_at_random_point(
    mut child: Command,
    draw: &mut impl FnMut(u64) -> u64,
    round: usize,
    url: &str,
) {
    let batches = 1 + draw(25);
    let extra = std::time::Duration::from_millis(draw(31));
    let mut child = child
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, &format!("batches {batches}"));
    std::thread::sleep(extra);
    child.kill().unwrap(); // SIGKILL
    assert!(
        !child.wait().unwrap().success(),
        "round {round}: killed, not done"
    );
    child_sessions_closed(url).await;
}

/// A child process's pool of two connections to `url`; each connection records its server
/// session (see [`ChildSessions`]).
pub(super) async fn child_pool<DB: ChildSessions>(url: &str) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(2)
        .after_connect(|conn, _| DB::record_session(conn))
        .connect(url)
        .await
        .unwrap()
}

/// The table where a child process's connections record their server session ids.
const CHILD_SESSIONS: &str = "encx_test_child_sessions";

/// A database whose child processes record their server sessions, so that a test that killed
/// a child can wait until the server has finished every statement the child had sent before
/// it died (a `COMMIT` already on the wire still commits after the client is gone; counting
/// rows before it lands would miss one).
pub trait ChildSessions: EncxDatabase {
    /// Records the server session of `conn` in [`CHILD_SESSIONS`] (creating the table).
    fn record_session(conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>>;
}

macro_rules! child_sessions {
    ($db:ty, $session_id:literal) => {
        impl ChildSessions for $db {
            fn record_session(
                conn: &mut Self::Connection,
            ) -> BoxFuture<'_, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let create =
                        format!("CREATE TABLE IF NOT EXISTS {CHILD_SESSIONS} (id BIGINT NOT NULL)");
                    sqlx::query(sqlx::AssertSqlSafe((create).to_string()))
                        .execute(&mut *conn)
                        .await?;
                    let insert =
                        format!("INSERT INTO {CHILD_SESSIONS} (id) VALUES ({})", $session_id);
                    sqlx::query(sqlx::AssertSqlSafe((insert).to_string()))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }
        }
    };
}

child_sessions!(sqlx::Postgres, "pg_backend_pid()");
child_sessions!(sqlx::MySql, "CONNECTION_ID()");

impl ChildSessions for sqlx::Sqlite {
    /// SQLite has no server: a killed process's last transaction is in the file or not.
    fn record_session(_conn: &mut Self::Connection) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// Waits until the server has closed every session a killed child process recorded (see
/// [`ChildSessions`]), so that whatever the child had sent has committed or rolled back
/// before the test counts rows. Nothing to wait for on SQLite.
pub(super) async fn child_sessions_closed(url: &str) {
    use sqlx::Connection;
    let recorded = format!("IN (SELECT id FROM {CHILD_SESSIONS})");
    let open = || async {
        if url.starts_with("postgres") {
            let sql = format!("SELECT COUNT(*) FROM pg_stat_activity WHERE pid {recorded}");
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe((sql).to_string()))
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else if url.starts_with("mysql") {
            let sql =
                format!("SELECT COUNT(*) FROM information_schema.processlist WHERE id {recorded}");
            let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe((sql).to_string()))
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            0
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let still_open = open().await;
        if still_open == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the killed child's {still_open} server sessions stay open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Prints `batches N` (a child job's progress, read by [`wait_for_line`]).
pub(super) fn say_batches(p: &encx_sqlx::RewrapProgress) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "batches {}", p.batches).unwrap();
    out.flush().unwrap();
}

/// Draws kill points from `seed`: each call, a number below its argument (splitmix64; kill
/// points only, nothing secret).
pub(super) fn kill_points(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |below| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % below
    }
}

/// 300 vouchers, 3 erased, rotated: `key_usage` counts the same with the key index (its
/// `COUNT(*)` and range-scan path) as without (one `GROUP BY`), before and after a rewrap;
/// MySQL/MariaDB refuse the index as a configuration error.
async fn key_usage_with_key_index<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
    let (repo, _, old) = rotated_vouchers(pool.clone(), 300).await;
    for id in 0..3 {
        assert!(repo.erase(&pool, id).await.unwrap());
    }
    let grouped = repo.key_usage().await.unwrap();
    assert_eq!(grouped.len(), 2, "{grouped:?}");
    assert!(grouped.contains(&(KeyInUse::Kek(old), 297)));
    assert!(grouped.contains(&(KeyInUse::Erased, 3)));
    if DB::DIALECT == encx::schema::Dialect::MySql {
        let refused = repo.create_key_index().await.unwrap_err();
        assert!(matches!(refused, encx_sqlx::Error::InvalidConfig(_)));
        return;
    }
    repo.create_key_index().await.unwrap();
    repo.create_key_index().await.unwrap(); // idempotent
    assert_eq!(repo.key_usage().await.unwrap(), grouped, "same counts");
    assert_eq!(repo.rewrap(100).await.unwrap().rewrapped, 297);
    let (new, live) = single_kek(&repo).await;
    assert_ne!(new, old);
    assert_eq!(live, 297);
    let indexed = repo.key_usage().await.unwrap();
    assert!(indexed.contains(&(KeyInUse::Erased, 3)), "{indexed:?}");
}

/// The job a child process runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Job {
    Rewrap,
    Reencrypt,
    /// A rewrap of the vouchers known by table and id column only
    /// (`Registry::described_table`, the bare binary's `--rewrap-table`).
    Described,
}

impl Job {
    /// Its name in [`JOB_ENV`].
    fn name(self) -> &'static str {
        match self {
            Job::Rewrap => "rewrap",
            Job::Reencrypt => "reencrypt",
            Job::Described => "described",
        }
    }

    async fn run<DB: EncxDatabase>(
        self,
        repo: &Repo<Voucher, DB>,
        batch: usize,
        progress: impl FnMut(&encx_sqlx::RewrapProgress) + Send,
    ) -> encx_sqlx::RewrapProgress {
        match self {
            Job::Rewrap => repo.rewrap_with_progress(batch, progress).await,
            Job::Reencrypt => repo.reencrypt_with_progress(batch, progress).await,
            Job::Described => {
                let mut progress = progress;
                let registry = encx_sqlx::Registry::new(repo.crypto().clone())
                    .described_table::<DB, i64>(repo.pool().clone(), "vouchers", "id")
                    .await
                    .unwrap();
                let done = registry.rewrap(batch, |_, p| progress(p)).await.unwrap();
                let [("vouchers", done)] = done.tables[..] else {
                    panic!("one table: {:?}", done.tables)
                };
                Ok(done)
            }
        }
        .unwrap()
    }
}

async fn killed_job_resumes<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    url: &str,
    job: Job,
) -> Repo<Voucher, DB> {
    let (repo, all, old) = rotated_vouchers(pool, 2_000).await;

    let mut child = this_test_as(CHILD_ENV, url, job);
    wait_for_line(&mut child, "batches 3");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    child_sessions_closed(url).await;

    let usage = repo.key_usage().await.unwrap();
    let under = |key: uuid::Uuid| {
        usage
            .iter()
            .find(|(k, _)| *k == KeyInUse::Kek(key))
            .map_or(0, |(_, n)| *n)
    };
    let moved = 2_000 - under(old);
    assert!(
        (60..2_000).contains(&moved),
        "the kill came mid-job: {usage:?}"
    );
    assert_eq!(usage.len(), 2, "two KEKs, nothing else: {usage:?}");
    let ids: Vec<i64> = (0..2_000).collect();
    assert!(read_all(&repo, &ids).await == all, "every row reads");

    let rest = job.run(&repo, 500, |_| {}).await;
    assert_eq!(rest.rewrapped, 2_000 - moved, "resumed exactly the rest");
    assert_all_moved(&repo, old, &all).await;
    repo
}

/// The child process: rewraps the vouchers of the database at `url`, 20 per batch, printing
/// `batches N` after each batch, until it is killed (or done).
pub fn child(url: &str) -> std::process::ExitCode {
    async fn run<DB: ChildSessions>(url: &str) {
        let repo = vouchers(child_pool::<DB>(url).await).await;
        let job = match std::env::var(JOB_ENV).as_deref() {
            Ok("reencrypt") => Job::Reencrypt,
            Ok("described") => Job::Described,
            _ => Job::Rewrap,
        };
        let batch = std::env::var(BATCH_ENV)
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(20);
        job.run(&repo, batch, say_batches).await;
    }
    on_url!(url, run)
}
