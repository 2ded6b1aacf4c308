//! The AWS KMS API for tests: an endpoint (environment, container or `moto_server` on `PATH`)
//! and keyrings on fresh keys.

use tokio::sync::OnceCell;

use crate::Error;

/// A KMS endpoint: `ENCX_TEST_KMS_ENDPOINT`, else (feature `containers`) moto's container
/// when a Docker engine answers, else a `moto_server` on `PATH` started for this process, else `None`.
pub async fn kms_endpoint() -> Option<String> {
    if let Ok(url) = std::env::var("ENCX_TEST_KMS_ENDPOINT") {
        return Some(url);
    }
    static ENDPOINT: OnceCell<Option<String>> = OnceCell::const_new();
    ENDPOINT
        .get_or_init(|| async {
            #[cfg(feature = "containers")]
            if crate::docker_available().await {
                if let Some(url) = crate::containers::start_moto().await {
                    return Some(url);
                }
            }
            start_moto_on_path().await
        })
        .await
        .clone()
}

/// Starts `moto_server` on a free loopback port, under a shell that stops it when this process
/// exits, and waits until it answers.
async fn start_moto_on_path() -> Option<String> {
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

/// A KMS key made for one test in the emulator.
#[derive(Debug, Clone)]
pub struct KmsKey {
    /// The endpoint it lives at.
    pub endpoint: String,
    /// Its key id.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// An alias pointing at it (`alias/encx-test-…`).
    pub alias: String,
}

/// Static dummy credentials for the emulator.
pub fn test_credentials() -> aws_sdk_kms::config::Credentials {
    aws_sdk_kms::config::Credentials::new("testing", "testing", None, None, "encx-test")
}

impl KmsKey {
    /// Creates a symmetric key and an alias in the emulator at [`kms_endpoint`].
    pub async fn create() -> Result<KmsKey, Error> {
        let endpoint = kms_endpoint().await.ok_or_else(|| {
            Error::new("no KMS emulator: set ENCX_TEST_KMS_ENDPOINT, run a Docker engine, or put moto_server on PATH")
        })?;
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(test_credentials())
            .load()
            .await;
        let client = aws_sdk_kms::Client::new(&config);
        let created = client
            .create_key()
            .description("encx test key")
            .send()
            .await
            .map_err(|e| Error::new(format!("CreateKey: {e}")))?;
        let meta = created
            .key_metadata()
            .ok_or_else(|| Error::new("CreateKey returned no metadata"))?;
        let id = meta.key_id().to_string();
        let arn = meta.arn().unwrap_or_default().to_string();
        let alias = format!("alias/encx-test-{}", uuid::Uuid::new_v4().simple());
        client
            .create_alias()
            .alias_name(&alias)
            .target_key_id(&id)
            .send()
            .await
            .map_err(|e| Error::new(format!("CreateAlias: {e}")))?;
        Ok(KmsKey {
            endpoint,
            id,
            arn,
            alias,
        })
    }

    /// An `AwsKmsKeyring` on this key (by `key`: its id, ARN or alias).
    pub async fn keyring(&self, key: &str) -> Result<encx::AwsKmsKeyring, Error> {
        encx::AwsKmsKeyring::builder(key)
            .region("us-east-1")
            .endpoint(&self.endpoint)
            .credentials(test_credentials())
            .build()
            .await
            .map_err(Error::new)
    }
}

/// An `AwsKmsKeyring` on a fresh key of the emulator, in one line.
pub async fn kms_keyring() -> Result<encx::AwsKmsKeyring, Error> {
    let key = KmsKey::create().await?;
    key.keyring(&key.id).await
}
