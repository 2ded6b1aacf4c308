use encx::Encrypted;

/// A tenant's record whose tenant and role are signed.
#[derive(Encrypted)]
#[encx(table = "members")]
pub struct Member {
    #[encx(id)]
    pub id: uuid::Uuid,
    #[encx(tenant, signed)]
    pub org: String,
    #[encx(signed)]
    pub role: Option<String>,
    #[encx(encrypt, searchable)]
    pub email: String,
}

fn main() {
    use encx::schema::Schema;
    fn has_tenant<T: encx::HasTenant>() {}
    has_tenant::<Member>();
    assert_eq!(Member::tenant_column(), Some("org"));
    assert!(Member::columns().iter().any(|c| c.name == "encx_sig"));
}
