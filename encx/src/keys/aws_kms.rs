//! [`AwsKmsKeyring`] (feature `aws-kms`): AWS KMS as a keyring.
//!
//! - **Direct mode**: every DEK is made by KMS `GenerateDataKey` (or wrapped by `Encrypt`) and
//!   unwrapped by `Decrypt`, with the encryption context `{"encx:table": table, "encx:record":
//!   hex(record id)}`. Every decryption shows in CloudTrail, at one KMS call per record.
//! - **As a root**: `HierarchicalKeyring::new(Arc::new(kms), store)`. KMS wraps only the KEKs;
//!   10,000 record encryptions then make one KMS call.
//!
//! Configuration follows the standard aws-config chain (environment, profile, IMDS/ECS role),
//! plus a region and an endpoint override (`ENCX_KMS_ENDPOINT`, or the builder) for emulators
//! and VPC endpoints. Throttling and network failures are retried by the SDK's standard mode
//! (jittered exponential backoff, bounded attempts and time), then reported as
//! [`Error::KeyringUnavailable`]. No error carries key material.
//!
//! ```no_run
//! use std::sync::Arc;
//! use encx::{AwsKmsKeyring, HierarchicalKeyring, MemoryKekStore};
//! # async fn run() -> encx::Result<()> {
//! let kms = AwsKmsKeyring::builder("alias/encx-root").region("eu-west-1").build().await?;
//! let keyring = HierarchicalKeyring::new(Arc::new(kms), Arc::new(MemoryKekStore::new()));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::material::Dek;
use super::wrapped::read_kind;
use super::{KeyContext, Keyring, KeyringKind};
use crate::cipher::FORMAT_V1;
use crate::error::{Error, Result};
use crate::types::WrappedDek;

pub use aws_sdk_kms;

/// Environment variable with a KMS endpoint URL (emulators, VPC endpoints).
pub const ENV_KMS_ENDPOINT: &str = "ENCX_KMS_ENDPOINT";

/// Encryption-context keys bound to every wrapped DEK.
pub const CONTEXT_TABLE: &str = "encx:table";
/// See [`CONTEXT_TABLE`].
pub const CONTEXT_RECORD: &str = "encx:record";

/// How many KMS requests a keyring made (each logical request counts once, whatever the SDK
/// retried underneath).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KmsCalls {
    /// `GenerateDataKey` requests.
    pub generate_data_key: u64,
    /// `Encrypt` requests.
    pub encrypt: u64,
    /// `Decrypt` requests.
    pub decrypt: u64,
}

impl KmsCalls {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.generate_data_key + self.encrypt + self.decrypt
    }
}

#[derive(Default)]
struct Counters {
    generate_data_key: AtomicU64,
    encrypt: AtomicU64,
    decrypt: AtomicU64,
}

/// AWS KMS as a keyring. See the [module docs](self).
#[derive(Clone)]
pub struct AwsKmsKeyring {
    client: aws_sdk_kms::Client,
    key_id: String,
    counters: Arc<Counters>,
}

impl fmt::Debug for AwsKmsKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKeyring")
            .field("key_id", &self.key_id)
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

/// Builds an [`AwsKmsKeyring`] from the aws-config chain.
#[must_use]
pub struct AwsKmsKeyringBuilder {
    key_id: String,
    region: Option<String>,
    endpoint: Option<String>,
    credentials: Option<aws_sdk_kms::config::Credentials>,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    operation_timeout: Duration,
}

impl fmt::Debug for AwsKmsKeyringBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsKeyringBuilder")
            .field("key_id", &self.key_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl AwsKmsKeyringBuilder {
    /// The AWS region (else the aws-config chain: `AWS_REGION`, profile, IMDS).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// An endpoint URL for KMS (else `ENCX_KMS_ENDPOINT`, else the region's public endpoint).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Static credentials instead of the aws-config chain.
    pub fn credentials(mut self, credentials: aws_sdk_kms::config::Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Attempts per request for throttling and network failures (default 4), and the
    /// exponential backoff between them (default 50 ms doubling up to 2 s, with jitter).
    pub fn retries(
        mut self,
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.initial_backoff = initial_backoff;
        self.max_backoff = max_backoff;
        self
    }

    /// Time limits: to connect (default 2 s), per attempt (default 5 s), per request including
    /// retries (default 15 s).
    pub fn timeouts(mut self, connect: Duration, attempt: Duration, operation: Duration) -> Self {
        self.connect_timeout = connect;
        self.attempt_timeout = attempt;
        self.operation_timeout = operation;
        self
    }

    /// Loads the AWS configuration and makes the client. Fails with
    /// [`Error::InvalidConfig`] when no region can be found or the key id is empty.
    pub async fn build(self) -> Result<AwsKmsKeyring> {
        if self.key_id.trim().is_empty() {
            return Err(Error::config(
                "AWS KMS key id is empty: give a key id, key ARN or alias",
            ));
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.max_attempts)
                    .with_initial_backoff(self.initial_backoff)
                    .with_max_backoff(self.max_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            );
        if let Some(region) = self.region {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = self
            .endpoint
            .or_else(|| std::env::var(ENV_KMS_ENDPOINT).ok())
        {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = self.credentials {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Error::config(
                "no AWS region: set AWS_REGION, a profile region, or AwsKmsKeyringBuilder::region",
            ));
        }
        Ok(AwsKmsKeyring::from_client(
            aws_sdk_kms::Client::new(&config),
            self.key_id,
        ))
    }
}

impl AwsKmsKeyring {
    /// A builder for key `key_id` (key id, key ARN, alias name `alias/...` or alias ARN).
    pub fn builder(key_id: impl Into<String>) -> AwsKmsKeyringBuilder {
        AwsKmsKeyringBuilder {
            key_id: key_id.into(),
            region: None,
            endpoint: None,
            credentials: None,
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(15),
        }
    }

    /// A keyring over a client you configured yourself.
    pub fn from_client(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        AwsKmsKeyring {
            client,
            key_id: key_id.into(),
            counters: Arc::default(),
        }
    }

    /// The KMS key this keyring uses.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// How many KMS requests this keyring (and its clones) made.
    pub fn calls(&self) -> KmsCalls {
        KmsCalls {
            generate_data_key: self.counters.generate_data_key.load(Ordering::Relaxed),
            encrypt: self.counters.encrypt.load(Ordering::Relaxed),
            decrypt: self.counters.decrypt.load(Ordering::Relaxed),
        }
    }

    fn context(ctx: &KeyContext<'_>) -> HashMap<String, String> {
        let record: String = ctx.record_id.iter().map(|b| format!("{b:02x}")).collect();
        HashMap::from([
            (CONTEXT_TABLE.to_owned(), ctx.table.to_owned()),
            (CONTEXT_RECORD.to_owned(), record),
        ])
    }

    fn wrapped(blob: &Blob) -> WrappedDek {
        let mut out = Vec::with_capacity(2 + blob.as_ref().len());
        out.push(FORMAT_V1);
        out.push(KeyringKind::AwsKms.byte());
        out.extend_from_slice(blob.as_ref());
        WrappedDek::from_bytes(out)
    }
}

#[async_trait]
impl Keyring for AwsKmsKeyring {
    fn kind(&self) -> KeyringKind {
        KeyringKind::AwsKms
    }

    fn key_description(&self) -> String {
        format!("aws-kms:{}", self.key_id)
    }

    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        self.counters
            .generate_data_key
            .fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| map_sdk_error("GenerateDataKey", e))?;
        let plaintext = out
            .plaintext()
            .ok_or_else(|| Error::unavailable("KMS GenerateDataKey returned no plaintext"))?;
        let blob = out
            .ciphertext_blob()
            .ok_or_else(|| Error::unavailable("KMS GenerateDataKey returned no ciphertext"))?;
        let dek = Dek::from_slice(plaintext.as_ref()).map_err(|_| {
            Error::unavailable("KMS GenerateDataKey returned a key that is not 32 bytes")
        })?;
        Ok((dek, Self::wrapped(blob)))
    }

    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        self.counters.encrypt.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(dek.expose_secret().to_vec()))
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| map_sdk_error("Encrypt", e))?;
        let blob = out
            .ciphertext_blob()
            .ok_or_else(|| Error::unavailable("KMS Encrypt returned no ciphertext"))?;
        Ok(Self::wrapped(blob))
    }

    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        let kind = read_kind(wrapped.as_bytes())?;
        if kind != KeyringKind::AwsKms {
            return Err(Error::key_not_found(format!(
                "DEK was wrapped by the {kind} keyring, not by AWS KMS"
            )));
        }
        let blob = &wrapped.as_bytes()[2..];
        if blob.is_empty() {
            return Err(Error::Tampered);
        }
        self.counters.decrypt.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(blob.to_vec()))
            .set_encryption_context(Some(Self::context(ctx)))
            .send()
            .await
            .map_err(|e| map_sdk_error("Decrypt", e))?;
        let plaintext = out
            .plaintext()
            .ok_or_else(|| Error::unavailable("KMS Decrypt returned no plaintext"))?;
        Dek::from_slice(plaintext.as_ref())
    }
}

/// What went wrong in one KMS request, reduced to what the mapping needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsFailure<'a> {
    /// KMS answered with an error code (`InvalidCiphertextException`, ...).
    Service {
        /// The error code.
        code: Option<&'a str>,
    },
    /// No answer in time, or the connection failed.
    Transport,
    /// The request could not be built (bad parameters).
    Construction,
}

/// Maps a KMS failure to an [`Error`] variant: tampering and context mismatch are `Tampered`;
/// a missing, disabled or pending-deletion key is `KeyNotFound`; refused permissions are
/// `AccessDenied`; throttling, outages and network failures (after the SDK's retries) are the
/// retryable `KeyringUnavailable`.
pub fn classify(operation: &str, failure: KmsFailure<'_>) -> Error {
    match failure {
        KmsFailure::Transport => {
            Error::unavailable(format!("KMS {operation}: no response (network or timeout)"))
        }
        KmsFailure::Construction => {
            Error::config(format!("KMS {operation}: the request could not be built"))
        }
        KmsFailure::Service { code } => {
            let code = code.unwrap_or("unknown");
            match code {
                "InvalidCiphertextException" => Error::Tampered,
                "IncorrectKeyException" => Error::key_not_found(format!(
                    "KMS {operation}: the DEK was wrapped under another KMS key"
                )),
                "NotFoundException" => {
                    Error::key_not_found(format!("KMS {operation}: the KMS key does not exist"))
                }
                "DisabledException" | "KMSInvalidStateException" => Error::key_not_found(format!(
                    "KMS {operation}: the KMS key is disabled or pending deletion ({code})"
                )),
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken" => Error::AccessDenied {
                    reason: format!("KMS {operation}: {code}"),
                },
                "InvalidKeyUsageException"
                | "ValidationException"
                | "InvalidGrantTokenException" => Error::config(format!("KMS {operation}: {code}")),
                // ThrottlingException, KMSInternalException, DependencyTimeoutException,
                // KeyUnavailableException, LimitExceededException and anything unknown.
                _ => Error::unavailable(format!("KMS {operation}: {code}")),
            }
        }
    }
}

fn map_sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let failure = match &err {
        SdkError::ServiceError(service) => KmsFailure::Service {
            code: service.err().code(),
        },
        SdkError::ConstructionFailure(_) => KmsFailure::Construction,
        _ => KmsFailure::Transport,
    };
    match classify(operation, failure) {
        Error::KeyringUnavailable { reason, .. } => Error::unavailable_from(reason, err),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str) -> Error {
        classify("Decrypt", KmsFailure::Service { code: Some(code) })
    }

    #[test]
    fn each_kms_failure_maps_to_its_own_variant() {
        assert!(matches!(
            service("InvalidCiphertextException"),
            Error::Tampered
        ));
        for code in [
            "NotFoundException",
            "DisabledException",
            "KMSInvalidStateException",
            "IncorrectKeyException",
        ] {
            assert!(matches!(service(code), Error::KeyNotFound { .. }), "{code}");
        }
        assert!(service("DisabledException")
            .to_string()
            .contains("disabled"));
        assert!(matches!(
            service("AccessDeniedException"),
            Error::AccessDenied { .. }
        ));
        for code in [
            "ThrottlingException",
            "KMSInternalException",
            "DependencyTimeoutException",
            "KeyUnavailableException",
            "SomethingNew",
        ] {
            let e = service(code);
            assert!(e.is_retryable(), "{code}: {e:?}");
        }
        assert!(classify("Decrypt", KmsFailure::Transport).is_retryable());
        assert!(matches!(
            classify("Encrypt", KmsFailure::Construction),
            Error::InvalidConfig(_)
        ));
        assert!(matches!(
            service("InvalidKeyUsageException"),
            Error::InvalidConfig(_)
        ));
        assert!(!service("AccessDeniedException").is_retryable());
    }

    #[test]
    fn context_binds_table_and_record_in_hex() {
        let ctx = AwsKmsKeyring::context(&KeyContext::new("users", &[0xab, 0x01]));
        assert_eq!(ctx.get(CONTEXT_TABLE).map(String::as_str), Some("users"));
        assert_eq!(ctx.get(CONTEXT_RECORD).map(String::as_str), Some("ab01"));
        assert_eq!(ctx.len(), 2);
    }
}
