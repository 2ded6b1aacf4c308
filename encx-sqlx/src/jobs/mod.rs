//! The jobs that rewrite stored rows, and why they are safe to run beside the application, in
//! several workers, and again after a crash.
//!
//! [`Repo::rewrap`](crate::Repo::rewrap): after a KEK rotation, re-wrap every record's DEK
//! under the active key, in batches, touching nothing but `encx_dek`;
//! [`Repo::reencrypt`](crate::Repo::reencrypt): the same walk, encrypting each record anew
//! (fresh DEK, blind indexes under the active index key version).
//!
//! The database finds the rows to do: those whose wrapped DEK does not start with the active
//! key's header (format, kind, key id; data subjects' rows aside). A worker takes them a page
//! at a time, in id order, each page in one transaction that locks its rows (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL and MySQL/MariaDB), re-wraps them and writes them back with
//! compare-and-swap `UPDATE`s, `encx_dek` only. So:
//!
//! - **several workers** (tasks, processes, machines) can run the same job at once: each skips
//!   the rows another holds, and no row is re-wrapped twice;
//! - **a worker that dies** (even `kill -9`) loses only its open transaction; its rows are free
//!   again once the database rolls it back, and every worker ends with a sweep from the start
//!   that waits for held rows, so none is missed;
//! - **a second run** finds nothing to do; a writer that updates, erases or deletes a row
//!   during the job wins.
//!
//! SQLite has one writer at a time: run one worker there.
//!
//! ## Plaintext migration
//!
//! [`Repo::migrate`](crate::Repo::migrate) encrypts the rows of a table that existed before
//! encx from their plaintext columns into encx's columns; [`Repo::verify`](crate::Repo::verify)
//! decrypts every migrated row and compares it with its plaintext.
//!
//! `migrate` walks the unmigrated rows exactly as `rewrap` walks the rows under an old key: a
//! page at a time in id order, each page in one transaction that locks its rows (`FOR UPDATE
//! SKIP LOCKED` on PostgreSQL and MySQL/MariaDB, `BEGIN IMMEDIATE` on SQLite), written back with
//! one `UPDATE` per few hundred rows that only touches rows still unmigrated. So it is
//! resumable (a killed run loses its open transaction only), idempotent (a second run finds
//! nothing), shareable by several workers, and never overwrites a row the application wrote
//! meanwhile. The plaintext columns are left as they are: dropping them is the operator's own
//! DDL, after `verify`.

pub(crate) mod described;
pub(crate) mod encx_tables;
pub(crate) mod plaintext;
pub mod registry;
pub(crate) mod rewrap;
pub(crate) mod walk;

pub use crate::progress::RewrapProgress;
pub use plaintext::VerifyReport;
