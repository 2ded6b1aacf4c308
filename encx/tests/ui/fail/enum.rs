use encx::Encrypted;

#[derive(Encrypted)]
enum User {
    Admin { id: i64 },
    Guest,
}

fn main() {}
