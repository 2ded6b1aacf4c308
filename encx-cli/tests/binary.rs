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

mod described_tables {
    //! `erase-subject` and `reapply-ledger` of the bare binary on a table it knows by
    //! `--subject-table` alone, written by the application with its record type.

    use super::*;
    use encx::Encrypted;
    use encx_sqlx::{Repo, SqlKekStore, SqlSubjectKeyStore};
    use uuid::Uuid;

    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "user_notes")]
    struct Note {
        #[encx(id)]
        id: i64,
        #[encx(subject)]
        user_id: Uuid,
        #[encx(encrypt, searchable)]
        body: String,
    }

    /// The application's view of `place`: its crypto (the binary's key, the key tables in the
    /// same file) and its notes.
    async fn application(place: &Place) -> (sqlx::SqlitePool, Repo<Note, sqlx::Sqlite>) {
        let url = format!("sqlite://{}?mode=rwc", place.database().display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("database");
        encx_sqlx::migrate(&pool).await.expect("migrate");
        let key = encx::MasterKey::new("v1", [7u8; 32]).expect("key");
        let root: Arc<dyn encx::Keyring> =
            Arc::new(encx::LocalKeyring::new(vec![key]).expect("keyring"));
        let keks = SqlKekStore::shared(pool.clone());
        let crypto = encx::Crypto::builder()
            .keyring(encx::HierarchicalKeyring::new(root.clone(), keks.clone()))
            .index_keys_in(keks, root)
            .subject_keys_in(SqlSubjectKeyStore::shared(pool.clone()))
            .build()
            .await
            .expect("crypto");
        let notes = Repo::<Note, sqlx::Sqlite>::new(pool.clone(), crypto);
        notes.create_table().await.expect("table");
        (pool, notes)
    }

    use std::sync::Arc;

    #[tokio::test]
    async fn erase_subject_clears_a_described_table_and_spares_the_others() {
        let place = Place::new("described");
        let (pool, notes) = application(&place).await;
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let written = [(1, ada, "ada's"), (2, ada, "ada's too"), (3, bob, "bob's")];
        for (id, user_id, body) in written {
            let note = Note {
                id,
                user_id,
                body: body.into(),
            };
            notes.insert(&pool, &note).await.expect("insert");
        }
        let ada_text = ada.to_string();
        let table = ["--subject-table", "user_notes:user_id"];

        // A dry run names the rows and changes nothing.
        let mut args = table.to_vec();
        args.extend(["--json", "erase-subject", &ada_text, "--dry-run"]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("user_notes"),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(
            notes.get(&pool, 1).await.expect("still there").body,
            "ada's"
        );

        let mut args = table.to_vec();
        args.extend([
            "--subject-cache-ttl",
            "0",
            "erase-subject",
            &ada_text,
            "--actor",
            "dpo",
        ]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        for id in [1, 2] {
            let gone = notes.get(&pool, id).await.expect_err("erased");
            assert!(gone.is_shredded(), "{gone}");
        }
        assert_eq!(
            notes.get(&pool, 3).await.expect("bob's stays").body,
            "bob's"
        );
        // The blind index is cleared too: the row leaves every lookup.
        assert!(notes
            .find_by(&pool, Note::BODY, "ada's")
            .await
            .expect("search")
            .is_empty());
        let (deks, indexes): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(encx_dek), COUNT(body_bidx) FROM user_notes WHERE id IN (1, 2)",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!((deks, indexes), (0, 0));

        // The erasure is in the ledger: reapplying it finds the keys gone and succeeds.
        let mut args = table.to_vec();
        args.extend([
            "--subject-cache-ttl",
            "0",
            "reapply-ledger",
            "--actor",
            "dpo",
        ]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("1 ledger entr(ies) re-applied"),
            "{}",
            text(&out.stdout)
        );
    }

    #[tokio::test]
    async fn erase_subject_is_refused_while_another_encrypted_table_is_not_named() {
        let place = Place::new("described-uncovered");
        let (pool, notes) = application(&place).await;
        let ada = Uuid::new_v4();
        let note = Note {
            id: 1,
            user_id: ada,
            body: "ada's".into(),
        };
        notes.insert(&pool, &note).await.expect("insert");
        // Another table the application encrypts, which the command line does not name.
        sqlx::query("CREATE TABLE partner_invoices (id INTEGER PRIMARY KEY, encx_dek BLOB)")
            .execute(&pool)
            .await
            .expect("table");
        let ada_text = ada.to_string();
        let erase = [
            "--subject-table",
            "user_notes:user_id",
            "--subject-cache-ttl",
            "0",
            "--json",
            "erase-subject",
        ];

        let mut args = erase.to_vec();
        args.extend([ada_text.as_str(), "--dry-run"]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        assert_eq!(
            json(&out)["found"]["not_covered"],
            serde_json::json!(["partner_invoices"])
        );

        let mut args = erase.to_vec();
        args.extend([ada_text.as_str(), "--actor", "dpo"]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 4, "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("partner_invoices"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(notes.get(&pool, 1).await.expect("not erased"), note);

        let mut args = vec!["--not-subject-table", "partner_invoices"];
        args.extend(erase);
        args.extend([ada_text.as_str(), "--actor", "dpo"]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        let gone = notes.get(&pool, 1).await.expect_err("erased");
        assert!(gone.is_shredded(), "{gone}");
    }

    /// A table without data subjects: its DEKs are wrapped under the KEK.
    #[derive(Debug, Clone, PartialEq, Encrypted)]
    #[encx(table = "invoices")]
    struct Invoice {
        #[encx(id)]
        id: i64,
        #[encx(encrypt)]
        amount: String,
    }

    #[tokio::test]
    async fn rewrap_moves_a_table_named_with_rewrap_table() {
        let place = Place::new("described-rewrap");
        let (pool, notes) = application(&place).await;
        let invoices = Repo::<Invoice, sqlx::Sqlite>::new(pool.clone(), notes.crypto().clone());
        invoices.create_table().await.expect("table");
        for id in 0..25 {
            let invoice = Invoice {
                id,
                amount: format!("{id}.00 EUR"),
            };
            invoices.insert(&pool, &invoice).await.expect("insert");
        }
        let out = place.encx(&["keys", "rotate", "--actor", "ops"], b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        // Not named: the bare binary counts the table (not registered) but cannot move it.
        let status = json(&place.encx(&["status", "--json"], b""));
        assert!(
            status["unregistered"]
                .to_string()
                .contains(r#""table":"invoices""#),
            "{status}"
        );

        let table = ["--rewrap-table", "invoices:id", "--id-type", "integer"];
        let mut args = table.to_vec();
        args.extend(["--json", "status"]);
        assert_eq!(json(&place.encx(&args, b""))["pending_rewrap"], 25);
        // The wrong id type is refused without changing a row.
        let args = [
            "--rewrap-table",
            "invoices:id",
            "--id-type",
            "uuid",
            "rewrap",
        ];
        let out = place.encx(&args, b"");
        assert_ne!(code(&out), 0, "{}", text(&out.stdout));
        let mut args = table.to_vec();
        args.extend(["--json", "status"]);
        assert_eq!(json(&place.encx(&args, b""))["pending_rewrap"], 25);

        let mut args = table.to_vec();
        args.extend(["--json", "rewrap", "--batch", "7", "--actor", "ops"]);
        let out = place.encx(&args, b"");
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        let done = json(&out);
        let moved = done["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["table"] == "invoices"))
            .map(|t| t["rewrapped"].clone());
        assert_eq!(moved, Some(serde_json::json!(25)), "{done}");
        let mut args = table.to_vec();
        args.extend(["--json", "status"]);
        assert_eq!(json(&place.encx(&args, b""))["pending_rewrap"], 0);
        for id in 0..25 {
            let read = invoices.get(&pool, id).await.expect("reads");
            assert_eq!(read.amount, format!("{id}.00 EUR"));
        }
    }

    #[tokio::test]
    async fn a_described_table_that_is_not_there_is_a_configuration_error() {
        let place = Place::new("described-missing");
        let _ = application(&place).await;
        for pair in [
            "no_such_table:user_id",
            "user_notes:no_such_column",
            "user_notes",
        ] {
            let args = ["--subject-table", pair, "erase-subject", "x", "--dry-run"];
            let out = place.encx(&args, b"");
            assert_eq!(code(&out), 3, "{pair}: {}", text(&out.stderr));
        }
    }
}
