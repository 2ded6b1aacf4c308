use encx::Encrypted;

// One million customers, at most 26^2 = 676 two-letter prefixes: at 16 bits each prefix
// would have a hash of its own, and its frequency would show.
#[derive(Encrypted)]
struct Customer {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, prefix(lengths(2), bits = 16, normalize = "lowercase", expect(rows = 1000000, distinct = 800000)))]
    surname: String,
    // A 64-bit filter over 40-character values: nearly full.
    #[encx(encrypt, contains(filter_bits = 64, expect(rows = 1000000, distinct = 900000, chars = 40)))]
    address: String,
}

fn main() {}
