use encx::Encrypted;

#[derive(Encrypted)]
struct User(i64, String);

fn main() {}
