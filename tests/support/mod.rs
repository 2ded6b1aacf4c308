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

    /// Where the service comes from, for the run's log.
    async fn source(self) -> String {
        let from_env = |var: &str| std::env::var(var).is_ok().then(|| format!("from {var}"));
        let container = |(name, tag): (&str, &str)| format!("testcontainers, {name}:{tag}");
        let docker = encx_test::docker_available().await;
        match self {
            Service::Postgres => {
                from_env("ENCX_TEST_POSTGRES_URL").unwrap_or_else(|| container(encx_test::PG_IMAGE))
            }
            Service::MySql => from_env("ENCX_TEST_MYSQL_URL")
                .unwrap_or_else(|| container(encx_test::MARIADB_IMAGE)),
            Service::Sqlite => "temporary files".into(),
            Service::Kms => from_env("ENCX_TEST_KMS_ENDPOINT").unwrap_or_else(|| {
                if docker {
                    container(encx_test::MOTO_IMAGE)
                } else {
                    "moto_server on PATH".into()
                }
            }),
        }
    }

    /// Finds (or starts) the service; true when it answers.
    async fn probe(self) -> bool {
        match self {
            Service::Postgres => encx_test::server_url(encx_test::Server::Postgres)
                .await
                .is_some(),
            Service::MySql => encx_test::server_url(encx_test::Server::MariaDb)
                .await
                .is_some(),
            Service::Sqlite => true,
            Service::Kms => encx_test::kms_endpoint().await.is_some(),
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
    let (available, sources): (HashMap<Service, bool>, HashMap<Service, String>) = runtime()
        .block_on(async {
            let (mut up, mut from) = (HashMap::new(), HashMap::new());
            for service in needed {
                up.insert(service, service.probe().await);
                from.insert(service, service.source().await);
            }
            (up, from)
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
            format!("available ({})", sources[service])
        } else if services_required() {
            "MISSING (required: these tests fail)".to_owned()
        } else {
            "missing: these tests are reported ignored".to_owned()
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
    let conclusion = libtest_mimic::run(&args, trials);
    // Containers are kept in statics for the whole run: remove them now, so none outlives it.
    runtime().block_on(encx_test::stop_containers());
    conclusion.exit_code()
}

/// A database made for one test (with encx's tables), from `encx-test`.
pub type TestDb<DB> = encx_test::TestDatabase<DB>;

/// A fresh database of `server`, or `None` after reporting the missing service.
async fn server_database<DB: sqlx::Database, F>(
    test: &str,
    server: encx_test::Server,
    service: Service,
    make: impl FnOnce() -> F,
) -> Option<TestDb<DB>>
where
    F: Future<Output = Result<TestDb<DB>, encx_test::Error>>,
{
    if encx_test::server_url(server).await.is_none() {
        skip(test, service.name(), service.how());
        return None;
    }
    Some(make().await.unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// A fresh PostgreSQL database, or `None` (after a SKIPPED line) when there is no server.
pub async fn postgres(test: &str) -> Option<TestDb<sqlx::Postgres>> {
    server_database(
        test,
        encx_test::Server::Postgres,
        Service::Postgres,
        encx_test::postgres,
    )
    .await
}

/// A fresh MySQL/MariaDB database, or `None` (after a SKIPPED line) when there is no server.
pub async fn mysql(test: &str) -> Option<TestDb<sqlx::MySql>> {
    server_database(
        test,
        encx_test::Server::MariaDb,
        Service::MySql,
        encx_test::mariadb,
    )
    .await
}

/// A fresh SQLite database in a temporary file (always available).
pub async fn sqlite(test: &str) -> Option<TestDb<sqlx::Sqlite>> {
    Some(
        encx_test::sqlite()
            .await
            .unwrap_or_else(|e| panic!("{test}: {e}")),
    )
}

/// A KMS endpoint (see `encx_test::kms_endpoint`), or `None` after a SKIPPED line (a panic
/// with `ENCX_REQUIRE_SERVICES=1`).
pub async fn kms_endpoint(test: &str) -> Option<String> {
    let found = encx_test::kms_endpoint().await;
    if found.is_none() {
        skip(test, Service::Kms.name(), Service::Kms.how());
    }
    found
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
