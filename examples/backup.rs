//! Encrypted backups: any amount of data through `encx::stream`, in constant memory.
//!
//! `cargo run --example backup`
//!
//! Encrypts a generated 20 MB "dump" to `backup-example.encx` under a local master key (in
//! production: the AWS KMS root key, so that the backup does not depend on the KEKs stored in
//! the database it holds), decrypts it back and compares, then shows that a cut or altered
//! file is refused. The same from a shell, with the application's `encx` binary:
//!
//! ```text
//! pg_dump mydb | encx backup encrypt --label mydb/2026-12-03 > mydb.encx
//! encx backup decrypt --expect-label mydb/2026-12-03 --input mydb.encx --output mydb.sql
//! ```

use std::io::{Read, Write};

use tokio::io::AsyncWriteExt;

use encx::stream::{self, Header, Sealer};
use encx::{LocalKeyring, MasterKey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keyring = LocalKeyring::new(vec![MasterKey::generate("v1")?])?;
    let dump: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = std::env::temp_dir().join("backup-example.encx");

    // Blocking API: a Write adapter
    let sealer = Sealer::new(&keyring, "example/dump").await?;
    let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut writer = sealer.writer(file)?;
    for chunk in dump.chunks(1 << 20) {
        writer.write_all(chunk)?;
    }
    writer.finish()?.flush()?; // without finish the file reads as truncated
    let size = std::fs::metadata(&path)?.len();
    println!(
        "{} bytes encrypted into {size} bytes at {}",
        dump.len(),
        path.display()
    );

    // Blocking API: a Read adapter
    let mut file = std::io::BufReader::new(std::fs::File::open(&path)?);
    let header = Header::read_from(&mut file)?;
    println!(
        "header: label {:?}, segments of {} bytes",
        header.label(),
        header.segment_len()
    );
    let mut restored = Vec::new();
    header
        .open(&keyring)
        .await?
        .reader(file)
        .read_to_end(&mut restored)?;
    assert_eq!(restored, dump);
    println!("decrypted and compared: identical");

    // Async API: AsyncRead to AsyncWrite (files, pipes, sockets)
    let sealed = std::fs::read(&path)?;
    let mut out = Vec::new();
    let n = stream::decrypt(&keyring, &sealed[..], &mut out, Some("example/dump")).await?;
    assert_eq!(n as usize, dump.len());

    // Async adapters: an AsyncWrite that encrypts into a tokio file, an AsyncRead that
    // decrypts from it, composed with tokio::io::copy
    let async_path = std::env::temp_dir().join("backup-example-async.encx");
    let file = tokio::fs::File::create(&async_path).await?;
    let mut writer = Sealer::new(&keyring, "example/upload")
        .await?
        .async_writer(file);
    tokio::io::copy(&mut &dump[..], &mut writer).await?;
    writer.shutdown().await?; // writes the last segment
    let mut file = tokio::io::BufReader::new(tokio::fs::File::open(&async_path).await?);
    let header = Header::read_from_async(&mut file).await?;
    let mut reader = header.open(&keyring).await?.async_reader(file);
    let mut restored = Vec::new();
    tokio::io::copy(&mut reader, &mut restored).await?;
    assert_eq!(restored, dump);
    std::fs::remove_file(&async_path)?;
    println!("async adapters: encrypted and decrypted through tokio::io::copy");

    // Cut short or altered: refused
    let cut = &sealed[..sealed.len() - 100_000];
    let Err(err) = stream::decrypt(&keyring, cut, tokio::io::sink(), None).await else {
        return Err("a cut file was accepted".into());
    };
    println!("cut file: {err}");
    let mut altered = sealed.clone();
    altered[sealed.len() / 2] ^= 1;
    let Err(err) = stream::decrypt(&keyring, &altered[..], tokio::io::sink(), None).await else {
        return Err("an altered file was accepted".into());
    };
    println!("altered file: {err}");
    assert!(err.is_tampered());
    std::fs::remove_file(&path)?;
    Ok(())
}
