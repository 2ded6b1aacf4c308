#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Helpers shared by the databases are dead in a build with only some of them.
#![cfg_attr(
    not(all(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code)
)]

use tokio::sync::OnceCell;

pub use encx::testing::{insecure_test_password_policy, throwaway_crypto, throwaway_crypto_in};

#[cfg(feature = "containers")]
mod containers;
#[cfg(feature = "aws-kms")]
mod kms;

#[cfg(feature = "containers")]
pub use containers::{MARIADB_IMAGE, MOTO_IMAGE, PG_IMAGE};
#[cfg(feature = "aws-kms")]
pub use kms::{kms_endpoint, kms_keyring, test_credentials, KmsKey};

/// Removes every container this process started. Containers kept in statics are never
/// dropped, so a test binary calls this once its tests are done (encx's own harness does);
/// otherwise they outlive the process. Without feature `containers` there are none.
pub async fn stop_containers() {
    #[cfg(feature = "containers")]
    containers::stop().await;
}

/// What went wrong while providing a test service.
#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl Error {
    fn new(what: impl std::fmt::Display) -> Self {
        Error(what.to_string())
    }
}

/// A database server kind that tests can get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    /// PostgreSQL: `ENCX_TEST_POSTGRES_URL`, else a `postgres` container.
    Postgres,
    /// MariaDB (or MySQL): `ENCX_TEST_MYSQL_URL`, else a `mariadb` container.
    MariaDb,
}

impl Server {
    /// The environment variable that names an existing server (an account allowed to create
    /// databases).
    pub fn env_var(self) -> &'static str {
        match self {
            Server::Postgres => "ENCX_TEST_POSTGRES_URL",
            Server::MariaDb => "ENCX_TEST_MYSQL_URL",
        }
    }
}

/// Whether a Docker engine answers (not just the client being installed).
pub async fn docker_available() -> bool {
    static DOCKER: OnceCell<bool> = OnceCell::const_new();
    *DOCKER
        .get_or_init(|| async {
            tokio::process::Command::new("docker")
                .args(["info", "--format", "{{.ServerVersion}}"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success())
        })
        .await
}

/// The admin URL of a server: from its environment variable, else (feature `containers`) from
/// a container started once per process (removed by [`stop_containers`]), else `None`.
pub async fn server_url(server: Server) -> Option<String> {
    if let Ok(url) = std::env::var(server.env_var()) {
        return Some(url);
    }
    #[cfg(feature = "containers")]
    {
        if !docker_available().await {
            return None;
        }
        static PG: OnceCell<Option<String>> = OnceCell::const_new();
        static MARIA: OnceCell<Option<String>> = OnceCell::const_new();
        let cell = match server {
            Server::Postgres => &PG,
            Server::MariaDb => &MARIA,
        };
        cell.get_or_init(|| containers::start(server)).await.clone()
    }
    #[cfg(not(feature = "containers"))]
    None
}

/// A database made for one test, with encx's migrations run. Call [`cleanup`](Self::cleanup)
/// at the end of the test to drop it.
pub struct TestDatabase<DB: sqlx::Database> {
    /// A pool on the database.
    pub pool: sqlx::Pool<DB>,
    /// Its URL.
    pub url: String,
    drop_sql: Option<(Server, String, String)>,
    file: Option<std::path::PathBuf>,
}

impl<DB: sqlx::Database> std::fmt::Debug for TestDatabase<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("database", &DB::NAME)
            .finish_non_exhaustive()
    }
}

impl<DB: sqlx::Database> TestDatabase<DB> {
    /// Closes the pool and drops the database (or deletes the SQLite file).
    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Some((server, admin, sql)) = self.drop_sql {
            let _ = admin_execute(server, &admin, &sql).await;
        }
        if let Some(file) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

fn fresh_name() -> String {
    format!("encx_t_{}", uuid::Uuid::new_v4().simple())
}

async fn admin_execute(server: Server, admin: &str, sql: &str) -> Result<(), sqlx::Error> {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    use sqlx::{Connection, Executor};
    match server {
        #[cfg(feature = "postgres")]
        Server::Postgres => sqlx::PgConnection::connect(admin)
            .await?
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map(drop),
        #[cfg(feature = "mysql")]
        Server::MariaDb => sqlx::MySqlConnection::connect(admin)
            .await?
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .map(drop),
        #[allow(unreachable_patterns)]
        other => {
            let _ = (admin, sql);
            Err(sqlx::Error::Configuration(
                format!("encx-test was built without {other:?} support").into(),
            ))
        }
    }
}

/// A fresh database on `server`: its URL and how to drop it.
async fn fresh_database(server: Server) -> Result<(String, (Server, String, String)), Error> {
    let admin = server_url(server).await.ok_or_else(|| {
        Error::new(format!(
            "no {server:?} server: set {} or run a Docker engine",
            server.env_var()
        ))
    })?;
    let name = fresh_name();
    admin_execute(server, &admin, &format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| Error::new(format!("cannot create a database on {server:?}: {e}")))?;
    let drop = match server {
        Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        Server::MariaDb => format!("DROP DATABASE IF EXISTS {name}"),
    };
    Ok((with_database(&admin, &name), (server, admin, drop)))
}

/// Replaces the database of a server URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let root = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && base[..i].rfind('/').is_some_and(|j| j + 1 < i) => {
            &base[..i]
        }
        _ => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A fresh database on `server`, pooled and migrated.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn server_database<DB: encx_sqlx::EncxDatabase>(
    server: Server,
) -> Result<TestDatabase<DB>, Error> {
    let (url, drop_sql) = fresh_database(server).await?;
    let pool = sqlx::pool::PoolOptions::<DB>::new()
        .max_connections(8)
        .connect(&url)
        .await
        .map_err(Error::new)?;
    encx_sqlx::migrate(&pool).await.map_err(Error::new)?;
    Ok(TestDatabase {
        pool,
        url,
        drop_sql: Some(drop_sql),
        file: None,
    })
}

/// A fresh PostgreSQL database with encx's tables (`encx_sqlx::migrate`).
#[cfg(feature = "postgres")]
pub async fn postgres() -> Result<TestDatabase<sqlx::Postgres>, Error> {
    server_database(Server::Postgres).await
}

/// A fresh MariaDB/MySQL database with encx's tables.
#[cfg(feature = "mysql")]
pub async fn mariadb() -> Result<TestDatabase<sqlx::MySql>, Error> {
    server_database(Server::MariaDb).await
}

/// A fresh SQLite database in a temporary file, with encx's tables. Always available.
#[cfg(feature = "sqlite")]
pub async fn sqlite() -> Result<TestDatabase<sqlx::Sqlite>, Error> {
    let file = std::env::temp_dir().join(format!("{}.db", fresh_name()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
        .map_err(Error::new)?
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(30));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(Error::new)?;
    encx_sqlx::migrate(&pool).await.map_err(Error::new)?;
    Ok(TestDatabase {
        pool,
        url,
        drop_sql: None,
        file: Some(file),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("mysql://u@h:3306/test?ssl-mode=disabled", "x"),
            "mysql://u@h:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("mysql://u@h:3306", "x"), "mysql://u@h:3306/x");
    }
}
