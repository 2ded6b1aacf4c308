//! Repositories, key tables and erasure against real PostgreSQL, MariaDB and SQLite.
//!
//! Every test body is written once (in `db_tests!`) and instantiated per database.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use encx::{
    Crypto, Encrypted, HierarchicalKeyring, KekStore, Keyring, LocalKeyring, MasterKey,
    PasswordHash, PasswordPolicy,
};
use encx_sqlx::{Repo, SqlKekStore};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub bio: String,
    pub languages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(
    table = "people",
    index(name = "name_city", fields(name, city), normalize = "lowercase")
)]
pub struct Person {
    #[encx(id)]
    pub id: Uuid,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt, searchable(normalize = "digits"))]
    pub phone: Option<String>,
    #[encx(encrypt)]
    pub name: String,
    #[encx(encrypt)]
    pub city: String,
    #[encx(encrypt)]
    pub profile: Profile,
    #[encx(hash_secure)]
    pub password: PasswordHash,
    pub age: i64,
}

/// An 8-bit blind index: with a few hundred rows, buckets are shared (false positives).
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "vouchers")]
pub struct Voucher {
    #[encx(id)]
    pub id: i64,
    #[encx(encrypt, searchable(bits = 8))]
    pub code: String,
}

/// camelCase columns, a String id and a column named after an SQL keyword: DDL and queries
/// must quote identifiers on every database.
#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "companies", rename_all = "camelCase")]
pub struct Company {
    #[encx(id)]
    pub company_id: String,
    #[encx(encrypt, searchable(normalize = "trim"))]
    pub legal_name: String,
    #[encx(encrypt, column = "type")]
    pub kind: String,
    pub employee_count: i64,
}

pub fn password() -> PasswordHash {
    static HASH: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        PasswordPolicy::new(8 * 1024, 1, 1)
            .unwrap()
            .hash("hunter2")
            .unwrap()
    })
    .clone()
}

pub fn person(n: usize) -> Person {
    Person {
        id: Uuid::new_v4(),
        username: format!("user{n}"),
        email: format!("Person.{n}@Example.com"),
        phone: n.is_multiple_of(2).then(|| format!("+1 (555) 010-{n:04}")),
        name: format!("Name{n} Secretname"),
        city: if n.is_multiple_of(3) {
            "Lyon".into()
        } else {
            "Springfield".into()
        },
        profile: Profile {
            bio: format!("Confidential biography {n}"),
            languages: vec!["fr".into(), "en".into()],
        },
        password: password(),
        age: 20 + n as i64,
    }
}

/// A process's encryption setup: a hierarchical keyring whose KEKs and index key live in the
/// database's `encx_keks` table, under one local root key shared by every "process".
pub async fn crypto_for<S: KekStore + 'static>(store: S) -> Crypto {
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let store: Arc<dyn KekStore> = Arc::new(store);
    Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .password_policy(PasswordPolicy::new(8 * 1024, 1, 1).unwrap())
        .build()
        .await
        .unwrap()
}

/// Every plaintext fragment that must never appear in any column of any table.
pub fn secrets(people: &[Person]) -> Vec<String> {
    let mut out = vec![
        "hunter2".to_string(),
        "Confidential biography".to_string(),
        "Secretname".to_string(),
        "Springfield".into(),
    ];
    for p in people {
        out.push(p.email.to_lowercase());
        out.push(p.email.clone());
        if let Some(phone) = &p.phone {
            out.push(phone.clone());
        }
    }
    out
}

pub fn assert_no_plaintext(table: &str, column: &str, bytes: &[u8], secrets: &[String]) {
    for s in secrets {
        assert!(
            !bytes
                .windows(s.len())
                .any(|w| w.eq_ignore_ascii_case(s.as_bytes())),
            "plaintext {s:?} found in {table}.{column}"
        );
    }
}

macro_rules! db_tests {
    ($module:ident, $service:expr, $db:ty, $open:path, $tables_sql:expr) => {
        mod $module {
            use super::*;

            /// Every test of this module, for the harness.
            pub fn tests() -> Vec<harness::Test> {
                vec![
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::every_repository_method"),
                        every_repository_method
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::quoted_identifiers_and_string_ids"),
                        quoted_identifiers_and_string_ids
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::works_inside_a_callers_transaction"),
                        works_inside_a_callers_transaction
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::erasure_shreds_and_hides_the_record"),
                        erasure_shreds_and_hides_the_record
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::find_by_drops_blind_index_false_positives"
                        ),
                        find_by_drops_blind_index_false_positives
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::sixteen_tasks_insert_concurrently"),
                        sixteen_tasks_insert_concurrently
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::two_processes_share_the_kek_table_across_rotation"
                        ),
                        two_processes_share_the_kek_table_across_rotation
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::kek_rotation_racing_inserts_loses_no_record"
                        ),
                        kek_rotation_racing_inserts_loses_no_record
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::no_plaintext_reaches_any_column_of_any_table"
                        ),
                        no_plaintext_reaches_any_column_of_any_table
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::a_tampered_row_never_hides_the_other_matches"
                        ),
                        a_tampered_row_never_hides_the_other_matches
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::every_kind_of_altered_stored_bytes_is_tampered"
                        ),
                        every_kind_of_altered_stored_bytes_is_tampered
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(stringify!($module), "::key_rows_edited_in_sql_are_tampered"),
                        key_rows_edited_in_sql_are_tampered
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::two_cold_processes_agree_on_the_first_kek"
                        ),
                        two_cold_processes_agree_on_the_first_kek
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::a_subject_key_insert_that_lost_its_race_adopts_the_stored_row"
                        ),
                        a_subject_key_insert_that_lost_its_race_adopts_the_stored_row
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::an_eraser_waits_out_the_subject_cache_ttl_and_a_margin"
                        ),
                        an_eraser_waits_out_the_subject_cache_ttl_and_a_margin
                    ),
                    encx_integration_tests::test_case!(
                        $service,
                        concat!(
                            stringify!($module),
                            "::an_old_ledger_entry_blocks_a_restored_subject_and_spares_a_reenabled_one"
                        ),
                        an_old_ledger_entry_blocks_a_restored_subject_and_spares_a_reenabled_one
                    ),
                ]
            }
            use encx_integration_tests as harness;
            use sqlx::{Column, Row};

            type Db = $db;

            async fn setup(test: &str) -> Option<(harness::TestDb<Db>, Repo<Person, Db>)> {
                let db = $open(test).await?;
                encx_sqlx::migrate(&db.pool).await.unwrap();
                encx_sqlx::migrate(&db.pool)
                    .await
                    .expect("migrations are idempotent");
                let crypto = crypto_for(SqlKekStore::<Db>::new(db.pool.clone())).await;
                let repo = Repo::<Person, Db>::new(db.pool.clone(), crypto);
                repo.create_table().await.unwrap();
                repo.create_table().await.expect("DDL is idempotent");
                Some((db, repo))
            }
            async fn every_repository_method() {
                let Some((db, repo)) =
                    setup(concat!(stringify!($module), "::every_repository_method")).await
                else {
                    return;
                };
                let people: Vec<Person> = (0..6).map(person).collect();
                repo.insert(repo.pool(), &people[0]).await.unwrap();
                repo.insert_many(repo.pool(), &people[1..]).await.unwrap();

                assert_eq!(repo.get(repo.pool(), people[0].id).await.unwrap(), people[0]);
                assert!(repo.get_optional(repo.pool(), Uuid::new_v4()).await.unwrap().is_none());
                assert!(matches!(
                    repo.get(repo.pool(), Uuid::new_v4()).await,
                    Err(encx_sqlx::Error::NotFound { .. })
                ));

                let ids: Vec<Uuid> = people.iter().map(|p| p.id).collect();
                let mut many = repo.get_many(repo.pool(), &ids).await.unwrap();
                many.sort_by_key(|p| p.age);
                assert_eq!(many, people);

                let found = repo
                    .find_by(repo.pool(), Person::EMAIL, "  PERSON.3@example.COM ")
                    .await
                    .unwrap();
                assert_eq!(found, vec![people[3].clone()]);
                assert!(repo
                    .find_by(repo.pool(), Person::EMAIL, "nobody@example.com")
                    .await
                    .unwrap()
                    .is_empty());
                let by_phone = repo.find_by(repo.pool(), Person::PHONE, "15550100004").await.unwrap();
                assert_eq!(by_phone, vec![people[4].clone()]);
                let lyon = repo
                    .find_by_index(repo.pool(), Person::NAME_CITY, &[&"name3 secretname", &"LYON"])
                    .await
                    .unwrap();
                assert_eq!(lyon, vec![people[3].clone()]);
                assert!(repo
                    .exists_by(repo.pool(), Person::EMAIL, "person.5@example.com")
                    .await
                    .unwrap());
                assert!(!repo
                    .exists_by(repo.pool(), Person::EMAIL, "person.9@example.com")
                    .await
                    .unwrap());

                let mut changed = people[2].clone();
                changed.email = "new.address@example.com".into();
                changed.phone = None;
                repo.update(repo.pool(), &changed).await.unwrap();
                assert_eq!(repo.get(repo.pool(), changed.id).await.unwrap(), changed);
                assert!(repo
                    .find_by(repo.pool(), Person::EMAIL, &people[2].email)
                    .await
                    .unwrap()
                    .is_empty());
                assert_eq!(
                    repo.find_by(repo.pool(), Person::EMAIL, "NEW.address@example.com")
                        .await
                        .unwrap(),
                    vec![changed.clone()]
                );
                let ghost = person(99);
                assert!(matches!(
                    repo.update(repo.pool(), &ghost).await,
                    Err(encx_sqlx::Error::NotFound { .. })
                ));

                assert!(repo.delete(repo.pool(), people[1].id).await.unwrap());
                assert!(!repo.delete(repo.pool(), people[1].id).await.unwrap());
                assert!(repo.get_optional(repo.pool(), people[1].id).await.unwrap().is_none());
                db.cleanup().await;
            }
            async fn quoted_identifiers_and_string_ids() {
                let Some((db, people)) = setup(concat!(
                    stringify!($module),
                    "::quoted_identifiers_and_string_ids"
                ))
                .await
                else {
                    return;
                };
                let repo = Repo::<Company, Db>::new(db.pool.clone(), people.crypto().clone());
                repo.create_table().await.unwrap();
                let acme = Company {
                    company_id: "ACME-1".into(),
                    legal_name: "Acme Ltd".into(),
                    kind: "llc".into(),
                    employee_count: 12,
                };
                repo.insert(repo.pool(), &acme).await.unwrap();
                assert_eq!(repo.get(repo.pool(), "ACME-1".to_string()).await.unwrap(), acme);
                assert_eq!(
                    repo.find_by(repo.pool(), Company::LEGAL_NAME, "  Acme Ltd ")
                        .await
                        .unwrap(),
                    vec![acme.clone()]
                );
                assert!(repo.erase(repo.pool(), "ACME-1".to_string()).await.unwrap());
                assert!(repo
                    .get(repo.pool(), "ACME-1".to_string())
                    .await
                    .unwrap_err()
                    .is_shredded());
                db.cleanup().await;
            }
            async fn works_inside_a_callers_transaction() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::works_inside_a_callers_transaction"
                ))
                .await
                else {
                    return;
                };
                let (a, b) = (person(1), person(2));
                let mut tx = db.pool.begin().await.unwrap();
                repo.insert(&mut tx, &a).await.unwrap();
                repo.insert_many(&mut tx, std::slice::from_ref(&b))
                    .await
                    .unwrap();
                assert_eq!(repo.get(&mut tx, a.id).await.unwrap(), a);
                assert_eq!(
                    repo.find_by(&mut tx, Person::EMAIL, &b.email)
                        .await
                        .unwrap(),
                    vec![b.clone()]
                );
                tx.rollback().await.unwrap();
                assert!(
                    repo.get_optional(repo.pool(), a.id).await.unwrap().is_none(),
                    "rolled back with the caller's transaction"
                );
                assert!(repo.get_optional(repo.pool(), b.id).await.unwrap().is_none());

                let mut tx = db.pool.begin().await.unwrap();
                repo.insert(&mut tx, &a).await.unwrap();
                repo.erase(&mut tx, a.id).await.unwrap();
                tx.commit().await.unwrap();
                assert!(repo.get(repo.pool(), a.id).await.unwrap_err().is_shredded());
                db.cleanup().await;
            }
            async fn erasure_shreds_and_hides_the_record() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::erasure_shreds_and_hides_the_record"
                ))
                .await
                else {
                    return;
                };
                let people: Vec<Person> = (0..3).map(person).collect();
                repo.insert_many(repo.pool(), &people).await.unwrap();
                let gone = &people[1];
                assert!(repo.erase(repo.pool(), gone.id).await.unwrap());

                match repo.get(repo.pool(), gone.id).await {
                    Err(encx_sqlx::Error::Crypto(encx::Error::Shredded { table, record })) => {
                        assert_eq!(table, "people");
                        assert_eq!(record, gone.id.to_string());
                    }
                    other => panic!("expected Shredded, got {other:?}"),
                }
                let ids: Vec<Uuid> = people.iter().map(|p| p.id).collect();
                let left = repo.get_many(repo.pool(), &ids).await.unwrap();
                assert_eq!(left.len(), 2);
                assert!(left.iter().all(|p| p.id != gone.id));
                assert!(repo
                    .find_by(repo.pool(), Person::EMAIL, &gone.email)
                    .await
                    .unwrap()
                    .is_empty());
                assert!(
                    repo.update(repo.pool(), gone).await.unwrap_err().is_shredded(),
                    "an erased record stays erased"
                );

                // The row is still there: plain columns kept, ciphertexts kept, key and indexes gone.
                let sql = match <Db as encx_sqlx::EncxDatabase>::DIALECT {
                    encx::schema::Dialect::Postgres => {
                        "SELECT username, email, encx_dek, email_bidx FROM people WHERE id = $1"
                    }
                    _ => "SELECT username, email, encx_dek, email_bidx FROM people WHERE id = ?",
                };
                let row = sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                    .bind(gone.id)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                assert_eq!(row.try_get::<String, _>("username").unwrap(), gone.username);
                assert!(!row.try_get::<Vec<u8>, _>("email").unwrap().is_empty());
                assert!(row
                    .try_get::<Option<Vec<u8>>, _>("encx_dek")
                    .unwrap()
                    .is_none());
                assert!(row
                    .try_get::<Option<Vec<u8>>, _>("email_bidx")
                    .unwrap()
                    .is_none());
                db.cleanup().await;
            }
            async fn find_by_drops_blind_index_false_positives() {
                let test = concat!(
                    stringify!($module),
                    "::find_by_drops_blind_index_false_positives"
                );
                let Some(db) = $open(test).await else { return };
                encx_sqlx::migrate(&db.pool).await.unwrap();
                let crypto = crypto_for(SqlKekStore::<Db>::new(db.pool.clone())).await;
                let repo = Repo::<Voucher, Db>::new(db.pool.clone(), crypto.clone());
                repo.create_table().await.unwrap();
                let vouchers: Vec<Voucher> = (0..600)
                    .map(|i| Voucher {
                        id: i,
                        code: format!("CODE-{i:05}"),
                    })
                    .collect();
                repo.insert_many(repo.pool(), &vouchers).await.unwrap();

                // With 8 bits, 1,300 codes share 256 buckets (inserted as 128 + 1000 + 172 rows, through the pipelined path): find one whose bucket holds others.
                let bucket =
                    |v: &Voucher| crypto.blind_index(Voucher::CODE.spec(), &v.code).unwrap();
                let target = vouchers
                    .iter()
                    .find(|v| vouchers.iter().filter(|o| bucket(o) == bucket(v)).count() >= 3)
                    .expect("8-bit buckets collide at 1,300 rows");
                let sharing = vouchers
                    .iter()
                    .filter(|o| bucket(o) == bucket(target))
                    .count();
                let found = repo.find_by(repo.pool(), Voucher::CODE, &target.code).await.unwrap();
                assert_eq!(
                    found,
                    vec![target.clone()],
                    "the SQL lookup returned {sharing} rows; only the true match survives"
                );
                db.cleanup().await;
            }
            async fn sixteen_tasks_insert_concurrently() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::sixteen_tasks_insert_concurrently"
                ))
                .await
                else {
                    return;
                };
                let tasks: Vec<_> = (0..16)
                    .map(|t| {
                        let repo = repo.clone();
                        tokio::spawn(async move {
                            let mut mine = Vec::new();
                            for i in 0..10 {
                                let p = person(t * 100 + i);
                                repo.insert(repo.pool(), &p).await.unwrap();
                                mine.push(p);
                            }
                            mine
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.unwrap());
                }
                let ids: Vec<Uuid> = all.iter().map(|p| p.id).collect();
                assert_eq!(repo.get_many(repo.pool(), &ids).await.unwrap().len(), 160);
                for p in all.iter().step_by(17) {
                    assert_eq!(
                        repo.find_by(repo.pool(), Person::EMAIL, &p.email).await.unwrap(),
                        vec![p.clone()]
                    );
                }
                db.cleanup().await;
            }
            async fn two_processes_share_the_kek_table_across_rotation() {
                let Some((db, repo_a)) = setup(concat!(
                    stringify!($module),
                    "::two_processes_share_the_kek_table_across_rotation"
                ))
                .await
                else {
                    return;
                };
                // Process B: its own keyring, cache and Crypto over the same tables.
                let store_b = SqlKekStore::<Db>::new(db.pool.clone());
                let root: Arc<dyn Keyring> = Arc::new(
                    LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap(),
                );
                let keyring_b = Arc::new(HierarchicalKeyring::new(
                    root.clone(),
                    Arc::new(SqlKekStore::<Db>::new(db.pool.clone())),
                ));
                let crypto_b = Crypto::builder()
                    .shared_keyring(keyring_b.clone())
                    .index_keys_in(Arc::new(store_b), root)
                    .build()
                    .await
                    .unwrap();
                let repo_b = Repo::<Person, Db>::new(db.pool.clone(), crypto_b);

                let a1 = person(1);
                repo_a.insert(repo_a.pool(), &a1).await.unwrap();
                assert_eq!(
                    repo_b.get(repo_b.pool(), a1.id).await.unwrap(),
                    a1,
                    "B reads A's record through the shared KEK"
                );
                assert_eq!(
                    repo_b.find_by(repo_b.pool(), Person::EMAIL, &a1.email).await.unwrap(),
                    vec![a1.clone()],
                    "and shares the index key"
                );

                let before = keyring_b.active_kek().await.unwrap().version();
                let rotated = keyring_b.rotate_kek().await.unwrap();
                assert_eq!(rotated.version, before + 1);
                let b1 = person(2);
                repo_b.insert(repo_b.pool(), &b1).await.unwrap();
                let a2 = person(3);
                repo_a.insert(repo_a.pool(), &a2).await.unwrap(); // A may still use its cached (now retired) KEK
                for p in [&a1, &b1, &a2] {
                    assert_eq!(&repo_a.get(repo_a.pool(), p.id).await.unwrap(), p);
                    assert_eq!(&repo_b.get(repo_b.pool(), p.id).await.unwrap(), p);
                }
                db.cleanup().await;
            }
            async fn kek_rotation_racing_inserts_loses_no_record() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::kek_rotation_racing_inserts_loses_no_record"
                ))
                .await
                else {
                    return;
                };
                let rotator = Arc::new(
                    HierarchicalKeyring::new(
                        Arc::new(
                            LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()])
                                .unwrap(),
                        ),
                        Arc::new(SqlKekStore::<Db>::new(db.pool.clone())),
                    )
                    .with_cache_ttl(std::time::Duration::ZERO),
                );
                let first = person(999);
                repo.insert(repo.pool(), &first).await.unwrap(); // the first KEK exists before the race
                let inserters: Vec<_> = (0..4)
                    .map(|t| {
                        let repo = repo.clone();
                        tokio::spawn(async move {
                            let mut mine = Vec::new();
                            for i in 0..15 {
                                let p = person(t * 100 + i);
                                repo.insert(repo.pool(), &p).await.unwrap();
                                mine.push(p);
                            }
                            mine
                        })
                    })
                    .collect();
                let rotations = tokio::spawn(async move {
                    for _ in 0..5 {
                        rotator.rotate_kek().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                });
                let mut all = Vec::new();
                for t in inserters {
                    all.extend(t.await.unwrap());
                }
                rotations.await.unwrap();
                let store = SqlKekStore::<Db>::new(db.pool.clone());
                let keks = store.list(encx::KeyPurpose::Kek).await.unwrap();
                assert_eq!(
                    keks.iter()
                        .filter(|k| k.state == encx::KekState::Active)
                        .count(),
                    1
                );
                assert_eq!(keks.len(), 6, "the first KEK and five rotations");
                all.push(first);
                let ids: Vec<Uuid> = all.iter().map(|p| p.id).collect();
                let mut back = repo.get_many(repo.pool(), &ids).await.unwrap();
                back.sort_by_key(|p| p.id);
                all.sort_by_key(|p| p.id);
                assert_eq!(
                    back, all,
                    "every record inserted during rotations reads back"
                );
                db.cleanup().await;
            }
            async fn no_plaintext_reaches_any_column_of_any_table() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::no_plaintext_reaches_any_column_of_any_table"
                ))
                .await
                else {
                    return;
                };
                let people: Vec<Person> = (0..20).map(person).collect();
                repo.insert_many(repo.pool(), &people).await.unwrap();
                repo.erase(repo.pool(), people[0].id).await.unwrap();
                let secrets = secrets(&people);
                let tables: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(($tables_sql).to_string()))
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
                assert!(
                    tables.iter().any(|t| t == "people") && tables.iter().any(|t| t == "encx_keks"),
                    "{tables:?}"
                );
                let mut cells = 0;
                for table in &tables {
                    let rows = sqlx::query(sqlx::AssertSqlSafe((format!("SELECT * FROM {table}")).to_string()))
                        .fetch_all(&db.pool)
                        .await
                        .unwrap();
                    for row in &rows {
                        for (i, col) in row.columns().iter().enumerate() {
                            let bytes: Option<Vec<u8>> =
                                row.try_get_unchecked(i).unwrap_or_default();
                            if let Some(bytes) = bytes {
                                assert_no_plaintext(table, col.name(), &bytes, &secrets);
                                cells += 1;
                            }
                        }
                    }
                }
                assert!(cells > 20 * 10, "scanned {cells} cells");
                db.cleanup().await;
            }

            /// `$1` on PostgreSQL, `?` elsewhere.
            fn ph(n: usize) -> String {
                match <Db as encx_sqlx::EncxDatabase>::DIALECT {
                    encx::schema::Dialect::Postgres => format!("${n}"),
                    _ => "?".to_owned(),
                }
            }

            /// Reads a bytes column of one person, lets `edit` change it, and writes it back
            /// as a database writer would.
            async fn edit_bytes(
                db: &harness::TestDb<Db>,
                column: &str,
                id: Uuid,
                edit: impl FnOnce(&mut Vec<u8>),
            ) {
                let sql = format!("SELECT {column} FROM people WHERE id = {}", ph(1));
                let mut bytes: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe((sql).to_string()))
                    .bind(id)
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                edit(&mut bytes);
                let sql = format!(
                    "UPDATE people SET {column} = {} WHERE id = {}",
                    ph(1),
                    ph(2)
                );
                sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                    .bind(bytes)
                    .bind(id)
                    .execute(&db.pool)
                    .await
                    .unwrap();
            }
            async fn a_tampered_row_never_hides_the_other_matches() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::a_tampered_row_never_hides_the_other_matches"
                ))
                .await
                else {
                    return;
                };
                // Two records share the searched e-mail; a writer corrupts one of them.
                let honest = person(1);
                let mut twin = person(2);
                twin.email = honest.email.clone();
                let other = person(3);
                repo.insert_many(repo.pool(), &[honest.clone(), twin.clone(), other.clone()])
                    .await
                    .unwrap();
                edit_bytes(&db, "name", twin.id, |b| {
                    let last = b.len() - 1;
                    b[last] ^= 1;
                })
                .await;

                // Before the fix this failed with Tampered: the value became unfindable.
                let found = repo.find_by(repo.pool(), Person::EMAIL, &honest.email).await.unwrap();
                assert_eq!(found, vec![honest.clone()]);
                let report = repo
                    .find_by_report(repo.pool(), Person::EMAIL, &honest.email)
                    .await
                    .unwrap();
                assert_eq!(report.found, vec![honest.clone()]);
                assert_eq!(report.rejected.len(), 1);
                assert_eq!(report.rejected[0].table, "people");
                assert_eq!(report.rejected[0].record, twin.id.to_string());
                assert!(report.rejected[0].error.is_tampered());
                assert!(repo.exists_by(repo.pool(), Person::EMAIL, &honest.email).await.unwrap());
                let by_index = repo
                    .find_by_index_report(repo.pool(), Person::NAME_CITY, &[&twin.name, &twin.city])
                    .await
                    .unwrap();
                assert!(by_index.found.is_empty() && by_index.rejected.len() == 1);
                assert!(repo.get(repo.pool(), twin.id).await.unwrap_err().is_tampered());
                assert!(repo
                    .find_by_report(repo.pool(), Person::EMAIL, &other.email)
                    .await
                    .unwrap()
                    .is_clean());
                db.cleanup().await;
            }
            async fn every_kind_of_altered_stored_bytes_is_tampered() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::every_kind_of_altered_stored_bytes_is_tampered"
                ))
                .await
                else {
                    return;
                };
                let people: Vec<Person> = (0..4).map(person).collect();
                repo.insert_many(repo.pool(), &people).await.unwrap();
                // A data column's format byte (was UnsupportedFormat, not is_tampered()).
                edit_bytes(&db, "name", people[0].id, |b| b[0] = 0x07).await;
                // Garbage in encx_dek (was UnsupportedFormat or KeyNotFound).
                edit_bytes(&db, "encx_dek", people[1].id, |b| {
                    *b = vec![0x02, 0x03, 0xff]
                })
                .await;
                // A wrapped DEK naming a KEK the store never held (was KeyNotFound).
                edit_bytes(&db, "encx_dek", people[2].id, |b| b[5] ^= 0x40).await;
                for p in &people[..3] {
                    let err = repo.get(repo.pool(), p.id).await.unwrap_err();
                    assert!(err.is_tampered(), "{err:?}");
                    assert_eq!(err.crypto_kind(), Some(encx::ErrorKind::Integrity));
                }
                // A password hash that would allocate 4 TiB when verified: refused on read.
                let sql = format!(
                    "UPDATE people SET password = {} WHERE id = {}",
                    ph(1),
                    ph(2)
                );
                sqlx::query(sqlx::AssertSqlSafe((sql).to_string()))
                    .bind("$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
                    .bind(people[3].id)
                    .execute(&db.pool)
                    .await
                    .unwrap();
                let err = repo.get(repo.pool(), people[3].id).await.unwrap_err();
                assert!(
                    matches!(
                        err,
                        encx_sqlx::Error::Crypto(encx::Error::PasswordHashRefused(_))
                    ),
                    "{err:?}"
                );
                assert!(err.is_tampered());
                db.cleanup().await;
            }
            async fn key_rows_edited_in_sql_are_tampered() {
                let Some((db, repo)) = setup(concat!(
                    stringify!($module),
                    "::key_rows_edited_in_sql_are_tampered"
                ))
                .await
                else {
                    return;
                };
                let p = person(1);
                repo.insert(repo.pool(), &p).await.unwrap();
                let fresh = || async { crypto_for(SqlKekStore::<Db>::new(db.pool.clone())).await };

                // Version edited: a new process (cold cache) must refuse the KEK.
                sqlx::query("UPDATE encx_keks SET version = version + 10 WHERE purpose = 'kek'")
                    .execute(&db.pool)
                    .await
                    .unwrap();
                let other = Repo::<Person, Db>::new(db.pool.clone(), fresh().await);
                assert!(other.get(other.pool(), p.id).await.unwrap_err().is_tampered());
                sqlx::query("UPDATE encx_keks SET version = version - 10 WHERE purpose = 'kek'")
                    .execute(&db.pool)
                    .await
                    .unwrap();
                let other = Repo::<Person, Db>::new(db.pool.clone(), fresh().await);
                assert_eq!(
                    other.get(other.pool(), p.id).await.unwrap(),
                    p,
                    "the restored row serves again"
                );

                // The KEK relabelled as a second index root: loading index keys must refuse it
                // (before the fix one secret served AES-GCM and HMAC).
                sqlx::query(
                    "UPDATE encx_keks SET purpose = 'index', version = 2 WHERE purpose = 'kek'",
                )
                .execute(&db.pool)
                .await
                .unwrap();
                let root: Arc<dyn Keyring> = Arc::new(
                    LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap(),
                );
                let err = Crypto::builder()
                    .keyring(LocalKeyring::new(vec![MasterKey::generate("x").unwrap()]).unwrap())
                    .index_keys_in(Arc::new(SqlKekStore::<Db>::new(db.pool.clone())), root)
                    .build()
                    .await
                    .unwrap_err();
                assert!(matches!(err, encx::Error::Tampered), "{err:?}");
                db.cleanup().await;
            }
            async fn two_cold_processes_agree_on_the_first_kek() {
                let test = concat!(
                    stringify!($module),
                    "::two_cold_processes_agree_on_the_first_kek"
                );
                let Some(db) = $open(test).await else { return };
                encx_sqlx::migrate(&db.pool).await.unwrap();
                let root: Arc<dyn Keyring> = Arc::new(
                    LocalKeyring::new(vec![MasterKey::new("root", [7; 32]).unwrap()]).unwrap(),
                );
                let keyrings: Vec<HierarchicalKeyring> = (0..4)
                    .map(|_| {
                        HierarchicalKeyring::new(
                            root.clone(),
                            Arc::new(SqlKekStore::<Db>::new(db.pool.clone())),
                        )
                    })
                    .collect();
                let (a, b, c, d) = tokio::join!(
                    keyrings[0].active_kek(),
                    keyrings[1].active_kek(),
                    keyrings[2].active_kek(),
                    keyrings[3].active_kek()
                );
                let ids = [
                    a.unwrap().id(),
                    b.unwrap().id(),
                    c.unwrap().id(),
                    d.unwrap().id(),
                ];
                assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
                let store = SqlKekStore::<Db>::new(db.pool.clone());
                assert_eq!(store.list(encx::KeyPurpose::Kek).await.unwrap().len(), 1);
                db.cleanup().await;
            }
            /// The writer window of an eraser: the subject cache TTL of its `Crypto` plus
            /// `WRITER_MARGIN` unless set, nothing without subject keys.
            async fn an_eraser_waits_out_the_subject_cache_ttl_and_a_margin() {
                use std::time::Duration;
                let test = concat!(
                    stringify!($module),
                    "::an_eraser_waits_out_the_subject_cache_ttl_and_a_margin"
                );
                let Some(db) = $open(test).await else { return };
                encx_sqlx::migrate(&db.pool).await.unwrap();
                let keyring =
                    || LocalKeyring::new(vec![MasterKey::new("v1", [3; 32]).unwrap()]).unwrap();
                let crypto = Crypto::builder()
                    .keyring(keyring())
                    .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::<Db>::shared(db.pool.clone()))
                    .subject_cache(Duration::from_millis(300), 10)
                    .build()
                    .await
                    .unwrap();
                let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone());
                assert_eq!(
                    eraser.effective_writer_window(),
                    Duration::from_millis(300) + encx_sqlx::WRITER_MARGIN
                );
                assert_eq!(format!("{eraser:?}"), "SubjectEraser { tables: [], .. }");
                let set = eraser.writer_window(Duration::from_secs(5));
                assert_eq!(set.effective_writer_window(), Duration::from_secs(5));
                // An erasure waits out its window, then sweeps again; with none, it does not.
                let short = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
                    .writer_window(Duration::from_millis(50));
                let started = std::time::Instant::now();
                let receipt = short.erase(&Uuid::new_v4()).await.unwrap();
                assert!(started.elapsed() >= Duration::from_millis(50));
                assert_eq!(receipt.swept_after, Some(Duration::from_millis(50)));
                let none = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
                    .writer_window(Duration::ZERO);
                assert_eq!(none.erase(&Uuid::new_v4()).await.unwrap().swept_after, None);
                let plain = Crypto::builder().keyring(keyring()).build().await.unwrap();
                assert_eq!(
                    encx_sqlx::SubjectEraser::<Uuid>::new(plain).effective_writer_window(),
                    Duration::ZERO
                );
                db.cleanup().await;
            }
            /// Ledger entries written before `up_to_version` existed cover the keys created up to
            /// their erasure time. Reapplied after a restore of the subject key store from
            /// before the subject had any key, such an entry blocks the subject again (a
            /// tombstone); reapplied when every stored key is newer (the subject was
            /// re-enabled), it destroys none of them.
            async fn an_old_ledger_entry_blocks_a_restored_subject_and_spares_a_reenabled_one() {
                use std::time::Duration;
                let test = concat!(
                    stringify!($module),
                    "::an_old_ledger_entry_blocks_a_restored_subject_and_spares_a_reenabled_one"
                );
                let Some(db) = $open(test).await else { return };
                encx_sqlx::migrate(&db.pool).await.unwrap();
                let cold_crypto = || async {
                    Crypto::builder()
                        .keyring(
                            LocalKeyring::new(vec![MasterKey::new("v1", [4; 32]).unwrap()])
                                .unwrap(),
                        )
                        .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::<Db>::shared(
                            db.pool.clone(),
                        ))
                        .build()
                        .await
                        .unwrap()
                };
                let eraser = |crypto: Crypto| {
                    encx_sqlx::SubjectEraser::<Uuid>::new(crypto)
                        .ledger(encx_sqlx::SqlErasureLedger::<Db>::shared(db.pool.clone()))
                        .writer_window(Duration::ZERO)
                };
                let old_entries = || async {
                    let sql = "UPDATE encx_erasure_ledger SET up_to_version = NULL, \
                               erased_at = erased_at - 3600000";
                    sqlx::query(sqlx::AssertSqlSafe((sql).to_string())).execute(&db.pool).await.unwrap();
                };
                // A: erased with a key, then the key store restored from before A had one.
                let a = Uuid::new_v4();
                let crypto = cold_crypto().await;
                crypto
                    .seal_subject_record("t", b"1", a.as_bytes(), "a")
                    .await
                    .unwrap();
                eraser(crypto).erase(&a).await.unwrap();
                old_entries().await;
                sqlx::query("DELETE FROM encx_subject_keys")
                    .execute(&db.pool)
                    .await
                    .unwrap();
                let after_restore = eraser(cold_crypto().await);
                assert!(after_restore.footprint(&a).await.unwrap().is_unknown());
                assert_eq!(after_restore.reapply_ledger().await.unwrap().len(), 1);
                let blocked = after_restore.footprint(&a).await.unwrap();
                assert!(blocked.erased, "a tombstone is back: {blocked}");
                assert!(!blocked.is_unknown(), "a subject with a key row is known");
                let refused = cold_crypto()
                    .await
                    .seal_subject_record("t", b"2", a.as_bytes(), "a")
                    .await
                    .err()
                    .expect("new data of an erased subject is refused");
                assert!(
                    matches!(refused, encx::Error::SubjectErased { .. }),
                    "{refused:?}"
                );
                // B: erased (an old entry, an hour ago), re-enabled, a new key since.
                let b = Uuid::new_v4();
                let crypto = cold_crypto().await;
                crypto
                    .seal_subject_record("t", b"3", b.as_bytes(), "b")
                    .await
                    .unwrap();
                eraser(crypto.clone()).erase(&b).await.unwrap();
                crypto.reenable_subject(b.as_bytes()).await.unwrap();
                crypto
                    .seal_subject_record("t", b"4", b.as_bytes(), "b")
                    .await
                    .unwrap();
                old_entries().await;
                assert_eq!(eraser(crypto.clone()).footprint(&b).await.unwrap().live_keys, 1);
                eraser(cold_crypto().await).reapply_ledger().await.unwrap();
                let spared = eraser(cold_crypto().await).footprint(&b).await.unwrap();
                assert_eq!(spared.live_keys, 1, "the re-enabled key survives: {spared}");
                db.cleanup().await;
            }
            /// Two processes store a subject's first key at once: the database's unique
            /// (subject, version) refuses the second insert, and its process adopts the stored
            /// row instead of failing (or keeping a key nobody stored).
            async fn a_subject_key_insert_that_lost_its_race_adopts_the_stored_row() {
                use encx::SubjectKeyStore;
                let test = concat!(
                    stringify!($module),
                    "::a_subject_key_insert_that_lost_its_race_adopts_the_stored_row"
                );
                let Some(db) = $open(test).await else { return };
                encx_sqlx::migrate(&db.pool).await.unwrap();
                let store = encx_sqlx::SqlSubjectKeyStore::<Db>::new(db.pool.clone());
                let first = encx::NewSubjectKey {
                    id: Uuid::new_v4(),
                    subject: b"customer-42".to_vec(),
                    version: 1,
                    wrapped: vec![1; 94],
                };
                assert_eq!(store.insert(first.clone()).await.unwrap().id, first.id);
                let late = encx::NewSubjectKey {
                    id: Uuid::new_v4(),
                    wrapped: vec![2; 94],
                    ..first.clone()
                };
                let adopted = store.insert(late).await.unwrap();
                assert_eq!(adopted.id, first.id);
                assert_eq!(adopted.wrapped, Some(vec![1; 94]));
                assert_eq!(store.versions(b"customer-42").await.unwrap().len(), 1);
                // The stores show which database they use, and nothing else.
                let name = <Db as sqlx::Database>::NAME;
                assert_eq!(
                    format!("{store:?}"),
                    format!("SqlSubjectKeyStore {{ database: {name:?} }}")
                );
                assert_eq!(
                    format!("{:?}", SqlKekStore::<Db>::new(db.pool.clone())),
                    format!("SqlKekStore {{ database: {name:?} }}")
                );
                assert_eq!(
                    format!(
                        "{:?}",
                        encx_sqlx::SqlErasureLedger::<Db>::new(db.pool.clone())
                    ),
                    format!("SqlErasureLedger {{ database: {name:?} }}")
                );
                db.cleanup().await;
            }
        }
    };
}

db_tests!(
    postgres,
    encx_integration_tests::Service::Postgres,
    sqlx::Postgres,
    encx_integration_tests::postgres,
    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'"
);
db_tests!(
    mariadb,
    encx_integration_tests::Service::MySql,
    sqlx::MySql,
    encx_integration_tests::mysql,
    "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE()"
);
db_tests!(
    sqlite,
    encx_integration_tests::Service::Sqlite,
    sqlx::Sqlite,
    encx_integration_tests::sqlite,
    "SELECT name FROM sqlite_master WHERE type = 'table'"
);

/// PostgreSQL's bulk path: `insert_many` binds one array per column (`UNNEST`) and falls back to
/// multi-row `VALUES` when a column type has no PostgreSQL array type.
mod postgres_bulk {
    use super::*;

    pub fn tests() -> Vec<encx_integration_tests::Test> {
        use encx_integration_tests::{test_case, Service};
        vec![
            test_case!(
                Service::Postgres,
                "postgres_bulk::records_bind_as_column_arrays_unless_a_type_has_none",
                records_bind_as_column_arrays_unless_a_type_has_none
            ),
            test_case!(
                Service::Postgres,
                "postgres_bulk::insert_many_round_trips_through_unnest_and_through_the_values_fallback",
                insert_many_round_trips_through_unnest_and_through_the_values_fallback
            ),
        ]
    }
    use encx::sql::PgBindArrays;
    use sqlx::postgres::PgArguments;

    /// A plain `TEXT[]` column: `Vec<String>` has no array-of-arrays type in sqlx.
    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "tagged_notes")]
    pub struct TaggedNote {
        #[encx(id)]
        pub id: i64,
        pub tags: Vec<String>,
        #[encx(encrypt)]
        pub body: String,
    }
    async fn records_bind_as_column_arrays_unless_a_type_has_none() {
        let crypto = crypto_for(encx::MemoryKekStore::new()).await;
        let mut records = Vec::new();
        for n in 0..3 {
            records.push(person(n).encrypt(&crypto).await.unwrap());
        }
        let mut args = PgArguments::default();
        let bound = PersonRecord::pg_bind_arrays(&records, &mut args);
        assert!(
            matches!(bound, Some(Ok(()))),
            "every Person column has an array type"
        );

        let note = TaggedNote {
            id: 1,
            tags: vec!["a".into()],
            body: "secret body".into(),
        };
        let records = vec![note.encrypt(&crypto).await.unwrap()];
        let mut args = PgArguments::default();
        assert!(
            TaggedNoteRecord::pg_bind_arrays(&records, &mut args).is_none(),
            "Vec<String> has no PostgreSQL array type: the caller must fall back to VALUES"
        );
    }
    async fn insert_many_round_trips_through_unnest_and_through_the_values_fallback() {
        let Some(db) = encx_integration_tests::postgres("bulk_unnest").await else {
            return;
        };
        encx_sqlx::migrate(&db.pool).await.unwrap();
        let crypto = crypto_for(SqlKekStore::<sqlx::Postgres>::new(db.pool.clone())).await;

        // UNNEST: more rows than one pipelined batch, with NULLs (phone: None) inside arrays.
        let people_repo = Repo::<Person, sqlx::Postgres>::new(db.pool.clone(), crypto.clone());
        people_repo.create_table().await.unwrap();
        let people: Vec<Person> = (0..2_345).map(person).collect();
        people_repo
            .insert_many(people_repo.pool(), &people)
            .await
            .unwrap();
        let ids: Vec<Uuid> = people.iter().map(|p| p.id).collect();
        let mut back = people_repo
            .get_many(people_repo.pool(), &ids)
            .await
            .unwrap();
        back.sort_by_key(|p| p.age);
        assert_eq!(back, people);
        let found = people_repo
            .find_by(people_repo.pool(), Person::EMAIL, &people[1_234].email)
            .await
            .unwrap();
        assert_eq!(found, vec![people[1_234].clone()]);

        // VALUES fallback for a type with a TEXT[] column (DDL by hand: no SqlType for Vec).
        sqlx::query(
            "CREATE TABLE tagged_notes (id BIGINT PRIMARY KEY, tags TEXT[] NOT NULL, \
             body BYTEA NOT NULL, encx_dek BYTEA)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let notes_repo = Repo::<TaggedNote, sqlx::Postgres>::new(db.pool.clone(), crypto);
        let notes: Vec<TaggedNote> = (0..1_500)
            .map(|n| TaggedNote {
                id: n,
                tags: vec![format!("tag{n}"), "shared".into()],
                body: format!("note body {n}"),
            })
            .collect();
        notes_repo
            .insert_many(notes_repo.pool(), &notes)
            .await
            .unwrap();
        let ids: Vec<i64> = notes.iter().map(|n| n.id).collect();
        let mut back = notes_repo.get_many(notes_repo.pool(), &ids).await.unwrap();
        back.sort_by_key(|n| n.id);
        assert_eq!(back, notes);
        db.cleanup().await;
    }
}

/// Code generic over the database: one function, `DB: EncxDatabase` its only bound, run on all
/// three databases; and a column type one database cannot store.
mod generic {
    use super::*;
    use encx_integration_tests::{test_case, Service, Test};
    use encx_sqlx::EncxDatabase;

    pub fn tests() -> Vec<Test> {
        vec![
            test_case!(
                Service::Postgres,
                "generic::one_function_serves_postgres",
                one_function_serves_postgres
            ),
            test_case!(
                Service::MySql,
                "generic::one_function_serves_mariadb",
                one_function_serves_mariadb
            ),
            test_case!(
                Service::Sqlite,
                "generic::one_function_serves_sqlite",
                one_function_serves_sqlite
            ),
            test_case!(
                Service::Sqlite,
                "generic::a_column_type_sqlite_cannot_store_is_a_configuration_error",
                a_column_type_sqlite_cannot_store_is_a_configuration_error
            ),
            test_case!(
                Service::Postgres,
                "generic::subject_keys_in_their_own_postgres_database",
                subject_keys_in_their_own_postgres_database
            ),
            test_case!(
                Service::MySql,
                "generic::subject_keys_in_their_own_mariadb_database",
                subject_keys_in_their_own_mariadb_database
            ),
            test_case!(
                Service::Sqlite,
                "generic::subject_keys_in_their_own_sqlite_database",
                subject_keys_in_their_own_sqlite_database
            ),
            test_case!(
                Service::Sqlite,
                "generic::erasing_a_subject_reaches_a_backup_copy_of_the_data",
                erasing_a_subject_reaches_a_backup_copy_of_the_data
            ),
            test_case!(
                Service::Postgres,
                "generic::erasing_a_subject_reaches_a_pg_dump_restored_after_it",
                erasing_a_subject_reaches_a_pg_dump_restored_after_it
            ),
            test_case!(
                Service::Postgres,
                "generic::a_full_restore_is_undone_by_a_ledger_kept_apart",
                a_full_restore_is_undone_by_a_ledger_kept_apart
            ),
            test_case!(
                Service::Postgres,
                "generic::audit_rows_on_postgres_hold_no_secret",
                audit_rows_on_postgres_hold_no_secret
            ),
            test_case!(
                Service::MySql,
                "generic::audit_rows_on_mariadb_hold_no_secret",
                audit_rows_on_mariadb_hold_no_secret
            ),
            test_case!(
                Service::Sqlite,
                "generic::audit_rows_on_sqlite_hold_no_secret",
                audit_rows_on_sqlite_hold_no_secret
            ),
            test_case!(
                Service::Sqlite,
                "generic::a_full_audit_queue_drops_and_counts_without_blocking",
                a_full_audit_queue_drops_and_counts_without_blocking
            ),
            test_case!(
                Service::Postgres,
                "generic::one_transaction_erasure_on_postgres",
                one_transaction_erasure_on_postgres
            ),
            test_case!(
                Service::MySql,
                "generic::one_transaction_erasure_on_mariadb",
                one_transaction_erasure_on_mariadb
            ),
            test_case!(
                Service::Sqlite,
                "generic::one_transaction_erasure_on_sqlite",
                one_transaction_erasure_on_sqlite
            ),
            test_case!(
                Service::Sqlite,
                "generic::the_ledger_undoes_a_key_store_restore_that_resurrects_a_subject",
                the_ledger_undoes_a_key_store_restore_that_resurrects_a_subject
            ),
        ]
    }

    /// A person: the record is its own data subject.
    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "subject_users")]
    pub struct Member {
        #[encx(id, subject)]
        pub id: Uuid,
        #[encx(encrypt, searchable(normalize = "email"))]
        pub email: String,
    }

    /// A person's order: its data subject is the member who placed it.
    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "subject_orders")]
    pub struct Purchase {
        #[encx(id)]
        pub id: i64,
        #[encx(subject)]
        pub member_id: Uuid,
        #[encx(encrypt)]
        pub address: String,
    }

    pub fn member(n: i64) -> (Member, Purchase) {
        let id = Uuid::new_v4();
        (
            Member {
                id,
                email: format!("member.{n}@example.com"),
            },
            Purchase {
                id: n,
                member_id: id,
                address: format!("{n} Secret Street"),
            },
        )
    }

    /// A process's crypto, with KEKs, index key and subject keys in `keys`.
    pub async fn subject_crypto<DB: EncxDatabase>(keys: sqlx::Pool<DB>) -> Crypto {
        subject_crypto_audited(keys, Arc::new(encx::audit::NoAudit)).await
    }

    /// [`subject_crypto`] with its audit events sent to `audit`.
    pub async fn subject_crypto_audited<DB: EncxDatabase>(
        keys: sqlx::Pool<DB>,
        audit: Arc<dyn encx::AuditSink>,
    ) -> Crypto {
        encx_sqlx::migrate(&keys).await.unwrap();
        let root: Arc<dyn Keyring> =
            Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
        let kek_store = SqlKekStore::shared(keys.clone());
        Crypto::builder()
            .keyring(HierarchicalKeyring::new(root.clone(), kek_store.clone()))
            .index_keys_in(kek_store, root)
            .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::shared(keys))
            // Short, so that an erasure's closing sweep waits little (TTL + 1 s margin).
            .subject_cache(SUBJECT_CACHE_TTL, 10_000)
            .audit(audit)
            .build()
            .await
            .unwrap()
    }

    /// The subject cache TTL of every test process's crypto.
    pub const SUBJECT_CACHE_TTL: std::time::Duration = std::time::Duration::from_millis(300);

    /// Data in `data`, subject keys in `keys` (another database); returns the crypto and both
    /// repositories, with two members and their purchases stored.
    async fn subjects_setup<DB: EncxDatabase>(
        data: sqlx::Pool<DB>,
        keys: sqlx::Pool<DB>,
    ) -> (
        Crypto,
        encx_sqlx::Repo<Member, DB>,
        encx_sqlx::Repo<Purchase, DB>,
        [(Member, Purchase); 2],
    ) {
        let crypto = subject_crypto(keys).await;
        let members = encx_sqlx::Repo::<Member, DB>::new(data.clone(), crypto.clone());
        let purchases = encx_sqlx::Repo::<Purchase, DB>::new(data, crypto.clone());
        members.create_table().await.unwrap();
        purchases.create_table().await.unwrap();
        let people = [member(1), member(2)];
        for (m, p) in &people {
            members.insert(members.pool(), m).await.unwrap();
            purchases.insert(purchases.pool(), p).await.unwrap();
        }
        (crypto, members, purchases, people)
    }

    /// Erasing one subject shreds its records in both tables, leaves the other's, refuses new
    /// data for it, and a cold process agrees. The erasure is interrupted after its first step
    /// (keys destroyed, rows not yet cleared): lookups already skip the subject's rows, and
    /// the next call finishes the job.
    async fn subject_erasure<DB: EncxDatabase>(data: sqlx::Pool<DB>, keys: sqlx::Pool<DB>) {
        let (crypto, members, purchases, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(data.clone(), keys.clone()).await;
        assert_eq!(members.get(members.pool(), ada.id).await.unwrap(), ada);
        assert_eq!(
            purchases.get(purchases.pool(), ada_order.id).await.unwrap(),
            ada_order
        );

        // Step 1 alone, as if the process died right after it.
        let destroyed = crypto.erase_subject(ada.id.as_bytes()).await.unwrap();
        assert_eq!(
            destroyed.len(),
            1,
            "one key for the subject across both tables"
        );
        assert!(members
            .get(members.pool(), ada.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(purchases
            .get(purchases.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(members
            .find_by(members.pool(), Member::EMAIL, &ada.email)
            .await
            .unwrap()
            .is_empty());
        assert!(!members
            .exists_by(members.pool(), Member::EMAIL, &ada.email)
            .await
            .unwrap());
        assert_eq!(
            members
                .get_many(members.pool(), &[ada.id, bob.id])
                .await
                .unwrap(),
            vec![bob.clone()]
        );
        assert_eq!(members.get(members.pool(), bob.id).await.unwrap(), bob);
        assert_eq!(
            purchases.get(purchases.pool(), bob_order.id).await.unwrap(),
            bob_order
        );
        let refused = purchases
            .insert(purchases.pool(), &ada_order)
            .await
            .unwrap_err();
        assert!(refused.is_shredded(), "{refused:?}");

        // The next call finds no key left to destroy and clears the rows.
        let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
            .table(members.clone())
            .table(purchases.clone());
        assert_eq!(
            eraser.table_names(),
            vec!["subject_users", "subject_orders"]
        );
        assert_eq!(
            format!("{eraser:?}"),
            r#"SubjectEraser { tables: ["subject_users", "subject_orders"], .. }"#
        );
        let receipt = eraser.erase(&ada.id).await.unwrap();
        assert!(receipt.keys_destroyed.is_empty());
        assert_eq!(
            receipt.tables,
            vec![("subject_users", 1), ("subject_orders", 1)]
        );
        let again = eraser.erase(&ada.id).await.unwrap();
        assert_eq!(
            again.tables,
            vec![("subject_users", 0), ("subject_orders", 0)]
        );
        let shown = format!("{receipt} {receipt:?}");
        assert!(shown.contains(&ada.id.to_string()), "{shown}");
        for secret in [&ada.email, &ada_order.address, "member.1", "Secret"] {
            assert!(!shown.contains(secret), "receipt shows {secret:?}: {shown}");
        }

        // A whole erasure in one call, for the other subject.
        let receipt = eraser.erase(&bob.id).await.unwrap();
        assert_eq!(receipt.keys_destroyed.len(), 1);
        assert_eq!(
            receipt.tables,
            vec![("subject_users", 1), ("subject_orders", 1)]
        );
        assert!(members
            .get_many(members.pool(), &[ada.id, bob.id])
            .await
            .unwrap()
            .is_empty());

        // A second process with a cold cache agrees.
        let cold_orders = encx_sqlx::Repo::<Purchase, DB>::new(data, subject_crypto(keys).await);
        assert!(cold_orders
            .get(cold_orders.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
    }

    /// A table of members' notes that no test creates: erasing into it fails.
    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "subject_missing_notes")]
    pub struct MissingNote {
        #[encx(id)]
        pub id: i64,
        #[encx(subject)]
        pub member_id: Uuid,
        #[encx(encrypt)]
        pub note: String,
    }

    /// Subject keys and data in one database, erased in one transaction: when clearing one
    /// table fails, the keys survive and nothing changed (this process and a cold one still
    /// read the subject); when it succeeds, keys and rows go together and this process stops
    /// serving the subject at once.
    async fn one_transaction_erasure<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
        let (crypto, members, purchases, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(pool.clone(), pool.clone()).await;
        let missing = encx_sqlx::Repo::<MissingNote, DB>::new(pool.clone(), crypto.clone());

        let failing = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
            .table(members.clone())
            .table(purchases.clone())
            .table(missing)
            .in_one_transaction(pool.clone());
        failing
            .erase(&ada.id)
            .await
            .expect_err("the third table does not exist");
        let cold = subject_crypto(pool.clone()).await;
        let cold_members = encx_sqlx::Repo::<Member, DB>::new(pool.clone(), cold);
        assert_eq!(
            cold_members.get(&pool, ada.id).await.unwrap(),
            ada,
            "key rolled back"
        );
        assert_eq!(
            members
                .find_by(&pool, Member::EMAIL, &ada.email)
                .await
                .unwrap(),
            vec![ada.clone()],
            "index rolled back"
        );
        assert_eq!(purchases.get(&pool, ada_order.id).await.unwrap(), ada_order);

        let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
            .table(members.clone())
            .table(purchases.clone())
            .in_one_transaction(pool.clone());
        let receipt = eraser.erase(&ada.id).await.unwrap();
        assert_eq!(receipt.keys_destroyed.len(), 1);
        assert_eq!(
            receipt.tables,
            vec![("subject_users", 1), ("subject_orders", 1)]
        );
        assert!(members.get(&pool, ada.id).await.unwrap_err().is_shredded());
        assert!(cold_members
            .get(&pool, ada.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(members
            .find_by(&pool, Member::EMAIL, &ada.email)
            .await
            .unwrap()
            .is_empty());
        let refused = purchases.insert(&pool, &ada_order).await.unwrap_err();
        assert!(
            refused.is_shredded(),
            "this process forgot the key: {refused:?}"
        );
        assert_eq!(members.get(&pool, bob.id).await.unwrap(), bob);
        assert_eq!(purchases.get(&pool, bob_order.id).await.unwrap(), bob_order);
        let again = eraser.erase(&ada.id).await.unwrap();
        assert!(again.keys_destroyed.is_empty());
        assert_eq!(
            again.tables,
            vec![("subject_users", 0), ("subject_orders", 0)]
        );
    }

    async fn one_transaction_erasure_on_postgres() {
        let name = "generic::one_transaction_erasure_on_postgres";
        let Some(db) = encx_integration_tests::postgres(name).await else {
            return;
        };
        one_transaction_erasure(db.pool.clone()).await;
        db.cleanup().await;
    }

    async fn one_transaction_erasure_on_mariadb() {
        let name = "generic::one_transaction_erasure_on_mariadb";
        let Some(db) = encx_integration_tests::mysql(name).await else {
            return;
        };
        one_transaction_erasure(db.pool.clone()).await;
        db.cleanup().await;
    }

    async fn one_transaction_erasure_on_sqlite() {
        let name = "generic::one_transaction_erasure_on_sqlite";
        let db = encx_integration_tests::sqlite(name).await.unwrap();
        one_transaction_erasure(db.pool.clone()).await;
        db.cleanup().await;
    }

    /// One row of `encx_audit`: action, table, record, subject, fields, actor, outcome.
    type AuditRow = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        String,
    );

    const AUDIT_SELECT: &str =
        "SELECT action, table_name, record, subject, fields, actor, outcome FROM encx_audit";

    /// Every repository operation and an erasure, audited to `encx_audit` of the data
    /// database; returns the secrets that must not appear in any audit row (plaintexts and the
    /// stored blind index bytes, in hex and as text).
    async fn audited_operations<DB: EncxDatabase>(
        data: sqlx::Pool<DB>,
        keys: sqlx::Pool<DB>,
    ) -> (Arc<encx_sqlx::SqlAuditSink>, Vec<String>) {
        let sink = encx_sqlx::SqlAuditSink::spawn(data.clone(), 1_000);
        encx_sqlx::migrate(&keys).await.unwrap();
        let root: Arc<dyn Keyring> =
            Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
        let kek_store = SqlKekStore::shared(keys.clone());
        let crypto = Crypto::builder()
            .keyring(HierarchicalKeyring::new(root.clone(), kek_store.clone()))
            .index_keys_in(kek_store, root)
            .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::shared(keys))
            .audit(sink.clone())
            .build()
            .await
            .unwrap();
        let members = encx_sqlx::Repo::<Member, DB>::new(data.clone(), crypto.clone())
            .with_actor("support-agent-7");
        let purchases = encx_sqlx::Repo::<Purchase, DB>::new(data, crypto.clone())
            .with_actor("support-agent-7");
        members.create_table().await.unwrap();
        purchases.create_table().await.unwrap();
        let (ada, mut order) = member(1);
        members.insert(members.pool(), &ada).await.unwrap();
        purchases
            .insert_many(purchases.pool(), std::slice::from_ref(&order))
            .await
            .unwrap();
        members.get(members.pool(), ada.id).await.unwrap();
        assert_eq!(
            members
                .find_by(members.pool(), Member::EMAIL, &ada.email)
                .await
                .unwrap()
                .len(),
            1
        );
        order.address = "2 Changed Street".into();
        purchases.update(purchases.pool(), &order).await.unwrap();
        members.get_many(members.pool(), &[ada.id]).await.unwrap();
        purchases.erase(purchases.pool(), order.id).await.unwrap();
        let index = crypto
            .blind_index(Member::EMAIL.spec(), &ada.email)
            .unwrap()
            .into_bytes();
        encx_sqlx::SubjectEraser::<Uuid>::new(crypto)
            .actor("dpo")
            .table(members)
            .table(purchases)
            .erase(&ada.id)
            .await
            .unwrap();
        sink.flush().await;
        let hex: String = index.iter().map(|b| format!("{b:02x}")).collect();
        let secrets = vec![
            ada.email.clone(),
            "member.1".into(),
            order.address,
            "1 Secret Street".into(),
            "Secret".into(),
            hex,
            String::from_utf8_lossy(&index).into_owned(),
        ];
        (sink, secrets)
    }

    fn check_audit_rows(rows: &[AuditRow], sink: &encx_sqlx::SqlAuditSink, secrets: &[String]) {
        assert_eq!(sink.dropped() + sink.failed(), 0);
        assert_eq!(sink.written(), rows.len() as u64);
        let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        for action in ["encrypt", "decrypt", "find_by", "erase", "erase_subject"] {
            assert!(actions.contains(&action), "no {action} event: {actions:?}");
        }
        let insert = rows
            .iter()
            .find(|r| r.0 == "encrypt" && r.1 == "subject_users")
            .unwrap();
        assert_eq!(insert.4, "email", "the encrypted columns, by name");
        assert_eq!(insert.5.as_deref(), Some("support-agent-7"));
        assert_eq!(insert.6, "ok");
        assert!(
            insert.2.is_some() && insert.2 == insert.3,
            "record and subject: the member's id"
        );
        assert!(rows
            .iter()
            .any(|r| r.0 == "erase_subject" && r.5.as_deref() == Some("dpo")));
        for row in rows {
            let text = format!("{row:?}");
            for secret in secrets.iter().filter(|s| s.len() >= 4) {
                assert!(
                    !text.contains(secret.as_str()),
                    "audit row {text} holds {secret:?}"
                );
            }
        }
    }

    async fn audit_rows_on_postgres_hold_no_secret() {
        let name = "generic::audit_rows_on_postgres_hold_no_secret";
        let (Some(data), Some(keys)) = (
            encx_integration_tests::postgres(name).await,
            encx_integration_tests::postgres(name).await,
        ) else {
            return;
        };
        let (sink, secrets) = audited_operations(data.pool.clone(), keys.pool.clone()).await;
        let rows: Vec<AuditRow> = sqlx::query_as(AUDIT_SELECT)
            .fetch_all(&data.pool)
            .await
            .unwrap();
        check_audit_rows(&rows, &sink, &secrets);
        data.cleanup().await;
        keys.cleanup().await;
    }

    async fn audit_rows_on_mariadb_hold_no_secret() {
        let name = "generic::audit_rows_on_mariadb_hold_no_secret";
        let (Some(data), Some(keys)) = (
            encx_integration_tests::mysql(name).await,
            encx_integration_tests::mysql(name).await,
        ) else {
            return;
        };
        let (sink, secrets) = audited_operations(data.pool.clone(), keys.pool.clone()).await;
        let rows: Vec<AuditRow> = sqlx::query_as(AUDIT_SELECT)
            .fetch_all(&data.pool)
            .await
            .unwrap();
        check_audit_rows(&rows, &sink, &secrets);
        data.cleanup().await;
        keys.cleanup().await;
    }

    async fn audit_rows_on_sqlite_hold_no_secret() {
        let name = "generic::audit_rows_on_sqlite_hold_no_secret";
        let data = encx_integration_tests::sqlite(name).await.unwrap();
        let keys = encx_integration_tests::sqlite(name).await.unwrap();
        let (sink, secrets) = audited_operations(data.pool.clone(), keys.pool.clone()).await;
        let rows: Vec<AuditRow> = sqlx::query_as(AUDIT_SELECT)
            .fetch_all(&data.pool)
            .await
            .unwrap();
        check_audit_rows(&rows, &sink, &secrets);
        data.cleanup().await;
        keys.cleanup().await;
    }

    /// The writer is stuck (its pool's one connection is held): `record` keeps returning at
    /// once, drops what does not fit the queue and counts it; once the database frees up,
    /// everything queued is written.
    async fn a_full_audit_queue_drops_and_counts_without_blocking() {
        use encx::audit::{AuditAction, AuditEvent, AuditSink};
        let db = encx_integration_tests::sqlite("generic::audit_queue")
            .await
            .unwrap();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        let held = pool.acquire().await.unwrap();
        let sink = encx_sqlx::SqlAuditSink::spawn(pool.clone(), 4);
        // One event first, so that the writer task is already blocked on the held connection
        // when the rest arrive: otherwise, on a busy machine, it can keep taking events into
        // its batch while they are recorded, and fewer are dropped than the queue explains.
        sink.record(AuditEvent::new(
            AuditAction::Decrypt,
            "t",
            std::time::SystemTime::now(),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        for _ in 1..100 {
            sink.record(AuditEvent::new(
                AuditAction::Decrypt,
                "t",
                std::time::SystemTime::now(),
            ));
            tokio::task::yield_now().await;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "record blocked"
        );
        let dropped = sink.dropped();
        assert!(
            (90..100).contains(&dropped),
            "dropped {dropped} of 100 with a queue of 4"
        );
        drop(held);
        sink.flush().await;
        assert_eq!(sink.written() + sink.dropped(), 100);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM encx_audit")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(rows as u64, sink.written());
        pool.close().await;
        db.cleanup().await;
    }

    /// `VACUUM INTO` a fresh file: a consistent copy of a SQLite database, as a backup.
    async fn sqlite_backup(pool: &sqlx::SqlitePool) -> std::path::PathBuf {
        let file = std::env::temp_dir().join(format!("encx_backup_{}.db", Uuid::new_v4().simple()));
        sqlx::query("VACUUM INTO ?")
            .bind(file.display().to_string())
            .execute(pool)
            .await
            .unwrap();
        file
    }

    async fn sqlite_open(file: &std::path::Path) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap()
    }

    /// The worst case the ledger exists for: the subject key database is restored from a
    /// backup taken before an erasure, and a data backup of the same age is read. The restored
    /// key brings the subject back, until the ledger (kept in the live data database, which
    /// the restore did not touch) is applied again.
    async fn the_ledger_undoes_a_key_store_restore_that_resurrects_a_subject() {
        let name = "generic::ledger";
        let data = encx_integration_tests::sqlite(name).await.unwrap();
        let keys = encx_integration_tests::sqlite(name).await.unwrap();
        let (crypto, members, purchases, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(data.pool.clone(), keys.pool.clone()).await;
        let keys_backup = sqlite_backup(&keys.pool).await;
        let data_backup = sqlite_backup(&data.pool).await;

        let ledger = encx_sqlx::SqlErasureLedger::shared(data.pool.clone());
        let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto)
            .ledger(ledger.clone())
            .table(members)
            .table(purchases);
        eraser.erase(&ada.id).await.unwrap();
        let entries = ledger.entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].subject, ada.id.as_bytes().to_vec());

        // The key database is restored from its backup; the old data copy is read with it.
        let restored_keys = sqlite_open(&keys_backup).await;
        let restored = subject_crypto(restored_keys.clone()).await;
        let old_data = sqlite_open(&data_backup).await;
        let old_orders =
            encx_sqlx::Repo::<Purchase, sqlx::Sqlite>::new(old_data.clone(), restored.clone());
        assert_eq!(
            old_orders
                .get(old_orders.pool(), ada_order.id)
                .await
                .unwrap(),
            ada_order,
            "without the ledger, the restore resurrects the erased subject"
        );

        let live_members =
            encx_sqlx::Repo::<Member, sqlx::Sqlite>::new(data.pool.clone(), restored.clone());
        let live_orders =
            encx_sqlx::Repo::<Purchase, sqlx::Sqlite>::new(data.pool.clone(), restored.clone());
        let after_restore = encx_sqlx::SubjectEraser::<Uuid>::new(restored)
            .ledger(ledger)
            .table(live_members)
            .table(live_orders);
        let receipts = after_restore.reapply_ledger().await.unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(
            receipts[0].keys_destroyed.len(),
            1,
            "the restored key is destroyed again"
        );
        assert!(old_orders
            .get(old_orders.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert_eq!(
            old_orders
                .get(old_orders.pool(), bob_order.id)
                .await
                .unwrap(),
            bob_order
        );
        let again = after_restore.reapply_ledger().await.unwrap();
        assert!(
            again[0].keys_destroyed.is_empty(),
            "reapplying is idempotent"
        );
        let _ = bob;

        // The ledger holds the subject id, a time, the key version covered and whether it was
        // a subject or a tenant, nothing else.
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info('encx_erasure_ledger')")
                .fetch_all(&data.pool)
                .await
                .unwrap();
        assert_eq!(columns, ["subject", "erased_at", "up_to_version", "scope"]);
        assert_eq!(entries[0].up_to_version, Some(1));

        for pool in [restored_keys, old_data] {
            pool.close().await;
        }
        let _ = std::fs::remove_file(&keys_backup);
        let _ = std::fs::remove_file(&data_backup);
        data.cleanup().await;
        keys.cleanup().await;
    }

    /// Runs PostgreSQL client tool `tool` (`pg_dump`, `psql`) against `url` with `args`,
    /// feeding `input`: the machine's own when it is at least as new as the server, else the
    /// one in the server's image through Docker (pg_dump refuses newer servers).
    fn pg_tool(tool: &str, url: &str, server_major: u32, args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let local_major = Command::new(tool)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string();
                text.split_whitespace()
                    .find_map(|w| w.split('.').next()?.parse::<u32>().ok())
            });
        let mut command = match local_major {
            Some(major) if major >= server_major => Command::new(tool),
            _ => {
                let image = format!("{}:{}", encx_test::PG_IMAGE.0, encx_test::PG_IMAGE.1);
                let mut docker = Command::new("docker");
                docker.args(["run", "--rm", "-i", "--network", "host", &image, tool]);
                docker
            }
        };
        let mut child = command
            .args(args)
            .arg(url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{tool}: neither a local {tool} >= {server_major} nor docker: {e}")
            });
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The PostgreSQL server's major version (which `pg_dump` must match or exceed).
    async fn pg_major(pool: &sqlx::PgPool) -> u32 {
        let major: i32 =
            sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000")
                .fetch_one(pool)
                .await
                .unwrap();
        u32::try_from(major).unwrap()
    }

    /// Restores a `pg_dump` into `db`, a fresh database emptied of encx's own tables first (the
    /// test harness migrates every database it makes), so that the dump restores unchanged.
    async fn pg_restore_into(
        db: &encx_integration_tests::TestDb<sqlx::Postgres>,
        server_major: u32,
        dump: &[u8],
    ) {
        for table in [
            "encx_keks",
            "encx_subject_keys",
            "encx_erasure_ledger",
            "encx_audit",
            "encx_secrets",
            "encx_tokens",
            "encx_tenants",
            "encx_tenant_keys",
            "encx_schema_migrations",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {table}")))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        pg_tool(
            "psql",
            &db.url,
            server_major,
            &["-q", "-v", "ON_ERROR_STOP=1"],
            dump,
        );
    }

    /// Issue 23, item 4: both databases (data and subject keys) restored from the same night,
    /// after an erasure. A ledger kept in the data database is rolled back with it (no entry,
    /// the subject readable again); the ledger in a database of its own still holds the
    /// erasure, and re-applying it shreds the subject in the restored copies, while the other
    /// subject reads as before.
    async fn a_full_restore_is_undone_by_a_ledger_kept_apart() {
        let name = "generic::a_full_restore_is_undone_by_a_ledger_kept_apart";
        let mut dbs = Vec::new();
        for _ in 0..5 {
            match encx_integration_tests::postgres(name).await {
                Some(db) => dbs.push(db),
                None => return,
            }
        }
        let [data, keys, ledger_db, restored_data, restored_keys]: [_; 5] =
            dbs.try_into().ok().unwrap();
        encx_sqlx::migrate(&data.pool).await.unwrap(); // a ledger table in the data, too
        let (crypto, members, purchases, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(data.pool.clone(), keys.pool.clone()).await;
        let server_major = pg_major(&data.pool).await;
        // Last night's backups of both databases are taken now, before the erasure.
        let (data_dump, keys_dump) = (
            pg_tool(
                "pg_dump",
                &data.url,
                server_major,
                &["--no-owner", "--no-privileges"],
                b"",
            ),
            pg_tool(
                "pg_dump",
                &keys.url,
                server_major,
                &["--no-owner", "--no-privileges"],
                b"",
            ),
        );

        encx_sqlx::migrate(&ledger_db.pool).await.unwrap();
        let apart = encx_sqlx::SqlErasureLedger::shared(ledger_db.pool.clone());
        let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto)
            .ledger(apart.clone())
            .table(members)
            .table(purchases);
        eraser.erase(&ada.id).await.unwrap();

        // Both databases restored from the same night.
        pg_restore_into(&restored_data, server_major, &data_dump).await;
        pg_restore_into(&restored_keys, server_major, &keys_dump).await;
        let restored = subject_crypto(restored_keys.pool.clone()).await;
        let members = encx_sqlx::Repo::<Member, sqlx::Postgres>::new(
            restored_data.pool.clone(),
            restored.clone(),
        );
        let purchases = encx_sqlx::Repo::<Purchase, sqlx::Postgres>::new(
            restored_data.pool.clone(),
            restored.clone(),
        );
        assert_eq!(
            purchases.get(purchases.pool(), ada_order.id).await.unwrap(),
            ada_order,
            "the full restore resurrected the erased subject"
        );

        // A ledger in the data database was restored too: it forgot the erasure.
        let rolled_back = encx_sqlx::SqlErasureLedger::shared(restored_data.pool.clone());
        let naive = encx_sqlx::SubjectEraser::<Uuid>::new(restored.clone())
            .ledger(rolled_back)
            .table(members.clone())
            .table(purchases.clone());
        assert!(naive.reapply_ledger().await.unwrap().is_empty());
        assert_eq!(
            purchases.get(purchases.pool(), ada_order.id).await.unwrap(),
            ada_order
        );

        // The ledger kept apart remembers it.
        let after_restore = encx_sqlx::SubjectEraser::<Uuid>::new(restored.clone())
            .ledger(apart)
            .table(members.clone())
            .table(purchases.clone());
        let receipts = after_restore.reapply_ledger().await.unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].keys_destroyed.len(), 1, "{}", receipts[0]);
        assert_eq!(
            receipts[0].tables,
            vec![("subject_users", 1), ("subject_orders", 1)]
        );
        let cold = subject_crypto(restored_keys.pool.clone()).await;
        let cold_orders =
            encx_sqlx::Repo::<Purchase, sqlx::Postgres>::new(restored_data.pool.clone(), cold);
        assert!(cold_orders
            .get(cold_orders.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(members
            .find_by(members.pool(), Member::EMAIL, &ada.email)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            cold_orders
                .get(cold_orders.pool(), bob_order.id)
                .await
                .unwrap(),
            bob_order
        );
        assert_eq!(members.get(members.pool(), bob.id).await.unwrap(), bob);
        for db in [data, keys, ledger_db, restored_data, restored_keys] {
            db.cleanup().await;
        }
    }

    /// DESIGN.md's promise, with PostgreSQL's own backup tool: `pg_dump` the data database,
    /// erase a subject, restore the dump into a fresh database: the erased subject's records
    /// in the restored copy stay noise, the other subject's read as before. The subject keys
    /// live in a second database, which the dump does not contain.
    async fn erasing_a_subject_reaches_a_pg_dump_restored_after_it() {
        let name = "generic::erasing_a_subject_reaches_a_pg_dump_restored_after_it";
        let (Some(data), Some(keys), Some(restored)) = (
            encx_integration_tests::postgres(name).await,
            encx_integration_tests::postgres(name).await,
            encx_integration_tests::postgres(name).await,
        ) else {
            return;
        };
        let (crypto, members, purchases, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(data.pool.clone(), keys.pool.clone()).await;
        let server_major = pg_major(&data.pool).await;
        let dump = pg_tool(
            "pg_dump",
            &data.url,
            server_major,
            &["--no-owner", "--no-privileges"],
            b"",
        );
        let text = String::from_utf8_lossy(&dump);
        assert!(text.contains("subject_orders"), "the dump holds the data");
        assert!(!text.contains(&ada_order.address), "and no plaintext");

        // The dump as `encx backup encrypt` keeps it: an encrypted stream, read back whole.
        let mut sealed = Vec::new();
        let keyring = crypto.keyring().clone();
        encx::stream::encrypt(&*keyring, "data/pg_dump", &dump[..], &mut sealed)
            .await
            .unwrap();
        assert!(!sealed.windows(14).any(|w| w == b"subject_orders"));
        let mut dump = Vec::new();
        encx::stream::decrypt(&*keyring, &sealed[..], &mut dump, Some("data/pg_dump"))
            .await
            .unwrap();

        let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
            .table(members)
            .table(purchases);
        eraser.erase(&ada.id).await.unwrap();

        pg_restore_into(&restored, server_major, &dump).await;
        let members =
            encx_sqlx::Repo::<Member, sqlx::Postgres>::new(restored.pool.clone(), crypto.clone());
        let purchases =
            encx_sqlx::Repo::<Purchase, sqlx::Postgres>::new(restored.pool.clone(), crypto);
        let dek: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT encx_dek FROM subject_orders WHERE id = $1")
                .bind(ada_order.id)
                .fetch_one(&restored.pool)
                .await
                .unwrap();
        assert!(
            dek.is_some(),
            "the restored copy holds the erased subject's wrapped DEK"
        );
        assert!(members
            .get(members.pool(), ada.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(purchases
            .get(purchases.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(members
            .find_by(members.pool(), Member::EMAIL, &ada.email)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(members.get(members.pool(), bob.id).await.unwrap(), bob);
        assert_eq!(
            purchases.get(purchases.pool(), bob_order.id).await.unwrap(),
            bob_order
        );
        for db in [data, keys, restored] {
            db.cleanup().await;
        }
    }

    async fn subject_keys_in_their_own_postgres_database() {
        let name = "generic::subject_keys_in_their_own_postgres_database";
        let (Some(data), Some(keys)) = (
            encx_integration_tests::postgres(name).await,
            encx_integration_tests::postgres(name).await,
        ) else {
            return;
        };
        subject_erasure(data.pool.clone(), keys.pool.clone()).await;
        for (pool, expected) in [(&data.pool, 0), (&keys.pool, 2)] {
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM encx_subject_keys")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(rows, expected, "subject keys live in the key database only");
        }
        data.cleanup().await;
        keys.cleanup().await;
    }

    async fn subject_keys_in_their_own_mariadb_database() {
        let name = "generic::subject_keys_in_their_own_mariadb_database";
        let (Some(data), Some(keys)) = (
            encx_integration_tests::mysql(name).await,
            encx_integration_tests::mysql(name).await,
        ) else {
            return;
        };
        subject_erasure(data.pool.clone(), keys.pool.clone()).await;
        data.cleanup().await;
        keys.cleanup().await;
    }

    async fn subject_keys_in_their_own_sqlite_database() {
        let name = "generic::subject_keys_in_their_own_sqlite_database";
        let data = encx_integration_tests::sqlite(name).await.unwrap();
        let keys = encx_integration_tests::sqlite(name).await.unwrap();
        subject_erasure(data.pool.clone(), keys.pool.clone()).await;
        data.cleanup().await;
        keys.cleanup().await;
    }

    /// A copy of the data database taken before the erase (SQLite's `VACUUM INTO`, a consistent
    /// file copy) is restored after it: the erased subject's records in the copy stay noise,
    /// the other subject's read as before, because the copy holds no subject key.
    async fn erasing_a_subject_reaches_a_backup_copy_of_the_data() {
        let name = "generic::erasing_a_subject_reaches_a_backup_copy_of_the_data";
        let data = encx_integration_tests::sqlite(name).await.unwrap();
        let keys = encx_integration_tests::sqlite(name).await.unwrap();
        let (crypto, _, _, [(ada, ada_order), (bob, bob_order)]) =
            subjects_setup(data.pool.clone(), keys.pool.clone()).await;

        let backup =
            std::env::temp_dir().join(format!("encx_backup_{}.db", Uuid::new_v4().simple()));
        sqlx::query("VACUUM INTO ?")
            .bind(backup.display().to_string())
            .execute(&data.pool)
            .await
            .unwrap();
        crypto.erase_subject(ada.id.as_bytes()).await.unwrap();

        // Restore: the copy becomes the live data database again.
        let restored = sqlx::SqlitePool::connect(&format!("sqlite://{}", backup.display()))
            .await
            .unwrap();
        let members =
            encx_sqlx::Repo::<Member, sqlx::Sqlite>::new(restored.clone(), crypto.clone());
        let purchases = encx_sqlx::Repo::<Purchase, sqlx::Sqlite>::new(restored.clone(), crypto);
        let dek: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT encx_dek FROM subject_orders WHERE id = ?")
                .bind(ada_order.id)
                .fetch_one(&restored)
                .await
                .unwrap();
        assert!(
            dek.is_some(),
            "the copy still holds the erased subject's wrapped DEK"
        );
        assert!(members
            .get(members.pool(), ada.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert!(purchases
            .get(purchases.pool(), ada_order.id)
            .await
            .unwrap_err()
            .is_shredded());
        assert_eq!(members.get(members.pool(), bob.id).await.unwrap(), bob);
        assert_eq!(
            purchases.get(purchases.pool(), bob_order.id).await.unwrap(),
            bob_order
        );
        restored.close().await;
        let _ = std::fs::remove_file(&backup);
        data.cleanup().await;
        keys.cleanup().await;
    }

    /// The function of the issue, as a user writes it: no bound beyond `EncxDatabase`.
    async fn register<DB: EncxDatabase>(
        users: &encx_sqlx::Repo<Person, DB>,
        user: &Person,
    ) -> encx_sqlx::Result<bool> {
        users.insert(users.pool(), user).await?;
        Ok(!users
            .find_by(users.pool(), Person::EMAIL, &user.email)
            .await?
            .is_empty())
    }

    /// Every by-id method, the key store and the migrations, generic too.
    async fn lifecycle<DB: EncxDatabase>(pool: sqlx::Pool<DB>) {
        encx_sqlx::migrate(&pool).await.unwrap();
        let store = SqlKekStore::shared(pool.clone());
        let root: Arc<dyn Keyring> =
            Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
        let crypto = Crypto::builder()
            .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
            .index_keys_in(store, root)
            .password_policy(PasswordPolicy::new(8 * 1024, 1, 1).unwrap())
            .build()
            .await
            .unwrap();
        let users = encx_sqlx::Repo::<Person, DB>::new(pool.clone(), crypto);
        users.create_table().await.unwrap();

        let mut ada = person(1);
        assert!(register(&users, &ada).await.unwrap());
        assert_eq!(users.get(&pool, ada.id).await.unwrap(), ada);
        ada.city = "Paris".into();
        users.update(&pool, &ada).await.unwrap();
        assert_eq!(
            users.get_many(&pool, &[ada.id]).await.unwrap(),
            vec![ada.clone()]
        );
        assert!(users.erase(&pool, ada.id).await.unwrap());
        assert!(users.get(&pool, ada.id).await.unwrap_err().is_shredded());
        assert!(users.update(&pool, &ada).await.unwrap_err().is_shredded());
        assert!(users.delete(&pool, ada.id).await.unwrap());
        assert!(users.get_optional(&pool, ada.id).await.unwrap().is_none());
        assert!(matches!(
            users.update(&pool, &ada).await,
            Err(encx_sqlx::Error::NotFound { .. })
        ));
    }

    async fn one_function_serves_postgres() {
        let Some(db) =
            encx_integration_tests::postgres("generic::one_function_serves_postgres").await
        else {
            return;
        };
        lifecycle(db.pool.clone()).await;
        db.cleanup().await;
    }

    async fn one_function_serves_mariadb() {
        let Some(db) = encx_integration_tests::mysql("generic::one_function_serves_mariadb").await
        else {
            return;
        };
        lifecycle(db.pool.clone()).await;
        db.cleanup().await;
    }

    async fn one_function_serves_sqlite() {
        let db = encx_integration_tests::sqlite("generic::one_function_serves_sqlite")
            .await
            .unwrap();
        lifecycle(db.pool.clone()).await;
        db.cleanup().await;
    }

    /// `Vec<String>` binds on PostgreSQL (`TEXT[]`) but sqlx has no SQLite encoding for it: the
    /// struct still compiles, and the repository says which column cannot be stored where.
    async fn a_column_type_sqlite_cannot_store_is_a_configuration_error() {
        let db = encx_integration_tests::sqlite("generic::unsupported_column")
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE tagged_notes (id INTEGER PRIMARY KEY, tags BLOB, body BLOB, encx_dek BLOB)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let crypto = crypto_for(encx::MemoryKekStore::new()).await;
        let notes = encx_sqlx::Repo::<postgres_bulk::TaggedNote, sqlx::Sqlite>::new(
            db.pool.clone(),
            crypto,
        );
        let note = postgres_bulk::TaggedNote {
            id: 1,
            tags: vec!["a".into()],
            body: "secret body".into(),
        };
        for error in [
            notes.insert(notes.pool(), &note).await.unwrap_err(),
            notes
                .insert_many(notes.pool(), std::slice::from_ref(&note))
                .await
                .unwrap_err(),
        ] {
            let encx_sqlx::Error::InvalidConfig(text) = &error else {
                panic!("expected InvalidConfig, got {error:?}");
            };
            assert!(text.contains("`tags`") && text.contains("SQLite"), "{text}");
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tagged_notes")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(stored, 0);

        // A row written by other means cannot be read back through the repository either.
        sqlx::query(
            "INSERT INTO tagged_notes (id, tags, body, encx_dek) VALUES (2, x'00', x'00', x'00')",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        let error = notes.get(notes.pool(), 2).await.unwrap_err();
        assert!(
            matches!(&error, encx_sqlx::Error::InvalidConfig(t) if t.contains("`tags`")),
            "{error:?}"
        );
        db.cleanup().await;
    }
}

#[macro_use]
mod on_databases {
    /// Runs `$run::<DB>($url)` on a current-thread runtime, `DB` chosen by the URL's scheme,
    /// and returns success: the body of a child process's `main`.
    macro_rules! on_url {
        ($url:expr, $run:ident) => {{
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if $url.starts_with("postgres") {
                    $run::<sqlx::Postgres>($url).await
                } else if $url.starts_with("mysql") {
                    $run::<sqlx::MySql>($url).await
                } else {
                    $run::<sqlx::Sqlite>($url).await
                }
            });
            std::process::ExitCode::SUCCESS
        }};
    }

    /// Declares, for each test, a module with one function per database named in brackets that
    /// opens a fresh database, binds it to the given name, runs the call on it and cleans up; and
    /// `tests()`, which lists them for the harness as `<prefix>::<test>_on_<database>`.
    macro_rules! on_databases {
        ($prefix:literal; $($test:ident: |$db:ident| $call:expr => [$($database:ident),+];)+) => {
            $(mod $test {
                use super::*;
                $(on_databases!(@run $prefix, $database, $test, |$db| $call);)+
            })+

            pub fn tests() -> Vec<Test> {
                vec![$($(on_databases!(@case $prefix, $database, $test)),+),+]
            }
        };
        (@run $prefix:literal, $database:ident, $test:ident, |$db:ident| $call:expr) => {
            pub async fn $database() {
                let name = concat!($prefix, "::", stringify!($test), "_on_", stringify!($database));
                let Some($db) = on_databases!(@open $database, name) else {
                    return;
                };
                $call.await;
                $db.cleanup().await;
            }
        };
        (@open postgres, $name:ident) => { encx_integration_tests::postgres($name).await };
        (@open mariadb, $name:ident) => { encx_integration_tests::mysql($name).await };
        (@open sqlite, $name:ident) => { encx_integration_tests::sqlite($name).await };
        (@case $prefix:literal, $database:ident, $test:ident) => {
            test_case!(
                on_databases!(@service $database),
                concat!($prefix, "::", stringify!($test), "_on_", stringify!($database)),
                $test::$database
            )
        };
        (@service postgres) => { Service::Postgres };
        (@service mariadb) => { Service::MySql };
        (@service sqlite) => { Service::Sqlite };
    }
}

mod app_secrets;
mod erasure;
mod migration;
mod operator;
mod rewrap;
mod search;
mod streams;
mod tenants;

fn main() -> std::process::ExitCode {
    if let Ok(url) = std::env::var(rewrap::CHILD_ENV) {
        return rewrap::child(&url);
    }
    if let Ok(url) = std::env::var(migration::CHILD_ENV) {
        return migration::child(&url);
    }
    if let Ok(url) = std::env::var(app_secrets::CHILD_ENV) {
        return app_secrets::child(&url);
    }
    if let Ok(url) = std::env::var(rewrap::LOCKER_ENV) {
        return rewrap::locker(&url);
    }
    if let Ok(url) = std::env::var(erasure::WRITER_ENV) {
        return erasure::writer(&url);
    }
    if let Ok(url) = std::env::var(search::BACKFILL_CHILD_ENV) {
        return search::backfill_child(&url);
    }
    if let Ok(url) = std::env::var(tenants::REWRAP_CHILD_ENV) {
        return tenants::rewrap_child(&url);
    }
    if let Ok(registry) = std::env::var(operator::CLI_ENV) {
        return operator::child(&registry);
    }
    let mut tests = postgres::tests();
    tests.extend(mariadb::tests());
    tests.extend(sqlite::tests());
    tests.extend(postgres_bulk::tests());
    tests.extend(generic::tests());
    tests.extend(rewrap::tests());
    tests.extend(migration::tests());
    tests.extend(streams::tests());
    tests.extend(search::tests());
    tests.extend(app_secrets::tests());
    tests.extend(erasure::tests());
    tests.extend(operator::tests());
    tests.extend(tenants::tests());
    encx_integration_tests::run(tests)
}
