use encx::Encrypted;

#[derive(Encrypted)]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(searchable)]
    email: String,
}

fn main() {}
