#![deny(warnings)]
use encx::Encrypted;

#[derive(Encrypted)]
struct Note {
    #[encx(encrypt)]
    body: String,
}

fn main() {
    let _ = <Note as Encrypted>::TABLE;
    let _ = NoteRecord { body: encx::Ciphertext::from_bytes(vec![]), encx_dek: None }.body;
}
