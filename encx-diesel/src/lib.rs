//! encx for Diesel 2: encrypted and blind-indexed fields on Diesel rows and `table!`
//! schemas, stored in the same bytes, under the same keys, and served by the same jobs and
//! `encx` CLI as encx-sqlx.
//!
//! Mark the type as for encx-sqlx and add `#[encx(diesel(table = schema::users))]`: the
//! derive also generates `UserRow` (`Queryable`, `Selectable`, `Insertable`, `AsChangeset`,
//! `Identifiable` for that table) and `UserErasure`. [`Encx`] turns values into rows and rows
//! back into values; the queries are Diesel's own, inside `conn.transaction(...)` or not.
//!
//! ```ignore
//! let row = encx.encrypt(&user)?;                              // fresh data key
//! diesel::insert_into(users::table).values(&row).execute(conn)?;
//! let rows: Vec<UserRow> = users::table
//!     .filter(users::email_bidx.eq_any(encx.blind_indexes(User::EMAIL, "ada@example.com")?))
//!     .select(UserRow::as_select())
//!     .load(conn)?;
//! let found = encx.recheck(User::EMAIL, "ada@example.com", rows)?.found;
//! diesel::update(users::table.find(id)).set(&encx.erasure::<User>()).execute(conn)?; // shred
//! ```
//!
//! **Keys without blocking.** Diesel is synchronous and encx's key loads are async (the KMS,
//! encx's key table through sqlx). With the keys in memory (the KEK cache and the index key,
//! loaded once per process and per rotation), every call finishes on its first poll and
//! never touches a runtime. A cold load (process start, a new KEK, a cache expiry) waits on
//! the runtime given to [`Encx::new`]: from a plain thread (an r2d2 worker,
//! `spawn_blocking`) with `Handle::block_on`, from a multi-thread runtime's worker inside
//! `block_in_place`. Call Diesel from `spawn_blocking` in async code, as Diesel advises.
//!
//! A runnable tour is `examples/diesel.rs`; docs/diesel.md explains the design.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod handle;
mod row;
mod wait;

pub use diesel;
pub use encx_sqlx::{Lookup, RejectedRow};
pub use error::{Error, Result};
pub use handle::Encx;
pub use row::{DieselEncrypted, RowOf};
