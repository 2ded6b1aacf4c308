//! The containers of [`server_url`](crate::server_url) and
//! [`kms_endpoint`](crate::kms_endpoint): one of each per process, started on first use, kept
//! until [`stop_containers`].

use std::sync::Mutex;

use testcontainers_modules::mariadb::Mariadb;
use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::Server;

/// The PostgreSQL image, `name:tag` (the `postgres` module of testcontainers-modules).
pub const PG_IMAGE: (&str, &str) = ("postgres", "16-alpine");
/// The MariaDB image (the `mariadb` module).
pub const MARIADB_IMAGE: (&str, &str) = ("mariadb", "11.3");
/// The AWS KMS emulator image: moto's own, serving on port 5000.
pub const MOTO_IMAGE: (&str, &str) = ("motoserver/moto", "5.2.5");

static PG: Mutex<Option<ContainerAsync<Postgres>>> = Mutex::new(None);
static MARIA: Mutex<Option<ContainerAsync<Mariadb>>> = Mutex::new(None);
static MOTO: Mutex<Option<ContainerAsync<GenericImage>>> = Mutex::new(None);

fn keep<T>(slot: &Mutex<Option<T>>, value: T) {
    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

fn report(what: &str, e: impl std::fmt::Display) {
    eprintln!("encx-test: could not start the {what} container: {e}");
}

/// Starts the container of `server`; its admin URL.
pub(crate) async fn start(server: Server) -> Option<String> {
    match server {
        Server::Postgres => {
            let c = Postgres::default()
                .with_tag(PG_IMAGE.1)
                .start()
                .await
                .map_err(|e| report("PostgreSQL", e))
                .ok()?;
            let port = c.get_host_port_ipv4(5432).await.ok()?;
            keep(&PG, c);
            Some(format!(
                "postgres://postgres:postgres@127.0.0.1:{port}/postgres"
            ))
        }
        Server::MariaDb => {
            let c = Mariadb::default()
                .with_tag(MARIADB_IMAGE.1)
                .start()
                .await
                .map_err(|e| report("MariaDB", e))
                .ok()?;
            let port = c.get_host_port_ipv4(3306).await.ok()?;
            keep(&MARIA, c);
            Some(format!("mysql://root@127.0.0.1:{port}/test"))
        }
    }
}

/// Starts the AWS KMS emulator container; its endpoint URL.
#[cfg(feature = "aws-kms")]
pub(crate) async fn start_moto() -> Option<String> {
    use testcontainers_modules::testcontainers::core::{IntoContainerPort, WaitFor};
    let c = GenericImage::new(MOTO_IMAGE.0, MOTO_IMAGE.1)
        .with_exposed_port(5000.tcp())
        .with_wait_for(WaitFor::message_on_stderr("Running on"))
        .start()
        .await
        .map_err(|e| report("moto", e))
        .ok()?;
    let port = c.get_host_port_ipv4(5000).await.ok()?;
    keep(&MOTO, c);
    Some(format!("http://127.0.0.1:{port}"))
}

/// Removes every container this process started ([`stop_containers`](crate::stop_containers)).
pub(crate) async fn stop() {
    if let Some(c) = take(&PG) {
        let _ = c.rm().await;
    }
    if let Some(c) = take(&MARIA) {
        let _ = c.rm().await;
    }
    if let Some(c) = take(&MOTO) {
        let _ = c.rm().await;
    }
}
