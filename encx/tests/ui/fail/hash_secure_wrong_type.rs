use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(hash_secure)]
    password: String,
}

fn main() {}
