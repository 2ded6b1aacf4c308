//! The installable `encx` binary on a SQLite file: what it does with encx's own tables, and
//! what it refuses without the application's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;

/// A fresh directory with a master key file, and the data's SQLite URL in it.
struct Place {
    dir: PathBuf,
}

impl Place {
    fn new(name: &str) -> Place {
        let dir = std::env::temp_dir().join(format!("encx-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        std::fs::write(dir.join("master.key"), key).expect("key file");
        Place { dir }
    }

    fn database(&self) -> PathBuf {
        self.dir.join("app.db")
    }

    /// Runs `encx <args>` with `stdin` on this place's database and key.
    fn encx(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_encx"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.database().display()),
            )
            .env("ENCX_MASTER_KEY_FILE", self.dir.join("master.key"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the encx binary runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("stdin written");
        child.wait_with_output().expect("encx ends")
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}): {}", text(&out.stdout)))
}

fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

#[test]
fn a_read_only_command_on_a_database_without_encx_tables_creates_nothing() {
    let place = Place::new("read-only");
    let out = place.encx(&["status"], b"");
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no encx tables"),
        "{}",
        text(&out.stderr)
    );
    let out = place.encx(&["status"], b"");
    assert_eq!(
        code(&out),
        3,
        "still nothing created: {}",
        text(&out.stderr)
    );
}

#[test]
fn keys_secrets_and_audit_work_on_encx_tables_alone() {
    let place = Place::new("keys");
    let out = place.encx(&["keys", "rotate", "--actor", "ops@example.com"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(exists(&place.database()));

    let out = place.encx(&["secrets", "put", "smtp/password"], b"s3cret");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let out = place.encx(&["secrets", "get", "smtp/password", "--reveal"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"s3cret");
    // Stored encrypted: the value is not in the file.
    let stored = std::fs::read(place.database()).expect("database file");
    assert!(!stored.windows(6).any(|w| w == b"s3cret"));

    let out = place.encx(&["--json", "status"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let status = json(&out);
    let tables = status.to_string();
    assert!(tables.contains("encx_secrets"), "{status}");

    // A second rotation, a rewrap of the secrets, then the old KEK is no longer in use, but
    // its cache TTL has not passed: destroying it is refused (4) and nothing is destroyed.
    let out = place.encx(&["--json", "keys", "rotate", "--actor", "ops"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let out = place.encx(&["rewrap"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("encx_secrets: 1 of 1"),
        "{}",
        text(&out.stdout)
    );
    let out = place.encx(&["--json", "status"], b"");
    let status = json(&out);
    let retired = status["keks"]
        .as_array()
        .and_then(|keks| keks.iter().find(|k| k["state"] == "retired"))
        .and_then(|k| k["id"].as_str())
        .unwrap_or_else(|| panic!("a retired KEK in {status}"))
        .to_owned();
    let out = place.encx(&["keys", "destroy", &retired, "--actor", "ops"], b"");
    assert_eq!(code(&out), 4, "refused: {}", text(&out.stderr));
    let out = place.encx(&["secrets", "get", "smtp/password", "--reveal"], b"");
    assert_eq!(out.stdout, b"s3cret", "{}", text(&out.stderr));

    let out = place.encx(&["audit", "--actor", "ops@example.com"], b"");
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("rotate encx_keks"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn commands_that_need_the_applications_tables_say_so() {
    let place = Place::new("no-tables");
    assert_eq!(
        code(&place.encx(&["keys", "rotate", "--actor", "ops"], b"")),
        0
    );
    for args in [
        &[
            "erase-subject",
            "8f1c3e2a-0000-4000-8000-000000000000",
            "--actor",
            "dpo",
        ][..],
        &["migrate", "--actor", "ops"][..],
        &["verify"][..],
    ] {
        let out = place.encx(args, b"");
        assert_eq!(code(&out), 3, "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("Registry::"),
            "{args:?} names what is missing: {}",
            text(&out.stderr)
        );
    }
}
