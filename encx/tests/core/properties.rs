//! Property tests: codec round trips, and no decoder panics on arbitrary bytes.
use encx::cipher::{FieldCipher, FieldContext};
use encx::{Dek, KeyContext, Keyring, WrappedDek};
use proptest::prelude::*;

use crate::support::local;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn codec_round_trips(s in ".*", n in any::<i64>(), v in proptest::collection::vec(any::<u8>(), 0..64), o in proptest::option::of(any::<u32>())) {
        let value = (s, n, v, o);
        let bytes = encx::codec::encode(&value).unwrap();
        let back: (String, i64, Vec<u8>, Option<u32>) = encx::codec::decode(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn codec_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = encx::codec::decode::<(String, Vec<u64>, Option<bool>)>(&bytes);
    }

    #[test]
    fn seal_open_round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512), table in "[a-z]{1,8}", id in proptest::collection::vec(any::<u8>(), 0..24)) {
        let dek = Dek::generate().unwrap();
        let cipher = FieldCipher::new(&dek).unwrap();
        let ctx = FieldContext::new(&table, "c", &id);
        let sealed = cipher.seal(&ctx, &data).unwrap();
        prop_assert_eq!(sealed.len(), data.len() + encx::cipher::OVERHEAD);
        prop_assert_eq!(&cipher.open(&ctx, &sealed).unwrap()[..], &data[..]);
    }

    #[test]
    fn open_never_panics_and_never_accepts_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let dek = Dek::from_bytes([1; 32]);
        let cipher = FieldCipher::new(&dek).unwrap();
        prop_assert!(cipher.open(&FieldContext::new("t", "c", b"1"), &bytes).is_err());
    }

    #[test]
    fn unwrap_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let keyring = local("v1", 1);
        let r = rt.block_on(keyring.unwrap_dek(&WrappedDek::from_bytes(bytes), &KeyContext::new("t", b"1")));
        prop_assert!(r.is_err());
    }
}
