//! Password hashes for `#[encx(hash_secure)]` fields: Argon2id in PHC string format.
//!
//! A password is never stored, encrypted or not: only its slow, salted hash. Verification is
//! constant-time (the argon2 crate compares outputs with `subtle`). An optional pepper is
//! passed to Argon2 as its secret input, so a stolen database without the application's pepper
//! cannot be attacked offline.
//!
//! A PHC string read from storage is refused before any hashing (typed error
//! [`Error::PasswordHashRefused`]) unless it is Argon2id with parameters a verifier can afford:
//!
//! - wherever a PHC string enters ([`PasswordHash::from_phc`], serde, the sqlx column type):
//!   algorithm `argon2id`, version 16 or 19, and parameters under the absolute caps
//!   [`MAX_M_COST_KIB`], [`MAX_T_COST`], [`MAX_P_COST`];
//! - in [`PasswordPolicy::verify`]: parameters at most [`ACCEPT_FACTOR`] times the policy's own
//!   (by default; see [`PasswordPolicy::with_max_accepted`]). Weaker parameters are accepted
//!   and reported by [`PasswordPolicy::needs_rehash`].
//!
//! Without these checks, whoever can write the column could store `m=4294967295` (an
//! allocation of 4 TiB: the process aborts) or `t=177777777` (hours of CPU per login).
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

/// Largest Argon2 memory cost (KiB) any stored hash may name: 1 GiB.
pub const MAX_M_COST_KIB: u32 = 1 << 20;
/// Largest Argon2 iteration count any stored hash may name.
pub const MAX_T_COST: u32 = 64;
/// Largest Argon2 lane count any stored hash may name.
pub const MAX_P_COST: u32 = 16;
/// By default a policy verifies hashes whose memory, iterations and lanes are each at most this
/// many times its own.
pub const ACCEPT_FACTOR: u32 = 4;

/// Argon2 cost parameters: memory (KiB), iterations, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Costs {
    m: u32,
    t: u32,
    p: u32,
}

/// The absolute caps, checked wherever a PHC string enters and on every policy.
const CAPS: Costs = Costs {
    m: MAX_M_COST_KIB,
    t: MAX_T_COST,
    p: MAX_P_COST,
};

/// Parses `phc` and checks what every entry point checks: Argon2id, a known version, and costs
/// under the absolute caps. Never hashes anything.
fn parse_checked(phc: &str) -> Result<(Phc<'_>, Costs)> {
    let parsed = Phc::new(phc).map_err(|_| refused("not a PHC password hash string"))?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(refused(format!(
            "algorithm {} is not argon2id",
            parsed.algorithm
        )));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(refused(
            "a PHC string without salt and hash is not a password hash",
        ));
    }
    match parsed.version {
        Some(v) if v == u32::from(Version::V0x13) || v == u32::from(Version::V0x10) => {}
        None => {}
        Some(v) => return Err(refused(format!("unknown Argon2 version {v}"))),
    }
    // The raw numbers first: argon2's own `Params` multiplies them unchecked (a lane count
    // near u32::MAX overflowed: a panic in debug builds, found by the `phc` fuzz target). Every
    // occurrence counts: a name given twice is refused (argon2 reads the last, a lookup the
    // first; the fuzzer found that too).
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in parsed.params.iter() {
        let name = name.as_str();
        if seen.contains(&name) {
            return Err(refused(format!("parameter {name} is given twice")));
        }
        seen.push(name);
        let cap = match name {
            "m" => MAX_M_COST_KIB,
            "t" => MAX_T_COST,
            "p" => MAX_P_COST,
            _ => continue,
        };
        match value.decimal() {
            Ok(number) if number <= cap => {}
            Ok(number) => {
                return Err(refused(format!("parameter {name}={number} exceeds {cap}")));
            }
            Err(_) => return Err(refused(format!("parameter {name} is not a number"))),
        }
    }
    let params =
        Params::try_from(&parsed).map_err(|e| refused(format!("Argon2 parameters: {e}")))?;
    let costs = Costs {
        m: params.m_cost(),
        t: params.t_cost(),
        p: params.p_cost(),
    };
    if let Some(why) = exceeds(costs, CAPS, "the absolute caps") {
        return Err(refused(why));
    }
    Ok((parsed, costs))
}

/// Why `costs` exceed `max` (named `what`), or `None` when they do not.
fn exceeds(costs: Costs, max: Costs, what: &str) -> Option<String> {
    (costs.m > max.m || costs.t > max.t || costs.p > max.p).then(|| {
        format!(
            "parameters m={},t={},p={} exceed {what} (m<={},t<={},p<={})",
            costs.m, costs.t, costs.p, max.m, max.t, max.p
        )
    })
}

/// A policy's own parameters, or its accepted limits, must stay under the absolute caps.
fn config_within_caps(costs: Costs) -> Result<()> {
    match exceeds(costs, CAPS, "the absolute caps") {
        Some(why) => Err(Error::config(format!("Argon2 {why}"))),
        None => Ok(()),
    }
}

fn refused(reason: impl Into<String>) -> Error {
    Error::PasswordHashRefused(reason.into())
}

/// An Argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`). Safe to store; its
/// `Debug` shows only the parameters.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Checks that `phc` is a well-formed Argon2id PHC string whose costs are under the
    /// absolute caps ([`MAX_M_COST_KIB`], [`MAX_T_COST`], [`MAX_P_COST`]); anything else is
    /// [`Error::PasswordHashRefused`]. Nothing is hashed.
    ///
    /// ```
    /// use encx::PasswordHash;
    /// let huge = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    /// assert!(PasswordHash::from_phc(huge).unwrap_err().is_tampered());
    /// let argon2i = "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    /// assert!(PasswordHash::from_phc(argon2i).is_err());
    /// ```
    pub fn from_phc(phc: impl Into<String>) -> Result<Self> {
        let phc = phc.into();
        parse_checked(&phc)?;
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
    max_accepted: Costs,
    pepper: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordPolicy")
            .field("m_cost_kib", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .field("max_accepted", &self.max_accepted)
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
        let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
        PasswordPolicy {
            max_accepted: default_max(&params),
            params,
            pepper: None,
        }
    }

    /// Custom parameters: memory in KiB, iterations, lanes.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let params = Params::new(m_cost_kib, t_cost, p_cost, None)
            .map_err(|e| Error::config(format!("Argon2 parameters: {e}")))?;
        config_within_caps(Costs {
            m: m_cost_kib,
            t: t_cost,
            p: p_cost,
        })?;
        Ok(PasswordPolicy {
            max_accepted: default_max(&params),
            params,
            pepper: None,
        })
    }

    /// The largest memory (KiB), iterations and lanes a stored hash may name for
    /// [`verify`](Self::verify) to run it. Default: [`ACCEPT_FACTOR`] times this policy's own,
    /// within the absolute caps.
    pub fn max_accepted(&self) -> (u32, u32, u32) {
        (
            self.max_accepted.m,
            self.max_accepted.t,
            self.max_accepted.p,
        )
    }

    /// Sets the limits of [`max_accepted`](Self::max_accepted), e.g. while hashes made under a
    /// much stronger former policy are still stored. They must be at least this policy's own
    /// parameters and at most the absolute caps.
    ///
    /// ```
    /// let policy = encx::PasswordPolicy::new(8192, 1, 1)?.with_max_accepted(65536, 3, 2)?;
    /// assert_eq!(policy.max_accepted(), (65536, 3, 2));
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn with_max_accepted(mut self, m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let max = Costs {
            m: m_cost_kib,
            t: t_cost,
            p: p_cost,
        };
        let own = Costs {
            m: self.params.m_cost(),
            t: self.params.t_cost(),
            p: self.params.p_cost(),
        };
        if max.m < own.m || max.t < own.t || max.p < own.p {
            return Err(Error::config(
                "accepted password-hash limits must be at least the policy's own parameters",
            ));
        }
        config_within_caps(max)?;
        self.max_accepted = max;
        Ok(self)
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
    /// parameters are used, so hashes made under older parameters still verify; a hash whose
    /// parameters exceed [`max_accepted`](Self::max_accepted) is
    /// [`Error::PasswordHashRefused`], before any hashing.
    ///
    /// ```
    /// use encx::{PasswordHash, PasswordPolicy};
    /// let policy = PasswordPolicy::new(8192, 1, 1)?;
    /// let slow = PasswordHash::from_phc("$argon2id$v=19$m=8,t=60,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")?;
    /// assert!(matches!(policy.verify(&slow, "pw"), Err(encx::Error::PasswordHashRefused(_))));
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn verify(&self, hash: &PasswordHash, password: &str) -> Result<bool> {
        let (parsed, costs) = parse_checked(&hash.0)?;
        if let Some(why) = exceeds(costs, self.max_accepted, "this policy's accepted limits") {
            return Err(refused(why));
        }
        match self.argon2()?.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(refused(format!("password hash: {e}"))),
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

/// [`ACCEPT_FACTOR`] times `params`, within the absolute caps.
fn default_max(params: &Params) -> Costs {
    Costs {
        m: params
            .m_cost()
            .saturating_mul(ACCEPT_FACTOR)
            .min(MAX_M_COST_KIB),
        t: params
            .t_cost()
            .saturating_mul(ACCEPT_FACTOR)
            .min(MAX_T_COST),
        p: params
            .p_cost()
            .saturating_mul(ACCEPT_FACTOR)
            .min(MAX_P_COST),
    }
}
