use encx::Encrypted;

#[derive(Encrypted)]
#[encx(index(name = "name_city", fields(name, city)))]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt)]
    name: String,
    city: String,
}

fn main() {}
