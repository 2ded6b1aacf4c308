//! `encx tenant …`: a tenant's status, its offboarding, its move to its own KMS key, and the
//! re-application of tenant offboardings after a restore of the key database.

use encx::keys::tenant::TenantRoot;
use encx::KekState;
use encx_sqlx::Registry;
use serde_json::json;

use crate::answer::{emit, Failure};
use crate::args::TenantCommand;

/// Runs one `encx tenant` command.
pub(crate) async fn tenant_command(
    command: TenantCommand,
    registry: &Registry,
    actor: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    match command {
        TenantCommand::Status { tenant } => status(registry, &tenant, json).await,
        TenantCommand::Erase { tenant, dry_run } => {
            erase(registry, &tenant, actor, dry_run, json).await
        }
        TenantCommand::Move {
            tenant,
            own_key,
            dry_run,
            ..
        } => {
            let to = own_key.map_or(TenantRoot::Default, TenantRoot::own);
            move_root(registry, &tenant, to, dry_run, json).await
        }
        TenantCommand::ReapplyLedger => reapply(registry, json).await,
    }
}

async fn status(registry: &Registry, tenant: &str, json: bool) -> Result<(), Failure> {
    let status = registry.tenant_status(tenant).await?;
    let keys: Vec<_> = status
        .keks
        .iter()
        .map(|k| ("kek", k))
        .chain(status.index_keys.iter().map(|k| ("index", k)))
        .collect();
    let row = status.row.as_ref();
    emit(
        json,
        json!({
            "tenant": tenant,
            "registered": row.is_some(),
            "root": row.map(|r| r.root.to_string()),
            "moving_from": row.and_then(|r| r.moving_from.as_ref().map(|m| m.to_string())),
            "state": row.map(|r| r.state.as_str()),
            "keys": keys.iter().map(|(purpose, k)| json!({
                "id": k.id.to_string(), "purpose": purpose, "version": k.version,
                "state": k.state.as_str(), "root_key": k.root_key,
            })).collect::<Vec<_>>(),
        }),
        || {
            let Some(row) = row else {
                return format!("tenant {tenant}: not registered (no keys)");
            };
            let mut out = format!("tenant {tenant}: {}, root {}", row.state.as_str(), row.root);
            if let Some(from) = &row.moving_from {
                out.push_str(&format!(
                    " (moving from {from}: run `encx tenant move` again)"
                ));
            }
            for (purpose, k) in &keys {
                out.push_str(&format!(
                    "\n  {purpose} v{} {} {}{}",
                    k.version,
                    k.id,
                    k.state.as_str(),
                    if k.state == KekState::Destroyed {
                        String::new()
                    } else {
                        format!(" under {}", k.root_key)
                    }
                ));
            }
            out
        },
    );
    Ok(())
}

async fn erase(
    registry: &Registry,
    tenant: &str,
    actor: Option<&str>,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let found = registry.tenant_footprint(tenant).await?;
    let tables = registry.tenant_tables().unwrap_or_default().to_vec();
    let found_json = json!({
        "tenant": found.tenant, "live_keys": found.live_keys, "root": found.root,
        "erased_before": found.erased,
        "rows": found.tables.iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
    });
    if dry_run {
        emit(
            json,
            json!({ "dry_run": true, "tables": tables, "found": found_json }),
            || format!("dry run: {found}; would destroy its keys and clear its rows"),
        );
        return Ok(());
    }
    if let Some(window) = registry.tenant_writer_window().filter(|w| !w.is_zero()) {
        if !json {
            eprintln!(
                "offboarding tenant {tenant} ({found}); then waiting {} ms for other processes' \
                 tenant caches before clearing the rows they wrote meanwhile",
                window.as_millis()
            );
        }
    }
    let receipt = registry.erase_tenant(tenant, actor).await?;
    emit(
        json,
        json!({
            "tenant": receipt.tenant,
            "keys_destroyed": receipt.keys_destroyed.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "rows_cleared": receipt.tables.iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
            "swept": receipt.swept.iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
        }),
        || receipt.to_string(),
    );
    Ok(())
}

async fn move_root(
    registry: &Registry,
    tenant: &str,
    to: TenantRoot,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    if dry_run {
        let status = registry.tenant_status(tenant).await?;
        let from = status.row.as_ref().map(|r| r.root.to_string());
        emit(
            json,
            json!({ "dry_run": true, "tenant": tenant, "from": from, "to": to.to_string(),
                    "key_rows": status.live_keys() }),
            || {
                format!(
                    "dry run: tenant {tenant} would move from {} to {to}: {} key row(s) \
                     re-wrapped, no record touched",
                    from.as_deref().unwrap_or("default (not registered yet)"),
                    status.live_keys()
                )
            },
        );
        return Ok(());
    }
    if !json {
        eprintln!(
            "moving tenant {tenant} to {to}: waiting one tenant cache TTL while both roots serve"
        );
    }
    let moved = registry.move_tenant_root(tenant, to.clone()).await?;
    emit(
        json,
        json!({ "tenant": tenant, "root": to.to_string(), "rewrapped": moved.rewrapped,
                "already_there": moved.already_there }),
        || {
            format!(
                "tenant {tenant} is under {to}: {} key row(s) re-wrapped, {} already there",
                moved.rewrapped, moved.already_there
            )
        },
    );
    Ok(())
}

async fn reapply(registry: &Registry, json: bool) -> Result<(), Failure> {
    let receipts = registry.reapply_tenant_ledger().await?;
    let destroyed: usize = receipts.iter().map(|r| r.keys_destroyed.len()).sum();
    emit(
        json,
        json!({ "ledger_entries": receipts.len(), "keys_destroyed": destroyed }),
        || {
            format!(
                "{} tenant offboarding(s) re-applied, {destroyed} resurrected key(s) destroyed",
                receipts.len()
            )
        },
    );
    Ok(())
}
