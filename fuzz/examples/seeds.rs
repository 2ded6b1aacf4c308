//! Writes the seed corpora of every target into `corpus/<target>/` (valid inputs, from which
//! the fuzzer mutates). Run: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.

use std::fs;
use std::path::Path;

use encx::keys::hierarchical::{stored_key_record_id, KEY_TABLE};
use encx::{Dek, KeyContext, KeyPurpose, Keyring};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let cipher = encx_fuzz::field_cipher();
    let ctx = encx_fuzz::field_context();
    for (name, value) in [
        ("empty", ""),
        ("email", "ada@example.com"),
        ("long", &"x".repeat(300)),
    ] {
        let plain = encx::codec::encode(value).expect("encode");
        write(
            "field_open",
            name,
            &cipher.seal(&ctx, &plain).expect("seal"),
        );
        write("codec_decode", name, &plain);
        // Format 2: the same strings stored bare.
        write(
            "field_open",
            &format!("bare_{name}"),
            &cipher.seal_value(&ctx, value).expect("seal"),
        );
    }
    write(
        "codec_decode",
        "option",
        &encx::codec::encode(&Some("z")).expect("encode"),
    );
    write(
        "codec_decode",
        "vec",
        &encx::codec::encode(&vec![1u8, 2, 3]).expect("encode"),
    );

    let hierarchical = encx_fuzz::hierarchical();
    futures_executor::block_on(async {
        let dek_ctx = encx_fuzz::dek_context();
        let local = encx_fuzz::local();
        let (_, wrapped) = local.generate_dek(&dek_ctx).await.expect("local wrap");
        write("dek_unwrap", "local", wrapped.as_bytes());
        let (_, wrapped) = hierarchical.generate_dek(&dek_ctx).await.expect("wrap");
        write("dek_unwrap", "hierarchical", wrapped.as_bytes());

        for (name, purpose, tag) in [
            ("kek", KeyPurpose::Kek, 0u8),
            ("index", KeyPurpose::IndexRoot, 1),
        ] {
            let record_id = stored_key_record_id(&encx_fuzz::KEK_ID, purpose, 1);
            let wrapped = local
                .wrap_dek(
                    &Dek::from_bytes([0x77; 32]),
                    &KeyContext::new(KEY_TABLE, &record_id),
                )
                .await
                .expect("wrap key row");
            let mut row = vec![tag, 0];
            row.extend_from_slice(&1i64.to_be_bytes());
            row.extend_from_slice(wrapped.as_bytes());
            write("key_rows", name, &row);
        }
    });

    let row = encx_fuzz::subject_row();
    write(
        "subject_rows",
        "valid",
        &encx_fuzz::subject_row_input(&row, encx_fuzz::SUBJECT),
    );
    write(
        "subject_rows",
        "other-subject",
        &encx_fuzz::subject_row_input(&row, b"user-2"),
    );
    let mut erased = row.clone();
    erased.wrapped = None;
    write(
        "subject_rows",
        "erased",
        &encx_fuzz::subject_row_input(&erased, encx_fuzz::SUBJECT),
    );

    let policy = encx::PasswordPolicy::new(8, 1, 1).expect("policy");
    write(
        "phc",
        "valid",
        policy.hash("password").expect("hash").as_str().as_bytes(),
    );
    // The two reproducers of the security review: a 4 TiB allocation and hours of CPU.
    write(
        "phc",
        "regression-m-4tib",
        b"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    );
    write(
        "phc",
        "regression-t-hours",
        b"$argon2id$v=19$m=8,t=177777777,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    );
    write(
        "phc",
        "argon2i",
        b"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    );

    let k1 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let k2 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    for (name, text) in [
        ("master-one", format!("v1:{k1}")),
        ("master-two", format!("v1:{k1}, v2:{k2}")),
        ("index-two", format!("1:{k1},2:{k2}")),
        ("bare", k1.to_string()),
        ("normalizer", "email".to_string()),
    ] {
        write("config_specs", name, text.as_bytes());
    }
    for (name, text) in [
        ("ascii", "  Ada@Example.COM "),
        ("titlecase", "\u{1C5}A \u{1F88}"),
        ("sigma", "ΟΔΟΣ ΣΑΣ"),
        ("dotted-i", "İstanbul"),
        ("digits", "+1 (555) 010-9999"),
        ("space", "\u{3000}x\u{85}"),
    ] {
        write("normalize", name, text.as_bytes());
    }
    let keyring = encx_fuzz::local();
    for (name, len, segment) in [
        ("stream-empty", 0usize, encx::stream::MIN_SEGMENT_LEN),
        ("stream-short", 100, encx::stream::MIN_SEGMENT_LEN),
        ("stream-three-segments", 700, encx::stream::MIN_SEGMENT_LEN),
        ("stream-default", 5000, encx::stream::DEFAULT_SEGMENT_LEN),
    ] {
        let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sealer = futures_executor::block_on(encx::stream::Sealer::with_segment_len(
            &keyring, "fuzz", segment,
        ))
        .expect("sealer");
        let mut writer = sealer.writer(Vec::new()).expect("writer");
        std::io::Write::write_all(&mut writer, &plain).expect("write");
        write("stream_open", name, &writer.finish().expect("finish"));
    }
    let crypto = encx_fuzz::crypto();
    let signer = crypto.signer("fuzz").expect("signer");
    write(
        "signed_values",
        "signed",
        signer.sign(b"user-42").expect("sign").as_bytes(),
    );
    let far = std::time::UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800); // 2100
    write(
        "signed_values",
        "signed-until",
        signer.sign_until(b"link", far).expect("sign").as_bytes(),
    );
    write(
        "signed_values",
        "csrf",
        crypto
            .csrf()
            .expect("csrf")
            .issue(b"session-1")
            .expect("csrf")
            .as_bytes(),
    );
    let (token, hash) = crypto
        .tokens("fz")
        .expect("tokens")
        .generate()
        .expect("token");
    write("signed_values", "token", token.expose_secret().as_bytes());
    write("signed_values", "token-hash", hash.as_bytes());
}
