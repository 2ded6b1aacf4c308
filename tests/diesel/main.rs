//! encx-diesel against real PostgreSQL, MariaDB and SQLite through Diesel's own DSL:
//! inserts and updates of encrypted rows, in committed and rolled-back `conn.transaction`s,
//! the same bytes as encx-sqlx in both directions, blind-index filters (`eq_any`) with their
//! re-check, tampering, erasure of a row (`UserErasure`) and of a data subject (encx-sqlx's
//! `SubjectEraser`), no plaintext in any column.
#![allow(clippy::unwrap_used)] // a failing test panics with the error

use std::sync::Arc;

use diesel::prelude::*;
use encx::password::PasswordPolicy;
use encx::{Crypto, Encrypted, HierarchicalKeyring, KekStore, Keyring, LocalKeyring, MasterKey};
use encx_diesel::Encx;
use encx_sqlx::{EncxDatabase, Repo, SqlKekStore};

mod schema {
    diesel::table! {
        orm_accounts (id) {
            id -> BigInt,
            plan -> Text,
            email -> Binary,
            email_bidx -> Nullable<Binary>,
            phone -> Nullable<Binary>,
            name -> Binary,
            name_prefix3_bidx -> Nullable<Binary>,
            name_contains_bloom -> Nullable<Binary>,
            city -> Binary,
            name_city_bidx -> Nullable<Binary>,
            encx_dek -> Nullable<Binary>,
        }
    }

    diesel::table! {
        orm_tenant_members (id) {
            id -> BigInt,
            org -> Text,
            role -> Text,
            email -> Binary,
            email_bidx -> Nullable<Binary>,
            encx_sig -> Nullable<Binary>,
            encx_dek -> Nullable<Binary>,
        }
    }

    diesel::table! {
        orm_account_notes (id) {
            id -> BigInt,
            account_id -> BigInt,
            body -> Binary,
            encx_dek -> Nullable<Binary>,
        }
    }
}
use schema::{orm_account_notes, orm_accounts, orm_tenant_members};

/// A member of a tenant: per-tenant keys and indexes, a signed role, a Diesel row.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "orm_tenant_members", diesel(table = crate::schema::orm_tenant_members))]
struct TenantMember {
    #[encx(id)]
    id: i64,
    #[encx(tenant, signed)]
    org: String,
    #[encx(signed)]
    role: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
}

/// An account: encrypted fields, a searchable e-mail, a compound index, a Diesel row.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(
    table = "orm_accounts",
    diesel(table = schema::orm_accounts),
    index(name = "name_city", fields(name, city), normalize = "lowercase")
)]
struct Account {
    #[encx(id)]
    id: i64,
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
    #[encx(encrypt)]
    city: String,
}

/// A note about an account holder, wrapped under the holder's subject key.
#[derive(Encrypted, Debug, Clone, PartialEq)]
#[encx(table = "orm_account_notes", diesel(table = crate::schema::orm_account_notes))]
struct AccountNote {
    #[encx(id)]
    id: i64,
    #[encx(subject)]
    account_id: i64,
    #[encx(encrypt)]
    body: String,
}

fn account(id: i64, name: &str, email: &str, city: &str) -> Account {
    Account {
        id,
        plan: "pro".into(),
        email: email.into(),
        phone: Some("+44 20 7946 0000".into()),
        name: name.into(),
        city: city.into(),
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

/// Diesel's form of a test database URL (a file path for SQLite).
fn diesel_url(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) => rest.split('?').next().unwrap_or(rest).to_owned(),
        None => url.to_owned(),
    }
}

macro_rules! on_database {
    ($module:ident, $open:path, $Db:ty, $Conn:ty, $dialect:expr) => {
        mod $module {
            use super::*;
            type Db = $Db;
            type Conn = $Conn;

            struct Setup {
                db: encx_test::TestDatabase<Db>,
                encx: Encx,
                crypto: Crypto,
            }

            async fn setup(test: &str) -> Option<Setup> {
                let db = $open(test).await?;
                for ddl in encx::schema::create_table::<Account>($dialect)
                    .unwrap()
                    .into_iter()
                    .chain(encx::schema::create_table::<AccountNote>($dialect).unwrap())
                    .chain(encx::schema::create_table::<TenantMember>($dialect).unwrap())
                {
                    sqlx::query(sqlx::AssertSqlSafe(ddl))
                        .execute(&db.pool)
                        .await
                        .unwrap();
                }
                let crypto = crypto_for(&db.pool).await;
                let encx = Encx::new(crypto.clone(), tokio::runtime::Handle::current());
                Some(Setup { db, encx, crypto })
            }

            /// Runs Diesel's synchronous `body` on a blocking thread, as an application does.
            async fn with_diesel<R: Send + 'static>(
                url: &str,
                body: impl FnOnce(&mut Conn) -> R + Send + 'static,
            ) -> R {
                let url = diesel_url(url);
                tokio::task::spawn_blocking(move || {
                    let mut conn = <Conn as diesel::Connection>::establish(&url).unwrap();
                    if url.ends_with(".db") {
                        diesel::sql_query("PRAGMA busy_timeout = 30000")
                            .execute(&mut conn)
                            .unwrap();
                    }
                    body(&mut conn)
                })
                .await
                .unwrap()
            }

            /// Insert and read back in a committed transaction; a rolled-back insert leaves
            /// nothing; an update writes a fresh data key; no plaintext in any column.
            pub async fn round_trip_in_transactions() {
                let Some(s) = setup(concat!(stringify!($module), "::round_trip_in_transactions")).await else { return };
                let encx = s.encx.clone();
                with_diesel(&s.db.url, move |conn| {
                    let ada = account(1, "Ada Lovelace", "ada@example.com", "London");
                    conn.transaction(|conn| {
                        diesel::insert_into(orm_accounts::table)
                            .values(&encx.encrypt(&ada).unwrap())
                            .execute(conn)
                    })
                    .unwrap();
                    let row: AccountRow = orm_accounts::table
                        .find(1_i64)
                        .select(AccountRow::as_select())
                        .first(conn)
                        .unwrap();
                    let stored = format!("{}|{}|{}", String::from_utf8_lossy(&row.email), String::from_utf8_lossy(&row.name), String::from_utf8_lossy(&row.city));
                    for secret in ["ada@example.com", "Ada Lovelace", "London"] {
                        assert!(!stored.contains(secret), "plaintext {secret:?} stored");
                    }
                    assert_eq!(row.plan, "pro");
                    assert_eq!(encx.decrypt::<Account>(row.clone()).unwrap(), ada);

                    let grace = account(2, "Grace Hopper", "grace@example.com", "Arlington");
                    let rolled_back: Result<(), diesel::result::Error> = conn.transaction(|conn| {
                        diesel::insert_into(orm_accounts::table)
                            .values(&encx.encrypt(&grace).unwrap())
                            .execute(conn)?;
                        Err(diesel::result::Error::RollbackTransaction)
                    });
                    assert!(rolled_back.is_err());
                    let count: i64 = orm_accounts::table.count().get_result(conn).unwrap();
                    assert_eq!(count, 1, "the rolled-back insert left nothing");

                    let mut moved = ada.clone();
                    moved.city = "Paris".into();
                    moved.phone = None;
                    diesel::update(orm_accounts::table.find(1_i64))
                        .set(&encx.encrypt(&moved).unwrap())
                        .execute(conn)
                        .unwrap();
                    let after: AccountRow = orm_accounts::table.find(1_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    assert_ne!(after.encx_dek, row.encx_dek, "update seals under a fresh data key");
                    assert_eq!(after.phone, None, "a None field is written as NULL");
                    assert_eq!(encx.decrypt::<Account>(after).unwrap(), moved);
                })
                .await;
                s.db.cleanup().await;
            }

            /// Two tenants in one table through Diesel: a scoped handle's `eq_any` values and
            /// re-check find its own row only, an unscoped lookup is refused, encx-sqlx reads
            /// Diesel's rows, and an edited signed role is `Tampered`.
            pub async fn tenants_look_up_their_own_rows() {
                let Some(s) = setup(concat!(stringify!($module), "::tenants_look_up_their_own_rows")).await else { return };
                let ada = TenantMember { id: 1, org: "acme".into(), role: "admin".into(), email: "ada@example.com".into() };
                let bob = TenantMember { id: 2, org: "globex".into(), role: "viewer".into(), email: "ada@example.com".into() };
                let encx = s.encx.clone();
                let acme = s.encx.in_tenant("acme").unwrap();
                let (a, b) = (ada.clone(), bob.clone());
                with_diesel(&s.db.url, move |conn| {
                    diesel::insert_into(orm_tenant_members::table)
                        .values(encx.encrypt_all(&[a.clone(), b.clone()]).unwrap())
                        .execute(conn)
                        .unwrap();
                    let values = acme.blind_indexes(TenantMember::EMAIL, "ADA@example.com").unwrap();
                    // Every row whose index equals acme's value, and globex's row besides: the
                    // re-check keeps acme's only.
                    let rows: Vec<TenantMemberRow> = orm_tenant_members::table
                        .filter(orm_tenant_members::email_bidx.eq_any(values).or(orm_tenant_members::org.eq("globex")))
                        .select(TenantMemberRow::as_select())
                        .load(conn)
                        .unwrap();
                    assert_eq!(rows.len(), 2);
                    let found = acme.recheck(TenantMember::EMAIL, "ada@example.com", rows).unwrap().found;
                    assert_eq!(found, vec![a.clone()]);
                    let refused = encx.blind_indexes(TenantMember::EMAIL, "ada@example.com").unwrap_err();
                    assert!(refused.to_string().contains("in_tenant"), "{refused}");
                    diesel::update(orm_tenant_members::table.find(2_i64))
                        .set(orm_tenant_members::role.eq("admin"))
                        .execute(conn)
                        .unwrap();
                    let row: TenantMemberRow = orm_tenant_members::table.find(2_i64).select(TenantMemberRow::as_select()).first(conn).unwrap();
                    assert!(encx.decrypt::<TenantMember>(row).unwrap_err().is_tampered());
                })
                .await;
                let repo = Repo::<TenantMember, Db>::new(s.db.pool.clone(), s.crypto.clone());
                assert_eq!(repo.get(&s.db.pool, 1).await.unwrap(), ada);
                s.db.cleanup().await;
            }

            /// encx-sqlx writes, Diesel reads; Diesel writes, encx-sqlx reads and finds.
            pub async fn same_bytes_as_encx_sqlx() {
                let Some(s) = setup(concat!(stringify!($module), "::same_bytes_as_encx_sqlx")).await else { return };
                let repo = Repo::<Account, Db>::new(s.db.pool.clone(), s.crypto.clone());
                let by_sqlx = account(1, "Ada Lovelace", "ada@example.com", "London");
                let by_diesel = account(2, "Grace Hopper", "grace@example.com", "Arlington");
                repo.insert(&s.db.pool, &by_sqlx).await.unwrap();
                let (encx, written, expected) = (s.encx.clone(), by_diesel.clone(), by_sqlx.clone());
                with_diesel(&s.db.url, move |conn| {
                    diesel::insert_into(orm_accounts::table)
                        .values(&encx.encrypt(&written).unwrap())
                        .execute(conn)
                        .unwrap();
                    let row: AccountRow = orm_accounts::table.find(1_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    assert_eq!(encx.decrypt::<Account>(row).unwrap(), expected);
                })
                .await;
                assert_eq!(repo.get(&s.db.pool, 2).await.unwrap(), by_diesel);
                assert_eq!(repo.find_by(&s.db.pool, Account::EMAIL, "GRACE@example.com").await.unwrap(), vec![by_diesel]);
                s.db.cleanup().await;
            }

            /// `filter(email_bidx.eq_any(...))` plus the re-check, a compound index; a
            /// ciphertext moved between rows is refused without hiding the other match.
            pub async fn blind_index_filters_and_tampering() {
                let Some(s) = setup(concat!(stringify!($module), "::blind_index_filters_and_tampering")).await else { return };
                let encx = s.encx.clone();
                with_diesel(&s.db.url, move |conn| {
                    let ada = account(1, "Ada Lovelace", "ada@example.com", "London");
                    let twin = account(2, "Ada Byron", "ada@example.com", "London");
                    let grace = account(3, "Grace Hopper", "grace@example.com", "Arlington");
                    diesel::insert_into(orm_accounts::table)
                        .values(encx.encrypt_all(&[ada.clone(), twin.clone(), grace.clone()]).unwrap())
                        .execute(conn)
                        .unwrap();
                    let candidates = |conn: &mut Conn| -> Vec<AccountRow> {
                        orm_accounts::table
                            .filter(orm_accounts::email_bidx.eq_any(encx.blind_indexes(Account::EMAIL, " ADA@example.com").unwrap()))
                            .select(AccountRow::as_select())
                            .order(orm_accounts::id)
                            .load(conn)
                            .unwrap()
                    };
                    let found = encx.recheck(Account::EMAIL, "ada@example.com", candidates(conn)).unwrap().found;
                    assert_eq!(found, vec![ada.clone(), twin.clone()]);

                    let rows: Vec<AccountRow> = orm_accounts::table
                        .filter(orm_accounts::name_city_bidx.eq_any(encx.compound_indexes(Account::NAME_CITY, &[&"grace hopper", &"ARLINGTON"]).unwrap()))
                        .select(AccountRow::as_select())
                        .load(conn)
                        .unwrap();
                    let found = encx.recheck_all(Account::NAME_CITY, &[&"grace hopper", &"arlington"], rows).unwrap().found;
                    assert_eq!(found, vec![grace.clone()]);

                    // Partial indexes through Diesel: the handles' values and SQL, then the re-check.
                    let (column, values) = Account::NAME_PREFIX.lookup(encx.crypto(), "ADA").unwrap();
                    let rows: Vec<AccountRow> = orm_accounts::table
                        .filter(orm_accounts::name_prefix3_bidx.eq_any(values.into_iter().map(Vec::from).collect::<Vec<_>>()))
                        .select(AccountRow::as_select())
                        .order(orm_accounts::id)
                        .load(conn)
                        .unwrap();
                    let found = encx.recheck_with(column, rows, |a| Account::NAME_PREFIX.matches(a, "ada")).unwrap().found;
                    assert_eq!(found, vec![ada.clone(), twin.clone()]);
                    let masks = Account::NAME_CONTAINS.masks(encx.crypto(), "hopp").unwrap();
                    let test = encx::index::partial::bloom_predicate($dialect, Account::NAME_CONTAINS.column().column, &masks);
                    let rows: Vec<AccountRow> = orm_accounts::table
                        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(&test))
                        .select(AccountRow::as_select())
                        .load(conn)
                        .unwrap();
                    let found = encx.recheck_with("name_contains_bloom", rows, |a| Account::NAME_CONTAINS.matches(a, "hopp")).unwrap().found;
                    assert_eq!(found, vec![grace.clone()]);

                    let ada_email: Vec<u8> = orm_accounts::table.find(1_i64).select(orm_accounts::email).first(conn).unwrap();
                    diesel::update(orm_accounts::table.find(2_i64))
                        .set(orm_accounts::email.eq(ada_email))
                        .execute(conn)
                        .unwrap();
                    let row: AccountRow = orm_accounts::table.find(2_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    let err = encx.decrypt::<Account>(row).unwrap_err();
                    assert!(err.is_tampered(), "{err}");
                    let lookup = encx.recheck(Account::EMAIL, "ada@example.com", candidates(conn)).unwrap();
                    assert_eq!(lookup.found, vec![ada.clone()]);
                    assert_eq!(lookup.rejected.len(), 1);
                    assert_eq!(lookup.rejected[0].record, "2");
                })
                .await;
                s.db.cleanup().await;
            }

            /// `UserErasure` shreds one row; encx-sqlx's `SubjectEraser` shreds a subject's
            /// rows that Diesel wrote.
            pub async fn erasure_of_rows_and_subjects() {
                let Some(s) = setup(concat!(stringify!($module), "::erasure_of_rows_and_subjects")).await else { return };
                let encx = s.encx.clone();
                let notes = [
                    AccountNote { id: 1, account_id: 2, body: "prefers e-mail".into() },
                    AccountNote { id: 2, account_id: 1, body: "asked for erasure".into() },
                ];
                let written = notes.clone();
                with_diesel(&s.db.url, move |conn| {
                    let ada = account(1, "Ada Lovelace", "ada@example.com", "London");
                    let grace = account(2, "Grace Hopper", "grace@example.com", "Arlington");
                    diesel::insert_into(orm_accounts::table)
                        .values(encx.encrypt_all(&[ada.clone(), grace.clone()]).unwrap())
                        .execute(conn)
                        .unwrap();
                    let erased = diesel::update(orm_accounts::table.find(1_i64))
                        .set(&encx.erasure::<Account>())
                        .execute(conn)
                        .unwrap();
                    assert_eq!(erased, 1);
                    encx.erased::<Account, _>(&1_i64, erased);
                    let row: AccountRow = orm_accounts::table.find(1_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    assert_eq!((row.encx_dek.clone(), row.email_bidx.clone(), row.name_city_bidx.clone()), (None, None, None));
                    assert!(!row.email.is_empty(), "the ciphertext stays, unreadable");
                    assert!(encx.decrypt::<Account>(row).unwrap_err().is_shredded());
                    let row: AccountRow = orm_accounts::table.find(2_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    assert_eq!(encx.decrypt::<Account>(row).unwrap(), grace);
                    diesel::insert_into(orm_account_notes::table)
                        .values(encx.encrypt_all(&written).unwrap())
                        .execute(conn)
                        .unwrap();
                })
                .await;
                let eraser = encx_sqlx::SubjectEraser::<i64>::new(s.crypto.clone())
                    .table(Repo::<AccountNote, Db>::new(s.db.pool.clone(), s.crypto.clone()))
                    .writer_window(std::time::Duration::ZERO);
                eraser.erase(&1).await.unwrap();
                let encx = s.encx.clone();
                with_diesel(&s.db.url, move |conn| {
                    let rows: Vec<AccountNoteRow> = orm_account_notes::table
                        .select(AccountNoteRow::as_select())
                        .order(orm_account_notes::id)
                        .load(conn)
                        .unwrap();
                    let mut rows = rows.into_iter();
                    let kept = rows.next().unwrap();
                    assert_eq!(encx.decrypt::<AccountNote>(kept).unwrap(), notes[0]);
                    assert!(encx.decrypt::<AccountNote>(rows.next().unwrap()).unwrap_err().is_shredded());
                })
                .await;
                s.db.cleanup().await;
            }

            /// encx-sqlx's operator jobs on rows Diesel wrote: a KEK rotation and
            /// `Registry::rewrap` move them (Diesel still reads them), `status` counts them,
            /// and the adapter's audit events land in `encx_audit` with their actor.
            pub async fn operator_jobs_and_audit() {
                let Some(s) = setup(concat!(stringify!($module), "::operator_jobs_and_audit")).await else { return };
                let sink = encx_sqlx::SqlAuditSink::spawn(s.db.pool.clone(), 1_000);
                let crypto = crypto_audited(&s.db.pool, Some(sink.clone())).await;
                let encx = Encx::new(crypto.clone(), tokio::runtime::Handle::current()).with_actor("support:7");
                let people = [
                    account(1, "Ada Lovelace", "ada@example.com", "London"),
                    account(2, "Grace Hopper", "grace@example.com", "Arlington"),
                ];
                let (writer, written) = (encx.clone(), people.clone());
                let before: Option<Vec<u8>> = with_diesel(&s.db.url, move |conn| {
                    diesel::insert_into(orm_accounts::table)
                        .values(writer.encrypt_all(&written).unwrap())
                        .execute(conn)
                        .unwrap();
                    orm_accounts::table.find(1_i64).select(orm_accounts::encx_dek).first(conn).unwrap()
                })
                .await;

                let new_kek = crypto.rotate_kek(Some("ops")).await.unwrap();
                let registry = encx_sqlx::Registry::new(crypto.clone())
                    .table(Repo::<Account, Db>::new(s.db.pool.clone(), crypto.clone()));
                registry.rewrap(100, |_, _| {}).await.unwrap();
                let status = registry.status().await.unwrap();
                let on_new = status.tables[0].1.iter().filter(|(k, _)| matches!(k, encx::KeyInUse::Kek(id) if new_kek.contains(&id.to_string()))).map(|(_, n)| *n).sum::<u64>();
                assert_eq!(on_new, 2, "{:?}", status.tables);

                let (reader, expected) = (encx.clone(), people[0].clone());
                with_diesel(&s.db.url, move |conn| {
                    let row: AccountRow = orm_accounts::table.find(1_i64).select(AccountRow::as_select()).first(conn).unwrap();
                    assert_ne!(row.encx_dek, before, "the DEK was re-wrapped");
                    assert_eq!(reader.decrypt::<Account>(row).unwrap(), expected);
                })
                .await;

                sink.flush().await;
                let events = encx_sqlx::read_audit(&s.db.pool, &encx_sqlx::AuditQuery::default().table("orm_accounts").actor("support:7").limit(1_000))
                .await
                .unwrap();
                let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
                assert_eq!(actions.iter().filter(|a| **a == "encrypt").count(), 2, "{actions:?}");
                assert!(actions.contains(&"decrypt"), "{actions:?}");
                s.db.cleanup().await;
            }

            pub fn tests() -> Vec<encx_integration_tests::Test> {
                use encx_integration_tests::test_case;
                let service = $crate::service_of(stringify!($module));
                vec![
                    test_case!(service, concat!(stringify!($module), "::round_trip_in_transactions"), round_trip_in_transactions),
                    test_case!(service, concat!(stringify!($module), "::same_bytes_as_encx_sqlx"), same_bytes_as_encx_sqlx),
                    test_case!(service, concat!(stringify!($module), "::blind_index_filters_and_tampering"), blind_index_filters_and_tampering),
                    test_case!(service, concat!(stringify!($module), "::erasure_of_rows_and_subjects"), erasure_of_rows_and_subjects),
                    test_case!(service, concat!(stringify!($module), "::operator_jobs_and_audit"), operator_jobs_and_audit),
                    test_case!(service, concat!(stringify!($module), "::tenants_look_up_their_own_rows"), tenants_look_up_their_own_rows),
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
    diesel::PgConnection,
    encx::schema::Dialect::Postgres
);
on_database!(
    mariadb,
    encx_integration_tests::mysql,
    sqlx::MySql,
    diesel::MysqlConnection,
    encx::schema::Dialect::MySql
);
on_database!(
    sqlite,
    encx_integration_tests::sqlite,
    sqlx::Sqlite,
    diesel::SqliteConnection,
    encx::schema::Dialect::Sqlite
);

fn main() -> std::process::ExitCode {
    let mut tests = postgres::tests();
    tests.extend(mariadb::tests());
    tests.extend(sqlite::tests());
    encx_integration_tests::run(tests)
}
