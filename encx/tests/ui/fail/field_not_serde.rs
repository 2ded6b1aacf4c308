use encx::Encrypted;

// Deserialize but not Serialize: the derive asks for both. (Only the Serialize half is checked
// here: rustc words its list of Deserialize implementors differently from build to build.)
#[derive(serde::Deserialize)]
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
