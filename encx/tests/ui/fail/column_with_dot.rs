use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "app.users")]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, column = "b.c")]
    email: String,
}

fn main() {}
