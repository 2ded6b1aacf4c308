//! [`Config`]: typed application settings from the environment and from [`Secrets`], whose
//! `Debug` and `Display` never show a secret.
//!
//! Each setting is looked up first in the environment (`<prefix><KEY>`, upper case), then,
//! for secrets, in the secrets store; a plain setting may have a default. A missing setting,
//! or one that does not parse, fails at load time with its name (never its value).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use encx::secrecy::ExposeSecret;
//! # let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! # encx_sqlx::migrate(&pool).await?;
//! # let crypto = encx::Crypto::builder()
//! #     .keyring(encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?).build().await?;
//! let secrets = encx_secrets::Secrets::new(pool, crypto);
//! secrets.put("db/password", b"hunter2", &Default::default()).await?;
//!
//! let config = encx_secrets::Config::builder()
//!     .env_prefix("MYAPP_")
//!     .setting("port", Some("8080"))          // MYAPP_PORT, else 8080
//!     .secret_named("db_password", "db/password") // MYAPP_DB_PASSWORD, else secret db/password
//!     .load(&secrets)
//!     .await?;
//! let port: u16 = config.get("port")?;
//! assert_eq!(port, 8080);
//! assert_eq!(config.secret("db_password")?.expose_secret(), "hunter2");
//! assert_eq!(config.to_string(), "db_password = ***\nport = 8080\n");
//! assert!(!format!("{config:?}").contains("hunter2"));
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use encx::secrecy::SecretString;

use crate::error::{Error, Result};
use crate::secrets::Secrets;
use crate::store_sql::SecretsDatabase as EncxDatabase;

#[derive(Debug, Clone)]
struct Spec {
    key: String,
    secret: Option<String>,
    default: Option<String>,
}

/// Lists the settings to load. Made by [`Config::builder`].
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    prefix: String,
    specs: Vec<Spec>,
}

enum Value {
    Plain(String),
    Secret(SecretString),
}

/// Loaded settings. `Debug` and `Display` show plain values and `***` for secrets.
pub struct Config {
    values: BTreeMap<String, Value>,
}

impl Config {
    /// An empty list of settings.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A plain setting parsed as `T` ([`Error::InvalidConfig`] naming the key when missing or
    /// unparsable; asking a secret this way is refused too, so it cannot leak by a `Display`).
    pub fn get<T: FromStr>(&self, key: &str) -> Result<T> {
        match self.values.get(key) {
            Some(Value::Plain(text)) => text.parse().map_err(|_| {
                Error::InvalidConfig(format!("setting {key}: {text:?} does not parse"))
            }),
            Some(Value::Secret(_)) => Err(Error::InvalidConfig(format!(
                "setting {key} is a secret: read it with Config::secret"
            ))),
            None => Err(Error::InvalidConfig(format!("no setting {key} was loaded"))),
        }
    }

    /// A secret setting.
    pub fn secret(&self, key: &str) -> Result<&SecretString> {
        match self.values.get(key) {
            Some(Value::Secret(secret)) => Ok(secret),
            Some(Value::Plain(_)) => Err(Error::InvalidConfig(format!(
                "setting {key} is not a secret: read it with Config::get"
            ))),
            None => Err(Error::InvalidConfig(format!("no setting {key} was loaded"))),
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.values {
            match value {
                Value::Plain(text) => writeln!(f, "{key} = {text}")?,
                Value::Secret(_) => writeln!(f, "{key} = ***")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.values {
            match value {
                Value::Plain(text) => map.entry(key, text),
                Value::Secret(_) => map.entry(key, &format_args!("***")),
            };
        }
        map.finish()
    }
}

impl ConfigBuilder {
    /// Environment variables are named `<prefix><KEY>` (e.g. `MYAPP_` → `MYAPP_PORT`).
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A plain setting, from the environment, else `default`.
    pub fn setting(mut self, key: impl Into<String>, default: Option<&str>) -> Self {
        self.specs.push(Spec {
            key: key.into(),
            secret: None,
            default: default.map(str::to_owned),
        });
        self
    }

    /// A secret setting, from the environment, else from the secret of the same name.
    pub fn secret(self, key: impl Into<String>) -> Self {
        let key = key.into();
        let name = key.clone();
        self.secret_named(key, name)
    }

    /// A secret setting, from the environment, else from the secret `name`.
    pub fn secret_named(mut self, key: impl Into<String>, name: impl Into<String>) -> Self {
        self.specs.push(Spec {
            key: key.into(),
            secret: Some(name.into()),
            default: None,
        });
        self
    }

    fn env(&self, key: &str) -> Option<String> {
        std::env::var(format!("{}{}", self.prefix, key.to_ascii_uppercase())).ok()
    }

    /// Loads from the environment only: a secret missing there is an error.
    pub fn load_env(self) -> Result<Config> {
        let mut values = BTreeMap::new();
        for spec in &self.specs {
            values.insert(spec.key.clone(), self.lookup_env(spec)?);
        }
        Ok(Config { values })
    }

    fn lookup_env(&self, spec: &Spec) -> Result<Value> {
        let found = self.env(&spec.key);
        match (&spec.secret, found) {
            (Some(_), Some(text)) => Ok(Value::Secret(SecretString::from(text))),
            (None, Some(text)) => Ok(Value::Plain(text)),
            (None, None) => spec.default.clone().map(Value::Plain).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "setting {} is missing: set {}{}",
                    spec.key,
                    self.prefix,
                    spec.key.to_ascii_uppercase()
                ))
            }),
            (Some(name), None) => Err(Error::InvalidConfig(format!(
                "secret setting {} is missing: set {}{} or store secret {name}",
                spec.key,
                self.prefix,
                spec.key.to_ascii_uppercase()
            ))),
        }
    }

    /// Loads from the environment, and secrets missing there from `secrets` (UTF-8 values).
    pub async fn load<DB: EncxDatabase>(self, secrets: &Secrets<DB>) -> Result<Config> {
        let mut values = BTreeMap::new();
        for spec in &self.specs {
            let value = match (&spec.secret, self.env(&spec.key)) {
                (Some(name), None) => {
                    let secret = secrets.get(name).await?;
                    Value::Secret(SecretString::from(secret.expose_str()?.to_owned()))
                }
                _ => self.lookup_env(spec)?,
            };
            values.insert(spec.key.clone(), value);
        }
        Ok(Config { values })
    }
}
