//! The test harness shared by every integration test.
//!
//! A service comes, in this order, from:
//! 1. an environment variable: `ENCX_TEST_POSTGRES_URL`, `ENCX_TEST_MYSQL_URL` (an account
//!    allowed to create databases), `ENCX_TEST_KMS_ENDPOINT`;
//! 2. a testcontainers container, when a Docker engine answers;
//! 3. nowhere: the test is reported as **ignored** in the summary line of `cargo test` (the
//!    integration tests run under [`run`], a libtest-mimic harness that probes each service
//!    before the tests start), unless `ENCX_REQUIRE_SERVICES=1`, which turns the missing
//!    service into a failure (CI sets it).
//!
//! Each test gets a database of its own (created here, dropped by [`TestDb::cleanup`]), so tests
//! run in parallel. SQLite always runs, on a temporary file.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use sqlx::{Connection, Executor};
use tokio::sync::OnceCell;

/// True when `ENCX_REQUIRE_SERVICES=1`.
pub fn services_required() -> bool {
    std::env::var("ENCX_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Reports a missing service: SKIPPED, or a panic when services are required.
pub fn skip(test: &str, service: &str, how: &str) {
    if services_required() {
        panic!("{test}: {service} is required (ENCX_REQUIRE_SERVICES=1) but unavailable: {how}");
    }
    eprintln!("SKIPPED {test}: no {service} ({how})");
}

/// What an integration test needs to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// A PostgreSQL server.
    Postgres,
    /// A MySQL or MariaDB server.
    MySql,
    /// SQLite (always there).
    Sqlite,
    /// The AWS KMS API (moto).
    Kms,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::MySql => "MySQL/MariaDB",
            Service::Sqlite => "SQLite",
            Service::Kms => "AWS KMS API",
        }
    }

    fn how(self) -> &'static str {
        match self {
            Service::Postgres => "set ENCX_TEST_POSTGRES_URL or run a Docker engine",
            Service::MySql => "set ENCX_TEST_MYSQL_URL or run a Docker engine",
            Service::Sqlite => "",
            Service::Kms => {
                "set ENCX_TEST_KMS_ENDPOINT or put moto_server (pip install 'moto[server]') on PATH"
            }
        }
    }

    /// Finds (or starts) the service; true when it answers.
    async fn probe(self) -> bool {
        match self {
            Service::Postgres => admin_url(Backend::Postgres).await.is_some(),
            Service::MySql => admin_url(Backend::MySql).await.is_some(),
            Service::Sqlite => true,
            Service::Kms => kms_endpoint_probe().await.is_some(),
        }
    }
}

/// The body of one integration test.
pub type TestFn = fn() -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// One integration test: its name, the service it needs, its body.
pub struct Test {
    pub name: String,
    pub service: Service,
    pub run: TestFn,
}

/// `test_case!(Service::Postgres, "postgres::name", path::to::async_fn)`.
#[macro_export]
macro_rules! test_case {
    ($service:expr, $name:expr, $f:path) => {
        $crate::Test {
            name: ($name).to_string(),
            service: $service,
            run: || ::std::boxed::Box::pin($f()),
        }
    };
}

/// The runtime every integration test runs on (one per test process, so that containers and
/// emulators started while probing stay served).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Runs `tests` as a libtest-compatible test binary (filters and flags as `cargo test`).
///
/// Each service the selected tests need is probed once first. A test whose service is missing
/// is reported **ignored** in the summary line, never `ok`; with `ENCX_REQUIRE_SERVICES=1` it
/// fails instead.
pub fn run(tests: Vec<Test>) -> std::process::ExitCode {
    let args = libtest_mimic::Arguments::from_args();
    let mut needed: Vec<Service> = Vec::new();
    for t in &tests {
        if !needed.contains(&t.service) {
            needed.push(t.service);
        }
    }
    let available: HashMap<Service, bool> = runtime().block_on(async {
        let mut out = HashMap::new();
        for service in needed {
            out.insert(service, service.probe().await);
        }
        out
    });
    let mut counts: Vec<(Service, usize)> = Vec::new();
    for t in &tests {
        match counts.iter_mut().find(|(s, _)| *s == t.service) {
            Some((_, n)) => *n += 1,
            None => counts.push((t.service, 1)),
        }
    }
    for (service, n) in &counts {
        let state = if available[service] {
            "available"
        } else if services_required() {
            "MISSING (required: these tests fail)"
        } else {
            "missing: these tests are reported ignored"
        };
        eprintln!(
            "encx integration tests: {n} need {} — {state}",
            service.name()
        );
    }
    let trials = tests
        .into_iter()
        .map(|t| {
            let kind = t.service.name();
            if available[&t.service] {
                let run = t.run;
                libtest_mimic::Trial::test(t.name, move || {
                    runtime().block_on(run());
                    Ok(())
                })
                .with_kind(kind)
            } else if services_required() {
                let message = format!(
                    "{} is required (ENCX_REQUIRE_SERVICES=1) but unavailable: {}",
                    t.service.name(),
                    t.service.how()
                );
                libtest_mimic::Trial::test(t.name, move || Err(message.into())).with_kind(kind)
            } else {
                libtest_mimic::Trial::test(t.name, || Ok(()))
                    .with_kind(kind)
                    .with_ignored_flag(true)
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    MySql,
}

impl Backend {
    fn env_var(self) -> &'static str {
        match self {
            Backend::Postgres => "ENCX_TEST_POSTGRES_URL",
            Backend::MySql => "ENCX_TEST_MYSQL_URL",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MySQL/MariaDB",
        }
    }
}

/// The admin URL of a backend: from the environment, or a container started once per process.
async fn admin_url(backend: Backend) -> Option<String> {
    if let Ok(url) = std::env::var(backend.env_var()) {
        return Some(url);
    }
    if !docker_available().await {
        return None;
    }
    static PG: OnceCell<Option<String>> = OnceCell::const_new();
    static MY: OnceCell<Option<String>> = OnceCell::const_new();
    let cell = if backend == Backend::Postgres {
        &PG
    } else {
        &MY
    };
    cell.get_or_init(|| containers::start(backend))
        .await
        .clone()
}

mod containers {
    use super::Backend;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::ContainerAsync;
    use testcontainers_modules::{mysql, postgres};

    // Containers live as long as the test process.
    static KEEP_PG: std::sync::OnceLock<ContainerAsync<postgres::Postgres>> =
        std::sync::OnceLock::new();
    static KEEP_MY: std::sync::OnceLock<ContainerAsync<mysql::Mysql>> = std::sync::OnceLock::new();

    pub async fn start(backend: Backend) -> Option<String> {
        match backend {
            Backend::Postgres => {
                let c = postgres::Postgres::default().start().await.ok()?;
                let port = c.get_host_port_ipv4(5432).await.ok()?;
                let _ = KEEP_PG.set(c);
                Some(format!(
                    "postgres://postgres:postgres@127.0.0.1:{port}/postgres"
                ))
            }
            Backend::MySql => {
                let c = mysql::Mysql::default().start().await.ok()?;
                let port = c.get_host_port_ipv4(3306).await.ok()?;
                let _ = KEEP_MY.set(c);
                Some(format!("mysql://root@127.0.0.1:{port}/test"))
            }
        }
    }
}

fn fresh_name() -> String {
    format!("encx_t_{}", uuid::Uuid::new_v4().simple())
}

/// A database made for one test.
pub struct TestDb<DB: sqlx::Database> {
    pub pool: sqlx::Pool<DB>,
    pub url: String,
    drop_sql: Option<(Backend, String, String)>,
    file: Option<std::path::PathBuf>,
}

/// Runs one statement on a server's admin connection.
async fn admin_execute(backend: Backend, admin: &str, sql: &str) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Postgres => sqlx::PgConnection::connect(admin)
            .await?
            .execute(sql)
            .await
            .map(drop),
        Backend::MySql => sqlx::MySqlConnection::connect(admin)
            .await?
            .execute(sql)
            .await
            .map(drop),
    }
}

/// A database of its own on a server backend: its URL, and the statement that drops it.
async fn fresh_server_database(
    test: &str,
    backend: Backend,
) -> Option<(String, (Backend, String, String))> {
    let Some(admin) = admin_url(backend).await else {
        let how = format!("set {} or run a Docker engine", backend.env_var());
        skip(test, backend.name(), &how);
        return None;
    };
    let name = fresh_name();
    admin_execute(backend, &admin, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{test}: cannot create a database on {}: {e}",
                backend.name()
            )
        });
    let drop = match backend {
        Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        Backend::MySql => format!("DROP DATABASE IF EXISTS {name}"),
    };
    Some((with_database(&admin, &name), (backend, admin, drop)))
}

impl<DB: sqlx::Database> TestDb<DB> {
    /// Drops the test's database (call at the end of a passing test).
    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Some((backend, admin, sql)) = self.drop_sql {
            let _ = admin_execute(backend, &admin, &sql).await;
        }
        if let Some(file) = self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

fn with_database(url: &str, db: &str) -> String {
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

/// A fresh PostgreSQL database, or `None` (after a SKIPPED line) when there is no server.
pub async fn postgres(test: &str) -> Option<TestDb<sqlx::Postgres>> {
    let (url, drop_sql) = fresh_server_database(test, Backend::Postgres).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    Some(TestDb {
        pool,
        url,
        drop_sql: Some(drop_sql),
        file: None,
    })
}

/// A fresh MySQL/MariaDB database, or `None` (after a SKIPPED line) when there is no server.
pub async fn mysql(test: &str) -> Option<TestDb<sqlx::MySql>> {
    let (url, drop_sql) = fresh_server_database(test, Backend::MySql).await?;
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await
        .unwrap();
    Some(TestDb {
        pool,
        url,
        drop_sql: Some(drop_sql),
        file: None,
    })
}

/// A fresh SQLite database in a temporary file (always available).
pub async fn sqlite(_test: &str) -> Option<TestDb<sqlx::Sqlite>> {
    let file = std::env::temp_dir().join(format!("{}.db", fresh_name()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(30));
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    Some(TestDb {
        pool,
        url,
        drop_sql: None,
        file: Some(file),
    })
}

/// A KMS endpoint: `ENCX_TEST_KMS_ENDPOINT`, or a `moto_server` started once per test process
/// when one is on `PATH`, or `None` after a SKIPPED line (a panic with
/// `ENCX_REQUIRE_SERVICES=1`).
pub async fn kms_endpoint(test: &str) -> Option<String> {
    let found = kms_endpoint_probe().await;
    if found.is_none() {
        skip(test, Service::Kms.name(), Service::Kms.how());
    }
    found
}

/// [`kms_endpoint`] without the report.
async fn kms_endpoint_probe() -> Option<String> {
    if let Ok(url) = std::env::var("ENCX_TEST_KMS_ENDPOINT") {
        return Some(url);
    }
    static MOTO: OnceCell<Option<String>> = OnceCell::const_new();
    MOTO.get_or_init(start_moto).await.clone()
}

/// Starts `moto_server` on a free loopback port, under a shell that stops it when this test
/// process exits, and waits until it answers.
async fn start_moto() -> Option<String> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join("moto_server").is_file()))
        .unwrap_or(false);
    if !found {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let watchdog = format!(
        "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $m",
        parent = std::process::id()
    );
    std::process::Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(format!("http://127.0.0.1:{port}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    None
}

/// A TCP proxy on loopback in front of `upstream` that a test can switch off, to stand for a
/// KMS endpoint going down.
pub struct Proxy {
    pub url: String,
    tasks: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let set = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                set.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { url, tasks, accept }
    }

    /// Stops listening and cuts every open connection.
    pub fn stop(&self) {
        self.accept.abort();
        self.tasks.lock().unwrap().abort_all();
    }
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
