//! Tenants on SQLite files, no setup: a key hierarchy per customer, a customer on a root key of
//! its own, per-tenant searches, a signed `role` column, and offboarding.
//!
//! `cargo run --example tenants`
//!
//! Two customers share the `members` table. `acme` brings its own root key (here a local key
//! standing for a KMS key in acme's account); `globex` is on the operator's root. The keys
//! live in `tenants-keys.db`, apart from the data in `tenants-data.db`. The example shows that
//! equal emails of two tenants have unrelated blind indexes, that an edited `role` is caught,
//! and that offboarding acme leaves its rows, and a copy of the data taken before, unreadable.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use encx::keys::tenant::{NamedTenantRoots, TenantRoot};
use encx::{Crypto, Encrypted, HierarchicalKeyring, Keyring, LocalKeyring, MasterKey};
use encx_sqlx::{Repo, SqlErasureLedger, SqlKekStore, SqlTenantStore, TenantEraser};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use uuid::Uuid;

/// A member of a customer's organisation.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "members")]
struct Member {
    #[encx(id)]
    id: Uuid,
    /// The tenant: routes the record's keys; signed, so a row moved to another tenant is caught.
    #[encx(tenant, signed)]
    org: String,
    /// A plain column bound into the record: an edited role is caught on read.
    #[encx(signed)]
    role: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

async fn open(path: &str) -> Result<SqlitePool, Box<dyn std::error::Error>> {
    if Path::new(path).exists() {
        std::fs::remove_file(path)?;
    }
    let options =
        SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?.create_if_missing(true);
    Ok(SqlitePoolOptions::new().connect_with(options).await?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = open("tenants-data.db").await?;
    let keys = open("tenants-keys.db").await?;
    encx_sqlx::migrate(&keys).await?;
    encx_sqlx::migrate(&data).await?;

    // The operator's root, and acme's own root key (in production: KmsTenantRoots and the
    // ARN of a KMS key in acme's AWS account, used through a grant).
    let operator: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::generate("operator")?])?);
    let acme_root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::generate("acme")?])?);
    let keks = SqlKekStore::shared(keys.clone());
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(operator.clone(), keks.clone()))
        .index_keys_in(keks, operator)
        .tenants(SqlTenantStore::shared(keys.clone()))
        .tenant_roots(Arc::new(
            NamedTenantRoots::new().with("acme-kms-key", acme_root),
        ))
        .build()
        .await?;
    crypto
        .onboard_tenant(b"acme", TenantRoot::own("acme-kms-key"))
        .await?;

    let members = Repo::<Member, sqlx::Sqlite>::new(data.clone(), crypto.clone());
    members.create_table().await?;
    let ada = Member {
        id: Uuid::new_v4(),
        org: "acme".into(),
        role: "admin".into(),
        email: "ada@example.com".into(),
    };
    let bob = Member {
        id: Uuid::new_v4(),
        org: "globex".into(),
        role: "viewer".into(),
        email: "ada@example.com".into(),
    };
    members.insert(&data, &ada).await?;
    members.insert(&data, &bob).await?;

    let indexes: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT org, email_bidx FROM members")
        .fetch_all(&data)
        .await?;
    for (org, index) in &indexes {
        println!("{org:>7}: email_bidx {}", hex(index));
    }
    let acme = members.in_tenant(&"acme".to_string()).await?;
    let found = acme
        .find_by(&data, Member::EMAIL, "ADA@example.com")
        .await?;
    println!(
        "acme's search for ada@example.com: {} row(s), {:?}",
        found.len(),
        found.iter().map(|m| &m.org).collect::<Vec<_>>()
    );

    // A database writer promotes bob: the signature catches it.
    sqlx::query("UPDATE members SET role = 'admin' WHERE org = 'globex'")
        .execute(&data)
        .await?;
    match members.get(&data, bob.id).await {
        Err(e) if e.is_tampered() => println!("bob's edited role: {e}"),
        other => return Err(format!("an edited role went unnoticed: {other:?}").into()),
    }

    // A copy of the data before the offboarding (a backup).
    std::fs::copy("tenants-data.db", "tenants-data-backup.db")?;

    let eraser = TenantEraser::<String>::new(crypto.clone())
        .table(members.clone())
        .ledger(SqlErasureLedger::shared(data.clone()))
        .actor("offboarding ticket 4711")
        .writer_window(std::time::Duration::ZERO);
    println!("before: {}", eraser.footprint(&"acme".to_string()).await?);
    println!("{}", eraser.erase(&"acme".to_string()).await?);
    match members.get(&data, ada.id).await {
        Err(e) if e.is_shredded() => println!("ada after the offboarding: {e}"),
        other => return Err(format!("acme's row is still readable: {other:?}").into()),
    }

    // The backup of the data, read with the live keys: acme's keys are gone, so is ada.
    let backup = SqlitePoolOptions::new()
        .connect("sqlite://tenants-data-backup.db")
        .await?;
    let restored = Repo::<Member, sqlx::Sqlite>::new(backup.clone(), crypto.clone());
    match restored.get(&backup, ada.id).await {
        Err(e) if e.is_shredded() => println!("ada in the backup: {e}"),
        other => return Err(format!("the backup still holds acme's data: {other:?}").into()),
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
