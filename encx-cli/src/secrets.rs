//! `encx secrets put|get|list|rotate|delete`.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::answer::{config, emit, Failure};
use super::args::SecretsCommand;
use encx_secrets::secrets::{SecretInfo, SecretOptions, SecretsApi, MAX_VALUE_LEN};

/// `90s`, `15m`, `12h`, `30d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Failure> {
    let bad = || {
        config(format!(
            "duration {text:?}: a number followed by s, m, h or d"
        ))
    };
    let unit_seconds = [('s', 1u64), ('m', 60), ('h', 3_600), ('d', 86_400)];
    let (number, per) = unit_seconds
        .iter()
        .find_map(|(unit, per)| text.strip_suffix(*unit).map(|n| (n, *per)))
        .ok_or_else(bad)?;
    let n: u64 = number.parse().map_err(|_| bad())?;
    Ok(Duration::from_secs(n.checked_mul(per).ok_or_else(bad)?))
}

/// A secret's lifetime from `--expires-in`: above zero, and ending at a time encx's tables
/// can store (milliseconds since 1970 in a signed 64-bit number).
pub(crate) fn parse_lifetime(text: &str) -> Result<Duration, Failure> {
    let lifetime = parse_duration(text)?;
    if lifetime.is_zero() {
        return Err(config(format!(
            "--expires-in {text}: the secret would be expired when stored; give a lifetime above 0"
        )));
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let fits = now_ms
        .checked_add(lifetime.as_millis())
        .is_some_and(|end| end <= i64::MAX as u128);
    if !fits {
        return Err(config(format!(
            "--expires-in {text}: that expiry is beyond what a timestamp holds"
        )));
    }
    Ok(lifetime)
}

fn read_value(from_file: Option<&std::path::Path>) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let value = read_raw_value(from_file)?;
    if value.is_empty() {
        return Err(config(
            "the value is empty: nothing stored (give the value on standard input or with --from-file)",
        ));
    }
    Ok(value)
}

fn read_raw_value(from_file: Option<&std::path::Path>) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut value = Zeroizing::new(Vec::new());
    match from_file {
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .map_err(|e| config(format!("cannot read {}: {e}", path.display())))?;
            Read::by_ref(&mut file)
                .take(MAX_VALUE_LEN as u64 + 1)
                .read_to_end(&mut value)
                .map_err(|e| config(format!("cannot read {}: {e}", path.display())))?;
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                // Typed at a terminal: not echoed, one line.
                let typed = Zeroizing::new(
                    rpassword::prompt_password("value (not shown, end with Enter): ")
                        .map_err(|e| config(format!("cannot read the terminal: {e}")))?,
                );
                value.extend_from_slice(typed.as_bytes());
                return Ok(value);
            }
            stdin
                .lock()
                .take(MAX_VALUE_LEN as u64 + 1)
                .read_to_end(&mut value)
                .map_err(|e| config(format!("cannot read standard input: {e}")))?;
            if value.ends_with(b"\n") {
                value.pop();
                if value.ends_with(b"\r") {
                    value.pop();
                }
            }
        }
    }
    Ok(value)
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One secret's metadata as a line: name, version, tags, expiry.
fn info_line(i: &SecretInfo) -> String {
    let expiry = match i.expires_at {
        Some(at) if i.is_expired_at(SystemTime::now()) => {
            format!(" EXPIRED at {}", encx_sqlx::rfc3339(at))
        }
        Some(at) => format!(" expires {}", encx_sqlx::rfc3339(at)),
        None => " never expires".to_owned(),
    };
    format!(
        "{} v{} ({} version(s)) tags: {}{expiry}",
        i.name,
        i.version,
        i.versions,
        i.tags.join(",")
    )
}

fn info_json(info: &SecretInfo) -> Value {
    json!({
        "name": info.name,
        "version": info.version,
        "versions": info.versions,
        "tags": info.tags,
        "created_at": unix(info.created_at),
        "expires_at": info.expires_at.map(unix),
        "expired": info.is_expired_at(SystemTime::now()),
    })
}

pub(crate) async fn run(
    command: SecretsCommand,
    store: &dyn SecretsApi,
    json: bool,
) -> Result<(), Failure> {
    match command {
        SecretsCommand::Put {
            name,
            tags,
            expires_in,
            from_file,
        } => {
            let mut options = SecretOptions::new();
            for tag in tags {
                options = options.tag(tag);
            }
            if let Some(text) = expires_in {
                options = options.expires_in(parse_lifetime(&text)?);
            }
            let value = read_value(from_file.as_deref())?;
            let version = store.put(&name, &value, &options).await?;
            emit(json, json!({ "name": name, "version": version }), || {
                format!("{name}: version {version} stored")
            });
        }
        SecretsCommand::Get {
            name,
            version,
            reveal,
        } => {
            let secret = match store.get(&name, version).await {
                // An expired secret's value is refused; its metadata is not.
                Err(e) if !reveal && e.crypto_kind() == Some(encx::ErrorKind::Expired) => {
                    let info = store
                        .list(None)
                        .await?
                        .into_iter()
                        .find(|i| i.name == name)
                        .ok_or(e)?;
                    emit(json, info_json(&info), || {
                        format!("{} (value refused: the secret expired)", info_line(&info))
                    });
                    return Ok(());
                }
                secret => secret?,
            };
            if reveal {
                let mut out = std::io::stdout().lock();
                out.write_all(secret.expose_secret())
                    .and_then(|()| out.flush())
                    .map_err(|e| config(format!("cannot write standard output: {e}")))?;
            } else {
                emit(
                    json,
                    json!({
                        "name": secret.name(),
                        "version": secret.version(),
                        "tags": secret.tags(),
                        "bytes": secret.expose_secret().len(),
                        "created_at": unix(secret.created_at()),
                        "expires_at": secret.expires_at().map(unix),
                    }),
                    || {
                        format!(
                            "{} version {} ({} bytes, tags: {}): value hidden, add --reveal to print it",
                            secret.name(),
                            secret.version(),
                            secret.expose_secret().len(),
                            secret.tags().join(",")
                        )
                    },
                );
            }
        }
        SecretsCommand::List { tag } => {
            let all = store.list(tag.as_deref()).await?;
            emit(
                json,
                Value::Array(all.iter().map(info_json).collect()),
                || all.iter().map(info_line).collect::<Vec<_>>().join("\n"),
            );
        }
        SecretsCommand::Rotate {
            name,
            from_file,
            generate,
        } => {
            let value = match generate {
                Some(n) if n == 0 || n > 4096 => {
                    return Err(config("--generate takes 1 to 4096 bytes"));
                }
                Some(n) => {
                    use base64::Engine;
                    let mut raw = Zeroizing::new(vec![0u8; n]);
                    getrandom::getrandom(&mut raw).map_err(|_| Failure::from(encx::Error::Rng))?;
                    Zeroizing::new(
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .encode(&*raw)
                            .into_bytes(),
                    )
                }
                None => read_value(from_file.as_deref())?,
            };
            let version = store.rotate(&name, &value).await?;
            emit(json, json!({ "name": name, "version": version }), || {
                format!("{name}: rotated to version {version}")
            });
        }
        SecretsCommand::Delete { name } => {
            let deleted = store.delete(&name).await?;
            if deleted == 0 {
                return Err(Failure::from(encx_secrets::Error::NotFound {
                    table: encx_secrets::secrets::SECRETS_TABLE,
                    id: name,
                }));
            }
            emit(
                json,
                json!({ "name": name, "deleted_versions": deleted }),
                || format!("{name}: {deleted} version(s) deleted"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_and_bad_ones_are_refused_without_panicking() {
        assert_eq!(parse_duration("90s").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m").ok(), Some(Duration::from_secs(900)));
        assert_eq!(
            parse_duration("12h").ok(),
            Some(Duration::from_secs(43_200))
        );
        assert_eq!(
            parse_duration("30d").ok(),
            Some(Duration::from_secs(2_592_000))
        );
        for bad in [
            "",
            "d",
            "5",
            "5x",
            "5é",
            "é",
            "-1d",
            "99999999999999999999d",
            "1 d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
