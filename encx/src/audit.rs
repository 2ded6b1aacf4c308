//! Audit events: who encrypted, read, searched or erased which record, when, with what outcome
//! and how long it took. Never plaintext, blind index values or key bytes: an event names the
//! table, the record id, the data subject, the encrypted columns involved, a caller-supplied
//! actor and the outcome's class.
//!
//! `encx_sqlx::Repo` and `encx_sqlx::SubjectEraser` emit events to the [`AuditSink`] of their
//! [`Crypto`](crate::Crypto): [`TracingAuditSink`] by default (target `encx::audit`, level
//! `info`), or `encx_sqlx::SqlAuditSink` (table `encx_audit`, written off the caller's path).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::error::ErrorKind;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// Records encrypted and stored (`insert`, `insert_many`, `update`; a secret's
    /// `put`/`rotate`).
    Encrypt,
    /// Records read and decrypted (`get`, `get_many`; a secret's `get`, from the cache or
    /// not).
    Decrypt,
    /// A blind-index lookup (`find_by`, `find_by_index`, `exists_by`).
    FindBy,
    /// One record crypto-shredded (`erase`; every version of a secret, `Secrets::delete`).
    Erase,
    /// A data subject erased across tables (`SubjectEraser::erase`, `reapply_ledger`).
    EraseSubject,
    /// A tenant offboarded: its keys destroyed and its rows cleared (`TenantEraser::erase`).
    EraseTenant,
    /// A new key-encryption key made active (`Crypto::rotate_kek`).
    Rotate,
    /// Records' DEKs re-wrapped under the active key, one batch (`Repo::rewrap`), or every
    /// subject key (`Crypto::rewrap_subject_keys`).
    Rewrap,
    /// Records decrypted and encrypted again under fresh DEKs and the active index key
    /// version, one batch (`Repo::reencrypt`).
    Reencrypt,
    /// Rows of plaintext columns encrypted into encx's columns, one batch (`Repo::migrate`).
    Migrate,
    /// A bearer token issued (`encx_sqlx::TokenStore::issue`).
    Issue,
    /// A presented token checked (`encx_sqlx::TokenStore::verify`): `records` is 1 when it
    /// matched an issued, unexpired token, else 0.
    Verify,
    /// Issued tokens revoked or purged (`TokenStore::revoke`, `revoke_owner`, `purge`).
    Revoke,
    /// A key destroyed by an operator: a KEK (`Registry::destroy_kek`, `encx keys destroy`)
    /// or an index key version (`encx keys index-destroy`); `record` names the key.
    DestroyKey,
    /// A key added by an operator: an index key version (`encx keys index-add`).
    AddKey,
}

impl AuditAction {
    /// The name stored in `encx_audit.action`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Encrypt => "encrypt",
            AuditAction::Decrypt => "decrypt",
            AuditAction::FindBy => "find_by",
            AuditAction::Erase => "erase",
            AuditAction::EraseSubject => "erase_subject",
            AuditAction::EraseTenant => "erase_tenant",
            AuditAction::Rotate => "rotate",
            AuditAction::Rewrap => "rewrap",
            AuditAction::Reencrypt => "reencrypt",
            AuditAction::Migrate => "migrate",
            AuditAction::Issue => "issue",
            AuditAction::Verify => "verify",
            AuditAction::Revoke => "revoke",
            AuditAction::DestroyKey => "destroy_key",
            AuditAction::AddKey => "add_key",
        }
    }

    /// Every action, in declaration order (what `encx audit --action` accepts).
    pub const ALL: [AuditAction; 15] = [
        AuditAction::Encrypt,
        AuditAction::Decrypt,
        AuditAction::FindBy,
        AuditAction::Erase,
        AuditAction::EraseSubject,
        AuditAction::EraseTenant,
        AuditAction::Rotate,
        AuditAction::Rewrap,
        AuditAction::Reencrypt,
        AuditAction::Migrate,
        AuditAction::Issue,
        AuditAction::Verify,
        AuditAction::Revoke,
        AuditAction::DestroyKey,
        AuditAction::AddKey,
    ];

    /// The action stored as `name`, if it is one.
    pub fn from_name(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditOutcome {
    /// It succeeded.
    Ok,
    /// It failed with a cryptographic error of this class.
    Failed(ErrorKind),
    /// It failed in the database or the repository.
    FailedElsewhere,
}

impl AuditOutcome {
    /// The name stored in `encx_audit.outcome`: `ok`, `integrity`, `erased`, `missing_key`,
    /// `unavailable`, `configuration`, `database`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Failed(ErrorKind::Integrity) => "integrity",
            AuditOutcome::Failed(ErrorKind::Erased) => "erased",
            AuditOutcome::Failed(ErrorKind::MissingKey) => "missing_key",
            AuditOutcome::Failed(ErrorKind::Unavailable) => "unavailable",
            AuditOutcome::Failed(ErrorKind::Configuration) => "configuration",
            AuditOutcome::Failed(ErrorKind::Expired) => "expired",
            AuditOutcome::FailedElsewhere => "database",
        }
    }
}

/// One audited operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What was done.
    pub action: AuditAction,
    /// The table.
    pub table: &'static str,
    /// The record id, printable (`None` for an operation over several records or a lookup).
    pub record: Option<String>,
    /// The data subject, printable, where known.
    pub subject: Option<String>,
    /// The encrypted columns involved (names, never values).
    pub fields: Vec<&'static str>,
    /// Who asked, as the caller said (`Repo::with_actor`).
    pub actor: Option<String>,
    /// How many records it touched or returned.
    pub records: u64,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// How long it took.
    pub duration: Duration,
    /// When it started.
    pub at: SystemTime,
}

/// Caller text made safe to store in an audit log and to print: a backslash becomes `\\`, and
/// every control character (line breaks included), the Unicode line and paragraph separators
/// and the bidirectional-override characters become `\u{..}` escapes, so that no caller text
/// (a token owner, a record id, an actor) can start a forged line or reorder what is shown.
/// Text with none of them is returned as it is.
///
/// ```
/// use encx::audit::escape_text;
/// assert_eq!(escape_text("customer-42"), "customer-42");
/// assert_eq!(escape_text("bob\n2026 erase"), "bob\\u{a}2026 erase");
/// ```
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c == '\\'
            || c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if unsafe_char(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl AuditEvent {
    /// The event with its caller text (record, subject, actor) passed through
    /// [`escape_text`]: what encx's own sinks store and log. A sink of your own should do the
    /// same.
    pub fn escaped(mut self) -> Self {
        for text in [&mut self.record, &mut self.subject, &mut self.actor]
            .into_iter()
            .flatten()
        {
            if let std::borrow::Cow::Owned(safe) = escape_text(text) {
                *text = safe;
            }
        }
        self
    }

    /// An event of `action` on `table`, started at `at`, with nothing else filled in.
    pub fn new(action: AuditAction, table: &'static str, at: SystemTime) -> Self {
        AuditEvent {
            action,
            table,
            record: None,
            subject: None,
            fields: Vec::new(),
            actor: None,
            records: 0,
            outcome: AuditOutcome::Ok,
            duration: Duration::ZERO,
            at,
        }
    }
}

/// Receives audit events. `record` is called on the caller's path: it must not block (queue
/// the event, or drop it and count the drop).
pub trait AuditSink: Send + Sync + fmt::Debug {
    /// Takes one event.
    fn record(&self, event: AuditEvent);

    /// Waits until the events taken so far are stored, for a sink that queues them (call it
    /// before a process exits; the `encx` CLI does). The default, for sinks that store each
    /// event at once, returns at once.
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// Emits each event as a `tracing` event (target `encx::audit`, level `info`). The default.
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAuditSink;

impl AuditSink for TracingAuditSink {
    fn record(&self, event: AuditEvent) {
        let event = event.escaped();
        tracing::info!(
            target: "encx::audit",
            action = event.action.as_str(),
            table = event.table,
            record = event.record.as_deref(),
            subject = event.subject.as_deref(),
            fields = ?event.fields,
            actor = event.actor.as_deref(),
            records = event.records,
            outcome = event.outcome.as_str(),
            duration_us = u64::try_from(event.duration.as_micros()).unwrap_or(u64::MAX),
            "encx audit event"
        );
    }
}

/// Discards every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoAudit;

impl AuditSink for NoAudit {
    fn record(&self, _event: AuditEvent) {}
}
