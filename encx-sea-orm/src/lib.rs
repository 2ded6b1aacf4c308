//! encx for SeaORM 2: encrypted and blind-indexed fields on SeaORM entities, stored in the
//! same bytes, under the same keys, and served by the same jobs and `encx` CLI as encx-sqlx.
//!
//! Mark the type as for encx-sqlx and add `#[encx(sea_orm)]`: the derive also generates a
//! SeaORM entity module (`user_entity` for `User`) over the stored record. [`Encx`] encrypts
//! on insert and update and decrypts on load, on a `DatabaseConnection` or inside a
//! `DatabaseTransaction`; its blind-index filters go into `Entity::find().filter(...)`.
//!
//! ```ignore
//! #[derive(Encrypted)]
//! #[encx(table = "users", sea_orm)]
//! pub struct User {
//!     #[encx(id)] pub id: Uuid,
//!     #[encx(encrypt, searchable(normalize = "email"))] pub email: String,
//! }
//!
//! let encx = encx_sea_orm::Encx::new(crypto);
//! let txn = db.begin().await?;
//! encx.insert(&txn, &user).await?;                      // fresh data key per record
//! txn.commit().await?;
//! let rows = user_entity::Entity::find()
//!     .filter(encx.matches(User::EMAIL, "ada@example.com")?)   // blind index
//!     .all(&db).await?;
//! let found = encx.recheck(User::EMAIL, "ada@example.com", rows).await?.found;
//! encx.erase::<User, _>(&db, user.id).await?;           // crypto-shred
//! ```
//!
//! A runnable tour is `examples/sea_orm.rs`; docs/sea-orm.md explains the design.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod entity;
mod error;
mod handle;
#[cfg(feature = "migration")]
mod migration;
mod partial;
mod pool;

pub use encx_sqlx::{Lookup, RejectedRow};
pub use entity::{EncryptedEntity, ModelOf};
pub use error::{Error, Result};
pub use handle::Encx;
#[cfg(feature = "migration")]
pub use migration::EncxMigration;
pub use pool::{kek_store, migrate};
pub use sea_orm;
