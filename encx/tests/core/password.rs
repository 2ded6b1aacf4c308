//! Argon2id password hashes.
use encx::{PasswordHash, PasswordPolicy};

fn fast() -> PasswordPolicy {
    PasswordPolicy::new(8 * 1024, 1, 1).unwrap()
}

#[test]
fn hash_verify_and_rehash() {
    let policy = fast();
    let h1 = policy.hash("hunter2").unwrap();
    let h2 = policy.hash("hunter2").unwrap();
    assert_ne!(h1, h2, "salted");
    assert!(
        h1.as_str().starts_with("$argon2id$v=19$m=8192,t=1,p=1$"),
        "{}",
        h1.as_str()
    );
    assert!(policy.verify(&h1, "hunter2").unwrap());
    assert!(!policy.verify(&h1, "hunter3").unwrap());
    assert!(!policy.needs_rehash(&h1));
    assert!(PasswordPolicy::new(16 * 1024, 1, 1)
        .unwrap()
        .needs_rehash(&h1));
    assert!(PasswordPolicy::owasp().needs_rehash(&h1));
    // Old parameters still verify under a newer policy.
    assert!(PasswordPolicy::owasp().verify(&h1, "hunter2").unwrap());
}

#[test]
fn pepper_is_required_to_verify() {
    let peppered = fast().with_pepper(b"app-secret".to_vec()).unwrap();
    let h = peppered.hash("pw").unwrap();
    assert!(peppered.verify(&h, "pw").unwrap());
    assert!(
        !fast().verify(&h, "pw").unwrap(),
        "without the pepper the hash must not verify"
    );
    let other = fast().with_pepper(b"other".to_vec()).unwrap();
    assert!(!other.verify(&h, "pw").unwrap());
    assert!(fast().with_pepper(Vec::new()).is_err());
}

#[test]
fn stored_strings_are_validated_and_debug_hides_salt_and_hash() {
    assert!(PasswordHash::from_phc("plaintext-password").is_err());
    assert!(PasswordHash::from_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
    let h = fast().hash("pw").unwrap();
    let parsed = PasswordHash::from_phc(h.as_str()).unwrap();
    assert_eq!(parsed, h);
    let debug = format!("{h:?}");
    let salt_and_hash: Vec<&str> = h.as_str().split('$').skip(4).collect();
    for part in salt_and_hash {
        assert!(!debug.contains(part), "{debug}");
    }
    // serde goes through validation too
    let json = format!("\"{}\"", h.as_str());
    let back: PasswordHash = serde_json_like(&json);
    assert_eq!(back, h);
}

fn serde_json_like(quoted: &str) -> PasswordHash {
    // postcard round trip of the String form, then through PasswordHash's serde impl.
    let s: String = quoted.trim_matches('"').to_string();
    let bytes = encx::codec::encode(&s).unwrap();
    encx::codec::decode::<PasswordHash>(&bytes).unwrap()
}

#[test]
fn invalid_parameters_are_config_errors() {
    assert!(matches!(
        PasswordPolicy::new(1, 1, 1),
        Err(encx::Error::InvalidConfig(_))
    ));
}

const HUGE_MEMORY: &str = "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
const HOURS_OF_CPU: &str = "$argon2id$v=19$m=8,t=177777777,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

fn refused<T: std::fmt::Debug>(r: encx::Result<T>, what: &str) {
    match r {
        Err(e @ encx::Error::PasswordHashRefused(_)) => assert!(e.is_tampered(), "{what}"),
        other => panic!("{what}: expected PasswordHashRefused, got {other:?}"),
    }
}

#[test]
fn review_reproducers_are_refused_before_any_hashing() {
    // Before the fix, the first aborted the process (4 TiB allocation) and the second spun for
    // hours; both must now be refused at once, wherever the string enters.
    let started = std::time::Instant::now();
    for phc in [HUGE_MEMORY, HOURS_OF_CPU] {
        refused(PasswordHash::from_phc(phc), phc);
        refused(PasswordHash::try_from(phc.to_owned()), phc);
        let through_serde: Result<PasswordHash, serde::de::value::Error> =
            serde::Deserialize::deserialize(serde::de::IntoDeserializer::into_deserializer(phc));
        assert!(through_serde.is_err(), "serde accepted {phc}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn a_phc_string_without_salt_or_hash_is_refused() {
    // Found by the `phc` fuzz target: "$argon2id" alone parsed as a password hash.
    for phc in [
        "$argon2id",
        "$argon2id$v=19$m=8,t=1,p=1",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ",
    ] {
        refused(PasswordHash::from_phc(phc), phc);
    }
}

#[test]
fn huge_lane_counts_are_refused_before_argon2_sees_them() {
    // Found by the `phc` fuzz target: argon2's `Params` multiplied p unchecked (a panic in
    // debug builds, a wrap in release).
    for phc in [
        "$argon2id$v=19$m=8,t=1,p=1177777777$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=8,t=1,p=4294967295$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=4294967295,t=4294967295,p=4294967295$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        // A name given twice: argon2 reads the last value, a lookup by name the first.
        "$argon2id$v=19$m=8,t=2,p=1,t=2,p=747777771$Feic$r3eicDj7cyz8Hg",
        "$argon2id$v=19$m=8,t=1,p=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    ] {
        refused(PasswordHash::from_phc(phc), phc);
    }
}

#[test]
fn only_argon2id_is_accepted() {
    for algorithm in ["argon2i", "argon2d"] {
        let phc = format!("${algorithm}$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA");
        refused(PasswordHash::from_phc(phc.clone()), &phc);
    }
    refused(
        PasswordHash::from_phc("$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"),
        "scrypt",
    );
}

#[test]
fn parameters_above_the_policy_limit_are_refused_by_verify() {
    let policy = fast(); // m=8192, t=1, p=1: accepts up to m=32768, t=4, p=4
    assert_eq!(policy.max_accepted(), (32 * 1024, 4, 4));
    let slow =
        PasswordHash::from_phc("$argon2id$v=19$m=8,t=5,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
            .unwrap();
    refused(policy.verify(&slow, "pw"), "t=5 over t<=4");
    let big =
        PasswordHash::from_phc("$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
            .unwrap();
    refused(policy.verify(&big, "pw"), "m=64MiB over 32MiB");
    // A wider limit lets an older, stronger hash verify (and asks for a rehash).
    let stronger = PasswordPolicy::new(16 * 1024, 2, 1)
        .unwrap()
        .hash("pw")
        .unwrap();
    refused(
        PasswordPolicy::new(8, 1, 1)
            .unwrap()
            .verify(&stronger, "pw"),
        "over limit",
    );
    let widened = PasswordPolicy::new(8, 1, 1)
        .unwrap()
        .with_max_accepted(16 * 1024, 2, 1)
        .unwrap();
    assert!(widened.verify(&stronger, "pw").unwrap());
    assert!(widened.needs_rehash(&stronger));
    assert!(PasswordPolicy::new(8, 1, 1)
        .unwrap()
        .with_max_accepted(4, 1, 1)
        .is_err());
}

#[test]
fn weaker_hashes_verify_and_report_a_rehash() {
    let old = PasswordPolicy::new(8, 1, 1).unwrap().hash("pw").unwrap();
    let policy = fast();
    assert!(policy.verify(&old, "pw").unwrap());
    assert!(policy.needs_rehash(&old));
}
