use encx::Encrypted;

#[derive(Encrypted)]
#[encx(index(name = "name_city", fields(name, town)))]
struct User {
    #[encx(id)]
    id: i64,
    #[encx(encrypt)]
    name: String,
    #[encx(encrypt)]
    city: String,
}

fn main() {}
