//! Application secrets (`encx_secrets`) and issued tokens (`encx_tokens`) on the three
//! databases: round trips, versions, tags, expiry, the cache's single flight, KEK rotation and
//! rewrap, SQL-level checks that no value or token reaches the tables, and rows edited in the
//! database refused as tampered.

use std::time::{Duration, SystemTime};

use encx_integration_tests::{test_case, Service, Test};
use encx_secrets::{Config, RegistrySecrets, SecretOptions, Secrets, TokenStore};

use super::migration::Legacy;
use super::*;

on_databases! {
    "app_secrets";
    secrets_round_trip_with_versions_tags_and_expiry: |db| round_trip(db.pool.clone()) => [postgres, mariadb, sqlite];
    secrets_edited_in_the_database_are_refused: |db| tampering(db.pool.clone()) => [postgres, mariadb, sqlite];
    secrets_cache_loads_once_for_concurrent_readers: |db| single_flight(db.pool.clone()) => [postgres, mariadb, sqlite];
    secrets_follow_a_kek_rotation_by_rewrap: |db| rewrap(db.pool.clone()) => [postgres, mariadb, sqlite];
    config_masks_secrets_loaded_from_the_store: |db| config(db.pool.clone()) => [postgres, mariadb, sqlite];
    tokens_are_stored_as_keyed_hashes: |db| tokens(db.pool.clone()) => [postgres, mariadb, sqlite];
    token_rows_edited_in_the_database_are_refused: |db| token_tampering(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_registry_keeps_the_kek_of_secrets_until_they_are_rewrapped: |db| registry_guards_secrets(db.pool.clone()) => [postgres, mariadb, sqlite];
    a_secrets_reencrypt_killed_at_random_points_resumes: |db| killed_reencrypt(db.pool.clone(), &db.url) => [postgres, sqlite];
    secrets_and_tokens_leave_an_audit_trail: |db| audit_trail(db.pool.clone()) => [postgres, mariadb, sqlite];
    secret_names_and_token_owners_are_exact: |db| exact_names(db.pool.clone()) => [postgres, mariadb, sqlite];
}

/// One `encx_audit` row as compared here: action, table, record, subject, actor, records,
/// outcome.
type Trail = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    String,
);

/// Every write, read (cache hits included), deletion and re-wrap of a secret and every
/// issue, verification (matched, unknown, expired) and revocation of a token leaves exactly
/// one row in `encx_audit`, naming the secret version or the token id, the owner and the
/// actor; no row holds a secret value or a token's text.
async fn audit_trail<DB: Legacy>(pool: sqlx::Pool<DB>) {
    encx_sqlx::migrate(&pool).await.unwrap();
    let sink = encx_sqlx::SqlAuditSink::spawn(pool.clone(), 1_000);
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let keks = SqlKekStore::shared(pool.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks, root)
        .audit(sink.clone())
        .build()
        .await
        .unwrap();
    let secrets = Secrets::with_cache_ttl(pool.clone(), crypto.clone(), Duration::from_secs(60))
        .with_actor("deploy-bot");
    let options = SecretOptions::new();
    secrets
        .put("db/password", b"hunter2-secret", &options)
        .await
        .unwrap();
    secrets.get("db/password").await.unwrap(); // loaded
    secrets.get("db/password").await.unwrap(); // from the cache: on record all the same
    secrets
        .rotate("db/password", b"correct-horse")
        .await
        .unwrap();
    secrets.get_version("db/password", 1).await.unwrap();
    let injected = secrets.get("db/password\nforged line").await.unwrap_err();
    assert!(injected.to_string().contains("name"), "{injected}");
    let missing = secrets.get("missing").await.unwrap_err();
    assert!(
        matches!(missing, encx_secrets::Error::NotFound { .. }),
        "{missing}"
    );
    let past = SystemTime::now() - Duration::from_secs(60);
    let stale = options.clone().expires_at(past);
    secrets.put("stale", b"stale-value", &stale).await.unwrap();
    let expired = secrets.get("stale").await.unwrap_err();
    assert_eq!(expired.crypto_kind(), Some(encx::error::ErrorKind::Expired));
    crypto.rotate_kek(None).await.unwrap();
    assert_eq!(secrets.rewrap().await.unwrap().rewrapped, 3);
    assert_eq!(secrets.delete("db/password").await.unwrap(), 2);

    let store =
        TokenStore::new(pool.clone(), crypto.tokens("sk_test").unwrap()).with_actor("api-gateway");
    let (token, issued) = store.issue("customer-42", None).await.unwrap();
    assert!(store.verify(token.expose_secret()).await.unwrap().is_some());
    let (never_issued, _) = crypto.tokens("sk_test").unwrap().generate().unwrap();
    assert!(store
        .verify(never_issued.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(store.verify("not-a-token").await.unwrap().is_none());
    let (short, brief) = store
        .issue("customer-43", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.verify(short.expose_secret()).await.unwrap().is_none());
    assert!(store.revoke(issued.id).await.unwrap());
    assert_eq!(store.revoke_owner("customer-43").await.unwrap(), 1);
    sink.flush().await;

    let events = encx_sqlx::read_audit(&pool, &encx_sqlx::AuditQuery::default().limit(1_000))
        .await
        .unwrap();
    let shown = format!("{events:?}");
    for secret in [
        "hunter2",
        "correct-horse",
        "stale-value",
        "not-a-token",
        never_issued.expose_secret(),
        token.expose_secret(),
        short.expose_secret(),
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let mut trail: Vec<Trail> = events
        .into_iter()
        .filter(|e| e.table_name != "encx_keks")
        .map(|e| {
            let expected_fields = if e.table_name == "encx_secrets" {
                "value"
            } else {
                ""
            };
            assert_eq!(e.fields, expected_fields, "{e:?}");
            (
                e.action,
                e.table_name,
                e.record,
                e.subject,
                e.actor,
                e.records,
                e.outcome,
            )
        })
        .collect();
    let secret = |action: &str, record: &str, records: i64, outcome: &str| -> Trail {
        (
            action.into(),
            "encx_secrets".into(),
            Some(record.into()),
            None,
            Some("deploy-bot".into()),
            records,
            outcome.into(),
        )
    };
    let token_event = |action: &str,
                       record: Option<String>,
                       owner: Option<&str>,
                       records: i64,
                       outcome: &str|
     -> Trail {
        (
            action.into(),
            "encx_tokens".into(),
            record,
            owner.map(str::to_owned),
            Some("api-gateway".into()),
            records,
            outcome.into(),
        )
    };
    let (id, brief_id) = (Some(issued.id.to_string()), Some(brief.id.to_string()));
    let mut expected = vec![
        secret("encrypt", "db/password#1", 1, "ok"),
        secret("decrypt", "db/password#1", 1, "ok"),
        secret("decrypt", "db/password#1", 1, "ok"),
        secret("encrypt", "db/password#2", 1, "ok"),
        secret("decrypt", "db/password#1", 1, "ok"),
        secret("decrypt", "missing", 0, "database"),
        (
            "decrypt".into(),
            "encx_secrets".into(),
            None, // a name that is not one is not written to the log
            None,
            Some("deploy-bot".into()),
            0,
            "configuration".into(),
        ),
        secret("encrypt", "stale#1", 1, "ok"),
        secret("decrypt", "stale", 0, "expired"),
        secret("rewrap", "db/password", 2, "ok"),
        secret("rewrap", "stale", 1, "ok"),
        secret("erase", "db/password", 2, "ok"),
        token_event("issue", id.clone(), Some("customer-42"), 1, "ok"),
        token_event("verify", id.clone(), Some("customer-42"), 1, "ok"),
        token_event("verify", None, None, 0, "ok"),
        token_event("verify", None, None, 0, "ok"),
        token_event("issue", brief_id.clone(), Some("customer-43"), 1, "ok"),
        token_event("verify", brief_id, Some("customer-43"), 0, "expired"),
        token_event("revoke", id, None, 1, "ok"),
        token_event("revoke", None, Some("customer-43"), 1, "ok"),
    ];
    trail.sort();
    expected.sort();
    assert_eq!(trail, expected);

    // Issue 23, item 9: an owner that tries to start a forged audit line.
    let forged_owner = "mallory\n2026-12-04T00:00:00Z erase_subject users subject=victim";
    store.issue(forged_owner, None).await.unwrap();
    sink.flush().await;
    let query = encx_sqlx::AuditQuery::default().action("issue").limit(100);
    let stored: Vec<Option<String>> = encx_sqlx::read_audit(&pool, &query)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert!(
        stored.contains(&Some(
            "mallory\\u{a}2026-12-04T00:00:00Z erase_subject users subject=victim".into()
        )),
        "{stored:?}"
    );
    assert!(stored.iter().flatten().all(|s| !s.contains('\n')));
    let shown = format!("{stored:?}");
    assert!(!shown.contains("\\n2026"), "{shown}");
}

/// `Registry::secrets`: `keys destroy` refuses a KEK that a secret still needs, naming
/// `encx_secrets`; the registry's rewrap moves the secret, and then the KEK can go.
async fn registry_guards_secrets<DB: Legacy>(pool: sqlx::Pool<DB>) {
    encx_sqlx::migrate(&pool).await.unwrap();
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let (crypto, keks) = super::rewrap::keys_crypto(&pool, root).await.unwrap();
    let secrets = Secrets::with_cache_ttl(pool.clone(), crypto.clone(), Duration::ZERO);
    secrets
        .put("a", b"one", &SecretOptions::new())
        .await
        .unwrap();
    let registry = encx_sqlx::Registry::new(crypto.clone())
        .kek_cache_ttl(Duration::ZERO)
        .kek_store(keks)
        .secrets(secrets.clone());
    let encx::KeyInUse::Kek(old) = secrets.key_usage().await.unwrap()[0].0 else {
        panic!("a secret under a KEK");
    };
    crypto.rotate_kek(Some("test")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await; // the KEK cache TTL's window
    let status = registry.status().await.unwrap();
    assert_eq!(
        status.users_of(encx::KeyInUse::Kek(old)),
        vec![("encx_secrets", 1)]
    );
    let refused = registry.destroy_kek(old, false).await.unwrap_err();
    assert!(
        matches!(&refused, encx_sqlx::Error::KeyStillInUse { by, records: 1, .. } if by == "encx_secrets"),
        "{refused:?}"
    );
    let done = registry.rewrap(10, |_, _| {}).await.unwrap();
    assert!(
        done.tables
            .iter()
            .any(|(t, p)| *t == "encx_secrets" && p.rewrapped == 1),
        "{done:?}"
    );
    registry.destroy_kek(old, false).await.unwrap();
    assert_eq!(secrets.get("a").await.unwrap().expose_secret(), b"one");
}

/// The environment variable that turns this test binary into a child that re-encrypts the
/// secrets of the database at this URL, printing `batches N` after each secret.
pub const CHILD_ENV: &str = "ENCX_TEST_SECRETS_CHILD";

/// The child: `Secrets::reencrypt` on `url`'s secrets, saying its progress.
pub fn child(url: &str) -> std::process::ExitCode {
    async fn run<DB: Legacy + super::rewrap::ChildSessions>(url: &str) {
        let pool = super::rewrap::child_pool::<DB>(url).await;
        let secrets = store(&pool, Duration::ZERO).await;
        secrets
            .reencrypt_with_progress(&mut super::rewrap::say_batches)
            .await
            .unwrap();
    }
    on_url!(url, run)
}

/// 400 secrets (one with two versions); the KEK rotated; three child processes in turn
/// re-encrypt them and are killed with SIGKILL at a point drawn from a seed (after 1 to 25
/// secrets, then 0 to 30 ms more). After each kill every version reads its value (no row
/// half-written) and the job has moved on; this process then re-encrypts exactly the rest.
async fn killed_reencrypt<DB: Legacy>(pool: sqlx::Pool<DB>, url: &str) {
    const COUNT: usize = 400;
    let seed = super::rewrap::crash_seed("secrets killed_reencrypt");
    let mut draw = super::rewrap::kill_points(seed);
    let secrets = store(&pool, Duration::ZERO).await;
    for i in 0..COUNT {
        let value = format!("value-{i}");
        secrets
            .put(
                &format!("s/{i:04}"),
                value.as_bytes(),
                &SecretOptions::new(),
            )
            .await
            .unwrap();
    }
    secrets.rotate("s/0000", b"value-0-v2").await.unwrap();
    let total = COUNT as u64 + 1;
    secrets.crypto().rotate_kek(Some("test")).await.unwrap();
    let under_new = |usage: &[(encx::KeyInUse, u64)], old: &[encx::KeyInUse]| {
        usage
            .iter()
            .filter(|(k, _)| !old.contains(k))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let old_keys: Vec<encx::KeyInUse> = secrets
        .key_usage()
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(old_keys.len(), 1);
    let read_all = || async {
        let fresh = store(&pool, Duration::ZERO).await;
        for i in 0..COUNT {
            let got = fresh.get_version(&format!("s/{i:04}"), 1).await.unwrap();
            assert_eq!(
                got.expose_secret(),
                format!("value-{i}").as_bytes(),
                "seed {seed}"
            );
        }
        assert_eq!(
            fresh.get("s/0000").await.unwrap().expose_secret(),
            b"value-0-v2"
        );
    };
    let mut moved_before = 0;
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.env(CHILD_ENV, url);
        super::rewrap::kill_at_random_point(child, &mut draw, round, url).await;
        let usage = secrets.key_usage().await.unwrap();
        let moved = under_new(&usage, &old_keys);
        assert!(
            moved > moved_before && moved < total,
            "round {round} (seed {seed}): moved on, killed mid-way: {usage:?}"
        );
        assert_eq!(usage.iter().map(|(_, n)| n).sum::<u64>(), total);
        moved_before = moved;
        read_all().await;
    }
    let rest = secrets.reencrypt().await.unwrap();
    assert_eq!(
        rest.rewrapped,
        total - moved_before,
        "seed {seed}: exactly the rest"
    );
    let usage = secrets.key_usage().await.unwrap();
    assert_eq!(under_new(&usage, &old_keys), total, "{usage:?}");
    read_all().await;
}

/// One "process": KEKs and index keys in the database's `encx_keks`, under a root key every
/// process shares.
async fn process_crypto<DB: Legacy>(pool: &sqlx::Pool<DB>) -> Crypto {
    encx_sqlx::migrate(pool).await.unwrap();
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    super::rewrap::keys_crypto(pool, root).await.unwrap().0
}

async fn store<DB: Legacy>(pool: &sqlx::Pool<DB>, ttl: Duration) -> Secrets<DB> {
    Secrets::with_cache_ttl(pool.clone(), process_crypto(pool).await, ttl)
}

/// Issue 23, item 7: names and owners are compared byte for byte, on MariaDB too (whose
/// default collation ignores case and trailing spaces): another casing is another secret,
/// a read, write or delete with it never reaches the first one; a token owner in another
/// casing lists and revokes nothing of the first.
async fn exact_names<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let secrets = store(&pool, Duration::from_secs(60)).await;
    let options = SecretOptions::new();
    let name = "admin/root-password";
    assert_eq!(secrets.put(name, b"root-value", &options).await.unwrap(), 1);
    // format.md §9: a version with no tags stores the empty string.
    let sql = "SELECT COUNT(*) FROM encx_secrets WHERE name = 'admin/root-password' AND tags = ''";
    assert_eq!(DB::count(&pool, sql).await, 1);
    for other in ["ADMIN/ROOT-PASSWORD", "Admin/Root-Password"] {
        let err = secrets.get(other).await.unwrap_err();
        assert!(
            matches!(err, encx_secrets::Error::NotFound { .. }),
            "{other}: {err:?}"
        );
        let err = secrets.rotate(other, b"x").await.unwrap_err();
        assert!(
            matches!(err, encx_secrets::Error::NotFound { .. }),
            "{err:?}"
        );
        assert_eq!(secrets.delete(other).await.unwrap(), 0, "{other}");
    }
    assert_eq!(
        secrets
            .put("Admin/Root-Password", b"other-value", &options)
            .await
            .unwrap(),
        1,
        "another casing is another secret"
    );
    let cold = store(&pool, Duration::from_secs(60)).await;
    let got = cold.get(name).await.unwrap();
    assert_eq!(
        (got.version(), got.expose_secret()),
        (1, &b"root-value"[..])
    );
    let got = cold.get("Admin/Root-Password").await.unwrap();
    assert_eq!(got.expose_secret(), b"other-value");
    assert_eq!(cold.delete("Admin/Root-Password").await.unwrap(), 1);
    assert_eq!(cold.get(name).await.unwrap().expose_secret(), b"root-value");

    // Issue 23, item 8, the limit secrets.md and the threat model state: deleting the newest
    // row makes the previous version current again, without an error.
    secrets.rotate(name, b"rotated-value").await.unwrap();
    DB::run(
        &pool,
        "DELETE FROM encx_secrets WHERE name = 'admin/root-password' AND version = 2",
    )
    .await;
    let revived = store(&pool, Duration::from_secs(60))
        .await
        .get(name)
        .await
        .unwrap();
    assert_eq!(
        (revived.version(), revived.expose_secret()),
        (1, &b"root-value"[..])
    );

    let api = token_store(&pool, "sk_test").await;
    let (token, _) = api.issue("customer-1", None).await.unwrap();
    assert_eq!(api.list("customer-1").await.unwrap().len(), 1);
    for other in ["CUSTOMER-1", "Customer-1", "customer-1 "] {
        assert!(api.list(other).await.unwrap().is_empty(), "{other:?}");
        assert_eq!(api.revoke_owner(other).await.unwrap(), 0, "{other:?}");
    }
    let found = api.verify(token.expose_secret()).await.unwrap().unwrap();
    assert_eq!(found.owner, "customer-1");
}

async fn round_trip<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let secrets = store(&pool, Duration::from_secs(60)).await;
    let v1 = secrets
        .put(
            "db/password",
            b"hunter2-secret",
            &SecretOptions::new().tag("db").tag("env=prod"),
        )
        .await
        .unwrap();
    assert_eq!(v1, 1);
    let got = secrets.get("db/password").await.unwrap();
    assert_eq!(got.expose_secret(), b"hunter2-secret");
    assert_eq!(
        (got.version(), got.tags()),
        (1, &["db".to_string(), "env=prod".to_string()][..])
    );
    assert!(!format!("{got:?}").contains("hunter2"));

    // rotation: a new version with the same tags; the cache of this process follows at once
    assert_eq!(
        secrets
            .rotate("db/password", b"correct-horse")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        secrets
            .get("db/password")
            .await
            .unwrap()
            .expose_str()
            .unwrap(),
        "correct-horse"
    );
    let old = secrets.get_version("db/password", 1).await.unwrap();
    assert_eq!(old.expose_secret(), b"hunter2-secret");
    assert_eq!(secrets.get("db/password").await.unwrap().tags(), old.tags());

    secrets
        .put(
            "stripe/key",
            &[0u8, 255, 7],
            &SecretOptions::new().tag("payments"),
        )
        .await
        .unwrap();
    secrets
        .put("empty", b"", &SecretOptions::new())
        .await
        .unwrap();
    assert_eq!(secrets.get("empty").await.unwrap().expose_secret(), b"");
    assert!(secrets
        .get("stripe/key")
        .await
        .unwrap()
        .expose_str()
        .is_err());

    let all = secrets.list(None).await.unwrap();
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["db/password", "empty", "stripe/key"]);
    assert_eq!((all[0].version, all[0].versions), (2, 2));
    let payments = secrets.list(Some("payments")).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].name, "stripe/key");
    assert!(secrets.list(Some("nothing")).await.unwrap().is_empty());

    // expiry: the newest version expired is refused by get, still readable by version
    let past = SystemTime::now() - Duration::from_secs(1);
    secrets
        .put("old-token", b"x", &SecretOptions::new().expires_at(past))
        .await
        .unwrap();
    let expired = secrets.get("old-token").await.unwrap_err();
    assert_eq!(
        expired.crypto_kind(),
        Some(encx::ErrorKind::Expired),
        "{expired:?}"
    );
    assert!(secrets.get_version("old-token", 1).await.is_ok());
    secrets
        .put(
            "short",
            b"y",
            &SecretOptions::new().expires_in(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    secrets.rotate("short", b"z").await.unwrap();
    let short = secrets.get("short").await.unwrap();
    let left = short
        .expires_at()
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(3500),
        "rotation keeps the lifetime: {left:?}"
    );

    // unknown names, bad names and tags, deletion
    assert!(matches!(
        secrets.get("missing").await,
        Err(encx_secrets::Error::NotFound { .. })
    ));
    assert!(matches!(
        secrets.rotate("missing", b"v").await,
        Err(encx_secrets::Error::NotFound { .. })
    ));
    for bad in ["", "has space", "a#1", &"n".repeat(201)] {
        assert!(
            matches!(
                secrets.put(bad, b"v", &SecretOptions::new()).await,
                Err(encx_secrets::Error::InvalidConfig(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        secrets
            .put("ok", b"v", &SecretOptions::new().tag("a,b"))
            .await,
        Err(encx_secrets::Error::InvalidConfig(_))
    ));
    assert_eq!(secrets.delete("db/password").await.unwrap(), 2);
    assert!(matches!(
        secrets.get("db/password").await,
        Err(encx_secrets::Error::NotFound { .. })
    ));

    // no value in the clear anywhere in the table
    for needle in ["hunter2", "correct-horse"] {
        let sql = format!(
            "SELECT COUNT(*) FROM encx_secrets WHERE {}",
            DB::contains("value", needle)
        );
        assert_eq!(DB::count(&pool, &sql).await, 0, "{needle}");
    }
    secrets
        .put("marker", b"PLAINTEXT-MARKER", &SecretOptions::new())
        .await
        .unwrap();
    let sql = format!(
        "SELECT COUNT(*) FROM encx_secrets WHERE {} OR {}",
        DB::contains("value", "PLAINTEXT-MARKER"),
        DB::contains("encx_dek", "PLAINTEXT-MARKER")
    );
    assert_eq!(DB::count(&pool, &sql).await, 0);
}

async fn tampering<DB: Legacy>(pool: sqlx::Pool<DB>) {
    // no cache: every read goes to the table
    let secrets = store(&pool, Duration::ZERO).await;
    secrets
        .put("a", b"value-a1", &SecretOptions::new())
        .await
        .unwrap();
    secrets
        .put("a", b"value-a2", &SecretOptions::new())
        .await
        .unwrap();
    secrets
        .put("b", b"value-b1", &SecretOptions::new())
        .await
        .unwrap();
    let future = SystemTime::now() + Duration::from_secs(3600);
    secrets
        .put("c", b"value-c1", &SecretOptions::new().expires_at(future))
        .await
        .unwrap();

    // a version's value and key copied over another version of the same secret
    let (copy, restore) = if DB::NAME == "MySQL" {
        (
            "UPDATE encx_secrets a JOIN encx_secrets b ON b.name = 'a' AND b.version = 2 \
             SET a.value = b.value, a.encx_dek = b.encx_dek WHERE a.name = 'a' AND a.version = 1",
            "UPDATE encx_secrets a JOIN encx_secrets b ON b.name = 'b' AND b.version = 1 \
             SET a.value = b.value, a.encx_dek = b.encx_dek WHERE a.name = 'a' AND a.version = 2",
        )
    } else {
        (
            "UPDATE encx_secrets SET value = (SELECT value FROM encx_secrets WHERE name = 'a' AND version = 2), \
             encx_dek = (SELECT encx_dek FROM encx_secrets WHERE name = 'a' AND version = 2) \
             WHERE name = 'a' AND version = 1",
            "UPDATE encx_secrets SET value = (SELECT value FROM encx_secrets WHERE name = 'b' AND version = 1), \
             encx_dek = (SELECT encx_dek FROM encx_secrets WHERE name = 'b' AND version = 1) \
             WHERE name = 'a' AND version = 2",
        )
    };
    DB::run(&pool, copy).await;
    assert!(secrets.get_version("a", 1).await.unwrap_err().is_tampered());
    // another secret's value and key moved under this name
    DB::run(&pool, restore).await;
    assert!(secrets.get("a").await.unwrap_err().is_tampered());
    // a whole row renamed
    DB::run(
        &pool,
        "UPDATE encx_secrets SET name = 'renamed' WHERE name = 'b'",
    )
    .await;
    assert!(secrets.get("renamed").await.unwrap_err().is_tampered());
    // an expiry pushed back (or removed) in the table
    DB::run(
        &pool,
        "UPDATE encx_secrets SET expires_at = NULL WHERE name = 'c'",
    )
    .await;
    assert!(secrets.get("c").await.unwrap_err().is_tampered());
    // a cut ciphertext, a garbage key
    secrets
        .put("d", b"value-d1", &SecretOptions::new())
        .await
        .unwrap();
    DB::run(
        &pool,
        "UPDATE encx_secrets SET encx_dek = value WHERE name = 'd'",
    )
    .await;
    assert!(secrets.get("d").await.unwrap_err().is_tampered());
    // listing still works: it reads no value
    assert_eq!(secrets.list(None).await.unwrap().len(), 4);
}

async fn single_flight<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let secrets = store(&pool, Duration::from_secs(60)).await;
    secrets
        .put("shared", b"one", &SecretOptions::new())
        .await
        .unwrap();
    let before = secrets.cache_stats();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let secrets = secrets.clone();
        tasks.push(tokio::spawn(async move {
            secrets
                .get("shared")
                .await
                .unwrap()
                .expose_secret()
                .to_vec()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), b"one");
    }
    let after = secrets.cache_stats();
    assert_eq!(
        after.loads - before.loads,
        1,
        "one load for 16 readers: {after:?}"
    );
    assert_eq!(after.hits - before.hits, 15);

    // another process rotates: this one serves the cached value until the TTL or invalidate
    let other = store(&pool, Duration::ZERO).await;
    other.rotate("shared", b"two").await.unwrap();
    assert_eq!(secrets.get("shared").await.unwrap().expose_secret(), b"one");
    assert_eq!(other.get("shared").await.unwrap().expose_secret(), b"two");
    secrets.invalidate("shared");
    assert_eq!(secrets.get("shared").await.unwrap().expose_secret(), b"two");
    // a zero TTL caches nothing
    other.get("shared").await.unwrap();
    assert_eq!(other.cache_stats().hits, 0);
    let short = store(&pool, Duration::from_millis(50)).await;
    short.get("shared").await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    short.get("shared").await.unwrap();
    assert_eq!(
        short.cache_stats().loads,
        2,
        "an entry past its TTL is loaded again"
    );
}

async fn rewrap<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let secrets = store(&pool, Duration::ZERO).await;
    for i in 0..5 {
        secrets
            .put(
                &format!("s{i}"),
                format!("v{i}").as_bytes(),
                &SecretOptions::new(),
            )
            .await
            .unwrap();
    }
    secrets.rotate("s0", b"v0-2").await.unwrap();
    assert_eq!(
        secrets.rewrap().await.unwrap().rewrapped,
        0,
        "all under the active KEK"
    );
    let keks_before = DB::count(
        &pool,
        "SELECT COUNT(*) FROM encx_keks WHERE purpose = 'kek'",
    )
    .await;
    secrets.crypto().rotate_kek(Some("test")).await.unwrap();
    assert_eq!(
        DB::count(
            &pool,
            "SELECT COUNT(*) FROM encx_keks WHERE purpose = 'kek'"
        )
        .await,
        keks_before + 1
    );
    let usage = secrets.key_usage().await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].1, 6);
    DB::run(
        &pool,
        "CREATE TABLE secrets_before AS SELECT name, version, value FROM encx_secrets",
    )
    .await;
    let unchanged = "SELECT COUNT(*) FROM encx_secrets s JOIN secrets_before b \
                     ON s.name = b.name AND s.version = b.version AND s.value = b.value";
    let done = secrets.rewrap().await.unwrap();
    assert_eq!((done.scanned, done.rewrapped), (6, 6));
    assert_eq!(secrets.rewrap().await.unwrap().rewrapped, 0, "idempotent");
    let usage = secrets.key_usage().await.unwrap();
    assert_eq!(usage.len(), 1, "every version under the new KEK: {usage:?}");
    assert_ne!(usage[0].0, encx::KeyInUse::Unrecognized);
    assert_eq!(
        DB::count(&pool, unchanged).await,
        6,
        "rewrap leaves the values alone"
    );

    // DEK rotation: after another KEK rotation, every version is sealed again
    secrets.crypto().rotate_kek(Some("test")).await.unwrap();
    assert_eq!(secrets.reencrypt().await.unwrap().rewrapped, 6);
    assert_eq!(secrets.reencrypt().await.unwrap().rewrapped, 0);
    assert_eq!(DB::count(&pool, unchanged).await, 0, "fresh ciphertexts");
    // a fresh process, knowing both KEKs, reads every version
    let fresh = store(&pool, Duration::ZERO).await;
    assert_eq!(fresh.get("s0").await.unwrap().expose_secret(), b"v0-2");
    assert_eq!(
        fresh.get_version("s0", 1).await.unwrap().expose_secret(),
        b"v0"
    );
    assert_eq!(fresh.get("s4").await.unwrap().expose_secret(), b"v4");
}

async fn config<DB: Legacy>(pool: sqlx::Pool<DB>) {
    use encx::secrecy::ExposeSecret;
    let secrets = store(&pool, Duration::from_secs(60)).await;
    secrets
        .put("db/password", b"hunter2-pw", &SecretOptions::new())
        .await
        .unwrap();
    let prefix = format!("ENCX_CFG_TEST_{}_", DB::NAME.to_ascii_uppercase());
    std::env::set_var(format!("{prefix}API_TOKEN"), "from-env-token");
    std::env::set_var(format!("{prefix}WORKERS"), "4");
    let config = Config::builder()
        .env_prefix(&prefix)
        .setting("workers", None)
        .setting("port", Some("8080"))
        .secret_named("db_password", "db/password")
        .secret("api_token")
        .load(&secrets)
        .await
        .unwrap();
    assert_eq!(config.get::<u16>("port").unwrap(), 8080);
    assert_eq!(config.get::<usize>("workers").unwrap(), 4);
    assert_eq!(
        config.secret("db_password").unwrap().expose_secret(),
        "hunter2-pw"
    );
    assert_eq!(
        config.secret("api_token").unwrap().expose_secret(),
        "from-env-token"
    );
    for shown in [
        config.to_string(),
        format!("{config:?}"),
        format!("{config:#?}"),
    ] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("from-env-token"),
            "{shown}"
        );
        assert!(shown.contains("8080") && shown.contains("***"), "{shown}");
    }
    assert!(
        config.get::<String>("db_password").is_err(),
        "a secret is not read as plain"
    );
    assert!(config.get::<u8>("port").is_err(), "8080 does not fit a u8");
    let missing = Config::builder()
        .env_prefix(&prefix)
        .secret("nowhere")
        .load(&secrets)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, encx_secrets::Error::NotFound { .. }),
        "{missing:?}"
    );
    let missing = Config::builder()
        .env_prefix(&prefix)
        .setting("absent", None)
        .load_env()
        .unwrap_err();
    assert!(missing.to_string().contains("ABSENT"), "{missing}");
}

async fn token_store<DB: Legacy>(pool: &sqlx::Pool<DB>, prefix: &str) -> TokenStore<DB> {
    let crypto = process_crypto(pool).await;
    TokenStore::new(pool.clone(), crypto.tokens(prefix).unwrap())
}

async fn tokens<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let api = token_store(&pool, "sk_test").await;
    let sessions = token_store(&pool, "sess").await;
    let (token, issued) = api.issue("customer-1", None).await.unwrap();
    let (token2, _) = api
        .issue("customer-1", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let (other, _) = api.issue("customer-2", None).await.unwrap();
    let (session, _) = sessions.issue("customer-1", None).await.unwrap();

    let found = api.verify(token.expose_secret()).await.unwrap().unwrap();
    assert_eq!((found.id, found.owner.as_str()), (issued.id, "customer-1"));
    assert_eq!(
        api.verify(other.expose_secret())
            .await
            .unwrap()
            .unwrap()
            .owner,
        "customer-2"
    );
    // unknown, altered, other-prefix and garbage tokens
    let mut altered = token.expose_secret().to_owned();
    altered.replace_range(10..11, if &altered[10..11] == "A" { "B" } else { "A" });
    for bad in [
        altered.as_str(),
        session.expose_secret(),
        "",
        "sk_test_",
        "' OR 1=1 --",
    ] {
        assert!(api.verify(bad).await.unwrap().is_none(), "{bad:?}");
    }
    assert!(sessions
        .verify(session.expose_secret())
        .await
        .unwrap()
        .is_some());
    assert_eq!(api.list("customer-1").await.unwrap().len(), 2);

    // expiry
    let (expiring, _) = api.issue("customer-3", Some(Duration::ZERO)).await.unwrap();
    assert!(api
        .verify(expiring.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        api.purge(SystemTime::now() + Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );

    // revocation by id and by owner
    assert!(api.revoke(issued.id).await.unwrap());
    assert!(!api.revoke(issued.id).await.unwrap());
    assert!(api.verify(token.expose_secret()).await.unwrap().is_none());
    assert!(api.verify(token2.expose_secret()).await.unwrap().is_some());
    assert_eq!(api.revoke_owner("customer-1").await.unwrap(), 1);
    assert!(api.verify(token2.expose_secret()).await.unwrap().is_none());
    assert!(
        sessions
            .verify(session.expose_secret())
            .await
            .unwrap()
            .is_some(),
        "other prefix untouched"
    );

    // no token text in the table
    for t in [&other, &session] {
        let random = &t.expose_secret()[t.expose_secret().len() - 20..];
        let sql = format!(
            "SELECT COUNT(*) FROM encx_tokens WHERE {} OR {} OR owner LIKE '%{random}%'",
            DB::contains("hash", random),
            DB::contains("seal", random)
        );
        assert_eq!(DB::count(&pool, &sql).await, 0);
    }
}

async fn token_tampering<DB: Legacy>(pool: sqlx::Pool<DB>) {
    let api = token_store(&pool, "sk_test").await;
    let (token, _) = api
        .issue("mallory", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    // a token moved to another owner
    DB::run(
        &pool,
        "UPDATE encx_tokens SET owner = 'admin' WHERE owner = 'mallory'",
    )
    .await;
    assert!(api
        .verify(token.expose_secret())
        .await
        .unwrap_err()
        .is_tampered());
    DB::run(
        &pool,
        "UPDATE encx_tokens SET owner = 'mallory' WHERE owner = 'admin'",
    )
    .await;
    assert!(api.verify(token.expose_secret()).await.unwrap().is_some());
    // an expiry removed
    DB::run(&pool, "UPDATE encx_tokens SET expires_at = NULL").await;
    assert!(api
        .verify(token.expose_secret())
        .await
        .unwrap_err()
        .is_tampered());
}
