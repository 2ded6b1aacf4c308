//! `encx backup encrypt|decrypt`: encrypted streams (`encx::stream`) between files and pipes,
//! under the root keyring, so that a dump of the database can be restored without the KEKs
//! that the dump itself holds.

use std::path::{Path, PathBuf};

use encx::stream::{self, Sealer};
use encx::Keyring;
use tokio::io::{AsyncRead, AsyncWrite};

use super::answer::{config, Failure};
use super::args::BackupCommand;

async fn open_input(path: Option<&Path>) -> Result<Box<dyn AsyncRead + Unpin + Send>, Failure> {
    match path {
        Some(path) if path != Path::new("-") => {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|e| config(format!("cannot open {}: {e}", path.display())))?;
            Ok(Box::new(tokio::io::BufReader::with_capacity(1 << 20, file)))
        }
        _ => Ok(Box::new(tokio::io::stdin())),
    }
}

/// Where the output goes: a file written beside its final name and renamed at the end, or
/// standard output.
async fn open_output(
    path: Option<&Path>,
) -> Result<
    (
        Box<dyn AsyncWrite + Unpin + Send>,
        Option<(PathBuf, PathBuf)>,
    ),
    Failure,
> {
    match path {
        Some(path) if path != Path::new("-") => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            // A new file only readable by its owner (it may hold a decrypted dump), never an
            // existing file or a symlink someone left at that name.
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            let file = options.open(&partial).await.map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
                    " (left by an interrupted run? check it and remove it)"
                } else {
                    ""
                };
                config(format!("cannot create {}: {e}{hint}", partial.display()))
            })?;
            Ok((
                Box::new(tokio::io::BufWriter::with_capacity(1 << 20, file)),
                Some((partial, path.to_owned())),
            ))
        }
        _ => {
            use std::io::IsTerminal;
            if std::io::stdout().is_terminal() {
                return Err(config(
                    "refusing to write binary data to a terminal: redirect standard output or give --output",
                ));
            }
            Ok((Box::new(tokio::io::stdout()), None))
        }
    }
}

async fn finish(
    done: Result<u64, encx::Error>,
    files: Option<(PathBuf, PathBuf)>,
) -> Result<u64, Failure> {
    match (done, files) {
        (Ok(n), Some((partial, path))) => {
            tokio::fs::rename(&partial, &path).await.map_err(|e| {
                config(format!(
                    "cannot rename {} to {}: {e}",
                    partial.display(),
                    path.display()
                ))
            })?;
            Ok(n)
        }
        (Ok(n), None) => Ok(n),
        (Err(e), files) => {
            if let Some((partial, _)) = files {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            Err(e.into())
        }
    }
}

pub(crate) async fn run(command: BackupCommand, root: &dyn Keyring) -> Result<(), Failure> {
    match command {
        BackupCommand::Encrypt {
            label,
            input,
            output,
            segment_size,
        } => {
            let sealer = Sealer::with_segment_len(root, &label, segment_size).await?;
            let reader = open_input(input.as_deref()).await?;
            let (writer, files) = open_output(output.as_deref()).await?;
            let done = stream::encrypt_with(sealer, reader, writer).await;
            let n = finish(done, files).await?;
            eprintln!("encx: encrypted {n} bytes (label {label:?})");
        }
        BackupCommand::Decrypt {
            expect_label,
            input,
            output,
            force,
        } => {
            if let Some(path) = output.as_deref() {
                // Checked before reading anything; the rename at the end replaces it.
                if !force && std::fs::symlink_metadata(path).is_ok() {
                    return Err(config(format!(
                        "{} exists: give another --output, or --force to replace it",
                        path.display()
                    )));
                }
            }
            let reader = open_input(input.as_deref()).await?;
            let (writer, files) = open_output(output.as_deref()).await?;
            let done = stream::decrypt(root, reader, writer, expect_label.as_deref()).await;
            let n = finish(done, files).await?;
            eprintln!("encx: decrypted {n} bytes");
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The partial output file is created new with mode 0600; a file or a symlink already at
    /// that name is refused and left untouched.
    #[tokio::test]
    async fn the_output_is_created_new_and_private() {
        let dir = std::env::temp_dir().join(format!("encx-backup-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("restored.bin");
        let Ok((_, files)) = open_output(Some(&out)).await else {
            panic!("cannot create the output");
        };
        let (partial, _) = files.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&partial).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            open_output(Some(&out)).await.is_err(),
            "an existing partial file"
        );
        std::fs::remove_file(&partial).unwrap();
        #[cfg(unix)]
        {
            let target = dir.join("victim");
            std::fs::write(&target, b"keep").unwrap();
            std::os::unix::fs::symlink(&target, &partial).unwrap();
            assert!(open_output(Some(&out)).await.is_err(), "a symlink");
            assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
