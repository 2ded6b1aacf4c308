//! Application secrets, tokens and signed values on encx's keys, on SQLite in memory.
//!
//! `cargo run --example secrets`
//!
//! 1. Secrets: a database password and a payment API key stored in `encx_secrets`, sealed
//!    under the same key hierarchy as the records (here a KEK in `encx_keks` under a local
//!    master key), read through the TTL cache, rotated, listed by tag without decrypting.
//! 2. Config: settings from the environment and from the secrets, printed with every secret
//!    masked.
//! 3. Tokens: API keys issued to a customer, only their keyed hash stored; looked up by the
//!    presented key, revoked.
//! 4. CSRF tokens bound to a session, and signed, expiring values (an unsubscribe link).
//! 5. The audit trail: every write and read of a secret and every token issued, checked or
//!    revoked, with the actor, in `encx_audit` — never a value or a token.

use std::time::{Duration, SystemTime};

use encx::secrecy::ExposeSecret;
use encx::{Crypto, HierarchicalKeyring, LocalKeyring, MasterKey};
use encx_secrets::{Config, SecretOptions, Secrets, TokenStore};
use encx_sqlx::{read_audit, AuditQuery, SqlAuditSink, SqlKekStore};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
    encx_sqlx::migrate(&pool).await?;
    let root = std::sync::Arc::new(LocalKeyring::new(vec![MasterKey::generate("v1")?])?);
    let keks = SqlKekStore::shared(pool.clone());
    let audit = SqlAuditSink::spawn(pool.clone(), 1_000);
    let crypto = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks, root)
        .audit(audit.clone())
        .build()
        .await?;

    // 1. Secrets (each read and write on record, naming who asked)
    let secrets = Secrets::new(pool.clone(), crypto.clone()).with_actor("billing-service");
    secrets
        .put(
            "db/password",
            b"correct horse battery staple",
            &SecretOptions::new().tag("db"),
        )
        .await?;
    secrets
        .put(
            "stripe/api-key",
            b"sk_live_51H...",
            &SecretOptions::new()
                .tag("payments")
                .expires_in(Duration::from_secs(90 * 86_400)),
        )
        .await?;
    let password = secrets.get("db/password").await?; // a database read and an unwrap
    let again = secrets.get("db/password").await?; // from the cache
    assert_eq!(password.expose_secret(), again.expose_secret());
    println!("read {password:?}"); // the value is masked
    let version = secrets
        .rotate("db/password", b"new password, rotated")
        .await?;
    println!(
        "db/password rotated to version {version}; cache: {:?}",
        secrets.cache_stats()
    );
    for info in secrets.list(Some("payments")).await? {
        let days = info
            .expires_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok());
        let days = days.map_or(0, |left| left.as_secs().div_ceil(86_400));
        println!(
            "tagged payments: {} v{}, expires in {days} days",
            info.name, info.version
        );
    }

    // 2. Config: the environment first, then the secrets store
    std::env::set_var("EXAMPLE_PORT", "8443");
    let config = Config::builder()
        .env_prefix("EXAMPLE_")
        .setting("port", Some("8080"))
        .setting("log_level", Some("info"))
        .secret_named("db_password", "db/password")
        .secret_named("stripe_key", "stripe/api-key")
        .load(&secrets)
        .await?;
    let port: u16 = config.get("port")?;
    assert_eq!(
        config.secret("db_password")?.expose_secret(),
        "new password, rotated"
    );
    println!("config (port {port}):\n{config}");

    // 3. API keys: the customer sees the key once; the table holds its keyed hash
    let api_keys =
        TokenStore::new(pool.clone(), crypto.tokens("sk_example")?).with_actor("api-gateway");
    let (key, issued) = api_keys
        .issue("customer-42", Some(Duration::from_secs(365 * 86_400)))
        .await?;
    println!("issued API key {} (id {})", key.expose_secret(), issued.id);
    let caller = api_keys
        .verify(key.expose_secret())
        .await?
        .expect("a valid key");
    println!("request authenticated as {}", caller.owner);
    assert!(api_keys.verify("sk_example_guessed").await?.is_none());
    api_keys.revoke(issued.id).await?;
    assert!(api_keys.verify(key.expose_secret()).await?.is_none());
    println!("key revoked: refused");

    // 4. CSRF tokens and signed values
    let csrf = crypto.csrf()?;
    let form_token = csrf.issue(b"session-7f3a")?;
    assert!(csrf.verify(b"session-7f3a", &form_token)?);
    assert!(!csrf.verify(b"another-session", &form_token)?);
    let links = crypto.signer("unsubscribe")?;
    let link = links.sign_until(
        b"customer-42",
        SystemTime::now() + Duration::from_secs(7 * 86_400),
    )?;
    println!("https://example.com/unsubscribe?t={link}");
    assert_eq!(links.verify(&link)?, b"customer-42");
    let forged = link.replacen('.', "x.", 1);
    assert!(links.verify(&forged).is_err_and(|e| e.is_tampered()));
    println!("csrf and signed links verified; a forged link is refused");

    // 5. The audit trail
    audit.flush().await;
    let first_password_reads = AuditQuery::default()
        .record("db/password#1")
        .action("decrypt")
        .actor("billing-service");
    let reads = read_audit(&pool, &first_password_reads).await?;
    assert_eq!(reads.len(), 2, "both reads, the cached one too");
    for event in read_audit(&pool, &AuditQuery::default().limit(10)).await? {
        let record = event.record.as_deref().unwrap_or("-");
        let actor = event.actor.as_deref().unwrap_or("-");
        println!(
            "audit: {} {} {record} by {actor}: {}",
            event.action, event.table_name, event.outcome
        );
    }
    Ok(())
}
