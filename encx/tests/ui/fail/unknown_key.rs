use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, searchabel)]
    email: String,
}

fn main() {}
