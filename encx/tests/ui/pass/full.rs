#![deny(warnings)]
use encx::{Encrypted, PasswordHash};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub struct Profile {
    pub bio: String,
}

/// Every attribute at once; must expand without a warning.
#[derive(Clone, Encrypted)]
#[encx(table = "people", rename_all = "snake_case", index(name = "first_last", fields(first, last), bits = 24, normalize = "lowercase", domain = "people.names"))]
pub struct Person {
    #[encx(id)]
    pub id: uuid::Uuid,
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email", bits = 40, domain = "emails", name = "mail"))]
    pub email: String,
    #[encx(encrypt, searchable)]
    pub phone: Option<String>,
    #[encx(encrypt)]
    pub first: String,
    #[encx(encrypt)]
    pub last: String,
    #[encx(encrypt_none)]
    pub nickname: Option<String>,
    #[encx(encrypt)]
    pub profile: Profile,
    #[encx(hash_secure)]
    pub password: PasswordHash,
    #[encx(encrypt, column = "ssn_enc")]
    pub ssn: String,
    #[encx(skip)]
    pub cache: Vec<u8>,
}

fn main() {
    let _ = Person::MAIL;
    let _ = Person::PHONE;
    let _ = Person::FIRST_LAST;
    let _ = <Person as encx::schema::Schema>::columns();
}
