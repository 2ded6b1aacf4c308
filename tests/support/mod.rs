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
    /// A second service the test needs (the KMS API beside a database).
    pub also: Option<Service>,
    pub run: TestFn,
}

impl Test {
    /// This test, needing `service` too.
    pub fn needing(mut self, service: Service) -> Self {
        self.also = Some(service);
        self
    }

    fn services(&self) -> impl Iterator<Item = Service> {
        std::iter::once(self.service).chain(self.also)
    }
}

/// `test_case!(Service::Postgres, "postgres::name", path::to::async_fn)`.
#[macro_export]
macro_rules! test_case {
    ($service:expr, $name:expr, $f:path) => {
        $crate::Test {
            name: ($name).to_string(),
            service: $service,
            also: None,
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
        for service in t.services() {
            if !needed.contains(&service) {
                needed.push(service);
            }
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
            let missing = t.services().find(|s| !available[s]);
            if missing.is_none() {
                let run = t.run;
                libtest_mimic::Trial::test(t.name, move || {
                    runtime().block_on(run());
                    Ok(())
                })
                .with_kind(kind)
            } else if services_required() {
                let missing = missing.unwrap_or(t.service);
                let message = format!(
                    "{} is required (ENCX_REQUIRE_SERVICES=1) but unavailable: {}",
                    missing.name(),
                    missing.how()
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

/// An HTTP proxy on loopback in front of the KMS emulator that answers, for the keys a test
/// revoked, what AWS KMS answers a caller whose grant was revoked or whose key was disabled
/// by its owner: `400 AccessDeniedException`. (moto does not enforce `DisableKey` or key
/// policies on `Decrypt`, so a revocation is played here, at the HTTP layer, while every other
/// request reaches moto unchanged.)
pub struct KmsGate {
    pub url: String,
    revoked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl KmsGate {
    pub async fn start(upstream: &str) -> KmsGate {
        let target = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let revoked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let list = revoked.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, list) = (target.clone(), list.clone());
                tokio::spawn(async move {
                    let _ = gate_one(inbound, &target, &list).await;
                });
            }
        });
        KmsGate {
            url,
            revoked,
            accept,
        }
    }

    /// From now on, requests naming `key` (its id or ARN) are refused as access denied.
    pub fn revoke(&self, key: &str) {
        self.revoked.lock().unwrap().push(key.to_owned());
    }

    /// `key` is served again.
    pub fn restore(&self, key: &str) {
        self.revoked.lock().unwrap().retain(|k| k != key);
    }
}

impl Drop for KmsGate {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One request through the gate: refused when its body names a revoked key, else forwarded
/// (with `Connection: close`, so the response is read to its end) and the connection closed.
async fn gate_one(
    inbound: tokio::net::TcpStream,
    target: &str,
    revoked: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut inbound = BufReader::new(inbound);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if inbound.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    inbound.read_exact(&mut body).await?;
    let text = String::from_utf8_lossy(&body);
    let refused = revoked
        .lock()
        .unwrap()
        .iter()
        .any(|k| text.contains(k.as_str()));
    let mut inbound = inbound.into_inner();
    if refused {
        let message = br#"{"__type":"AccessDeniedException","message":"the key's owner revoked this principal's access"}"#;
        let response = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
             x-amzn-ErrorType: AccessDeniedException\r\nx-amzn-RequestId: encx-test-gate\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            message.len()
        );
        inbound.write_all(response.as_bytes()).await?;
        inbound.write_all(message).await?;
        return inbound.shutdown().await;
    }
    let mut outbound = tokio::net::TcpStream::connect(target).await?;
    outbound.write_all(&head).await?;
    outbound.write_all(&body).await?;
    let mut response = Vec::new();
    outbound.read_to_end(&mut response).await?;
    inbound.write_all(&response).await?;
    inbound.shutdown().await
}
