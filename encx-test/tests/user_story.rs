//! The test `docs/testing.md` walks through, as a user of encx would write it: a repository of
//! the application's own type, on a real database from `encx-test`, with throwaway keys.
//! Without a PostgreSQL server (no `ENCX_TEST_POSTGRES_URL`, no Docker engine) it runs on SQLite.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use encx::{Encrypted, PasswordHash};
use encx_sqlx::{Repo, SqlKekStore};

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "customers")]
pub struct Customer {
    #[encx(id)]
    pub id: uuid::Uuid,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: Option<String>,
    #[encx(hash_secure)]
    pub password: PasswordHash,
}

/// The application code under test: sign a customer up unless the e-mail is taken.
async fn sign_up<DB>(
    customers: &Repo<Customer, DB>,
    email: &str,
    password: &str,
) -> encx_sqlx::Result<Option<Customer>>
where
    DB: encx_sqlx::EncxDatabase,
    Repo<Customer, DB>: SignUp,
{
    SignUp::sign_up(customers, email, password).await
}

/// One implementation per database (the repository's methods are per database today).
trait SignUp {
    async fn sign_up(&self, email: &str, password: &str) -> encx_sqlx::Result<Option<Customer>>;
}

macro_rules! sign_up_for {
    ($db:ty) => {
        impl SignUp for Repo<Customer, $db> {
            async fn sign_up(
                &self,
                email: &str,
                password: &str,
            ) -> encx_sqlx::Result<Option<Customer>> {
                if self.exists_by(self.pool(), Customer::EMAIL, email).await? {
                    return Ok(None);
                }
                let customer = Customer {
                    id: uuid::Uuid::new_v4(),
                    email: email.to_owned(),
                    phone: None,
                    password: self.crypto().password_policy().hash(password)?,
                };
                self.insert(self.pool(), &customer).await?;
                Ok(Some(customer))
            }
        }
    };
}
sign_up_for!(sqlx::Postgres);
sign_up_for!(sqlx::Sqlite);

async fn check<DB: encx_sqlx::EncxDatabase>(customers: Repo<Customer, DB>)
where
    Repo<Customer, DB>: SignUp,
{
    let ada = sign_up(&customers, "ada@example.com", "correct horse")
        .await
        .unwrap()
        .unwrap();
    assert!(
        sign_up(&customers, " ADA@example.com", "x")
            .await
            .unwrap()
            .is_none(),
        "the blind index finds the taken e-mail whatever its case"
    );
    let policy = customers.crypto().password_policy();
    assert!(policy.verify(&ada.password, "correct horse").unwrap());
}

#[tokio::test]
async fn sign_up_refuses_a_taken_email() {
    if encx_test::server_url(encx_test::Server::Postgres)
        .await
        .is_some()
    {
        let db = encx_test::postgres().await.unwrap();
        let crypto = encx_test::throwaway_crypto_in(Arc::new(SqlKekStore::new(db.pool.clone())))
            .await
            .unwrap();
        let customers = Repo::<Customer, sqlx::Postgres>::new(db.pool.clone(), crypto);
        customers.create_table().await.unwrap();
        check(customers).await;
        db.cleanup().await;
    } else {
        let db = encx_test::sqlite().await.unwrap();
        let crypto = encx_test::throwaway_crypto_in(Arc::new(SqlKekStore::new(db.pool.clone())))
            .await
            .unwrap();
        let customers = Repo::<Customer, sqlx::Sqlite>::new(db.pool.clone(), crypto);
        customers.create_table().await.unwrap();
        check(customers).await;
        db.cleanup().await;
    }
    encx_test::stop_containers().await;
}
