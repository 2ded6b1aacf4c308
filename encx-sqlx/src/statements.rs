//! SQL text for one encrypted type on one dialect, built once per repository.

use encx::schema::{quote_ident, ColumnKind, Dialect, Schema};

use crate::dialect::placeholder;
use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Statements {
    pub dialect: Dialect,
    pub table: &'static str,
    pub column_count: usize,
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
        let update = id.as_ref().map(|id| {
            let sets: Vec<String> = names
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{n} = {}", placeholder(dialect, i + 1)))
                .collect();
            format!(
                "UPDATE {table} SET {} WHERE {id} = {} AND {dek} IS NOT NULL",
                sets.join(", "),
                placeholder(dialect, names.len() + 1)
            )
        });
        let mut nulls = vec![format!("{dek} = NULL")];
        nulls.extend(
            cols.iter()
                .filter(|c| matches!(c.kind, ColumnKind::BlindIndex { .. }))
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
        Statements {
            dialect,
            table: T::TABLE,
            column_count: names.len(),
            insert_head: format!("INSERT INTO {table} ({}) VALUES ", names.join(", ")),
            insert_arrays: format!(
                "INSERT INTO {table} ({}) SELECT * FROM UNNEST({})",
                names.join(", "),
                (1..=names.len())
                    .map(|n| placeholder(dialect, n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            select: format!("SELECT {} FROM {table}", names.join(", ")),
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

    /// `SELECT ... WHERE id = ?` (erased rows included: reading one reports `Shredded`).
    pub fn select_by_id(&self) -> Result<String> {
        let id = self.require_id()?;
        Ok(format!(
            "{} WHERE {id} = {}",
            self.select,
            placeholder(self.dialect, 1)
        ))
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
