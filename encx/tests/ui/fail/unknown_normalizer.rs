use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, searchable(normalize = "soundex"))]
    name: String,
}

fn main() {}
