//! [`EncryptedEntity`]: what `#[encx(sea_orm)]` implements, linking an encrypted type to the
//! SeaORM entity of its stored record.

use encx::{Encrypted, HasRecordId};
use sea_orm::{ActiveModelBehavior, ActiveModelTrait, EntityTrait};

/// A type with `#[derive(Encrypted)]` and `#[encx(sea_orm)]`: its stored record is the model
/// of a SeaORM entity (generated in the module `<type>_entity`, or the one `module` names).
///
/// Generated; not meant to be implemented by hand.
pub trait EncryptedEntity: Encrypted + HasRecordId + encx::schema::Schema {
    /// The SeaORM entity of the table.
    type Entity: EntityTrait;
    /// Its active model.
    type ActiveModel: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send;

    /// The stored record as an active model with every column set (for insert and update).
    fn into_active_model(record: Self::Record) -> Self::ActiveModel;

    /// The stored record of a loaded model. Fails only on a stored password hash that is not
    /// a PHC string; ciphertexts are checked when decrypted.
    fn from_model(model: ModelOf<Self>) -> encx::Result<Self::Record>;
}

/// The SeaORM model of `T`'s entity.
pub type ModelOf<T> = <<T as EncryptedEntity>::Entity as EntityTrait>::Model;
