use encx::Encrypted;

#[derive(Encrypted)]
#[encx(table = "events", sea_orm, diesel(table = schema::events))]
struct Event {
    kind: String,
    #[encx(encrypt)]
    payload: String,
}

fn main() {}
