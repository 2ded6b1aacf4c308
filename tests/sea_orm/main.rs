//! encx-sea-orm against real PostgreSQL, MariaDB and SQLite: round trips inside SeaORM
//! transactions (and one rolled back), the same bytes as encx-sqlx in both directions,
//! blind-index filters with their re-check, tampering, erasure of a record and of a data
//! subject (encx-sqlx's `SubjectEraser` on SeaORM's pool), no plaintext in any column, and
//! encx's tables made by a `sea-orm-migration` migration.

#![allow(clippy::unwrap_used)] // a failing test panics with the error

use std::sync::Arc;

use encx::password::PasswordPolicy;
use encx::{Crypto, Encrypted, HierarchicalKeyring, KekStore, Keyring, LocalKeyring, MasterKey};
use encx_sea_orm::sea_orm::{self, EntityTrait, QueryFilter, TransactionTrait};
use encx_sea_orm::Encx;
use encx_sqlx::{EncxDatabase, Repo, SqlKekStore};
use uuid::Uuid;

/// A customer: encrypted fields, a searchable e-mail, a compound index, a SeaORM entity.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(
    table = "orm_customers",
    sea_orm,
    index(name = "name_city", fields(name, city), normalize = "lowercase")
)]
struct Customer {
    #[encx(id)]
    id: Uuid,
    plan: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    phone: Option<String>,
    #[encx(
        encrypt,
        prefix(lengths(3), bits = 8, normalize = "lowercase"),
        contains(ngram = 3, filter_bits = 64, hashes = 2, normalize = "lowercase")
    )]
    name: String,
    #[encx(encrypt, suffix(lengths(2), bits = 8))]
    city: String,
    #[encx(encrypt, range(width = 10, bits = 8))]
    score: i64,
}

/// A note about a customer, wrapped under the customer's subject key.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "orm_notes", sea_orm(module = "notes"))]
struct Note {
    #[encx(id)]
    id: Uuid,
    #[encx(subject)]
    customer_id: Uuid,
    #[encx(encrypt)]
    body: String,
}

/// A member of a tenant: per-tenant keys and indexes, a signed role.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "orm_members", sea_orm(module = "members"))]
struct Member {
    #[encx(id)]
    id: Uuid,
    #[encx(tenant, signed)]
    org: String,
    #[encx(signed)]
    role: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

fn customer(name: &str, email: &str, city: &str) -> Customer {
    Customer {
        id: Uuid::new_v4(),
        plan: "pro".into(),
        email: email.into(),
        phone: Some("+44 20 7946 0000".into()),
        name: name.into(),
        city: city.into(),
        score: (name.len() * 7 + city.len()) as i64,
    }
}

async fn crypto_for<DB: EncxDatabase>(pool: &sqlx::Pool<DB>) -> Crypto {
    crypto_audited(pool, None).await
}

/// [`crypto_for`], its audit events going to `sink`.
async fn crypto_audited<DB: EncxDatabase>(
    pool: &sqlx::Pool<DB>,
    sink: Option<Arc<dyn encx::audit::AuditSink>>,
) -> Crypto {
    let root: Arc<dyn Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("root", [42; 32]).unwrap()]).unwrap());
    let store: Arc<dyn KekStore> = SqlKekStore::shared(pool.clone());
    let builder = Crypto::builder()
        .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
        .index_keys_in(store, root)
        .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::<DB>::shared(pool.clone()))
        .tenants(encx_sqlx::SqlTenantStore::<DB>::shared(pool.clone()))
        .password_policy(PasswordPolicy::new(8 * 1024, 1, 1).unwrap());
    match sink {
        Some(sink) => builder.audit(sink),
        None => builder,
    }
    .build()
    .await
    .unwrap()
}

/// The raw bytes and text of every column of a row, as an attacker with the database sees it.
async fn raw_row_text(db: &sea_orm::DatabaseConnection, table: &str, id: Uuid) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = db.get_database_backend();
    let mark = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT * FROM {table} WHERE id = {mark}"),
            [id.into()],
        ))
        .await
        .unwrap()
        .expect("the row");
    let mut text = String::new();
    for column in row.column_names() {
        if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>>("", &column) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        } else if let Ok(Some(s)) = row.try_get::<Option<String>>("", &column) {
            text.push_str(&s);
        }
        text.push('|');
    }
    text
}

macro_rules! on_database {
    ($module:ident, $open:path, $Db:ty, $connect:expr, $dialect:expr) => {
        mod $module {
            use super::*;
            type Db = $Db;

            async fn setup(
                test: &str,
            ) -> Option<(
                encx_test::TestDatabase<Db>,
                sea_orm::DatabaseConnection,
                Encx,
                Crypto,
            )> {
                let db = $open(test).await?;
                for ddl in encx::schema::create_table::<Customer>($dialect)
                    .unwrap()
                    .into_iter()
                    .chain(encx::schema::create_table::<Note>($dialect).unwrap())
                    .chain(encx::schema::create_table::<Member>($dialect).unwrap())
                {
                    sqlx::query(sqlx::AssertSqlSafe(ddl))
                        .execute(&db.pool)
                        .await
                        .unwrap();
                }
                let crypto = crypto_for(&db.pool).await;
                let orm = $connect(db.pool.clone());
                Some((db, orm, Encx::new(crypto.clone()), crypto))
            }

            /// Insert and read back inside a committed transaction; a rolled-back insert
            /// leaves nothing; no plaintext in any column of the row.
            pub async fn round_trip_in_transactions() {
                let Some((db, orm, encx, _)) =
                    setup(concat!(stringify!($module), "::round_trip_in_transactions")).await
                else {
                    return;
                };
                let ada = customer("Ada Lovelace", "ada@example.com", "London");
                let txn = orm.begin().await.unwrap();
                encx.insert(&txn, &ada).await.unwrap();
                let inside: Customer = encx.find_by_id(&txn, ada.id).await.unwrap().unwrap();
                assert_eq!(inside, ada);
                txn.commit().await.unwrap();
                assert_eq!(
                    encx.find_by_id::<Customer, _>(&orm, ada.id).await.unwrap(),
                    Some(ada.clone())
                );

                let raw = raw_row_text(&orm, "orm_customers", ada.id).await;
                for secret in ["ada@example.com", "Ada Lovelace", "London", "7946"] {
                    assert!(
                        !raw.contains(secret),
                        "plaintext {secret:?} in the row: {raw}"
                    );
                }
                assert!(raw.contains("pro"), "the plain column is stored as is");

                let grace = customer("Grace Hopper", "grace@example.com", "Arlington");
                let txn = orm.begin().await.unwrap();
                encx.insert(&txn, &grace).await.unwrap();
                txn.rollback().await.unwrap();
                assert_eq!(
                    encx.find_by_id::<Customer, _>(&orm, grace.id)
                        .await
                        .unwrap(),
                    None
                );

                // update: a fresh data key, every column rewritten
                let before = customer_entity::Entity::find_by_id(ada.id)
                    .one(&orm)
                    .await
                    .unwrap()
                    .unwrap();
                let mut moved = ada.clone();
                moved.city = "Paris".into();
                moved.phone = None;
                encx.update(&orm, &moved).await.unwrap();
                let after = customer_entity::Entity::find_by_id(ada.id)
                    .one(&orm)
                    .await
                    .unwrap()
                    .unwrap();
                assert_ne!(
                    before.encx_dek, after.encx_dek,
                    "update seals under a fresh data key"
                );
                assert_eq!(after.phone, None);
                assert_eq!(
                    encx.find_by_id::<Customer, _>(&orm, ada.id).await.unwrap(),
                    Some(moved)
                );
                db.cleanup().await;
            }

            /// Two tenants in one table through SeaORM: each scoped handle finds its own row
            /// only (equal emails, unrelated indexes), an unscoped search is refused, encx-sqlx
            /// reads what SeaORM wrote, and an edited signed role is `Tampered`.
            pub async fn tenants_search_their_own_rows() {
                let Some((db, orm, encx, crypto)) =
                    setup(concat!(stringify!($module), "::tenants_search_their_own_rows")).await
                else {
                    return;
                };
                let ada = Member { id: Uuid::new_v4(), org: "acme".into(), role: "admin".into(), email: "ada@example.com".into() };
                let bob = Member { id: Uuid::new_v4(), org: "globex".into(), role: "viewer".into(), email: "ada@example.com".into() };
                encx.insert(&orm, &ada).await.unwrap();
                encx.insert(&orm, &bob).await.unwrap();
                for m in [&ada, &bob] {
                    let scoped = encx.in_tenant(&m.org).await.unwrap();
                    assert_eq!(
                        scoped.find_by(&orm, Member::EMAIL, "ADA@example.com").await.unwrap(),
                        vec![m.clone()]
                    );
                }
                let refused = encx.find_by(&orm, Member::EMAIL, "ada@example.com").await.unwrap_err();
                assert!(refused.to_string().contains("in_tenant"), "{refused}");
                let repo = Repo::<Member, Db>::new(db.pool.clone(), crypto);
                assert_eq!(repo.get(&db.pool, bob.id).await.unwrap(), bob);
                let acme = members::Entity::find_by_id(ada.id).one(&orm).await.unwrap().unwrap();
                assert!(acme.encx_sig.is_some());
                sqlx::query("UPDATE orm_members SET role = 'owner' WHERE org = 'acme'")
                    .execute(&db.pool)
                    .await
                    .unwrap();
                let err = encx.find_by_id::<Member, _>(&orm, ada.id).await.unwrap_err();
                assert!(err.is_tampered(), "{err:?}");
                db.cleanup().await;
            }

            /// encx-sqlx writes, SeaORM reads; SeaORM writes, encx-sqlx reads and finds.
            pub async fn same_bytes_as_encx_sqlx() {
                let Some((db, orm, encx, crypto)) =
                    setup(concat!(stringify!($module), "::same_bytes_as_encx_sqlx")).await
                else {
                    return;
                };
                let repo = Repo::<Customer, Db>::new(db.pool.clone(), crypto);
                let by_sqlx = customer("Ada Lovelace", "ada@example.com", "London");
                let by_orm = customer("Grace Hopper", "grace@example.com", "Arlington");
                repo.insert(&db.pool, &by_sqlx).await.unwrap();
                encx.insert(&orm, &by_orm).await.unwrap();

                assert_eq!(
                    encx.find_by_id::<Customer, _>(&orm, by_sqlx.id)
                        .await
                        .unwrap(),
                    Some(by_sqlx.clone())
                );
                assert_eq!(repo.get(&db.pool, by_orm.id).await.unwrap(), by_orm);
                assert_eq!(
                    repo.find_by(&db.pool, Customer::EMAIL, "GRACE@example.com ")
                        .await
                        .unwrap(),
                    vec![by_orm.clone()]
                );
                assert_eq!(
                    encx.find_by(&orm, Customer::EMAIL, "ada@EXAMPLE.com")
                        .await
                        .unwrap(),
                    vec![by_sqlx.clone()]
                );
                // What SeaORM loads maps to the record encx-sqlx decrypts.
                let model = customer_entity::Entity::find_by_id(by_sqlx.id)
                    .one(&orm)
                    .await
                    .unwrap()
                    .unwrap();
                let record =
                    <Customer as encx_sea_orm::EncryptedEntity>::from_model(model).unwrap();
                assert_eq!(
                    Customer::decrypt(&record, repo.crypto()).await.unwrap(),
                    by_sqlx
                );
                db.cleanup().await;
            }

            /// `Entity::find().filter(encx.matches(...))` plus the re-check, a compound index,
            /// `exists_by`; a tampered candidate is refused without hiding the others.
            pub async fn blind_index_filters_and_tampering() {
                let Some((db, orm, encx, _)) = setup(concat!(
                    stringify!($module),
                    "::blind_index_filters_and_tampering"
                ))
                .await
                else {
                    return;
                };
                let ada = customer("Ada Lovelace", "ada@example.com", "London");
                let twin = customer("Ada Byron", "ada@example.com", "London");
                let grace = customer("Grace Hopper", "grace@example.com", "Arlington");
                for c in [&ada, &twin, &grace] {
                    encx.insert(&orm, c).await.unwrap();
                }
                let rows = customer_entity::Entity::find()
                    .filter(encx.matches(Customer::EMAIL, " ADA@example.com").unwrap())
                    .all(&orm)
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 2);
                let mut found = encx
                    .recheck(Customer::EMAIL, "ada@example.com", rows)
                    .await
                    .unwrap()
                    .found;
                found.sort_by(|a, b| a.name.cmp(&b.name));
                assert_eq!(found, vec![twin.clone(), ada.clone()]);

                // Partial indexes: filters and re-check (8-bit hashes and a 64-bit filter:
                // the other customers are candidates too, and are dropped).
                let by_prefix = encx.find_by_prefix(&orm, Customer::NAME_PREFIX, "ADA").await.unwrap();
                assert_eq!(by_prefix.len(), 2);
                assert!(by_prefix.contains(&ada) && by_prefix.contains(&twin));
                assert_eq!(
                    encx.find_matching(&orm, Customer::NAME_CONTAINS, "hopp").await.unwrap(),
                    vec![grace.clone()]
                );
                assert_eq!(
                    encx.find_by_suffix(&orm, Customer::CITY_SUFFIX, "don").await.unwrap().len(),
                    2
                );
                assert_eq!(
                    encx.find_in_range(&orm, Customer::SCORE_RANGE, &grace.score, &grace.score)
                        .await
                        .unwrap(),
                    vec![grace.clone()]
                );
                assert!(encx
                    .find_by_prefix(&orm, Customer::NAME_PREFIX, "ad")
                    .await
                    .is_err());

                let by_name_city = encx
                    .find_by_index(&orm, Customer::NAME_CITY, &[&"grace hopper", &"ARLINGTON"])
                    .await
                    .unwrap();
                assert_eq!(by_name_city, vec![grace.clone()]);
                assert!(encx
                    .exists_by(&orm, Customer::EMAIL, "grace@example.com")
                    .await
                    .unwrap());
                assert!(!encx
                    .exists_by(&orm, Customer::EMAIL, "nobody@example.com")
                    .await
                    .unwrap());

                // Move Ada's e-mail ciphertext into her twin's row: both fail their check.
                let ada_row = customer_entity::Entity::find_by_id(ada.id)
                    .one(&orm)
                    .await
                    .unwrap()
                    .unwrap();
                let mut twin_row: customer_entity::ActiveModel =
                    customer_entity::Entity::find_by_id(twin.id)
                        .one(&orm)
                        .await
                        .unwrap()
                        .unwrap()
                        .into();
                twin_row.email = sea_orm::ActiveValue::Set(ada_row.email.clone());
                customer_entity::Entity::update(twin_row)
                    .exec_without_returning(&orm)
                    .await
                    .unwrap();
                let err = encx
                    .find_by_id::<Customer, _>(&orm, twin.id)
                    .await
                    .unwrap_err();
                assert!(err.is_tampered(), "{err}");
                let rows = customer_entity::Entity::find()
                    .filter(encx.matches(Customer::EMAIL, "ada@example.com").unwrap())
                    .all(&orm)
                    .await
                    .unwrap();
                let lookup = encx
                    .recheck(Customer::EMAIL, "ada@example.com", rows)
                    .await
                    .unwrap();
                assert_eq!(lookup.found, vec![ada.clone()]);
                assert_eq!(lookup.rejected.len(), 1);
                assert_eq!(lookup.rejected[0].record, twin.id.to_string());
                db.cleanup().await;
            }

            /// `erase` shreds one record; encx-sqlx's `SubjectEraser` over SeaORM's pool
            /// shreds a subject's rows that SeaORM wrote.
            pub async fn erasure_of_records_and_subjects() {
                let Some((db, orm, encx, crypto)) = setup(concat!(
                    stringify!($module),
                    "::erasure_of_records_and_subjects"
                ))
                .await
                else {
                    return;
                };
                let ada = customer("Ada Lovelace", "ada@example.com", "London");
                let grace = customer("Grace Hopper", "grace@example.com", "Arlington");
                encx.insert(&orm, &ada).await.unwrap();
                encx.insert(&orm, &grace).await.unwrap();
                assert!(encx.erase::<Customer, _>(&orm, ada.id).await.unwrap());
                assert!(!encx
                    .erase::<Customer, _>(&orm, Uuid::new_v4())
                    .await
                    .unwrap());
                let err = encx
                    .find_by_id::<Customer, _>(&orm, ada.id)
                    .await
                    .unwrap_err();
                assert!(err.is_shredded(), "{err}");
                let row = customer_entity::Entity::find_by_id(ada.id)
                    .one(&orm)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    (row.encx_dek, row.email_bidx, row.name_city_bidx),
                    (None, None, None)
                );
                assert!(!row.email.is_empty(), "the ciphertext stays, unreadable");
                assert!(encx
                    .find_by(&orm, Customer::EMAIL, "ada@example.com")
                    .await
                    .unwrap()
                    .is_empty());
                assert_eq!(
                    encx.find_by_id::<Customer, _>(&orm, grace.id)
                        .await
                        .unwrap(),
                    Some(grace.clone())
                );

                let notes = [
                    Note {
                        id: Uuid::new_v4(),
                        customer_id: grace.id,
                        body: "prefers e-mail".into(),
                    },
                    Note {
                        id: Uuid::new_v4(),
                        customer_id: ada.id,
                        body: "asked for erasure".into(),
                    },
                ];
                for n in &notes {
                    encx.insert(&orm, n).await.unwrap();
                }
                let eraser = encx_sqlx::SubjectEraser::<Uuid>::new(crypto.clone())
                    .table(Repo::<Note, Db>::new(db.pool.clone(), crypto.clone()))
                    .writer_window(std::time::Duration::ZERO);
                eraser.erase(&ada.id).await.unwrap();
                assert!(encx
                    .find_by_id::<Note, _>(&orm, notes[1].id)
                    .await
                    .unwrap_err()
                    .is_shredded());
                assert_eq!(
                    encx.find_by_id::<Note, _>(&orm, notes[0].id).await.unwrap(),
                    Some(notes[0].clone())
                );
                db.cleanup().await;
            }

            /// `EncxMigration` on a database `encx_sqlx::migrate` already set up changes
            /// nothing and succeeds; `down` refuses.
            pub async fn sea_orm_migration_agrees_with_encx_sqlx() {
                use sea_orm_migration::MigrationTrait;
                let Some((db, orm, _, _)) = setup(concat!(
                    stringify!($module),
                    "::sea_orm_migration_agrees_with_encx_sqlx"
                ))
                .await
                else {
                    return;
                };
                let manager = sea_orm_migration::SchemaManager::new(&orm);
                encx_sea_orm::EncxMigration.up(&manager).await.unwrap();
                let (versions,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM encx_schema_migrations")
                        .fetch_one(&db.pool)
                        .await
                        .unwrap();
                assert_eq!(
                    versions,
                    encx_sqlx::migration_plan($dialect).steps.len() as i64
                );
                assert!(encx_sea_orm::EncxMigration.down(&manager).await.is_err());
                db.cleanup().await;
            }

            /// encx-sqlx's operator jobs on rows SeaORM wrote: a KEK rotation and
            /// `Registry::rewrap` move them (SeaORM still reads them), `status` counts them,
            /// and the adapter's audit events land in `encx_audit` with their actor.
            pub async fn operator_jobs_and_audit() {
                let Some((db, orm, _, _)) = setup(concat!(stringify!($module), "::operator_jobs_and_audit")).await else { return };
                let sink = encx_sqlx::SqlAuditSink::spawn(db.pool.clone(), 1_000);
                let crypto = crypto_audited(&db.pool, Some(sink.clone())).await;
                let encx = Encx::new(crypto.clone()).with_actor("support:7");
                let people = [
                    customer("Ada Lovelace", "ada@example.com", "London"),
                    customer("Grace Hopper", "grace@example.com", "Arlington"),
                    customer("Alan Turing", "alan@example.com", "Wilmslow"),
                ];
                for p in &people {
                    encx.insert(&orm, p).await.unwrap();
                }
                assert!(encx.erase::<Customer, _>(&orm, people[2].id).await.unwrap());
                let before = customer_entity::Entity::find_by_id(people[0].id).one(&orm).await.unwrap().unwrap();

                let new_kek = crypto.rotate_kek(Some("ops")).await.unwrap();
                let registry = encx_sqlx::Registry::new(crypto.clone())
                    .table(Repo::<Customer, Db>::new(db.pool.clone(), crypto.clone()));
                registry.rewrap(100, |_, _| {}).await.unwrap();
                let status = registry.status().await.unwrap();
                let (table, usage) = &status.tables[0];
                assert_eq!(*table, "orm_customers");
                let on_new = usage.iter().filter(|(k, _)| matches!(k, encx::KeyInUse::Kek(id) if new_kek.contains(&id.to_string()))).map(|(_, n)| *n).sum::<u64>();
                let erased = usage.iter().filter(|(k, _)| matches!(k, encx::KeyInUse::Erased)).map(|(_, n)| *n).sum::<u64>();
                assert_eq!((on_new, erased), (2, 1), "{usage:?}");
                let after = customer_entity::Entity::find_by_id(people[0].id).one(&orm).await.unwrap().unwrap();
                assert_ne!(before.encx_dek, after.encx_dek, "the DEK was re-wrapped");
                assert_eq!(before.email, after.email, "a rewrap leaves the ciphertext");
                assert_eq!(encx.find_by_id::<Customer, _>(&orm, people[0].id).await.unwrap(), Some(people[0].clone()));

                sink.flush().await;
                let events = encx_sqlx::read_audit(&db.pool, &encx_sqlx::AuditQuery::default().table("orm_customers").actor("support:7").limit(1_000))
                .await
                .unwrap();
                let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
                assert_eq!(actions.iter().filter(|a| **a == "encrypt").count(), 3, "{actions:?}");
                assert!(actions.contains(&"erase"), "{actions:?}");
                assert!(actions.contains(&"decrypt"), "{actions:?}");
                db.cleanup().await;
            }

            pub fn tests() -> Vec<encx_integration_tests::Test> {
                use encx_integration_tests::test_case;
                let service = $crate::service_of(stringify!($module));
                vec![
                    test_case!(
                        service,
                        concat!(stringify!($module), "::round_trip_in_transactions"),
                        round_trip_in_transactions
                    ),
                    test_case!(
                        service,
                        concat!(stringify!($module), "::same_bytes_as_encx_sqlx"),
                        same_bytes_as_encx_sqlx
                    ),
                    test_case!(
                        service,
                        concat!(stringify!($module), "::blind_index_filters_and_tampering"),
                        blind_index_filters_and_tampering
                    ),
                    test_case!(
                        service,
                        concat!(stringify!($module), "::erasure_of_records_and_subjects"),
                        erasure_of_records_and_subjects
                    ),
                    test_case!(
                        service,
                        concat!(
                            stringify!($module),
                            "::sea_orm_migration_agrees_with_encx_sqlx"
                        ),
                        sea_orm_migration_agrees_with_encx_sqlx
                    ),
                    test_case!(
                        service,
                        concat!(stringify!($module), "::operator_jobs_and_audit"),
                        operator_jobs_and_audit
                    ),
                    test_case!(
                        service,
                        concat!(stringify!($module), "::tenants_search_their_own_rows"),
                        tenants_search_their_own_rows
                    ),
                ]
            }
        }
    };
}

fn service_of(module: &str) -> encx_integration_tests::Service {
    use encx_integration_tests::Service;
    match module {
        "postgres" => Service::Postgres,
        "mariadb" => Service::MySql,
        _ => Service::Sqlite,
    }
}

on_database!(
    postgres,
    encx_integration_tests::postgres,
    sqlx::Postgres,
    sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool,
    encx::schema::Dialect::Postgres
);
on_database!(
    mariadb,
    encx_integration_tests::mysql,
    sqlx::MySql,
    sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool,
    encx::schema::Dialect::MySql
);
on_database!(
    sqlite,
    encx_integration_tests::sqlite,
    sqlx::Sqlite,
    sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool,
    encx::schema::Dialect::Sqlite
);

/// `EncxMigration` on an empty SQLite database creates encx's tables, and
/// `encx_sqlx::migrate` afterwards finds nothing left to do.
async fn sea_orm_migration_on_an_empty_database() {
    use sea_orm_migration::MigrationTrait;
    let dir = std::env::temp_dir().join(format!("encx-sea-orm-{}.db", Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", dir.display());
    let orm = sea_orm::Database::connect(&url).await.unwrap();
    let manager = sea_orm_migration::SchemaManager::new(&orm);
    encx_sea_orm::EncxMigration.up(&manager).await.unwrap();
    encx_sea_orm::EncxMigration.up(&manager).await.unwrap(); // twice: nothing left to do
    let pool = orm.get_sqlite_connection_pool().clone();
    encx_sqlx::migrate(&pool).await.unwrap();
    let (versions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM encx_schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(versions, 8);
    for table in [
        "encx_keks",
        "encx_subject_keys",
        "encx_erasure_ledger",
        "encx_audit",
        "encx_secrets",
        "encx_tokens",
        "encx_tenants",
        "encx_tenant_keys",
    ] {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(n, 0);
    }
    orm.close().await.unwrap();
    let _ = std::fs::remove_file(dir);
}

fn main() -> std::process::ExitCode {
    use encx_integration_tests::{test_case, Service};
    let mut tests = postgres::tests();
    tests.extend(mariadb::tests());
    tests.extend(sqlite::tests());
    tests.push(test_case!(
        Service::Sqlite,
        "sqlite::sea_orm_migration_on_an_empty_database",
        sea_orm_migration_on_an_empty_database
    ));
    encx_integration_tests::run(tests)
}
