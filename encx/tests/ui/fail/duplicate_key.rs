use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "users", table = "people")]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, encrypt)]
    email: String,
}

fn main() {}
