//! Password hashes for `#[encx(hash_secure)]` fields: Argon2id in PHC string format.
//!
//! A password is never stored, encrypted or not: only its slow, salted hash. Verification is
//! constant-time (the argon2 crate compares outputs with `subtle`). An optional pepper is
//! passed to Argon2 as its secret input, so a stolen database without the application's pepper
//! cannot be attacked offline.
//!
//! ```
//! use encx::password::{PasswordPolicy, PasswordHash};
//! let policy = PasswordPolicy::new(8 * 1024, 1, 1)?; // small parameters: fast doc test
//! let hash: PasswordHash = policy.hash("correct horse")?;
//! assert!(hash.as_str().starts_with("$argon2id$"));
//! assert!(policy.verify(&hash, "correct horse")?);
//! assert!(!policy.verify(&hash, "wrong horse")?);
//! assert!(PasswordPolicy::owasp().needs_rehash(&hash));
//! # Ok::<(), encx::Error>(())
//! ```

use std::fmt;

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// An Argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). Safe to store; its
/// `Debug` shows only the parameters.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks that `phc` is a well-formed Argon2 PHC string.
    pub fn from_phc(phc: impl Into<String>) -> Result<Self> {
        let phc = phc.into();
        let parsed =
            Phc::new(&phc).map_err(|_| Error::Codec("not a PHC password hash string".into()))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(Error::Codec(format!(
                "password hash algorithm {} is not Argon2",
                parsed.algorithm
            )));
        }
        Ok(PasswordHash(phc))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::from_phc(value)
    }
}

impl From<PasswordHash> for String {
    fn from(value: PasswordHash) -> Self {
        value.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Algorithm and parameters only: no salt, no hash.
        let head: Vec<&str> = self.0.split('$').take(4).collect();
        write!(f, "PasswordHash({}$..)", head.join("$"))
    }
}

/// Argon2id parameters and an optional pepper.
#[derive(Clone)]
pub struct PasswordPolicy {
    params: Params,
    pepper: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordPolicy")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("pepper", &self.pepper.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::owasp()
    }
}

impl PasswordPolicy {
    /// OWASP's recommended Argon2id setting: 19 MiB, 2 iterations, 1 lane (about 30 ms here).
    pub fn owasp() -> Self {
        PasswordPolicy {
            params: Params::new(19 * 1024, 2, 1, None).unwrap_or_default(),
            pepper: None,
        }
    }

    /// Custom parameters: memory in KiB, iterations, lanes.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, None)
            .map_err(|e| Error::config(format!("Argon2 parameters: {e}")))?;
        Ok(PasswordPolicy {
            params,
            pepper: None,
        })
    }

    /// Adds a pepper (an application secret kept outside the database), passed to Argon2 as
    /// its secret. Changing it makes every existing hash fail to verify.
    pub fn with_pepper(mut self, pepper: impl Into<Vec<u8>>) -> Result<Self> {
        let pepper = Zeroizing::new(pepper.into());
        if pepper.is_empty() {
            return Err(Error::config("an empty pepper adds nothing; leave it out"));
        }
        self.pepper = Some(pepper);
        Ok(self)
    }

    fn argon2(&self) -> Result<Argon2<'_>> {
        match &self.pepper {
            Some(pepper) => Argon2::new_with_secret(
                pepper,
                Algorithm::Argon2id,
                Version::V0x13,
                self.params.clone(),
            )
            .map_err(|e| Error::config(format!("Argon2 pepper: {e}"))),
            None => Ok(Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                self.params.clone(),
            )),
        }
    }

    /// Hashes `password` with a fresh random salt. CPU-heavy: call it from a blocking task
    /// in async code.
    pub fn hash(&self, password: &str) -> Result<PasswordHash> {
        let mut salt_bytes = [0u8; 16];
        crate::rng::fill(&mut salt_bytes)?;
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| Error::config(format!("salt: {e}")))?;
        let phc = self
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::config(format!("Argon2: {e}")))?;
        Ok(PasswordHash(phc.to_string()))
    }

    /// True when `password` matches `hash`, compared in constant time. The hash's own
    /// parameters are used, so hashes made under older parameters still verify.
    pub fn verify(&self, hash: &PasswordHash, password: &str) -> Result<bool> {
        let parsed =
            Phc::new(&hash.0).map_err(|_| Error::Codec("not a PHC password hash string".into()))?;
        match self.argon2()?.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(Error::Codec(format!("password hash: {e}"))),
        }
    }

    /// True when `hash` was made with another algorithm or weaker/other parameters than this
    /// policy: rehash it at the next successful login.
    pub fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        let Ok(parsed) = Phc::new(&hash.0) else {
            return true;
        };
        if parsed.algorithm != Algorithm::Argon2id.ident()
            || parsed.version != Some(Version::V0x13.into())
        {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}
