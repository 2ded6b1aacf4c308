//! How the `encx` CLI reaches a database: the URL's scheme, one connection tried under a
//! timeout (so that a refused or silent port answers with its host and cause, not "pool timed
//! out"), the exit code of a database error, and a look at encx's own tables before anything
//! is created.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Pool};

use super::answer::{config, exit_code, Failure};
use encx_sqlx::EncxDatabase;
use encx_sqlx::Registry;

/// The database engines the CLI speaks, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `postgres://`, `postgresql://`.
    Postgres,
    /// `mysql://`, `mariadb://`.
    MySql,
    /// `sqlite:`.
    Sqlite,
}

impl Scheme {
    /// The engine of `url`; a configuration failure (exit 3) for any other text.
    pub(crate) fn of(url: &str) -> Result<Scheme, Failure> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let scheme = match scheme.as_deref() {
            Some("postgres" | "postgresql") => Scheme::Postgres,
            Some("mysql" | "mariadb") => Scheme::MySql,
            Some("sqlite") => Scheme::Sqlite,
            _ => {
                return Err(config(format!(
                    "unsupported database URL `{}`: give postgres://, mysql:// or sqlite://",
                    redact(url)
                )))
            }
        };
        if !scheme.built() {
            return Err(config(format!(
                "this build of encx has no {scheme:?} support: rebuild it with the encx-cli \
                 feature `{}`",
                scheme.feature()
            )));
        }
        Ok(scheme)
    }

    /// The encx-cli feature that compiles this engine's driver in.
    pub fn feature(self) -> &'static str {
        match self {
            Scheme::Postgres => "postgres",
            Scheme::MySql => "mysql",
            Scheme::Sqlite => "sqlite",
        }
    }

    /// Whether this build has the engine's driver (its [`feature`](Scheme::feature) is on).
    pub fn built(self) -> bool {
        match self {
            Scheme::Postgres => cfg!(feature = "postgres"),
            Scheme::MySql => cfg!(feature = "mysql"),
            Scheme::Sqlite => cfg!(feature = "sqlite"),
        }
    }
}

/// `url` with its password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = match user.split_once(':') {
                Some((name, _)) => format!("{name}:***"),
                None => user.to_owned(),
            };
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// A failure to reach or use the database at `url`, with its host and cause.
pub(crate) fn failure(url: &str, e: &sqlx::Error) -> Failure {
    let cause = match e {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    };
    Failure {
        code: exit_code(e),
        message: format!("database {}: {cause}", redact(url)),
    }
}

/// A pool for `url` whose connections are given up after `timeout`, once one connection was
/// made: a refused, silent or misnamed database fails here with its cause.
pub(crate) async fn connect<DB: EncxDatabase>(
    url: &str,
    timeout: Duration,
) -> Result<Pool<DB>, Failure> {
    let tried = tokio::time::timeout(timeout, <DB as sqlx::Database>::Connection::connect(url));
    match tried.await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(e)) => return Err(failure(url, &e)),
        Err(_) => {
            return Err(Failure {
                code: 6,
                message: format!(
                    "database {}: no answer within {} s (--connect-timeout)",
                    redact(url),
                    timeout.as_secs_f32()
                ),
            })
        }
    }
    PoolOptions::<DB>::new()
        .acquire_timeout(timeout)
        .connect_lazy(url)
        .map_err(|e| failure(url, &e))
}

/// One database the CLI looked at: encx's own tables there, and what registers them.
pub(crate) struct Looked {
    /// Rows of `encx_keks`; `None` when the table does not exist.
    pub(crate) key_rows: Option<u64>,
    tables: Box<dyn FnOnce(Registry) -> Registry + Send>,
}

impl Looked {
    /// `registry` checking this database's encx tables ([`Registry::encx_tables`]).
    pub(crate) fn register(self, registry: Registry) -> Registry {
        (self.tables)(registry)
    }
}

/// Connects to `url` and reads what encx tables it holds, creating nothing.
pub(crate) async fn look(url: &str, timeout: Duration) -> Result<Looked, Failure> {
    match Scheme::of(url)? {
        #[cfg(feature = "postgres")]
        Scheme::Postgres => look_in::<sqlx::Postgres>(url, timeout).await,
        #[cfg(feature = "mysql")]
        Scheme::MySql => look_in::<sqlx::MySql>(url, timeout).await,
        #[cfg(feature = "sqlite")]
        Scheme::Sqlite => look_in::<sqlx::Sqlite>(url, timeout).await,
        // `Scheme::of` refuses an engine this build has no driver for.
        #[allow(unreachable_patterns)]
        other => Err(config(format!("no {other:?} support in this build"))),
    }
}

async fn look_in<DB: EncxDatabase>(url: &str, timeout: Duration) -> Result<Looked, Failure> {
    let pool = connect::<DB>(url, timeout).await?;
    let key_rows = encx_sqlx::kek_rows(&pool).await.map_err(|e| match e {
        encx_sqlx::Error::Database(e) => failure(url, &e),
        other => Failure::from(other),
    })?;
    Ok(Looked {
        key_rows,
        tables: Box::new(move |registry: Registry| registry.encx_tables(pool)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://ops:s3cret@db.internal:5432/app"),
            "postgres://ops:***@db.internal:5432/app"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(redact("sqlite://app.db"), "sqlite://app.db");
        assert_eq!(redact("not a url"), "not a url");
    }

    #[test]
    fn only_the_three_engines_are_accepted() {
        assert_eq!(Scheme::of("postgresql://x/y").ok(), Some(Scheme::Postgres));
        assert_eq!(Scheme::of("mariadb://x/y").ok(), Some(Scheme::MySql));
        assert_eq!(Scheme::of("sqlite::memory:").ok(), Some(Scheme::Sqlite));
        for bad in ["bogus://x", "not a url", "", "http://example.invalid"] {
            let refused = Scheme::of(bad).err().map(|f| f.code);
            assert_eq!(refused, Some(3), "{bad:?}");
        }
    }

    #[test]
    fn errors_retrying_cannot_mend_are_configuration() {
        assert_eq!(exit_code(&sqlx::Error::PoolTimedOut), 6);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(exit_code(&sqlx::Error::Io(refused)), 6);
        assert_eq!(exit_code(&sqlx::Error::Configuration("bad".into())), 3);
    }
}
