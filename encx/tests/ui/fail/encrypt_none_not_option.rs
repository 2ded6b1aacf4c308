use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt_none)]
    nickname: String,
}

fn main() {}
