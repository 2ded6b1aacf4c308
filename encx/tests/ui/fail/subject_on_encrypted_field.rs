use encx::Encrypted;

#[derive(Encrypted)]
struct Order {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, subject)]
    user_email: String,
}

#[derive(Encrypted)]
struct Invoice {
    #[encx(id)]
    id: i64,
    #[encx(subject)]
    tenant: Option<i64>,
}

fn main() {}
