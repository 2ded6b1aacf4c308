use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "notes")]
struct Note {
    #[encx(encrypt)]
    body: String,
}

async fn read(notes: &encx_sqlx::Repo<Note, sqlx::Sqlite>) {
    let _ = notes.get(1i64).await;
    let _ = notes.erase(1i64).await;
}

fn main() {
    let _ = read;
}
