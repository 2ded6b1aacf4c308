//! The stored shape of an encrypted type: its columns, and DDL for PostgreSQL, MySQL/MariaDB
//! and SQLite. The derive implements [`Schema`]; [`create_table`] turns it into SQL.
//!
//! ```
//! use encx::schema::{Column, ColumnKind, Dialect, Schema, SqlType, create_table};
//! struct Note;
//! impl Schema for Note {
//!     const TABLE: &'static str = "notes";
//!     fn columns() -> &'static [Column] {
//!         const COLUMNS: &[Column] = &[
//!             Column::new("id", ColumnKind::Id { sql_type: Some(<i64 as SqlType>::sql_type) }),
//!             Column::new("body", ColumnKind::Ciphertext { nullable: false }),
//!             Column::new("body_bidx", ColumnKind::BlindIndex { bytes: 4 }),
//!             Column::new("encx_dek", ColumnKind::WrappedDek),
//!         ];
//!         COLUMNS
//!     }
//! }
//! let sql = create_table::<Note>(Dialect::Postgres)?;
//! assert!(sql[0].contains(r#""body" BYTEA NOT NULL"#));
//! assert!(sql[1].contains(r#"ON "notes" ("body_bidx")"#));
//! # Ok::<(), encx::Error>(())
//! ```

use crate::error::{Error, Result};

/// SQL dialects encx writes DDL for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

/// What a stored column holds.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ColumnKind {
    /// The record id (primary key), a plain column.
    Id {
        /// Its SQL type per dialect; `None` when its Rust type does not implement [`SqlType`].
        sql_type: Option<fn(Dialect) -> &'static str>,
    },
    /// A plain (unencrypted) column.
    Plain {
        /// Its SQL type per dialect; `None` when its Rust type does not implement [`SqlType`].
        sql_type: Option<fn(Dialect) -> &'static str>,
        /// Whether it may be NULL (an `Option` field).
        nullable: bool,
    },
    /// An encrypted field.
    Ciphertext {
        /// NULL for `None` of an `Option` field (not with `encrypt_none`).
        nullable: bool,
    },
    /// A blind index (always nullable: erasure sets it to NULL).
    BlindIndex {
        /// Stored length in bytes.
        bytes: u16,
    },
    /// The Bloom filter of a `contains` index (nullable: erasure sets it to NULL). Not given
    /// a database index: a search tests its bits in every row.
    BloomFilter {
        /// Stored length in bytes.
        bytes: u16,
    },
    /// An Argon2id PHC string.
    PasswordHash,
    /// The wrapped DEK (`encx_dek`; NULL once erased).
    WrappedDek,
    /// The record's signature over its `#[encx(signed)]` plain columns (`encx_sig`): sealed
    /// under the record's DEK. Nullable so that it can be added to an existing table; a record
    /// read without one is `Tampered`.
    Signature,
}

impl ColumnKind {
    /// True for the columns erasure sets to NULL besides `encx_dek`: blind indexes and
    /// Bloom filters (they are keyed hashes of the plaintext, so they must go with it).
    pub fn is_search_index(&self) -> bool {
        matches!(
            self,
            ColumnKind::BlindIndex { .. } | ColumnKind::BloomFilter { .. }
        )
    }
}

/// One stored column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// What it holds.
    pub kind: ColumnKind,
}

impl Column {
    /// A column from its parts.
    pub const fn new(name: &'static str, kind: ColumnKind) -> Self {
        Column { name, kind }
    }
}

/// The stored shape of a type; implemented by `#[derive(Encrypted)]`.
pub trait Schema {
    /// Table name.
    const TABLE: &'static str;
    /// Stored columns in order.
    fn columns() -> &'static [Column];
    /// The column of the `#[encx(subject)]` field, if the type has one.
    fn subject_column() -> Option<&'static str> {
        None
    }
    /// The column of the `#[encx(tenant)]` field, if the type has one.
    fn tenant_column() -> Option<&'static str> {
        None
    }
}

/// SQL type of a plain column, per dialect. Implemented for common types; implement it for your
/// own plain field types to use [`create_table`].
pub trait SqlType {
    /// Whether the column may be NULL.
    const NULLABLE: bool = false;
    /// The SQL type name.
    fn sql_type(dialect: Dialect) -> &'static str;
}

macro_rules! sql_type {
    ($t:ty => $pg:expr, $my:expr, $lite:expr) => {
        impl SqlType for $t {
            fn sql_type(dialect: Dialect) -> &'static str {
                match dialect {
                    Dialect::Postgres => $pg,
                    Dialect::MySql => $my,
                    Dialect::Sqlite => $lite,
                }
            }
        }
    };
}

sql_type!(String => "TEXT", "VARCHAR(255)", "TEXT");
sql_type!(i64 => "BIGINT", "BIGINT", "INTEGER");
sql_type!(i32 => "INTEGER", "INT", "INTEGER");
sql_type!(i16 => "SMALLINT", "SMALLINT", "INTEGER");
sql_type!(bool => "BOOLEAN", "BOOLEAN", "BOOLEAN");
sql_type!(f64 => "DOUBLE PRECISION", "DOUBLE", "REAL");
sql_type!(f32 => "REAL", "FLOAT", "REAL");
sql_type!(Vec<u8> => "BYTEA", "BLOB", "BLOB");
sql_type!(uuid::Uuid => "UUID", "BINARY(16)", "BLOB");

impl<T: SqlType> SqlType for Option<T> {
    const NULLABLE: bool = true;
    fn sql_type(dialect: Dialect) -> &'static str {
        T::sql_type(dialect)
    }
}

fn bytes_type(dialect: Dialect, indexed_len: Option<u16>) -> String {
    match (dialect, indexed_len) {
        (Dialect::Postgres, _) => "BYTEA".into(),
        (Dialect::Sqlite, _) => "BLOB".into(),
        (Dialect::MySql, Some(len)) => format!("VARBINARY({len})"),
        (Dialect::MySql, None) => "LONGBLOB".into(),
    }
}

/// An identifier quoted for `dialect` (`"name"`, or `` `name` `` on MySQL). Names reaching here
/// were checked by the derive to be plain identifiers, so quoting only preserves their case.
pub fn quote_ident(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

fn plain_type(
    col: &Column,
    sql_type: Option<fn(Dialect) -> &'static str>,
    dialect: Dialect,
) -> Result<String> {
    sql_type.map(|f| f(dialect).to_string()).ok_or_else(|| {
        Error::config(format!(
            "column `{}`: its Rust type does not implement encx::schema::SqlType; implement it \
             (one function naming the SQL type per dialect) or write this table's DDL by hand",
            col.name
        ))
    })
}

/// `CREATE TABLE` and `CREATE INDEX` statements for `T`, each idempotent (`IF NOT EXISTS`).
/// Every blind-index column gets an index. On MySQL the indexes are part of `CREATE TABLE`.
pub fn create_table<T: Schema + ?Sized>(dialect: Dialect) -> Result<Vec<String>> {
    let mut defs = Vec::new();
    let mut indexes = Vec::new();
    for col in T::columns() {
        let (ty, null, extra) = match col.kind {
            ColumnKind::Id { sql_type } => (
                plain_type(col, sql_type, dialect)?,
                "NOT NULL",
                " PRIMARY KEY",
            ),
            ColumnKind::Plain { sql_type, nullable } => (
                plain_type(col, sql_type, dialect)?,
                if nullable { "NULL" } else { "NOT NULL" },
                "",
            ),
            ColumnKind::Ciphertext { nullable } => (
                bytes_type(dialect, None),
                if nullable { "NULL" } else { "NOT NULL" },
                "",
            ),
            ColumnKind::BlindIndex { bytes } => {
                indexes.push(col.name);
                (bytes_type(dialect, Some(bytes)), "NULL", "")
            }
            ColumnKind::BloomFilter { bytes } => (bytes_type(dialect, Some(bytes)), "NULL", ""),
            ColumnKind::PasswordHash => (
                if dialect == Dialect::MySql {
                    "VARCHAR(255)"
                } else {
                    "TEXT"
                }
                .to_string(),
                "NOT NULL",
                "",
            ),
            ColumnKind::WrappedDek => (bytes_type(dialect, Some(2048)), "NULL", ""),
            ColumnKind::Signature => (bytes_type(dialect, None), "NULL", ""),
        };
        defs.push(format!(
            "    {} {ty} {null}{extra}",
            quote_ident(dialect, col.name)
        ));
    }
    let q = |name: &str| quote_ident(dialect, name);
    let table = T::TABLE;
    if dialect == Dialect::MySql {
        for col in &indexes {
            defs.push(format!(
                "    INDEX {} ({})",
                q(&format!("{table}_{col}")),
                q(col)
            ));
        }
    }
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n)",
        q(table),
        defs.join(",\n")
    )];
    if dialect != Dialect::MySql {
        for col in indexes {
            out.push(format!(
                "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
                q(&format!("{table}_{col}")),
                q(table),
                q(col)
            ));
        }
    }
    Ok(out)
}

/// The name of `table`'s key index (see [`key_index`]).
pub fn key_index_name(table: &str) -> String {
    format!("{table}_encx_key")
}

/// `CREATE INDEX IF NOT EXISTS <table>_encx_key ON <table> (substr(encx_dek, 1, 18))`: the
/// key that wraps each record's DEK (the wrapped DEK's header), so that counting the rows not
/// under the active key reads the index, not the table. PostgreSQL and SQLite (expression
/// indexes); `None` on MySQL/MariaDB. Opt-in: every change of `encx_dek` (a rewrap) then also
/// writes this index, and on PostgreSQL no such update can be HOT.
pub fn key_index<T: Schema + ?Sized>(dialect: Dialect) -> Option<String> {
    let has_dek = T::columns()
        .iter()
        .any(|c| matches!(c.kind, ColumnKind::WrappedDek));
    (has_dek && dialect != Dialect::MySql).then(|| {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            quote_ident(dialect, &key_index_name(T::TABLE)),
            quote_ident(dialect, T::TABLE),
            key_prefix_expr(dialect)
        )
    })
}

/// `substr(encx_dek, 1, 18)`: the header of a wrapped DEK that names its key, as the key
/// index stores it (queries must spell it the same way to use the index).
pub fn key_prefix_expr(dialect: Dialect) -> String {
    format!(
        "substr({}, 1, {})",
        quote_ident(dialect, "encx_dek"),
        crate::KeyInUse::PREFIX_LEN
    )
}

/// `ALTER TABLE ... ADD COLUMN` statements that add `T`'s encx columns (ciphertexts, blind
/// indexes, `encx_dek`, all nullable) to an existing table, then an index per blind-index
/// column: the first step of a plaintext migration (see `docs/operations.md`). The id and
/// plain columns are expected to exist; an existing column holding an encrypted field's
/// plaintext under the same name must be renamed first.
///
/// ```
/// use encx::schema::{add_encrypted_columns, Column, ColumnKind, Dialect, Schema, SqlType};
/// struct Note;
/// impl Schema for Note {
///     const TABLE: &'static str = "notes";
///     fn columns() -> &'static [Column] {
///         const COLUMNS: &[Column] = &[
///             Column::new("id", ColumnKind::Id { sql_type: Some(<i64 as SqlType>::sql_type) }),
///             Column::new("body", ColumnKind::Ciphertext { nullable: false }),
///             Column::new("body_bidx", ColumnKind::BlindIndex { bytes: 4 }),
///             Column::new("encx_dek", ColumnKind::WrappedDek),
///         ];
///         COLUMNS
///     }
/// }
/// let sql = add_encrypted_columns::<Note>(Dialect::Postgres);
/// assert_eq!(sql[0], r#"ALTER TABLE "notes" ADD COLUMN "body" BYTEA NULL"#);
/// assert_eq!(sql.len(), 4);
/// ```
pub fn add_encrypted_columns<T: Schema + ?Sized>(dialect: Dialect) -> Vec<String> {
    add_stored_columns(dialect, T::TABLE, T::columns().iter())
}

/// `ALTER TABLE ... ADD COLUMN` statements for the named encx columns of `T` (ciphertexts,
/// blind indexes, Bloom filters, all nullable), then an index per blind-index column among
/// them: how a new searchable, prefix, suffix, contains or range index reaches a table that
/// already holds records. Then rotate the KEK and re-encrypt (`encx_sqlx::Repo::reencrypt`,
/// crash-safe and resumable) to fill them; see `docs/search.md`. An unknown name, or a
/// plain column, is a configuration error.
///
/// ```
/// use encx::schema::{add_columns, Column, ColumnKind, Dialect, Schema};
/// struct Note;
/// impl Schema for Note {
///     const TABLE: &'static str = "notes";
///     fn columns() -> &'static [Column] {
///         const COLUMNS: &[Column] = &[
///             Column::new("body", ColumnKind::Ciphertext { nullable: false }),
///             Column::new("body_prefix3_bidx", ColumnKind::BlindIndex { bytes: 2 }),
///             Column::new("encx_dek", ColumnKind::WrappedDek),
///         ];
///         COLUMNS
///     }
/// }
/// let sql = add_columns::<Note>(Dialect::Postgres, &["body_prefix3_bidx"])?;
/// assert_eq!(sql[0], r#"ALTER TABLE "notes" ADD COLUMN "body_prefix3_bidx" BYTEA NULL"#);
/// assert!(sql[1].starts_with("CREATE INDEX"));
/// assert!(add_columns::<Note>(Dialect::Postgres, &["nope"]).is_err());
/// # Ok::<(), encx::Error>(())
/// ```
pub fn add_columns<T: Schema + ?Sized>(dialect: Dialect, names: &[&str]) -> Result<Vec<String>> {
    let mut chosen = Vec::new();
    for name in names {
        let col = T::columns()
            .iter()
            .find(|c| c.name == *name)
            .ok_or_else(|| Error::config(format!("`{}` has no column `{name}`", T::TABLE)))?;
        if !matches!(
            col.kind,
            ColumnKind::Ciphertext { .. } | ColumnKind::Signature
        ) && !col.kind.is_search_index()
        {
            return Err(Error::config(format!(
                "column `{name}` is not a ciphertext, signature, blind index or Bloom filter: add it by hand"
            )));
        }
        chosen.push(col);
    }
    Ok(add_stored_columns(dialect, T::TABLE, chosen.into_iter()))
}

fn add_stored_columns<'a>(
    dialect: Dialect,
    table: &str,
    columns: impl Iterator<Item = &'a Column>,
) -> Vec<String> {
    let q = |name: &str| quote_ident(dialect, name);
    let mut out = Vec::new();
    let mut indexes = Vec::new();
    for col in columns {
        let ty = match col.kind {
            ColumnKind::Ciphertext { .. } | ColumnKind::Signature => bytes_type(dialect, None),
            ColumnKind::BlindIndex { bytes } => {
                indexes.push(col.name);
                bytes_type(dialect, Some(bytes))
            }
            ColumnKind::BloomFilter { bytes } => bytes_type(dialect, Some(bytes)),
            ColumnKind::WrappedDek => bytes_type(dialect, Some(2048)),
            _ => continue,
        };
        out.push(format!(
            "ALTER TABLE {} ADD COLUMN {} {ty} NULL",
            q(table),
            q(col.name)
        ));
    }
    for col in indexes {
        out.push(format!(
            "CREATE INDEX {} ON {} ({})",
            q(&format!("{table}_{col}")),
            q(table),
            q(col)
        ));
    }
    out
}

/// Autoref specialization used by generated code: the SQL type of a plain field when its type
/// implements [`SqlType`], `None` otherwise (so the derive works for any plain type).
#[doc(hidden)]
pub mod probe {
    use super::{Dialect, SqlType};
    use std::marker::PhantomData;

    /// Stands for the type `T` of a plain field.
    pub struct Probe<T>(PhantomData<fn() -> T>);

    impl<T> Probe<T> {
        /// A probe.
        pub const fn new() -> Self {
            Probe(PhantomData)
        }
    }

    impl<T> Default for Probe<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// Chosen when `T: SqlType`.
    pub trait ViaSqlType {
        /// `Some(T::sql_type)`.
        fn encx_sql_type(&self) -> Option<fn(Dialect) -> &'static str>;
        /// `T::NULLABLE`.
        fn encx_nullable(&self) -> bool;
    }

    impl<T: SqlType> ViaSqlType for Probe<T> {
        fn encx_sql_type(&self) -> Option<fn(Dialect) -> &'static str> {
            Some(T::sql_type)
        }
        fn encx_nullable(&self) -> bool {
            T::NULLABLE
        }
    }

    /// Chosen otherwise.
    pub trait ViaFallback {
        /// `None`.
        fn encx_sql_type(&self) -> Option<fn(Dialect) -> &'static str>;
        /// Set by the derive from the field's syntax instead.
        fn encx_nullable(&self) -> bool;
    }

    impl<T> ViaFallback for &Probe<T> {
        fn encx_sql_type(&self) -> Option<fn(Dialect) -> &'static str> {
            None
        }
        fn encx_nullable(&self) -> bool {
            false
        }
    }
}
