use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, searchable(domain = "encx:sign:cookie"))]
    email: String,
    #[encx(encrypt, searchable(domain = "users/phone"))]
    phone: String,
}

fn main() {}
