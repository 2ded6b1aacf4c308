//! Reading the `encx_audit` table that [`SqlAuditSink`](crate::SqlAuditSink) writes: newest
//! events first, filtered by table, record, subject, action, actor and time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use encx::audit::AuditEvent;
use futures_util::future::BoxFuture;
use sqlx::{Database, Pool};

use crate::database::time::millis;
use crate::error::{Error, Result};

/// Which events [`read_audit`](crate::read_audit) returns: those matching every filter set, newest first, at
/// most `limit`.
///
/// ```
/// let query = encx_sqlx::AuditQuery::default().table("users").action("erase").limit(20);
/// assert_eq!(query.limit, 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Events of this table only.
    pub table: Option<String>,
    /// Events of this record id (as printed in the event).
    pub record: Option<String>,
    /// Events of this data subject.
    pub subject: Option<String>,
    /// Events of this action (`encrypt`, `decrypt`, `find_by`, `erase`, `erase_subject`,
    /// `rotate`, `rewrap`, `reencrypt`, `migrate`, `issue`, `verify`, `revoke`).
    pub action: Option<String>,
    /// Events of this actor.
    pub actor: Option<String>,
    /// Events at or after this time.
    pub since: Option<SystemTime>,
    /// The most events returned (default 100).
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            table: None,
            record: None,
            subject: None,
            action: None,
            actor: None,
            since: None,
            limit: 100,
        }
    }
}

impl AuditQuery {
    /// Only events of `table`.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }
    /// Only events of record `record`.
    pub fn record(mut self, record: impl Into<String>) -> Self {
        self.record = Some(record.into());
        self
    }
    /// Only events of data subject `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// Only events of `action`.
    pub fn action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }
    /// Only events of `actor`.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }
    /// Only events at or after `since`.
    pub fn since(mut self, since: SystemTime) -> Self {
        self.since = Some(since);
        self
    }
    /// At most `limit` events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// `since` in milliseconds since 1970, as stored.
    pub(crate) fn since_millis(&self) -> Option<i64> {
        self.since.map(crate::database::time::millis)
    }

    /// `limit` as SQL wants it; 0 is refused.
    pub(crate) fn sql_limit(&self) -> Result<i64> {
        if self.limit == 0 {
            return Err(Error::InvalidConfig(
                "an audit query needs a limit above 0".into(),
            ));
        }
        Ok(i64::try_from(self.limit).unwrap_or(i64::MAX))
    }
}

/// One row of `encx_audit`: what happened, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When, in milliseconds since 1970 (see [`time`](Self::time)).
    pub at: i64,
    /// The action (`encrypt`, `erase`, `rewrap`, …).
    pub action: String,
    /// The table.
    pub table_name: String,
    /// The record id, for one-record operations.
    pub record: Option<String>,
    /// The data subject, where there is one.
    pub subject: Option<String>,
    /// The encrypted columns involved, comma-separated.
    pub fields: String,
    /// Who, as the application said (`Repo::with_actor`).
    pub actor: Option<String>,
    /// How many records.
    pub records: i64,
    /// `ok`, or the kind of failure.
    pub outcome: String,
    /// How long it took, in microseconds.
    pub duration_us: i64,
}

/// One `encx_audit` row as read, in column order.
pub(crate) type AuditRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i64,
    String,
    i64,
);

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        let (at, action, table_name, record, subject, fields, actor, records, outcome, duration_us) =
            row;
        AuditRecord {
            at,
            action,
            table_name,
            record,
            subject,
            fields,
            actor,
            records,
            outcome,
            duration_us,
        }
    }
}

impl AuditRecord {
    /// [`at`](Self::at) as a time.
    pub fn time(&self) -> SystemTime {
        let millis = u64::try_from(self.at).unwrap_or(0);
        UNIX_EPOCH + Duration::from_millis(millis)
    }
}

/// The `encx_audit` table on one kind of database (part of
/// [`EncxDatabase`](crate::EncxDatabase)).
#[doc(hidden)]
pub trait AuditTable: Database {
    /// Inserts `events` into `encx_audit`, in one statement.
    fn write_audit<'a>(
        pool: &'a Pool<Self>,
        events: &'a [AuditEvent],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;

    /// The `encx_audit` rows of `pool` that match `query`, newest first.
    fn read_audit<'a>(
        pool: &'a Pool<Self>,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, sqlx::Error>>;
}

macro_rules! impl_audit_table {
    ($db:ty) => {
        impl AuditTable for $db {
            fn write_audit<'a>(
                pool: &'a Pool<Self>,
                events: &'a [AuditEvent],
            ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO encx_audit (at, action, table_name, record, subject, fields, \
                     actor, records, outcome, duration_us) ",
                    );
                    insert.push_values(events, |mut row, e| {
                        row.push_bind(millis(e.at))
                            .push_bind(e.action.as_str())
                            .push_bind(e.table)
                            .push_bind(e.record.as_deref())
                            .push_bind(e.subject.as_deref())
                            .push_bind(e.fields.join(","))
                            .push_bind(e.actor.as_deref())
                            .push_bind(i64::try_from(e.records).unwrap_or(i64::MAX))
                            .push_bind(e.outcome.as_str())
                            .push_bind(i64::try_from(e.duration.as_micros()).unwrap_or(i64::MAX));
                    });
                    insert.build().execute(pool).await?;
                    Ok(())
                })
            }

            fn read_audit<'a>(
                pool: &'a Pool<Self>,
                query: &'a AuditQuery,
            ) -> BoxFuture<'a, Result<Vec<AuditRecord>, sqlx::Error>> {
                Box::pin(async move {
                    let mut select = sqlx::QueryBuilder::<$db>::new(
                        "SELECT at, action, table_name, record, subject, fields, actor, records, \
                     outcome, duration_us FROM encx_audit WHERE 1 = 1",
                    );
                    let text_filters = [
                        (" AND table_name = ", &query.table),
                        (" AND record = ", &query.record),
                        (" AND subject = ", &query.subject),
                        (" AND action = ", &query.action),
                        (" AND actor = ", &query.actor),
                    ];
                    for (sql, value) in text_filters {
                        if let Some(value) = value {
                            select.push(sql).push_bind(value.as_str());
                        }
                    }
                    if let Some(since) = query.since_millis() {
                        select.push(" AND at >= ").push_bind(since);
                    }
                    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
                    select.push(" ORDER BY at DESC LIMIT ").push_bind(limit);
                    let rows = select.build_query_as::<AuditRow>().fetch_all(pool).await?;
                    Ok(rows.into_iter().map(AuditRecord::from).collect())
                })
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_audit_table!(sqlx::Postgres);
#[cfg(feature = "mysql")]
impl_audit_table!(sqlx::MySql);
#[cfg(feature = "sqlite")]
impl_audit_table!(sqlx::Sqlite);
