use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, searchable)]
    email: String,
    email_bidx: String,
}

fn main() {}
