use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "a", sea_orm(module = "not an ident"))]
struct A {
    #[encx(id)]
    id: i64,
}

#[derive(Encrypted)]
#[encx(table = "b", diesel(tabel = schema::b))]
struct B {
    #[encx(id)]
    id: i64,
}

fn main() {}
