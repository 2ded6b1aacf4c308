//! Field plaintext decode (postcard, and the bare strings of format 2) into the types fields
//! use. Decrypted bytes are authentic,
//! but a stored type can differ from the reading type: decoding must never panic, and the
//! in-place `String` path must agree with the plain decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use encx::codec::{decode, decode_bare, decode_owned};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Address {
    street: String,
    city: Option<String>,
    lines: Vec<String>,
    zip: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    age: i64,
    address: Address,
    tags: Vec<(u8, String)>,
    score: Option<f64>,
}

fuzz_target!(|data: &[u8]| {
    let plain: Result<String, _> = decode(data);
    let in_place: Result<String, _> = decode_owned(Zeroizing::new(data.to_vec()));
    match (&plain, &in_place) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("in-place String decode disagrees: {plain:?} vs {in_place:?}"),
    }
    let _ = decode::<Option<String>>(data);
    let _ = decode::<Vec<u8>>(data);
    let _ = decode::<Vec<String>>(data);
    let _ = decode::<u64>(data);
    let _ = decode::<i32>(data);
    let _ = decode::<bool>(data);
    let _ = decode::<char>(data);
    if let Ok(profile) = decode::<Profile>(data) {
        // Whatever decodes encodes again (the encoder's exact-size buffer must fit).
        encx::codec::encode(&profile).expect("encode");
    }
    let _ = decode_owned::<Profile>(Zeroizing::new(data.to_vec()));
    let _ = decode_owned::<Option<String>>(Zeroizing::new(data.to_vec()));

    // Format 2: a bare String is exactly the bytes when they are UTF-8, and a bare Uuid
    // exactly 16 bytes; other types refuse with an error, never a panic.
    let bare: Result<String, _> = decode_bare(Zeroizing::new(data.to_vec()));
    assert_eq!(bare.ok().as_deref(), std::str::from_utf8(data).ok());
    let id: Result<uuid::Uuid, _> = decode_bare(Zeroizing::new(data.to_vec()));
    assert_eq!(id.is_ok(), data.len() == 16);
    let _ = decode_bare::<Profile>(Zeroizing::new(data.to_vec()));
    let _ = decode_bare::<Option<String>>(Zeroizing::new(data.to_vec()));
    let _ = decode_bare::<u64>(Zeroizing::new(data.to_vec()));
    let _ = decode_bare::<Vec<u8>>(Zeroizing::new(data.to_vec()));
});
