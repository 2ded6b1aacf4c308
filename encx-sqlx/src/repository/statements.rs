//! SQL text for one encrypted type on one dialect, built once per repository.

use encx::schema::{quote_ident, ColumnKind, Dialect, Schema};

use crate::database::dialect::placeholder;
use crate::error::{Error, Result};

/// How a job's page query locks the rows it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowLock {
    /// Lock them, skipping rows another worker holds.
    SkipLocked,
    /// Lock them, waiting for rows another worker holds.
    Wait,
}

impl RowLock {
    /// The clause ending a `SELECT` on `dialect` (none on SQLite, which locks the database
    /// for a writer instead).
    pub fn clause(self, dialect: Dialect) -> &'static str {
        match (dialect, self) {
            (Dialect::Sqlite, _) => "",
            (_, RowLock::SkipLocked) => " FOR UPDATE SKIP LOCKED",
            (_, RowLock::Wait) => " FOR UPDATE",
        }
    }
}

/// Which rows a compare-and-swap `UPDATE` may write.
#[derive(Debug, Clone, Copy)]
enum Guard<'a> {
    /// Rows whose wrapped DEK is still the one read (bound per row).
    OldDek,
    /// Rows not yet migrated from plaintext: `encx_dek` and this quoted ciphertext column
    /// NULL.
    Unmigrated { marker: &'a str },
}

/// `c1 AS c1, ..., cn AS cn` for quoted column names: a result column's name is its `AS`
/// clause. Without one, SQLite leaves the name unspecified, and it does report `"code"`, quotes
/// included, for a column added by `ALTER TABLE` when a cached statement is prepared again,
/// so that reading the row by name fails.
pub(crate) fn as_named<S: AsRef<str>>(quoted: &[S]) -> String {
    quoted
        .iter()
        .map(|c| format!("{0} AS {0}", c.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug)]
pub(crate) struct Statements {
    pub dialect: Dialect,
    pub table: &'static str,
    pub column_count: usize,
    /// Every stored column, quoted, in the order records bind them.
    columns: Vec<String>,
    /// `c1 = ?, ..., cn = ?`: every stored column set from the first n parameters.
    sets: String,
    /// `INSERT INTO t (c1, ..., cn) VALUES ` (rows are appended).
    pub insert_head: String,
    /// `INSERT INTO t (c1, ..., cn) SELECT * FROM UNNEST($1, ..., $n)`: one array per column
    /// (PostgreSQL only).
    pub insert_arrays: String,
    /// `SELECT c1, ..., cn FROM t`
    pub select: String,
    /// Quoted id column, if the type has one.
    pub id: Option<String>,
    /// `UPDATE t SET c1 = ?, ..., cn = ? WHERE id = ? AND encx_dek IS NOT NULL`
    pub update: Option<String>,
    /// `UPDATE t SET encx_dek = NULL, b1 = NULL, ... WHERE id = ?`
    pub erase: Option<String>,
    /// `DELETE FROM t WHERE id = ?`
    pub delete: Option<String>,
    /// `SELECT encx_dek IS NULL FROM t WHERE id = ?`: tells erased from missing.
    pub probe: Option<String>,
    /// `UPDATE t SET encx_dek = NULL, b1 = NULL, ... WHERE subject = ? AND encx_dek IS NOT
    /// NULL`, for a type with a subject column.
    pub erase_subject: Option<String>,
    /// `SELECT COUNT(*) FROM t WHERE subject = ? AND encx_dek IS NOT NULL`, for a type with
    /// a subject column.
    pub count_subject: Option<String>,
    /// `UPDATE t SET encx_dek = NULL, b1 = NULL, ... WHERE tenant = ? AND encx_dek IS NOT
    /// NULL`, for a type with a tenant column.
    pub erase_tenant: Option<String>,
    /// `SELECT COUNT(*) FROM t WHERE tenant = ? AND encx_dek IS NOT NULL`.
    pub count_tenant: Option<String>,
    /// The quoted tenant column, for a type with one.
    pub tenant_column: Option<String>,
}

impl Statements {
    pub fn new<T: Schema>(dialect: Dialect) -> Self {
        let q = |n: &str| quote_ident(dialect, n);
        let cols = T::columns();
        let table = q(T::TABLE);
        let names: Vec<String> = cols.iter().map(|c| q(c.name)).collect();
        let id = cols
            .iter()
            .find(|c| matches!(c.kind, ColumnKind::Id { .. }))
            .map(|c| q(c.name));
        let dek = q("encx_dek");
        let sets = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n} = {}", placeholder(dialect, i + 1)))
            .collect::<Vec<_>>()
            .join(", ");
        let update = id.as_ref().map(|id| {
            format!(
                "UPDATE {table} SET {sets} WHERE {id} = {} AND {dek} IS NOT NULL",
                placeholder(dialect, names.len() + 1)
            )
        });
        let mut nulls = vec![format!("{dek} = NULL")];
        nulls.extend(
            cols.iter()
                .filter(|c| c.kind.is_search_index())
                .map(|c| format!("{} = NULL", q(c.name))),
        );
        let nulls = nulls.join(", ");
        let erase = id.as_ref().map(|id| {
            format!(
                "UPDATE {table} SET {nulls} WHERE {id} = {}",
                placeholder(dialect, 1)
            )
        });
        let erase_subject = T::subject_column().map(|subject| {
            format!(
                "UPDATE {table} SET {nulls} WHERE {} = {} AND {dek} IS NOT NULL",
                q(subject),
                placeholder(dialect, 1)
            )
        });
        let count_subject = T::subject_column().map(|subject| {
            format!(
                "SELECT COUNT(*) FROM {table} WHERE {} = {} AND {dek} IS NOT NULL",
                q(subject),
                placeholder(dialect, 1)
            )
        });
        let erase_tenant = T::tenant_column().map(|tenant| {
            format!(
                "UPDATE {table} SET {nulls} WHERE {} = {} AND {dek} IS NOT NULL",
                q(tenant),
                placeholder(dialect, 1)
            )
        });
        let count_tenant = T::tenant_column().map(|tenant| {
            format!(
                "SELECT COUNT(*) FROM {table} WHERE {} = {} AND {dek} IS NOT NULL",
                q(tenant),
                placeholder(dialect, 1)
            )
        });
        Statements {
            count_subject,
            erase_tenant,
            count_tenant,
            tenant_column: T::tenant_column().map(q),
            dialect,
            table: T::TABLE,
            column_count: names.len(),
            columns: names.clone(),
            sets: sets.clone(),
            insert_head: format!("INSERT INTO {table} ({}) VALUES ", names.join(", ")),
            insert_arrays: format!(
                "INSERT INTO {table} ({}) SELECT * FROM UNNEST({})",
                names.join(", "),
                (1..=names.len())
                    .map(|n| placeholder(dialect, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            select: format!("SELECT {} FROM {table}", as_named(&names)),
            update,
            erase,
            erase_subject,
            delete: id.as_ref().map(|id| {
                format!(
                    "DELETE FROM {table} WHERE {id} = {}",
                    placeholder(dialect, 1)
                )
            }),
            probe: id.as_ref().map(|id| {
                format!(
                    "SELECT {dek} FROM {table} WHERE {id} = {}",
                    placeholder(dialect, 1)
                )
            }),
            id,
        }
    }

    /// `c1 = ?, ..., cn = ?`: every stored column from the first n parameters.
    pub fn update_sets(&self) -> &str {
        &self.sets
    }

    /// `SELECT c1 AS c1, ..., cn AS cn` (no `FROM`).
    pub fn select_list(&self) -> String {
        format!("SELECT {}", as_named(&self.columns))
    }

    /// `VALUES` tuples for `rows` rows, numbering placeholders from 1.
    pub fn insert(&self, rows: usize) -> String {
        let mut sql = self.insert_head.clone();
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..self.column_count {
                if c > 0 {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&placeholder(self.dialect, n));
            }
            sql.push(')');
        }
        sql
    }

    /// `SELECT ... WHERE col IN (?, ...) AND encx_dek IS NOT NULL`.
    pub fn select_where_in(&self, column: &str, count: usize) -> String {
        let list: Vec<String> = (1..=count).map(|i| placeholder(self.dialect, i)).collect();
        format!(
            "{} WHERE {} IN ({}) AND {} IS NOT NULL",
            self.select,
            quote_ident(self.dialect, column),
            list.join(", "),
            quote_ident(self.dialect, "encx_dek")
        )
    }

    /// `SELECT ... WHERE (predicate) AND encx_dek IS NOT NULL`.
    pub fn select_where(&self, predicate: &str) -> String {
        format!(
            "{} WHERE ({predicate}) AND {} IS NOT NULL",
            self.select,
            quote_ident(self.dialect, "encx_dek")
        )
    }

    /// `SELECT ... WHERE id = ?` (erased rows included: reading one reports `Shredded`).
    pub fn select_by_id(&self) -> Result<String> {
        let id = self.require_id()?;
        Ok(format!(
            "{} WHERE {id} = {}",
            self.select,
            placeholder(self.dialect, 1)
        ))
    }

    /// `SELECT ... WHERE encx_dek IS NOT NULL AND substr(encx_dek, 1, 18) <> ? AND
    /// substr(encx_dek, 2, 1) <> ? [AND id > ?] ORDER BY id LIMIT n [lock]`: the next page of
    /// rows not wrapped under the active key (first parameter: its header prefix), data
    /// subjects' rows left out (second: their kind byte). `lock` locks the rows read
    /// (PostgreSQL and MySQL; SQLite locks the database for a writer instead).
    ///
    /// With `tenant`, only the rows of one tenant (third parameter; the id follows it).
    pub fn pending_page(
        &self,
        after: bool,
        limit: usize,
        lock: RowLock,
        tenant: bool,
    ) -> Result<String> {
        let id = self.require_id()?;
        let dek = quote_ident(self.dialect, "encx_dek");
        let mut next = 3;
        let tenant = match (tenant, &self.tenant_column) {
            (false, _) => String::new(),
            (true, Some(column)) => {
                next += 1;
                format!(" AND {column} = {}", placeholder(self.dialect, 3))
            }
            (true, None) => {
                return Err(Error::InvalidConfig(format!(
                    "table `{}` has no tenant column",
                    self.table
                )))
            }
        };
        let after = if after {
            format!(" AND {id} > {}", placeholder(self.dialect, next))
        } else {
            String::new()
        };
        let after = format!("{tenant}{after}");
        let lock = lock.clause(self.dialect);
        Ok(format!(
            "{} WHERE {dek} IS NOT NULL AND substr({dek}, 1, {}) <> {} \
             AND substr({dek}, 2, 1) <> {}{after} ORDER BY {id} LIMIT {limit}{lock}",
            self.select,
            encx::KeyInUse::PREFIX_LEN,
            placeholder(self.dialect, 1),
            placeholder(self.dialect, 2),
        ))
    }

    /// One statement that replaces the wrapped DEKs of `rows` rows, each only if nobody
    /// changed it since it was read; binds `new, id, old` per row, in order.
    pub fn replace_deks(&self, rows: usize) -> Result<String> {
        let dek = quote_ident(self.dialect, "encx_dek");
        self.compare_and_swap(rows, std::slice::from_ref(&dek), Guard::OldDek)
    }

    /// One statement that replaces whole records (every column) of `rows` rows, each only if
    /// its wrapped DEK is unchanged since it was read; binds every column, then `id, old
    /// DEK`, per row, in order.
    pub fn replace_rows(&self, rows: usize) -> Result<String> {
        self.compare_and_swap(rows, &self.columns, Guard::OldDek)
    }

    /// One statement that writes whole records (every column) into `rows` rows not yet
    /// migrated from plaintext (`encx_dek` and the quoted `marker` ciphertext column both
    /// NULL); binds every column, then the id, per row, in order.
    pub fn migrate_rows(&self, rows: usize, marker: &str) -> Result<String> {
        self.compare_and_swap(rows, &self.columns, Guard::Unmigrated { marker })
    }

    /// `UPDATE` of the quoted columns `set` for `rows` rows, each where the id matches and
    /// `guard` holds; per row it binds the `set` values, the id and (for [`Guard::OldDek`])
    /// the old DEK. PostgreSQL and SQLite: `UPDATE … FROM (VALUES …)`; MySQL: a multi-table
    /// `UPDATE … JOIN (SELECT … UNION ALL …)`.
    fn compare_and_swap(&self, rows: usize, set: &[String], guard: Guard<'_>) -> Result<String> {
        let id = self.require_id()?;
        let dek = quote_ident(self.dialect, "encx_dek");
        let table = quote_ident(self.dialect, self.table);
        let binds_old = matches!(guard, Guard::OldDek);
        let width = set.len() + 1 + usize::from(binds_old);
        let p = |n: usize| placeholder(self.dialect, n);
        let row = |r: usize| -> Vec<String> { (1..=width).map(|k| p(width * r + k)).collect() };
        let tuples = || {
            (0..rows)
                .map(|r| format!("({})", row(r).join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // The guard on the target row, its table named `t` (the old DEK is `old`).
        let guarded = |t: &str, old: &str| match guard {
            Guard::OldDek => format!("{t}.{dek} = {old}"),
            Guard::Unmigrated { marker } => format!("{t}.{dek} IS NULL AND {t}.{marker} IS NULL"),
        };
        let mut names: Vec<String> = set.to_vec();
        names.push("encx_id".to_owned());
        if binds_old {
            names.push("encx_old".to_owned());
        }
        Ok(match self.dialect {
            Dialect::Postgres => format!(
                "UPDATE {table} AS t SET {} FROM (VALUES {}) AS v({}) \
                 WHERE t.{id} = v.encx_id AND {}",
                set.iter()
                    .map(|c| format!("{c} = v.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                tuples(),
                names.join(", "),
                guarded("t", "v.encx_old")
            ),
            Dialect::Sqlite => format!(
                "UPDATE {table} SET {} FROM (VALUES {}) AS v \
                 WHERE {table}.{id} = v.column{} AND {}",
                set.iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = v.column{}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", "),
                tuples(),
                set.len() + 1,
                guarded(&table, &format!("v.column{width}"))
            ),
            _ => {
                let selects: Vec<String> = (0..rows)
                    .map(|r| {
                        let values = row(r);
                        if r == 0 {
                            let named: Vec<String> = values
                                .iter()
                                .zip(&names)
                                .map(|(v, n)| format!("{v} AS {n}"))
                                .collect();
                            format!("SELECT {}", named.join(", "))
                        } else {
                            format!("SELECT {}", values.join(", "))
                        }
                    })
                    .collect();
                format!(
                    "UPDATE {table} AS t JOIN ({}) AS v ON t.{id} = v.encx_id \
                     AND {} SET {}",
                    selects.join(" UNION ALL "),
                    guarded("t", "v.encx_old"),
                    set.iter()
                        .map(|c| format!("t.{c} = v.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        })
    }

    /// `SELECT <key prefix>, COUNT(*) FROM t GROUP BY 1`: rows per key that wraps their DEK,
    /// read from the wrapped DEK's header (its first bytes: format, kind, key id; the first two
    /// only for data-subject records, whose kind byte is bound as the one parameter). Erased
    /// rows count under NULL.
    pub fn key_usage(&self) -> String {
        crate::database::census::key_usage_sql(self.dialect, self.table)
    }

    /// `SELECT <key prefix>, COUNT(*) FROM t WHERE <key prefix> < ? OR <key prefix> > ? GROUP
    /// BY 1`, the one parameter being the active key's prefix: rows per key other than the
    /// active one, read from the key index (`substr(encx_dek, 1, 18)`, PostgreSQL and SQLite)
    /// as two range scans that find nothing when nothing is pending.
    pub fn key_usage_except(&self) -> String {
        let key = encx::schema::key_prefix_expr(self.dialect);
        let p = match self.dialect {
            Dialect::Postgres => "$1",
            _ => "?1",
        };
        format!(
            "SELECT {key}, COUNT(*) FROM {} WHERE {key} < {p} OR {key} > {p} GROUP BY 1",
            quote_ident(self.dialect, self.table)
        )
    }

    /// `SELECT COUNT(*) FROM t` (no condition), or, if `erased`, of the rows without a wrapped
    /// DEK (through the key index where there is one).
    pub fn count(&self, erased: bool) -> String {
        let table = quote_ident(self.dialect, self.table);
        if erased {
            let key = encx::schema::key_prefix_expr(self.dialect);
            format!("SELECT COUNT(*) FROM {table} WHERE {key} IS NULL")
        } else {
            format!("SELECT COUNT(*) FROM {table}")
        }
    }

    /// `SELECT ... WHERE encx_dek IS NOT NULL [ORDER BY id]`: every row not erased.
    pub fn select_live(&self) -> String {
        let dek = quote_ident(self.dialect, "encx_dek");
        match &self.id {
            Some(id) => format!("{} WHERE {dek} IS NOT NULL ORDER BY {id}", self.select),
            None => format!("{} WHERE {dek} IS NOT NULL", self.select),
        }
    }

    pub fn require_id(&self) -> Result<&str> {
        self.id.as_deref().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "table `{}` has no #[encx(id)] field: get, update, delete and erase need one",
                self.table
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encx::schema::Column;

    /// A table with a subject, an equality index, a prefix index and a Bloom filter.
    struct Noted;
    impl Schema for Noted {
        const TABLE: &'static str = "noted";
        fn columns() -> &'static [Column] {
            const COLUMNS: &[Column] = &[
                Column::new("id", ColumnKind::Id { sql_type: None }),
                Column::new(
                    "owner",
                    ColumnKind::Plain {
                        sql_type: None,
                        nullable: false,
                    },
                ),
                Column::new("body", ColumnKind::Ciphertext { nullable: false }),
                Column::new("body_bidx", ColumnKind::BlindIndex { bytes: 4 }),
                Column::new("body_prefix3_bidx", ColumnKind::BlindIndex { bytes: 2 }),
                Column::new("body_contains_bloom", ColumnKind::BloomFilter { bytes: 32 }),
                Column::new("encx_dek", ColumnKind::WrappedDek),
            ];
            COLUMNS
        }
        fn subject_column() -> Option<&'static str> {
            Some("owner")
        }
    }

    #[test]
    fn erasure_clears_every_index_column() {
        let sql = Statements::new::<Noted>(Dialect::Postgres);
        for statement in [sql.erase.as_deref(), sql.erase_subject.as_deref()] {
            let statement = statement.expect("an erase statement");
            for column in [
                "encx_dek",
                "body_bidx",
                "body_prefix3_bidx",
                "body_contains_bloom",
            ] {
                assert!(
                    statement.contains(&format!("\"{column}\" = NULL")),
                    "{column} in {statement}"
                );
            }
            assert!(!statement.contains("\"body\" = NULL"), "{statement}");
        }
    }
}
