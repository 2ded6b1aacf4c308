// The tour shared by the quickstart (SQLite) and the PostgreSQL example: included with
// `#[macro_use] mod tour;` so each example runs it on its own concrete database type.

/// One user of the tour.
#[derive(Debug, Clone, encx::Encrypted)]
#[encx(table = "users")]
pub struct User {
    #[encx(id)]
    pub id: uuid::Uuid,
    /// Stays plain.
    pub username: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
    #[encx(encrypt)]
    pub phone: Option<String>,
}

macro_rules! tour {
    ($db:ty, $pool:expr, $placeholder:expr) => {{
        use encx_examples::show_cell;
        use sqlx::{Column, Row};
        let pool = $pool;
        let key = encx_examples::load_or_create_master_key(std::path::Path::new(KEY_FILE))?;

        // Key hierarchy: the master key wraps KEKs kept in the `encx_keks` table; KEKs wrap
        // one data key per record. The blind-index key lives in `encx_keks` too.
        encx_sqlx::migrate(&pool).await?;
        let root: std::sync::Arc<dyn encx::Keyring> = std::sync::Arc::new(encx::LocalKeyring::new(vec![key])?);
        let store: std::sync::Arc<dyn encx::KekStore> = std::sync::Arc::new(encx_sqlx::SqlKekStore::<$db>::new(pool.clone()));
        let crypto = encx::Crypto::builder()
            .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
            .index_keys_in(store, root)
            .build()
            .await?;

        let users = encx_sqlx::Repo::<tour::User, $db>::new(pool.clone(), crypto);
        users.create_table().await?;
        sqlx::query("DELETE FROM users").execute(&pool).await?; // start the tour afresh

        let people = [
            ("ada", "Ada@Example.com", Some("+44 20 7946 0958")),
            ("grace", "grace@navy.example", None),
            ("alan", "alan@bletchley.example", Some("+44 1908 640404")),
        ];
        let mut ids = Vec::new();
        for (username, email, phone) in people {
            let user = tour::User {
                id: uuid::Uuid::new_v4(),
                username: username.into(),
                email: email.into(),
                phone: phone.map(Into::into),
            };
            ids.push(user.id);
            users.insert(&user).await?;
        }
        println!("inserted 3 users");

        let found = users.find_by(tour::User::EMAIL, "  ada@EXAMPLE.com ").await?;
        println!("find_by(email, \"  ada@EXAMPLE.com \") -> {:?}", found.iter().map(|u| (&u.username, &u.email)).collect::<Vec<_>>());

        users.erase(ids[1]).await?;
        match users.get(ids[1]).await {
            Err(e) if e.is_shredded() => println!("erased grace: reading her record now fails: {e}"),
            other => println!("unexpected: {other:?}"),
        }

        let sql = format!("SELECT * FROM users WHERE id = {}", $placeholder);
        for (label, id) in [("ada (live)", ids[0]), ("grace (erased)", ids[1])] {
            let row = sqlx::query(&sql).bind(id).fetch_one(&pool).await?;
            println!("\nstored row of {label}:");
            for (i, column) in row.columns().iter().enumerate() {
                let cell: Option<Vec<u8>> = row.try_get_unchecked(i).unwrap_or_default();
                println!("  {:<12} {}", column.name(), show_cell(cell));
            }
        }
        println!("\nThe erased row is still there, and its ciphertexts too, but nothing in this database can open");
        println!("them any more. A copy of the database taken before the erase still could, until the key that");
        println!("wrapped that data key is destroyed everywhere (docs/operations.md, erasure).");
        Ok::<(), Box<dyn std::error::Error>>(())
    }};
}
