use encx::Encrypted;

#[derive(Encrypted)]
struct Wrapper<T> {
    #[encx(encrypt)]
    value: T,
}

fn main() {}
