//! [`Lookup`]: what a search found, and which candidate rows it refused.
//!
//! A search by blind index decrypts every candidate row to re-check it. A row whose stored
//! bytes fail an integrity check (tampered ciphertext, edited `encx_dek`, unknown format) is
//! never returned, and never hides the other matches: it is reported here, and logged as a
//! `tracing` event at `warn` level with the table and record id. Otherwise a database writer
//! could make any value unfindable by corrupting one row that shares its index bucket.

use std::fmt;

/// The result of [`Repo::find_by_report`](crate::Repo::find_by_report) and
/// [`Repo::find_by_index_report`](crate::Repo::find_by_index_report).
///
/// ```
/// let lookup: encx_sqlx::Lookup<String> = encx_sqlx::Lookup::default();
/// assert!(lookup.found.is_empty() && lookup.is_clean());
/// ```
#[derive(Debug)]
pub struct Lookup<T> {
    /// The records that matched, decrypted and re-checked.
    pub found: Vec<T>,
    /// Candidate rows refused because their stored bytes failed an integrity check. They may
    /// or may not have matched: nobody can tell without their key.
    pub rejected: Vec<RejectedRow>,
    /// Rows the index selected, before the re-check: `found`, `rejected`, erased rows and
    /// false positives (rows that share an index value with the search, but do not match).
    pub candidates: usize,
}

impl<T> Default for Lookup<T> {
    fn default() -> Self {
        Lookup {
            found: Vec::new(),
            rejected: Vec::new(),
            candidates: 0,
        }
    }
}

impl<T> Lookup<T> {
    /// True when no candidate row was refused.
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty()
    }

    /// Sorts one candidate of a blind-index search, as every search of encx does (`Repo` and
    /// the ORM adapters): `decrypted` is kept when it `matches` (the re-check), skipped when
    /// its key was erased, refused and logged when it fails an integrity check (`record`
    /// names it: `table` and its printed id); any other error (a missing key, a KMS outage)
    /// is returned, and ends the search.
    ///
    /// ```
    /// let mut lookup = encx_sqlx::Lookup::default();
    /// lookup.sort("users", || "1".into(), Ok(5), |n| *n > 3).unwrap();
    /// lookup.sort("users", || "2".into(), Ok(2), |n| *n > 3).unwrap();
    /// assert_eq!(lookup.found, vec![5]);
    /// assert_eq!(lookup.candidates, 2);
    /// ```
    pub fn sort(
        &mut self,
        table: &'static str,
        record: impl FnOnce() -> String,
        decrypted: encx::Result<T>,
        matches: impl FnOnce(&T) -> bool,
    ) -> encx::Result<()> {
        self.candidates += 1;
        match decrypted {
            Ok(value) if matches(&value) => self.found.push(value),
            Ok(_) => {}
            // Erased (alone or with its data subject): never returned.
            Err(error) if error.is_shredded() => {}
            Err(error) if error.is_tampered() => {
                let rejected = RejectedRow {
                    table,
                    record: record(),
                    error,
                };
                rejected.log();
                self.rejected.push(rejected);
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }
}

/// A candidate row that failed an integrity check during a search.
pub struct RejectedRow {
    /// Its table.
    pub table: &'static str,
    /// Its record id, as printed (read from the plain id column).
    pub record: String,
    /// Why it was refused; [`encx::Error::is_tampered`] is true.
    pub error: encx::Error,
}

impl fmt::Debug for RejectedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectedRow")
            .field("table", &self.table)
            .field("record", &self.record)
            .field("error", &self.error)
            .finish()
    }
}

impl RejectedRow {
    /// Logs the refusal (`tracing`, level `warn`, target `encx_sqlx::integrity`).
    pub(crate) fn log(&self) {
        tracing::warn!(
            target: "encx_sqlx::integrity",
            table = self.table,
            record = %self.record,
            error = %self.error,
            "refused a row that failed an integrity check"
        );
    }
}
