use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, searchable(bits = 4))]
    email: String,
    #[encx(encrypt, searchable(bits = 512))]
    phone: String,
}

fn main() {}
