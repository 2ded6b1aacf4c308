use encx::Encrypted;

pub struct Opaque(u32);

#[derive(Encrypted)]
#[encx(table = "things")]
struct Thing {
    #[encx(id)]
    id: i64,
    #[encx(encrypt)]
    secret: Opaque,
}

fn main() {}
