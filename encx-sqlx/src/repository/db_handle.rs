//! [`DbHandle`]: what a [`Repo`](crate::Repo) record operation runs on.

use std::borrow::BorrowMut;
use std::ops::{Deref, DerefMut};

use futures_util::future::BoxFuture;
use sqlx::pool::PoolConnection;
use sqlx::{Acquire, Database};

/// Whatever sqlx code passes around to run statements: `&pool`, `&mut tx` or `&mut *tx` for
/// a transaction, `&mut conn` for a pooled or a plain connection. Every record operation of
/// [`Repo`](crate::Repo) takes one as its first argument, the way sqlx's own
/// `fetch_*(executor)` do, so that the operation joins the caller's transaction when given
/// one.
///
/// Implemented for every sqlx [`Acquire`] of database `DB`; there is nothing to implement.
///
/// ```no_run
/// # use encx::Encrypted;
/// # #[derive(Encrypted)] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
/// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>, pool: sqlx::PgPool, ada: User) -> encx_sqlx::Result<()> {
/// users.insert(&pool, &ada).await?; // a connection of the pool, for this call
/// let mut tx = pool.begin().await?;
/// users.erase(&mut *tx, ada.id).await?; // inside the caller's transaction
/// sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(ada.id).execute(&mut *tx).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub trait DbHandle<'c, DB: Database>: Send {
    /// The connection to run on: one taken from the pool, or the caller's own.
    #[doc(hidden)]
    fn connection(self) -> BoxFuture<'c, Result<DbConnection<'c, DB>, sqlx::Error>>;

    /// True when the caller holds the connection this handle gives (a transaction, a
    /// connection), false for a pool, from which the operation takes a connection of its own.
    #[doc(hidden)]
    fn held_by_caller(&self) -> bool;
}

impl<'c, A> DbHandle<'c, A::Database> for A
where
    A: Acquire<'c> + Send + 'c,
    A::Connection: IntoDbConnection<'c, A::Database>,
{
    fn connection(self) -> BoxFuture<'c, Result<DbConnection<'c, A::Database>, sqlx::Error>> {
        Box::pin(async move { Ok(self.acquire().await?.into_db_connection()) })
    }

    fn held_by_caller(&self) -> bool {
        <A::Connection as IntoDbConnection<'c, A::Database>>::HELD
    }
}

/// A connection a record operation runs on. (A concrete type rather than sqlx's
/// `Acquire::Connection` projection, so that the operations' futures are `Send` wherever
/// the caller's are: generic code over the database included.)
#[doc(hidden)]
pub enum DbConnection<'c, DB: Database> {
    /// Taken from a pool for this call.
    Pooled(PoolConnection<DB>),
    /// The caller's: a transaction's or a connection it holds.
    Held(&'c mut DB::Connection),
}

impl<DB: Database> Deref for DbConnection<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            DbConnection::Pooled(conn) => conn,
            DbConnection::Held(conn) => conn,
        }
    }
}

impl<DB: Database> DerefMut for DbConnection<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            DbConnection::Pooled(conn) => conn,
            DbConnection::Held(conn) => conn,
        }
    }
}

/// What sqlx's `Acquire` hands out, as a [`DbConnection`].
#[doc(hidden)]
pub trait IntoDbConnection<'c, DB: Database> {
    /// True for the caller's connection, false for one taken from a pool.
    const HELD: bool;

    /// This connection, knowing whether the caller holds it.
    fn into_db_connection(self) -> DbConnection<'c, DB>;
}

impl<'c, DB: Database> IntoDbConnection<'c, DB> for PoolConnection<DB> {
    const HELD: bool = false;

    fn into_db_connection(self) -> DbConnection<'c, DB> {
        DbConnection::Pooled(self)
    }
}

impl<'c, DB: Database, C> IntoDbConnection<'c, DB> for &'c mut C
where
    C: BorrowMut<DB::Connection> + ?Sized,
{
    const HELD: bool = true;

    fn into_db_connection(self) -> DbConnection<'c, DB> {
        DbConnection::Held(self.borrow_mut())
    }
}
