//! Tenants on the three databases with the AWS KMS API (moto): two tenants on KMS keys of
//! their own and one on the default root share one table; each tenant's searches see only its
//! rows; disabling one tenant's key makes only that tenant unreadable (a typed error); signed
//! columns catch a database writer moving a row to another tenant or promoting a role; and an
//! offboarded tenant stays gone when a data backup, or a backup of the key tables followed by
//! the ledger, is restored.

use std::sync::Arc;
use std::time::Duration;

use encx::keys::tenant::{KmsTenantRoots, TenantRoot};
use encx_integration_tests::{Service, Test};
use encx_sqlx::{EncxDatabase, Repo, SqlErasureLedger, SqlKekStore, SqlTenantStore, TenantEraser};

use super::migration::Legacy;
use super::*;

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "tenant_members")]
pub struct Member {
    #[encx(id)]
    pub id: Uuid,
    #[encx(tenant, signed)]
    pub org: String,
    #[encx(signed)]
    pub role: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
}

mod on_dbs {
    use super::*;
    use encx_integration_tests::test_case;

    on_databases! {
        "tenants";
        tenants_with_their_own_kms_keys_share_a_table: |db| shared_table(db.pool.clone()) => [postgres, mariadb, sqlite];
        offboarding_survives_restored_backups: |db| offboarding(db.pool.clone()) => [postgres, mariadb, sqlite];
    }
}

mod default_root {
    use super::*;
    use encx_integration_tests::test_case;

    on_databases! {
        "tenants";
        a_tenants_kek_rotates_and_its_rows_rewrap_alone: |db| rotation(db.pool.clone()) => [postgres, mariadb, sqlite];
        a_tenant_rewrap_killed_with_sigkill_resumes: |db| killed_rewrap_resumes(db.pool.clone(), &db.url) => [postgres, mariadb, sqlite];
    }
}

/// The tests: those with tenants' own keys need the KMS API beside their database.
pub fn tests() -> Vec<Test> {
    let mut tests: Vec<Test> = on_dbs::tests()
        .into_iter()
        .map(|t| t.needing(Service::Kms))
        .collect();
    tests.extend(default_root::tests());
    tests
}

fn member(org: &str, role: &str, email: &str) -> Member {
    Member {
        id: Uuid::new_v4(),
        org: org.into(),
        role: role.into(),
        email: email.into(),
    }
}

/// A KMS client for the emulator.
async fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(encx_test::test_credentials())
        .load()
        .await;
    aws_sdk_kms::Client::new(&config)
}

/// A `Crypto` whose default root is a local master key over `encx_keks`, with tenants in
/// `encx_tenants` and tenants' own roots in the KMS.
async fn tenant_crypto<DB: EncxDatabase>(
    pool: &sqlx::Pool<DB>,
    roots: Arc<KmsTenantRoots>,
    ttl: Duration,
) -> Crypto {
    let root: Arc<dyn encx::Keyring> = Arc::new(local_keyring());
    let keks = SqlKekStore::shared(pool.clone());
    Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks, root)
        .tenants(SqlTenantStore::shared(pool.clone()))
        .tenant_roots(roots)
        .tenant_cache(ttl, 100)
        .build()
        .await
        .unwrap()
}

fn local_keyring() -> encx::LocalKeyring {
    encx::LocalKeyring::new(vec![encx::MasterKey::new("v1", [7; 32]).unwrap()]).unwrap()
}

async fn shared_table<DB: Legacy>(pool: sqlx::Pool<DB>)
where
    <DB as sqlx::Database>::Connection: Send,
{
    encx_sqlx::migrate(&pool).await.unwrap();
    let acme_key = encx_test::KmsKey::create().await.unwrap();
    let globex_key = encx_test::KmsKey::create().await.unwrap();
    // The tenants' keys are reached through a gate that can play a revocation (moto does not
    // enforce DisableKey); the emulator's own admin calls go straight to it.
    let gate = encx_integration_tests::KmsGate::start(&acme_key.endpoint).await;
    let client = kms_client(&gate.url).await;
    let roots = Arc::new(KmsTenantRoots::new(client.clone()));
    let crypto = tenant_crypto(&pool, roots.clone(), Duration::from_secs(60)).await;
    crypto
        .onboard_tenant(b"acme", TenantRoot::own(&acme_key.arn))
        .await
        .unwrap();
    crypto
        .onboard_tenant(b"globex", TenantRoot::own(&globex_key.arn))
        .await
        .unwrap();
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();

    let ada = member("acme", "admin", "ada@example.com");
    let bob = member("globex", "viewer", "ada@example.com");
    let cy = member("initech", "viewer", "ada@example.com"); // the default root
    for m in [&ada, &bob, &cy] {
        members.insert(&pool, m).await.unwrap();
    }
    assert!(
        roots.calls().total() > 0,
        "the tenants' own keys wrapped their keys"
    );
    let status = crypto.tenant_status(b"acme").await.unwrap();
    assert!(
        status.keks[0].root_key.contains(&acme_key.id),
        "{:?}",
        status.keks[0]
    );

    // No plaintext reaches the table; equal emails of three tenants have three index values.
    let plaintext = format!(
        "SELECT COUNT(*) FROM tenant_members WHERE {}",
        DB::contains("email", "ada@")
    );
    assert_eq!(DB::count(&pool, &plaintext).await, 0);
    let distinct = "SELECT COUNT(DISTINCT email_bidx) FROM tenant_members";
    assert_eq!(DB::count(&pool, distinct).await, 3);

    // Each tenant finds its own row only; an unscoped search is refused.
    for m in [&ada, &bob, &cy] {
        let scoped = members.in_tenant(&m.org).await.unwrap();
        let found = scoped
            .find_by(&pool, Member::EMAIL, "ADA@example.com")
            .await
            .unwrap();
        assert_eq!(found, vec![m.clone()]);
        assert_eq!(members.get(&pool, m.id).await.unwrap(), *m);
    }
    let refused = members
        .find_by(&pool, Member::EMAIL, "ada@example.com")
        .await
        .unwrap_err();
    assert!(refused.is_config(), "{refused:?}");

    // Signed columns: a database writer promotes a viewer, or moves a row to another tenant.
    DB::run(
        &pool,
        "UPDATE tenant_members SET role = 'admin' WHERE org = 'globex'",
    )
    .await;
    assert!(matches!(
        members.get(&pool, bob.id).await.unwrap_err(),
        encx_sqlx::Error::Crypto(encx::Error::Tampered)
    ));
    DB::run(
        &pool,
        "UPDATE tenant_members SET org = 'acme' WHERE org = 'initech'",
    )
    .await;
    assert!(matches!(
        members.get(&pool, cy.id).await.unwrap_err(),
        encx_sqlx::Error::Crypto(encx::Error::Tampered)
    ));
    // A moved row does not show up in its new tenant's searches either.
    let acme = members.in_tenant(&ada.org).await.unwrap();
    let report = acme
        .find_by_report(&pool, Member::EMAIL, "ada@example.com")
        .await
        .unwrap();
    assert_eq!(report.found, vec![ada.clone()]);

    // acme revokes our access to its key: acme's rows fail with a typed error naming acme;
    // globex's stay readable and writable.
    gate.revoke(&acme_key.id);
    crypto.forget_tenant(b"acme").unwrap();
    let err = members.get(&pool, ada.id).await.unwrap_err();
    assert!(
        matches!(&err, encx_sqlx::Error::Crypto(encx::Error::TenantKeyRevoked { tenant, .. }) if tenant == "acme"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let globex = Member {
        role: "viewer".into(),
        ..member("globex", "viewer", "dan@example.com")
    };
    members.insert(&pool, &globex).await.unwrap();
    assert_eq!(members.get(&pool, globex.id).await.unwrap(), globex);
    // acme grants access again: its data is back.
    gate.restore(&acme_key.id);
    crypto.forget_tenant(b"acme").unwrap();
    assert_eq!(members.get(&pool, ada.id).await.unwrap(), ada);
}

async fn offboarding<DB: Legacy>(pool: sqlx::Pool<DB>)
where
    <DB as sqlx::Database>::Connection: Send,
{
    encx_sqlx::migrate(&pool).await.unwrap();
    let key = encx_test::KmsKey::create().await.unwrap();
    let roots = Arc::new(KmsTenantRoots::new(kms_client(&key.endpoint).await));
    let crypto = tenant_crypto(&pool, roots, Duration::from_millis(200)).await;
    crypto
        .onboard_tenant(b"acme", TenantRoot::own(&key.arn))
        .await
        .unwrap();
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();
    let ada = member("acme", "admin", "ada@example.com");
    let eve = member("acme", "viewer", "eve@example.com");
    let bob = member("globex", "viewer", "bob@example.com");
    for m in [&ada, &eve, &bob] {
        members.insert(&pool, m).await.unwrap();
    }

    // Backups taken before the offboarding: the data table and the tenant key tables.
    DB::run(
        &pool,
        "CREATE TABLE members_backup AS SELECT * FROM tenant_members",
    )
    .await;
    DB::run(
        &pool,
        "CREATE TABLE tenant_keys_backup AS SELECT * FROM encx_tenant_keys",
    )
    .await;
    let acme_keys = "SELECT COUNT(*) FROM encx_tenant_keys WHERE state <> 'destroyed' \
                     AND root_key <> '' AND tenant IN (SELECT tenant FROM encx_tenants \
                     WHERE root LIKE 'own:%')";
    assert_eq!(
        DB::count(&pool, acme_keys).await,
        2,
        "acme's KEK and index key"
    );

    let eraser = TenantEraser::<String>::new(crypto.clone())
        .table(members.clone())
        .ledger(SqlErasureLedger::shared(pool.clone()))
        .actor("ticket 4711")
        .writer_window(Duration::from_millis(300));
    let footprint = eraser.footprint(&"acme".to_string()).await.unwrap();
    assert_eq!(footprint.live_keys, 2, "{footprint}");
    assert_eq!(footprint.tables, vec![("tenant_members", 2)]);
    assert!(footprint.to_string().contains("tenant_members: 2 row(s)"));
    let receipt = eraser.erase(&"acme".to_string()).await.unwrap();
    assert_eq!(receipt.keys_destroyed.len(), 2, "{receipt}");
    assert_eq!(receipt.tables, vec![("tenant_members", 2)]);
    assert_eq!(receipt.swept_after, Some(Duration::from_millis(300)));
    assert_eq!(
        DB::count(&pool, acme_keys).await,
        0,
        "acme's keys are destroyed"
    );
    let others = "SELECT COUNT(*) FROM encx_tenant_keys WHERE state <> 'destroyed'";
    assert_eq!(DB::count(&pool, others).await, 2, "globex's keys are left");

    // Erased rows read as shredded; new data for the tenant is refused; globex is untouched.
    assert!(members.get(&pool, ada.id).await.unwrap_err().is_shredded());
    let refused = members
        .insert(&pool, &member("acme", "viewer", "new@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            encx_sqlx::Error::Crypto(encx::Error::TenantErased { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(members.get(&pool, bob.id).await.unwrap(), bob);

    // 1. A restored data backup brings back the wrapped DEKs and indexes: still noise.
    DB::run(
        &pool,
        "UPDATE tenant_members SET \
           encx_dek = (SELECT b.encx_dek FROM members_backup b WHERE b.id = tenant_members.id), \
           email_bidx = (SELECT b.email_bidx FROM members_backup b WHERE b.id = tenant_members.id) \
         WHERE org = 'acme'",
    )
    .await;
    let restored =
        "SELECT COUNT(*) FROM tenant_members WHERE org = 'acme' AND encx_dek IS NOT NULL";
    assert_eq!(DB::count(&pool, restored).await, 2);
    let ids = [ada.id, eve.id];
    crypto.forget_tenant(b"acme").unwrap();
    for id in ids {
        let err = members.get(&pool, id).await.unwrap_err();
        assert!(err.is_shredded(), "{err:?}");
    }

    // 2. The key tables restored too (keys and tenant row back to active): the ledger
    //    offboards the tenant again.
    DB::run(
        &pool,
        "UPDATE encx_tenant_keys SET \
           wrapped = (SELECT k.wrapped FROM tenant_keys_backup k WHERE k.id = encx_tenant_keys.id), \
           state = (SELECT k.state FROM tenant_keys_backup k WHERE k.id = encx_tenant_keys.id)",
    )
    .await;
    DB::run(&pool, "UPDATE encx_tenants SET state = 'active'").await;
    crypto.forget_tenant(b"acme").unwrap();
    let status = crypto.tenant_status(b"acme").await.unwrap();
    assert!(status.live_keys() > 0, "the restore brought keys back");
    let receipts = eraser.reapply_ledger().await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert!(!receipts[0].keys_destroyed.is_empty());
    for id in ids {
        let err = members.get(&pool, id).await.unwrap_err();
        assert!(err.is_shredded(), "{err:?}");
    }
    assert_eq!(crypto.tenant_status(b"acme").await.unwrap().live_keys(), 0);
    assert_eq!(members.get(&pool, bob.id).await.unwrap(), bob);
}

async fn rotation<DB: Legacy>(pool: sqlx::Pool<DB>)
where
    <DB as sqlx::Database>::Connection: Send,
{
    encx_sqlx::migrate(&pool).await.unwrap();
    let roots = Arc::new(KmsTenantRoots::new(kms_client("http://127.0.0.1:9").await));
    let crypto = tenant_crypto(&pool, roots, Duration::from_secs(60)).await;
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();
    let mut before = Vec::new();
    for n in 0..30 {
        let org = if n % 2 == 0 { "acme" } else { "globex" };
        let m = member(org, "viewer", &format!("m{n}@example.com"));
        members.insert(&pool, &m).await.unwrap();
        before.push(m);
    }
    let acme = members.in_tenant(&"acme".to_string()).await.unwrap();
    let old = crypto.tenant_status(b"acme").await.unwrap().keks[0].id;
    acme.crypto().rotate_kek(Some("ops")).await.unwrap();
    let status = crypto.tenant_status(b"acme").await.unwrap();
    assert_eq!(status.keks.len(), 2);
    assert_eq!(crypto.tenant_status(b"globex").await.unwrap().keks.len(), 1);

    // An unscoped rewrap of a tenant table is refused: its rows are under their tenants' keys.
    let refused = members.rewrap(7).await.unwrap_err();
    assert!(refused.is_config(), "{refused:?}");
    // The tenant's rewrap touches its 15 rows only; run again, nothing is left.
    let done = acme.rewrap(7).await.unwrap();
    assert_eq!(done.rewrapped, 15, "{done:?}");
    assert_eq!(acme.rewrap(7).await.unwrap().rewrapped, 0);
    let all = members.rewrap_tenants(7).await.unwrap();
    assert!(all.iter().all(|(_, p)| p.rewrapped == 0), "{all:?}");
    // With every acme row moved, its old KEK can go; every row still reads.
    acme.crypto().keyring().rotate().await.map(|_| ()).unwrap();
    let done = members.rewrap_tenants(7).await.unwrap();
    assert_eq!(
        done.iter().find(|(t, _)| t == "acme").unwrap().1.rewrapped,
        15
    );
    let keys = SqlTenantStore::shared(pool.clone()).keys(b"acme");
    keys.set_state(old, encx::KekState::Retired).await.unwrap();
    keys.set_state(old, encx::KekState::Destroyed)
        .await
        .unwrap();
    crypto.forget_tenant(b"acme").unwrap();
    for m in &before {
        assert_eq!(members.get(&pool, m.id).await.unwrap(), *m);
    }
}

/// The environment variable that makes this test binary a worker re-wrapping tenant acme's
/// rows on the database at its URL, 20 per batch, printing `batches N` after each.
pub const REWRAP_CHILD_ENV: &str = "ENCX_TEST_TENANT_REWRAP_CHILD";

/// The worker process (see [`REWRAP_CHILD_ENV`]).
pub fn rewrap_child(url: &str) -> std::process::ExitCode {
    async fn run<DB: super::rewrap::ChildSessions>(url: &str)
    where
        <DB as sqlx::Database>::Connection: Send,
    {
        let pool = super::rewrap::child_pool::<DB>(url).await;
        let roots = Arc::new(KmsTenantRoots::new(kms_client("http://127.0.0.1:9").await));
        let crypto = tenant_crypto(&pool, roots, Duration::from_secs(60)).await;
        let members = Repo::<Member, DB>::new(pool, crypto);
        members
            .in_tenant(&"acme".to_string())
            .await
            .unwrap()
            .rewrap_with_progress(20, super::rewrap::say_batches)
            .await
            .unwrap();
    }
    on_url!(url, run)
}

/// A tenant's rewrap of 400 rows killed with SIGKILL after three batches: every row reads,
/// a second run does exactly the rest, another tenant's rows are never touched, and the old
/// KEK can then be destroyed.
async fn killed_rewrap_resumes<DB: Legacy + super::rewrap::ChildSessions>(
    pool: sqlx::Pool<DB>,
    url: &str,
) where
    <DB as sqlx::Database>::Connection: Send,
{
    encx_sqlx::migrate(&pool).await.unwrap();
    let roots = Arc::new(KmsTenantRoots::new(kms_client("http://127.0.0.1:9").await));
    let crypto = tenant_crypto(&pool, roots, Duration::from_secs(60)).await;
    let members = Repo::<Member, DB>::new(pool.clone(), crypto.clone());
    members.create_table().await.unwrap();
    let mut all = Vec::new();
    for n in 0..500 {
        let org = if n < 400 { "acme" } else { "globex" };
        all.push(member(org, "viewer", &format!("m{n}@example.com")));
    }
    members.insert_many(&pool, &all).await.unwrap();
    let acme = members.in_tenant(&"acme".to_string()).await.unwrap();
    let old = crypto.tenant_status(b"acme").await.unwrap().keks[0].id;
    acme.crypto().rotate_kek(Some("ops")).await.unwrap();
    let globex_deks =
        "SELECT COUNT(*) FROM tenant_members WHERE org = 'globex' AND encx_dek IS NOT NULL";
    let globex_before = DB::count(&pool, globex_deks).await;

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(REWRAP_CHILD_ENV, url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    super::rewrap::wait_for_line(&mut child, "batches 3");
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success(), "killed, not finished");
    super::rewrap::child_sessions_closed(url).await;

    let ids: Vec<Uuid> = all.iter().map(|m| m.id).collect();
    let mut read = members.get_many(&pool, &ids).await.unwrap();
    read.sort_by_key(|m| m.id);
    let mut expected = all.clone();
    expected.sort_by_key(|m| m.id);
    assert!(read == expected, "every row reads as written");
    let rest = acme.rewrap(50).await.unwrap();
    assert!(
        (1..=340).contains(&rest.rewrapped),
        "the child re-wrapped its three batches or more, the rest is left: {rest:?}"
    );
    assert_eq!(acme.rewrap(50).await.unwrap().rewrapped, 0, "nothing left");
    let globex = members.in_tenant(&"globex".to_string()).await.unwrap();
    assert_eq!(globex.rewrap(50).await.unwrap().rewrapped, 0);
    assert_eq!(DB::count(&pool, globex_deks).await, globex_before);

    // No acme row needs the old KEK any more: destroyed, every row still reads.
    let keys = SqlTenantStore::shared(pool.clone()).keys(b"acme");
    keys.set_state(old, encx::KekState::Retired).await.unwrap();
    keys.set_state(old, encx::KekState::Destroyed)
        .await
        .unwrap();
    crypto.forget_tenant(b"acme").unwrap();
    let mut read = members.get_many(&pool, &ids).await.unwrap();
    read.sort_by_key(|m| m.id);
    assert!(read == expected, "every row reads without the old KEK");
}
