//! Every kind of field value survives seal -> open through a record, and the ciphertext holds
//! none of the plaintext bytes.
use std::collections::BTreeMap;
use std::fmt::Debug;

use encx::{Crypto, LocalKeyring, MasterKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

async fn crypto() -> Crypto {
    Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap())
        .build()
        .await
        .unwrap()
}

async fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug + 'static>(
    crypto: &Crypto,
    value: T,
) {
    let sealer = crypto.seal_record("t", b"id-1").await.unwrap();
    let sealed = sealer.seal("col", &value).unwrap();
    let wrapped = sealer.into_wrapped_dek();
    // A string or byte string is stored bare (format 2), anything else in postcard (format 1).
    let plain = match encx::codec::encode_bare(&value).unwrap() {
        Some(bare) => {
            assert_eq!(sealed.as_bytes()[0], encx::cipher::FORMAT_BARE, "{value:?}");
            bare
        }
        None => {
            assert_eq!(sealed.as_bytes()[0], encx::cipher::FORMAT_V1, "{value:?}");
            encx::codec::encode(&value).unwrap()
        }
    };
    assert_eq!(sealed.len(), plain.len() + encx::cipher::OVERHEAD);
    if plain.len() >= 4 {
        assert!(
            !sealed
                .as_bytes()
                .windows(plain.len())
                .any(|w| w == plain.as_slice()),
            "plaintext encoding of {value:?} visible in ciphertext"
        );
    }
    let opener = crypto
        .open_record("t", b"id-1", Some(&wrapped), &"id-1")
        .await
        .unwrap();
    let back: T = opener.open("col", &sealed).unwrap();
    assert_eq!(back, value);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    city: String,
    zip: Option<u32>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    addresses: Vec<Address>,
    tags: BTreeMap<String, i64>,
    kind: Kind,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Person { age: u8 },
    Company(String),
}

#[tokio::test]
async fn every_supported_value_kind_round_trips() {
    let c = crypto().await;
    round_trip(&c, "ada@example.com".to_string()).await;
    round_trip(&c, String::new()).await;
    round_trip(&c, "ünïcødé ✓ 日本".to_string()).await;
    round_trip(&c, vec![0u8, 1, 2, 255, 254]).await;
    round_trip(&c, serde_bytes_like(4096)).await;
    round_trip(&c, i64::MIN).await;
    round_trip(&c, u64::MAX).await;
    round_trip(&c, -7i32).await;
    round_trip(&c, 1.5e300f64).await;
    round_trip(&c, -0.25f32).await;
    round_trip(&c, true).await;
    round_trip(&c, Some("x".to_string())).await;
    round_trip(&c, None::<String>).await;
    round_trip(&c, vec!["a".to_string(), "bb".to_string()]).await;
    round_trip(&c, uuid::Uuid::new_v4()).await;
    round_trip(
        &c,
        chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00.123+02:00").unwrap(),
    )
    .await;
    round_trip(&c, chrono::NaiveDate::from_ymd_opt(1815, 12, 10).unwrap()).await;
    round_trip(&c, time::macros::datetime!(2026-11-23 08:00:00.5 UTC)).await;
    round_trip(&c, time::macros::date!(1815 - 12 - 10)).await;
    round_trip(
        &c,
        Profile {
            name: "Ada".into(),
            addresses: vec![Address {
                street: "1 Analytical Way".into(),
                city: "London".into(),
                zip: Some(12345),
            }],
            tags: [("level".to_string(), 3)].into_iter().collect(),
            kind: Kind::Person { age: 36 },
        },
    )
    .await;
    round_trip(&c, Kind::Company("Engines Ltd".into())).await;
}

fn serde_bytes_like(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn reading_as_another_type_is_a_codec_error_not_garbage() {
    let c = crypto().await;
    let sealer = c.seal_record("t", b"1").await.unwrap();
    let sealed = sealer.seal("col", &"text value that is long").unwrap();
    let wrapped = sealer.into_wrapped_dek();
    let opener = c.open_record("t", b"1", Some(&wrapped), &1).await.unwrap();
    let err = opener.open::<u8>("col", &sealed).unwrap_err();
    assert!(matches!(err, encx::Error::Codec(_)), "{err:?}");
}

#[tokio::test]
async fn same_value_encrypts_differently_every_time() {
    let c = crypto().await;
    let sealer = c.seal_record("t", b"1").await.unwrap();
    let a = sealer.seal("col", "same").unwrap();
    let b = sealer.seal("col", "same").unwrap();
    assert_ne!(a, b, "nonces must be fresh per seal");
    let other = c.seal_record("t", b"1").await.unwrap();
    assert_ne!(
        sealer.wrapped_dek(),
        other.wrapped_dek(),
        "each record gets its own DEK"
    );
}
