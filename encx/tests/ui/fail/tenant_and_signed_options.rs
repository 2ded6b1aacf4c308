use encx::Encrypted;

#[derive(Encrypted)]
struct OnTheId {
    #[encx(id, tenant)]
    id: i64,
}

#[derive(Encrypted)]
struct Optional {
    #[encx(id)]
    id: i64,
    #[encx(tenant)]
    org: Option<String>,
}

#[derive(Encrypted)]
struct EncryptedTenant {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, tenant)]
    org: String,
}

#[derive(Encrypted)]
struct TwoTenants {
    #[encx(id)]
    id: i64,
    #[encx(tenant)]
    org: String,
    #[encx(tenant)]
    team: String,
}

#[derive(Encrypted)]
struct SignedCiphertext {
    #[encx(id)]
    id: i64,
    #[encx(encrypt, signed)]
    role: String,
}

#[derive(Encrypted)]
struct SignedId {
    #[encx(id, signed)]
    id: i64,
}

fn main() {}
