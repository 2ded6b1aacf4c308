//! Tenants: a key hierarchy per tenant, per-tenant blind indexes, bring-your-own root keys and
//! their revocation, offboarding, moving a tenant to its own key, signed plain columns, and a
//! bounded single-flight cache.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use encx::index::IndexKeys;
use encx::keys::tenant::{MemoryTenantStore, NamedTenantRoots, TenantRoot, TenantStore};
use encx::{
    Crypto, Dek, Encrypted, KeyContext, KeyPurpose, Keyring, KeyringKind, LocalKeyring,
    MemorySubjectKeyStore, WrappedDek,
};
use uuid::Uuid;

use crate::support::local;

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "members")]
pub struct Member {
    #[encx(id)]
    pub id: Uuid,
    #[encx(tenant)]
    pub org: String,
    #[encx(signed)]
    pub role: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "patients")]
pub struct Patient {
    #[encx(id)]
    pub id: i64,
    #[encx(tenant, signed)]
    pub clinic: String,
    #[encx(subject)]
    pub person: Uuid,
    #[encx(encrypt)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "notes")]
pub struct Note {
    #[encx(id)]
    pub id: Uuid,
    #[encx(tenant)]
    pub org: String,
    #[encx(encrypt)]
    pub body: String,
}

fn note(org: &str) -> Note {
    Note {
        id: Uuid::new_v4(),
        org: org.into(),
        body: "hello".into(),
    }
}

/// A root that its owner can revoke (as a tenant disables its KMS key): while revoked, every
/// call is refused with `AccessDenied`. Counts calls.
#[derive(Debug)]
pub struct Revocable {
    inner: LocalKeyring,
    revoked: AtomicBool,
    calls: AtomicUsize,
}

impl Revocable {
    fn new(byte: u8) -> Arc<Self> {
        Arc::new(Revocable {
            inner: local("own", byte),
            revoked: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        })
    }
    fn check(&self) -> encx::Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.revoked.load(Ordering::SeqCst) {
            return Err(encx::Error::AccessDenied {
                reason: "the key's owner revoked the grant".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Keyring for Revocable {
    fn kind(&self) -> KeyringKind {
        self.inner.kind()
    }
    fn key_description(&self) -> String {
        self.inner.key_description()
    }
    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> encx::Result<WrappedDek> {
        self.check()?;
        self.inner.wrap_dek(dek, ctx).await
    }
    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> encx::Result<Dek> {
        self.check()?;
        self.inner.unwrap_dek(wrapped, ctx).await
    }
}

struct Setup {
    crypto: Crypto,
    store: Arc<MemoryTenantStore>,
    own: Arc<Revocable>,
}

async fn setup(ttl: Duration) -> Setup {
    let store = Arc::new(MemoryTenantStore::new());
    let own = Revocable::new(42);
    let crypto = Crypto::builder()
        .keyring(local("v1", 1))
        .index_keys(IndexKeys::generate().unwrap())
        .subject_keys_in(Arc::new(MemorySubjectKeyStore::new()))
        .tenants(store.clone())
        .tenant_roots(Arc::new(
            NamedTenantRoots::new().with("acme-kms", own.clone() as Arc<dyn Keyring>),
        ))
        .tenant_cache(ttl, 100)
        .build()
        .await
        .unwrap();
    Setup { crypto, store, own }
}

fn member(org: &str, email: &str) -> Member {
    Member {
        id: Uuid::new_v4(),
        org: org.into(),
        role: "viewer".into(),
        email: email.into(),
    }
}

#[tokio::test]
async fn two_tenants_have_their_own_keks_and_unrelated_blind_indexes() {
    let s = setup(Duration::from_secs(60)).await;
    let a = member("acme", "ada@example.com");
    let b = member("globex", "ada@example.com");
    let ra = a.encrypt(&s.crypto).await.unwrap();
    let rb = b.encrypt(&s.crypto).await.unwrap();
    assert_eq!(Member::decrypt(&ra, &s.crypto).await.unwrap(), a);
    assert_eq!(Member::decrypt(&rb, &s.crypto).await.unwrap(), b);
    // The same email gives unrelated index values in two tenants.
    assert_ne!(ra.email_bidx, rb.email_bidx);
    // ...and each tenant's lookup value is its own.
    let acme = s.crypto.for_tenant(b"acme", "acme").await.unwrap();
    let lookup = acme
        .blind_indexes_for_lookup(Member::EMAIL.spec(), "ADA@example.com")
        .unwrap();
    assert_eq!(Some(&lookup[0]), ra.email_bidx.as_ref());
    // Each tenant has a KEK and an index key of its own, in its own rows.
    for tenant in [&b"acme"[..], b"globex"] {
        let status = s.crypto.tenant_status(tenant).await.unwrap();
        assert_eq!(status.keks.len(), 1);
        assert_eq!(status.index_keys.len(), 1);
    }
    let acme_kek = s.crypto.tenant_status(b"acme").await.unwrap().keks[0].id;
    let globex_kek = s.crypto.tenant_status(b"globex").await.unwrap().keks[0].id;
    assert_ne!(acme_kek, globex_kek);
    // The unscoped Crypto's own keyring cannot open a tenant's record.
    let err = s
        .crypto
        .open_record("members", a.id.as_bytes(), ra.encx_dek.as_ref(), &"x")
        .await
        .unwrap_err();
    assert!(err.is_tampered() || err.is_key_missing(), "{err:?}");
}

#[tokio::test]
async fn a_record_moved_to_another_tenant_is_tampered() {
    let s = setup(Duration::from_secs(60)).await;
    let a = member("acme", "ada@example.com");
    member("globex", "bob@example.com")
        .encrypt(&s.crypto)
        .await
        .unwrap();
    let mut moved = a.encrypt(&s.crypto).await.unwrap();
    moved.org = "globex".into();
    let err = Member::decrypt(&moved, &s.crypto).await.unwrap_err();
    assert!(matches!(err, encx::Error::Tampered), "{err:?}");
}

#[tokio::test]
async fn signed_columns_detect_edits_and_missing_or_swapped_signatures() {
    let s = setup(Duration::from_secs(60)).await;
    let a = member("acme", "ada@example.com");
    let b = member("acme", "bob@example.com");
    let ra = a.encrypt(&s.crypto).await.unwrap();
    let mut rb = b.encrypt(&s.crypto).await.unwrap();
    assert!(ra.encx_sig.is_some());

    let mut promoted = ra.clone();
    promoted.role = "admin".into();
    let err = Member::decrypt(&promoted, &s.crypto).await.unwrap_err();
    assert!(matches!(err, encx::Error::Tampered), "{err:?}");

    let mut unsigned = ra.clone();
    unsigned.encx_sig = None;
    let err = Member::decrypt(&unsigned, &s.crypto).await.unwrap_err();
    assert!(matches!(err, encx::Error::Tampered), "{err:?}");

    // Another record's valid signature over the same values does not fit this record.
    rb.encx_sig = ra.encx_sig.clone();
    let err = Member::decrypt(&rb, &s.crypto).await.unwrap_err();
    assert!(matches!(err, encx::Error::Tampered), "{err:?}");

    // A tenant field that is also signed: moving a patient is tampering, twice over.
    let p = Patient {
        id: 7,
        clinic: "north".into(),
        person: Uuid::new_v4(),
        notes: "allergic to penicillin".into(),
    };
    let rp = p.encrypt(&s.crypto).await.unwrap();
    assert_eq!(Patient::decrypt(&rp, &s.crypto).await.unwrap(), p);
}

#[tokio::test]
async fn revoking_a_tenants_own_key_affects_only_that_tenant_with_a_typed_error() {
    let s = setup(Duration::from_secs(60)).await;
    s.crypto
        .onboard_tenant(b"acme", TenantRoot::own("acme-kms"))
        .await
        .unwrap();
    // Registered under another root already: refused, not silently changed.
    s.crypto.for_tenant(b"globex", "globex").await.unwrap();
    let err = s
        .crypto
        .onboard_tenant(b"globex", TenantRoot::own("acme-kms"))
        .await
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");

    let a = member("acme", "ada@example.com");
    let b = member("globex", "bob@example.com");
    let ra = a.encrypt(&s.crypto).await.unwrap();
    let rb = b.encrypt(&s.crypto).await.unwrap();
    assert!(
        s.own.calls.load(Ordering::SeqCst) > 0,
        "acme's keys use acme's root"
    );
    let status = s.crypto.tenant_status(b"acme").await.unwrap();
    assert_eq!(status.keks[0].root_key, s.own.key_description());

    s.own.revoked.store(true, Ordering::SeqCst);
    s.crypto.forget_tenant(b"acme").unwrap(); // (other processes: within their cache TTL)
    let err = Member::decrypt(&ra, &s.crypto).await.unwrap_err();
    assert!(
        matches!(&err, encx::Error::TenantKeyRevoked { tenant, .. } if tenant == "acme"),
        "{err:?}"
    );
    assert!(err.is_key_missing() && !err.is_retryable());
    assert_eq!(Member::decrypt(&rb, &s.crypto).await.unwrap(), b);

    // The owner restores access: the data is back.
    s.own.revoked.store(false, Ordering::SeqCst);
    assert_eq!(Member::decrypt(&ra, &s.crypto).await.unwrap(), a);
}

#[tokio::test]
async fn erasing_a_tenant_shreds_its_records_refuses_new_ones_and_spares_the_others() {
    let s = setup(Duration::from_secs(60)).await;
    let a = member("acme", "ada@example.com");
    let b = member("globex", "bob@example.com");
    let ra = a.encrypt(&s.crypto).await.unwrap();
    let rb = b.encrypt(&s.crypto).await.unwrap();
    let destroyed = s.crypto.erase_tenant(b"acme").await.unwrap();
    assert_eq!(destroyed.len(), 2, "its KEK and its index key");
    assert!(s.crypto.erase_tenant(b"acme").await.unwrap().is_empty());
    let status = s.crypto.tenant_status(b"acme").await.unwrap();
    assert_eq!(status.live_keys(), 0);
    assert!(status.keks.iter().all(|k| k.wrapped.is_empty()));

    // A copy of the row (a restored data backup) is noise.
    let err = Member::decrypt(&ra, &s.crypto).await.unwrap_err();
    assert!(matches!(err, encx::Error::Shredded { .. }), "{err:?}");
    let Err(err) = member("acme", "eve@example.com").encrypt(&s.crypto).await else {
        panic!("an erased tenant took a new record");
    };
    assert!(
        matches!(&err, encx::Error::TenantErased { tenant } if tenant == "acme"),
        "{err:?}"
    );
    assert_eq!(Member::decrypt(&rb, &s.crypto).await.unwrap(), b);

    // The key rows stay as tombstones, with no key in them.
    let keys = s.store.keys(b"acme");
    assert!(keys
        .list(KeyPurpose::Kek)
        .await
        .unwrap()
        .iter()
        .all(|k| k.wrapped.is_empty()));
}

#[tokio::test]
async fn a_subject_inside_a_tenant_is_erased_without_touching_the_same_id_in_another_tenant() {
    let s = setup(Duration::from_secs(60)).await;
    let person = Uuid::new_v4();
    let north = Patient {
        id: 1,
        clinic: "north".into(),
        person,
        notes: "north notes".into(),
    };
    let south = Patient {
        id: 2,
        clinic: "south".into(),
        person,
        notes: "south notes".into(),
    };
    let rn = north.encrypt(&s.crypto).await.unwrap();
    let rs = south.encrypt(&s.crypto).await.unwrap();
    let scope = s.crypto.for_tenant(b"north", "north").await.unwrap();
    scope.erase_subject(person.as_bytes()).await.unwrap();
    let err = Patient::decrypt(&rn, &s.crypto).await.unwrap_err();
    assert!(err.is_shredded(), "{err:?}");
    assert_eq!(Patient::decrypt(&rs, &s.crypto).await.unwrap(), south);
    // Erasing the tenant shreds the subjects of the tenant too.
    s.crypto.erase_tenant(b"south").await.unwrap();
    assert!(Patient::decrypt(&rs, &s.crypto)
        .await
        .unwrap_err()
        .is_shredded());
}

#[tokio::test]
async fn moving_a_tenant_to_its_own_key_keeps_its_records_and_resumes_after_a_crash() {
    let s = setup(Duration::from_millis(50)).await;
    let a = member("acme", "ada@example.com");
    let ra = a.encrypt(&s.crypto).await.unwrap();
    s.crypto
        .for_tenant(b"acme", "acme")
        .await
        .unwrap()
        .rotate_kek(Some("ops"))
        .await
        .unwrap();
    let a2 = member("acme", "ada2@example.com");
    let ra2 = a2.encrypt(&s.crypto).await.unwrap();

    // A crash after step 1: the row names the new root and the old one.
    assert!(s
        .store
        .set_root(
            b"acme",
            &TenantRoot::Default,
            &TenantRoot::own("acme-kms"),
            Some(&TenantRoot::Default)
        )
        .await
        .unwrap());
    s.crypto.forget_tenant(b"acme").unwrap();
    // Meanwhile both roots unwrap: records stay readable.
    assert_eq!(Member::decrypt(&ra, &s.crypto).await.unwrap(), a);

    let moved = s
        .crypto
        .move_tenant_root(b"acme", TenantRoot::own("acme-kms"), Some("ops"))
        .await
        .unwrap();
    assert_eq!(moved.rewrapped, 3, "two KEKs and one index key");
    let row = s.store.get(b"acme").await.unwrap().unwrap();
    assert_eq!(row.root, TenantRoot::own("acme-kms"));
    assert_eq!(row.moving_from, None);
    let status = s.crypto.tenant_status(b"acme").await.unwrap();
    assert!(status
        .keks
        .iter()
        .chain(&status.index_keys)
        .all(|k| k.root_key == s.own.key_description()));
    assert_eq!(Member::decrypt(&ra, &s.crypto).await.unwrap(), a);
    assert_eq!(Member::decrypt(&ra2, &s.crypto).await.unwrap(), a2);
    // Run again: nothing left to do.
    let again = s
        .crypto
        .move_tenant_root(b"acme", TenantRoot::own("acme-kms"), None)
        .await
        .unwrap();
    assert_eq!((again.rewrapped, again.already_there), (0, 3));
    // Now the tenant's own key alone decides: revoked, its records are unreadable.
    s.own.revoked.store(true, Ordering::SeqCst);
    s.crypto.forget_tenant(b"acme").unwrap();
    assert!(matches!(
        Member::decrypt(&ra, &s.crypto).await.unwrap_err(),
        encx::Error::TenantKeyRevoked { .. }
    ));
}

#[tokio::test]
async fn a_cold_tenant_is_loaded_once_for_many_callers_and_the_cache_stays_bounded() {
    let root = crate::support::CountingKeyring::new(Duration::from_millis(20));
    let crypto = Crypto::builder()
        .shared_keyring(root.clone())
        .tenants(Arc::new(MemoryTenantStore::new()))
        .tenant_cache(Duration::from_secs(60), 16)
        .build()
        .await
        .unwrap();
    // Create the tenant's KEK first (one root call), then forget it.
    note("acme").encrypt(&crypto).await.unwrap();
    crypto.forget_tenant(b"acme").unwrap();
    let before = root.unwraps();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let crypto = crypto.clone();
        tasks.push(tokio::spawn(async move {
            note("acme").encrypt(&crypto).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(root.unwraps() - before, 1, "32 cold callers, one root call");

    // Many tenants through a cache of 16: it never grows past its bound, and a hot tenant
    // used between cold ones stays loaded.
    for n in 0..60 {
        note(&format!("t{n}")).encrypt(&crypto).await.unwrap();
        note("acme").encrypt(&crypto).await.unwrap();
    }
    let cached = format!("{crypto:?}");
    let count: usize = cached
        .split("cached: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(count <= 16, "{count} tenants cached");
    assert_eq!(
        root.unwraps() - before,
        1,
        "the hot tenant was never reloaded"
    );
}

#[test]
fn the_signature_digest_is_the_documented_bytes() {
    use sha2::Digest;
    let mut columns = encx::record::SignedColumns::new();
    columns.push("role", "admin").unwrap();
    let documented =
        hex::decode("656e63783a7369676e65643a763100000004726f6c65000000060561646d696e").unwrap();
    let expected: [u8; 32] = sha2::Sha256::digest(&documented).into();
    assert_eq!(columns.digest(), expected);
}

#[tokio::test]
async fn subject_keys_of_a_tenant_are_counted_and_rewrapped_in_its_scope_only() {
    let s = setup(Duration::from_secs(60)).await;
    for (id, clinic) in [(1, "north"), (2, "north"), (3, "south")] {
        Patient {
            id,
            clinic: clinic.into(),
            person: Uuid::new_v4(),
            notes: "n".into(),
        }
        .encrypt(&s.crypto)
        .await
        .unwrap();
    }
    let count = |usage: Vec<(encx::KeyInUse, u64)>| usage.iter().map(|(_, n)| n).sum::<u64>();
    // The unscoped Crypto's keyring wraps none of them: they are its tenants'.
    assert_eq!(count(s.crypto.subject_key_usage().await.unwrap()), 0);
    assert_eq!(s.crypto.rewrap_subject_keys(10).await.unwrap().scanned, 0);
    let north = s.crypto.for_tenant(b"north", "north").await.unwrap();
    assert_eq!(count(north.subject_key_usage().await.unwrap()), 2);
    north.rotate_kek(None).await.unwrap();
    let done = north.rewrap_subject_keys(10).await.unwrap();
    assert_eq!((done.scanned, done.rewrapped), (2, 2));
    let south = s.crypto.for_tenant(b"south", "south").await.unwrap();
    assert_eq!(south.rewrap_subject_keys(10).await.unwrap().scanned, 1);
}
