//! A hand-written `Encrypted` impl for a sample struct: the shape the derive generates.
use encx::index::IndexKeys;
use encx::{
    BlindIndex, Ciphertext, Crypto, Encrypted, Error, IndexSpec, LocalKeyring, MasterKey,
    Normalizer, RecordId, WrappedDek,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    bio: String,
    age: u8,
}

#[derive(Debug, Clone, PartialEq)]
struct User {
    id: Uuid,
    username: String,
    email: String,
    phone: Option<String>,
    profile: Profile,
}

#[derive(Debug, Clone)]
struct UserRecord {
    id: Uuid,
    username: String,
    email: Ciphertext,
    email_bidx: BlindIndex,
    phone: Option<Ciphertext>,
    profile: Ciphertext,
    encx_dek: Option<WrappedDek>,
}

impl User {
    const EMAIL: IndexSpec = IndexSpec::new("email", "users.email", 32, Normalizer::Email);
}

impl Encrypted for User {
    type Record = UserRecord;
    const TABLE: &'static str = "users";

    async fn encrypt(&self, crypto: &Crypto) -> encx::Result<UserRecord> {
        let id = self.id.record_id_bytes();
        let sealer = crypto.seal_record(Self::TABLE, &id).await?;
        Ok(UserRecord {
            id: self.id,
            username: self.username.clone(),
            email: sealer.seal("email", &self.email)?,
            email_bidx: crypto.blind_index(&Self::EMAIL, &self.email)?,
            phone: sealer.seal_option("phone", &self.phone)?,
            profile: sealer.seal("profile", &self.profile)?,
            encx_dek: Some(sealer.into_wrapped_dek()),
        })
    }

    async fn decrypt(record: &UserRecord, crypto: &Crypto) -> encx::Result<Self> {
        let id = record.id.record_id_bytes();
        let opener = crypto
            .open_record(Self::TABLE, &id, record.encx_dek.as_ref(), &record.id)
            .await?;
        Ok(User {
            id: record.id,
            username: record.username.clone(),
            email: opener.open("email", &record.email)?,
            phone: opener.open_option("phone", &record.phone)?,
            profile: opener.open("profile", &record.profile)?,
        })
    }
}

async fn crypto() -> Crypto {
    Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap())
        .index_keys(IndexKeys::generate().unwrap())
        .build()
        .await
        .unwrap()
}

fn ada() -> User {
    User {
        id: Uuid::new_v4(),
        username: "ada".into(),
        email: "ada@example.com".into(),
        phone: Some("+44 20 7946 0958".into()),
        profile: Profile {
            bio: "Analyst of engines".into(),
            age: 36,
        },
    }
}

#[tokio::test]
async fn hand_written_impl_round_trips_and_indexes() {
    let crypto = crypto().await;
    let user = ada();
    let record = user.encrypt(&crypto).await.unwrap();
    assert_eq!(User::decrypt(&record, &crypto).await.unwrap(), user);
    assert_eq!(
        record.email_bidx,
        crypto
            .blind_index(&User::EMAIL, " ADA@example.com")
            .unwrap()
    );
    let debug = format!("{record:?}");
    for secret in ["ada@example.com", "7946", "Analyst"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[tokio::test]
async fn swapping_fields_or_records_is_tampering() {
    let crypto = crypto().await;
    let a = ada().encrypt(&crypto).await.unwrap();
    let b = ada().encrypt(&crypto).await.unwrap();

    let mut swapped_columns = a.clone();
    swapped_columns.email = a.phone.clone().unwrap();
    assert!(matches!(
        User::decrypt(&swapped_columns, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut moved_field = a.clone();
    moved_field.email = b.email.clone();
    assert!(matches!(
        User::decrypt(&moved_field, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut moved_dek = a.clone();
    moved_dek.encx_dek = b.encx_dek.clone();
    assert!(matches!(
        User::decrypt(&moved_dek, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut erased = a.clone();
    erased.encx_dek = None;
    assert!(matches!(
        User::decrypt(&erased, &crypto).await,
        Err(Error::Shredded { .. })
    ));
}
