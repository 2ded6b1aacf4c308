use encx::Encrypted;

#[derive(Encrypted)]
struct Customer {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, prefix(bits = 16))]
    surname: String,
    #[encx(encrypt, suffix(lengths(0, 4, 4)))]
    card: String,
    #[encx(encrypt, contains(filter_bits = 100, hashes = 20, width = 3))]
    notes: String,
    #[encx(encrypt, range(bits = 16))]
    born: i64,
    #[encx(prefix(lengths(2)))]
    plain: String,
    #[encx(encrypt_none, prefix(lengths(2)))]
    hidden: Option<String>,
    #[encx(encrypt, contains(expect(rows = 1000)))]
    bio: String,
}

fn main() {}
