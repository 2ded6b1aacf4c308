use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "notes")]
struct Note {
    #[encx(encrypt)]
    body: String,
}

async fn read(pool: &sqlx::SqlitePool, notes: &encx_sqlx::Repo<Note, sqlx::Sqlite>) {
    let _ = notes.get(pool, 1i64).await;
    let _ = notes.erase(pool, 1i64).await;
}

fn main() {
    let _ = read;
}
