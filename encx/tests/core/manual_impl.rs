//! `#[derive(Encrypted)]` end to end (this replaced the hand-written impl that proved the
//! trait's shape before the derive existed).
use encx::index::IndexKeys;
use encx::schema::{create_table, ColumnKind, Dialect, Schema};
use encx::{Crypto, Encrypted, Error, LocalKeyring, MasterKey, PasswordHash, PasswordPolicy};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    bio: String,
    age: u8,
    links: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(
    table = "users",
    index(
        name = "name_city",
        fields(name, city),
        normalize = "lowercase",
        bits = 16
    )
)]
pub struct User {
    #[encx(id)]
    pub id: Uuid,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(
        encrypt,
        searchable(normalize = "digits", bits = 16, name = "phone_digits")
    )]
    pub phone: Option<String>,
    #[encx(encrypt)]
    pub name: String,
    #[encx(encrypt)]
    pub city: String,
    #[encx(encrypt)]
    pub profile: Profile,
    #[encx(encrypt)]
    pub tags: Vec<String>,
    #[encx(encrypt_none)]
    pub nickname: Option<String>,
    #[encx(hash_secure)]
    pub password: PasswordHash,
    #[encx(encrypt, column = "dob")]
    pub birthday: chrono::NaiveDate,
    #[encx(encrypt)]
    pub balance_cents: i64,
    #[encx(encrypt)]
    pub ratio: f64,
    #[encx(encrypt)]
    pub active: bool,
    #[encx(skip)]
    pub session: Option<String>,
    pub score: i64,
}

/// Default table name, integer id.
#[derive(Debug, Clone, PartialEq, Encrypted)]
pub struct OrderItem {
    #[encx(id)]
    pub id: i64,
    #[encx(encrypt)]
    pub note: String,
}

/// String id, keyword column, camelCase columns.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(rename_all = "camelCase")]
pub struct Company {
    #[encx(id)]
    pub company_id: String,
    #[encx(encrypt, searchable(normalize = "trim", bits = 64))]
    pub legal_name: String,
    #[encx(encrypt, column = "type")]
    pub kind: String,
}

/// No id: still one DEK per record.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "events")]
pub struct Event {
    #[encx(encrypt)]
    pub payload: Vec<u8>,
}

pub async fn crypto() -> Crypto {
    Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap())
        .index_keys(IndexKeys::generate().unwrap())
        .password_policy(PasswordPolicy::new(8 * 1024, 1, 1).unwrap())
        .build()
        .await
        .unwrap()
}

pub fn ada(crypto: &Crypto) -> User {
    User {
        id: Uuid::new_v4(),
        username: "ada".into(),
        email: "Ada.Lovelace@Example.com".into(),
        phone: Some("+44 20 7946 0958".into()),
        name: "Ada Lovelace".into(),
        city: "London".into(),
        profile: Profile {
            bio: "Analyst of engines".into(),
            age: 36,
            links: vec!["https://example.org/ada".into()],
        },
        tags: vec!["mathematics".into(), "poetry".into()],
        nickname: Some("Enchantress".into()),
        password: crypto
            .password_policy()
            .hash("correct horse battery")
            .unwrap(),
        birthday: chrono::NaiveDate::from_ymd_opt(1815, 12, 10).unwrap(),
        balance_cents: -1_234_567,
        ratio: 0.618,
        active: true,
        session: None,
        score: 99,
    }
}

#[tokio::test]
async fn every_field_kind_round_trips_through_the_derive() {
    let crypto = crypto().await;
    let mut user = ada(&crypto);
    let record = user.encrypt(&crypto).await.unwrap();
    assert_eq!(record.username, "ada");
    assert_eq!(record.score, 99);
    let back = User::decrypt(&record, &crypto).await.unwrap();
    assert_eq!(back, user);
    assert!(crypto
        .password_policy()
        .verify(&back.password, "correct horse battery")
        .unwrap());

    // None: a plain Option stores NULL; encrypt_none stores a ciphertext either way.
    user.phone = None;
    user.nickname = None;
    user.session = Some("not stored".into());
    let record = user.encrypt(&crypto).await.unwrap();
    assert!(record.phone.is_none() && record.phone_digits_bidx.is_none());
    assert!(!record.nickname.is_empty(), "encrypt_none hides presence");
    let back = User::decrypt(&record, &crypto).await.unwrap();
    assert_eq!(back.nickname, None);
    assert_eq!(
        back.session, None,
        "skip fields are not stored and come back as Default"
    );

    for item in [OrderItem {
        id: -5,
        note: "fragile".into(),
    }] {
        let r = item.encrypt(&crypto).await.unwrap();
        assert_eq!(OrderItem::decrypt(&r, &crypto).await.unwrap(), item);
    }
    let co = Company {
        company_id: "ACME-1".into(),
        legal_name: " Acme Ltd ".into(),
        kind: "llc".into(),
    };
    let r = co.encrypt(&crypto).await.unwrap();
    assert!(!r.r#type.is_empty());
    assert_eq!(Company::decrypt(&r, &crypto).await.unwrap(), co);
    let ev = Event {
        payload: vec![1, 2, 3],
    };
    let r = ev.encrypt(&crypto).await.unwrap();
    assert_eq!(Event::decrypt(&r, &crypto).await.unwrap(), ev);
}

#[tokio::test]
async fn generated_record_holds_no_plaintext_bytes() {
    let crypto = crypto().await;
    let user = ada(&crypto);
    let r = user.encrypt(&crypto).await.unwrap();
    let mut stored: Vec<Vec<u8>> = vec![
        r.email.as_bytes().to_vec(),
        r.phone.clone().unwrap().into_bytes(),
        r.name.clone().into_bytes(),
        r.city.clone().into_bytes(),
        r.profile.clone().into_bytes(),
        r.tags.clone().into_bytes(),
        r.nickname.clone().into_bytes(),
        r.dob.clone().into_bytes(),
        r.balance_cents.clone().into_bytes(),
        r.encx_dek.clone().unwrap().into_bytes(),
        r.email_bidx.clone().unwrap().into_bytes(),
        r.name_city_bidx.clone().unwrap().into_bytes(),
    ];
    stored.push(r.password.as_str().as_bytes().to_vec());
    let all: Vec<u8> = stored.concat();
    for secret in [
        "Ada.Lovelace",
        "ada.lovelace",
        "7946",
        "Lovelace",
        "London",
        "Analyst",
        "mathematics",
        "Enchantress",
        "correct horse",
        "1815",
    ] {
        assert!(
            !all.windows(secret.len())
                .any(|w| w.eq_ignore_ascii_case(secret.as_bytes())),
            "plaintext {secret:?} found in the stored record"
        );
    }
}

#[tokio::test]
async fn swapped_or_moved_ciphertexts_are_tampering() {
    let crypto = crypto().await;
    let a = ada(&crypto).encrypt(&crypto).await.unwrap();
    let b = ada(&crypto).encrypt(&crypto).await.unwrap();

    let mut swapped = a.clone();
    std::mem::swap(&mut swapped.name, &mut swapped.city);
    assert!(matches!(
        User::decrypt(&swapped, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut moved = a.clone();
    moved.email = b.email.clone();
    assert!(matches!(
        User::decrypt(&moved, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut other_dek = a.clone();
    other_dek.encx_dek = b.encx_dek.clone();
    assert!(matches!(
        User::decrypt(&other_dek, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut other_id = a.clone();
    other_id.id = b.id;
    assert!(matches!(
        User::decrypt(&other_id, &crypto).await,
        Err(Error::Tampered)
    ));

    let mut erased = a.clone();
    erased.encx_dek = None;
    match User::decrypt(&erased, &crypto).await {
        Err(Error::Shredded { table, record }) => {
            assert_eq!(table, "users");
            assert_eq!(record, a.id.to_string());
        }
        other => panic!("{:?}", other.err()),
    }
}

#[tokio::test]
async fn handles_compute_lookups_and_recheck() {
    let crypto = crypto().await;
    let user = ada(&crypto);
    let r = user.encrypt(&crypto).await.unwrap();

    let lookups = User::EMAIL
        .lookup(&crypto, " ada.lovelace@example.COM")
        .unwrap();
    assert!(lookups.contains(r.email_bidx.as_ref().unwrap()));
    assert!(User::EMAIL.matches(&crypto, &user, "ADA.LOVELACE@example.com"));
    assert!(!User::EMAIL.matches(&crypto, &user, "bob@example.com"));
    assert_eq!(User::EMAIL.column(), "email_bidx");
    assert_eq!(User::EMAIL.spec().domain, "5:users,5:email,");
    assert_eq!(
        User::EMAIL.spec().domain,
        encx::index::default_domain("users", "email")
    );

    assert_eq!(User::PHONE_DIGITS.spec().bits, 16);
    assert_eq!(r.phone_digits_bidx.as_ref().unwrap().len(), 2);
    assert!(User::PHONE_DIGITS
        .lookup(&crypto, "442079460958")
        .unwrap()
        .contains(r.phone_digits_bidx.as_ref().unwrap()));

    let name_city = User::NAME_CITY
        .lookup(&crypto, &[&"ADA LOVELACE", &"london"])
        .unwrap();
    assert!(name_city.contains(r.name_city_bidx.as_ref().unwrap()));
    assert!(User::NAME_CITY.matches(&crypto, &user, &[&"ada lovelace", &"LONDON"]));
    assert!(!User::NAME_CITY.matches(&crypto, &user, &[&"ada lovelace", &"Paris"]));

    assert_eq!(
        Company::LEGAL_NAME.spec().domain,
        "9:companies,9:legalName,"
    );
}

#[test]
fn schema_and_ddl_follow_the_attributes() {
    let names: Vec<&str> = User::columns().iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "id",
            "username",
            "email",
            "email_bidx",
            "phone",
            "phone_digits_bidx",
            "name",
            "city",
            "profile",
            "tags",
            "nickname",
            "password",
            "dob",
            "balance_cents",
            "ratio",
            "active",
            "score",
            "name_city_bidx",
            "encx_dek"
        ]
    );
    assert!(matches!(
        User::columns()[4].kind,
        ColumnKind::Ciphertext { nullable: true }
    ));
    assert!(matches!(
        User::columns()[10].kind,
        ColumnKind::Ciphertext { nullable: false }
    ));
    assert_eq!(<OrderItem as Encrypted>::TABLE, "order_items");
    assert_eq!(<Company as Encrypted>::TABLE, "companies");
    let co: Vec<&str> = Company::columns().iter().map(|c| c.name).collect();
    assert_eq!(
        co,
        [
            "companyId",
            "legalName",
            "legalName_bidx",
            "type",
            "encx_dek"
        ]
    );

    let pg = create_table::<User>(Dialect::Postgres).unwrap();
    assert!(
        pg[0].starts_with(r#"CREATE TABLE IF NOT EXISTS "users" ("#),
        "{}",
        pg[0]
    );
    for line in [
        r#""id" UUID NOT NULL PRIMARY KEY"#,
        r#""username" TEXT NOT NULL"#,
        r#""email" BYTEA NOT NULL"#,
        r#""email_bidx" BYTEA NULL"#,
        r#""phone" BYTEA NULL"#,
        r#""password" TEXT NOT NULL"#,
        r#""score" BIGINT NOT NULL"#,
        r#""encx_dek" BYTEA NULL"#,
    ] {
        assert!(pg[0].contains(line), "missing {line:?} in {}", pg[0]);
    }
    assert!(
        pg.iter()
            .any(|s| s
                == r#"CREATE INDEX IF NOT EXISTS "users_email_bidx" ON "users" ("email_bidx")"#),
        "{pg:?}"
    );
    assert_eq!(pg.len(), 4, "table + three blind indexes");
    let my = create_table::<User>(Dialect::MySql).unwrap();
    assert_eq!(my.len(), 1);
    for line in [
        "`id` BINARY(16) NOT NULL PRIMARY KEY",
        "`email` LONGBLOB NOT NULL",
        "`email_bidx` VARBINARY(4) NULL",
        "`phone_digits_bidx` VARBINARY(2) NULL",
        "INDEX `users_email_bidx` (`email_bidx`)",
    ] {
        assert!(my[0].contains(line), "missing {line:?} in {}", my[0]);
    }
    let lite = create_table::<OrderItem>(Dialect::Sqlite).unwrap();
    assert!(
        lite[0].contains(r#""id" INTEGER NOT NULL PRIMARY KEY"#),
        "{}",
        lite[0]
    );
    // camelCase columns keep their case on PostgreSQL because they are quoted.
    let co = create_table::<Company>(Dialect::Postgres).unwrap();
    assert!(co[0].contains(r#""legalName" BYTEA NOT NULL"#), "{}", co[0]);
}

/// A plain field whose type has no SqlType impl still derives; only DDL reports it.
#[derive(Debug, Clone, Encrypted)]
#[encx(table = "things")]
pub struct Thing {
    #[encx(id)]
    pub id: i64,
    pub created: chrono::NaiveDate,
    #[encx(encrypt)]
    pub secret: String,
}

#[tokio::test]
async fn plain_types_without_sql_type_derive_and_ddl_names_them() {
    let crypto = crypto().await;
    let t = Thing {
        id: 1,
        created: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        secret: "s".into(),
    };
    let back = Thing::decrypt(&t.encrypt(&crypto).await.unwrap(), &crypto)
        .await
        .unwrap();
    assert_eq!(back.created, t.created);
    let err = create_table::<Thing>(Dialect::Postgres)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`created`") && err.contains("SqlType"),
        "{err}"
    );
}
