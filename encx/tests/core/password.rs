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
