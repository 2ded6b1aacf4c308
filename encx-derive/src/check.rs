//! Cross-field rules: turns the parsed attributes into a checked [`Container`], reporting every
//! mistake at the span of the attribute at fault.

use proc_macro2::Span;
use quote::format_ident;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type};

use crate::attr::{ContainerAttrs, Errors, FieldAttrs, IndexOptions, PartialOptions, Spanned};
use crate::model::{Compound, Container, Expect, Field, FieldKind, Index, Partial, PartialKind};

const NORMALIZERS: [(&str, &str); 6] = [
    ("none", "None"),
    ("lowercase", "Lowercase"),
    ("trim", "Trim"),
    ("email", "Email"),
    ("digits", "Digits"),
    ("last4", "Last4"),
];
const DEFAULT_BITS: u16 = 32;

pub fn container(input: &DeriveInput) -> Result<Container, syn::Error> {
    let mut errors = Errors::default();
    let named = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => Some(named),
            Fields::Unnamed(_) | Fields::Unit => {
                errors.at(input.ident.span(), "#[derive(Encrypted)] needs a struct with named fields, not a tuple or unit struct");
                None
            }
        },
        Data::Enum(e) => {
            errors.at(
                e.enum_token.span,
                "#[derive(Encrypted)] supports structs with named fields, not enums",
            );
            None
        }
        Data::Union(u) => {
            errors.at(
                u.union_token.span,
                "#[derive(Encrypted)] supports structs with named fields, not unions",
            );
            None
        }
    };
    if let Some(param) = input.generics.params.first() {
        errors.at(
            syn::spanned::Spanned::span(param),
            "#[derive(Encrypted)] does not support generic parameters: each encrypted type maps to one table",
        );
    }
    let attrs = ContainerAttrs::parse(&mut errors, &input.attrs);
    let rename = attrs.rename_all.as_ref().and_then(|r| match RenameRule::parse(&r.value.value()) {
        Some(rule) => Some(rule),
        None => {
            errors.at(r.value.span(), "unknown rename_all rule; expected one of: lowercase, UPPERCASE, snake_case, camelCase, PascalCase, SCREAMING_SNAKE_CASE");
            None
        }
    });
    let table = attrs
        .table
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| default_table(&input.ident.to_string()));
    if let Some(t) = &attrs.table {
        check_sql_name(&mut errors, &t.value, t.span, "table");
    }

    let mut fields = Vec::new();
    let mut id = None;
    let mut subject = None;
    let mut tenant = None;
    let mut signed = Vec::new();
    for f in named.map(|n| n.named.iter()).into_iter().flatten() {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        let fa = FieldAttrs::parse(&mut errors, &f.attrs);
        let option_inner = option_inner(&f.ty);
        let column = match &fa.column {
            Some(c) => {
                check_sql_name(&mut errors, &c.value, c.span, "column");
                c.value.clone()
            }
            None => rename
                .map(|r| r.apply(&ident.unraw_string()))
                .unwrap_or_else(|| ident.unraw_string()),
        };
        let kind = field_kind(
            &mut errors,
            &fa,
            &f.ty,
            option_inner.is_some(),
            &table,
            &column,
            &ident.unraw_string(),
        );
        if let (FieldKind::Id, Some(span)) = (&kind, fa.id.as_ref().map(|s| s.span)) {
            if id.is_some() {
                errors.at(span, "only one field can be #[encx(id)]");
            } else {
                id = Some(fields.len());
            }
        }
        if let Some(span) = fa.subject.as_ref().map(|s| s.span) {
            if !matches!(kind, FieldKind::Id | FieldKind::Plain) {
                errors.at(
                    span,
                    "`subject` marks a plain column (or the id) that names the record's data subject: it cannot be encrypted, hashed or skipped",
                );
            } else if option_inner.is_some() {
                errors.at(
                    span,
                    "the `subject` field cannot be an `Option`: every record needs its data subject",
                );
            } else if subject.is_some() {
                errors.at(span, "only one field can be #[encx(subject)]");
            } else {
                subject = Some(fields.len());
            }
        }
        if let Some(span) = fa.tenant.as_ref().map(|s| s.span) {
            if !matches!(kind, FieldKind::Plain) {
                errors.at(
                    span,
                    "`tenant` marks a plain column that names the record's tenant: it cannot be the id, encrypted, hashed or skipped",
                );
            } else if option_inner.is_some() {
                errors.at(
                    span,
                    "the `tenant` field cannot be an `Option`: every record belongs to a tenant",
                );
            } else if tenant.is_some() {
                errors.at(span, "only one field can be #[encx(tenant)]");
            } else {
                tenant = Some(fields.len());
            }
        }
        if let Some(span) = fa.signed.as_ref().map(|s| s.span) {
            if matches!(kind, FieldKind::Plain) {
                signed.push(fields.len());
            } else {
                errors.at(
                    span,
                    "`signed` binds a plain column into the record's signature: encrypted fields and the id are bound already, hashed and skipped fields are not stored plain",
                );
            }
        }
        fields.push(Field {
            span: ident.span(),
            ident,
            ty: f.ty.clone(),
            column,
            kind,
            option_inner,
        });
    }

    let indexes = attrs
        .indexes
        .iter()
        .filter_map(|ix| compound(&mut errors, ix, &fields, &table))
        .collect::<Vec<_>>();
    check_unique_columns(&mut errors, &fields, &indexes);
    let sea_orm_module = attrs.sea_orm.as_ref().and_then(|s| {
        if id.is_none() {
            errors.at(
                s.span,
                "`sea_orm` needs an `#[encx(id)]` field: it is the primary key of the SeaORM entity",
            );
            return None;
        }
        match &s.value {
            Some(name) => match syn::parse_str::<Ident>(&name.value()) {
                Ok(module) => Some(module),
                Err(_) => {
                    errors.at(name.span(), "`module` must be a Rust identifier");
                    None
                }
            },
            None => Some(Ident::new(
                &format!("{}_entity", snake_case(&input.ident.to_string())),
                input.ident.span(),
            )),
        }
    });
    let diesel_table = attrs.diesel.as_ref().and_then(|d| {
        if id.is_none() {
            errors.at(
                d.span,
                "`diesel` needs an `#[encx(id)]` field: it is the primary key of the Diesel row",
            );
            None
        } else {
            Some(d.value.clone())
        }
    });
    errors.finish()?;
    Ok(Container {
        ident: input.ident.clone(),
        vis: input.vis.clone(),
        table,
        fields,
        indexes,
        id,
        subject,
        tenant,
        signed,
        sea_orm_module,
        diesel_table,
    })
}

/// `CustomerNote` -> `customer_note`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}
impl UnrawString for Ident {
    fn unraw_string(&self) -> String {
        let s = self.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    }
}

fn field_kind(
    errors: &mut Errors,
    fa: &FieldAttrs,
    ty: &Type,
    is_option: bool,
    table: &str,
    column: &str,
    field_name: &str,
) -> FieldKind {
    let exclusive: Vec<(&str, Span)> = [
        ("id", fa.id.as_ref().map(|s| s.span)),
        (
            "encrypt",
            fa.encrypt
                .as_ref()
                .map(|s| s.span)
                .or(fa.encrypt_none.as_ref().map(|s| s.span)),
        ),
        ("hash_secure", fa.hash_secure.as_ref().map(|s| s.span)),
        ("skip", fa.skip.as_ref().map(|s| s.span)),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect();
    if exclusive.len() > 1 {
        let names: Vec<_> = exclusive.iter().map(|(k, _)| format!("`{k}`")).collect();
        errors.at(
            exclusive[1].1,
            format!("{} cannot be combined on one field", names.join(" and ")),
        );
    }
    if let Some(s) = &fa.searchable {
        if fa.encrypt.is_none() && fa.encrypt_none.is_none() {
            errors.at(s.span, "`searchable` needs `encrypt`: write #[encx(encrypt, searchable)] (a plain column is searchable as it is)");
        }
        if let Some(en) = &fa.encrypt_none {
            errors.at(en.span, "`encrypt_none` hides whether a value is present, but a blind index would reveal it: drop one of `encrypt_none` and `searchable`");
        }
    }
    if let Some(en) = &fa.encrypt_none {
        if !is_option {
            errors.at(en.span, "`encrypt_none` only applies to `Option<T>` fields");
        }
    }
    if let Some(h) = &fa.hash_secure {
        if !is_type_named(ty, "PasswordHash") {
            errors.at(h.span, "`hash_secure` needs a field of type `encx::PasswordHash` (hash the password with `PasswordPolicy::hash`)");
        }
    }
    if let Some(c) = &fa.column {
        if fa.skip.is_some() {
            errors.at(
                c.span,
                "a `skip` field is not stored, so it has no `column`",
            );
        }
    }
    if fa.id.is_some() {
        return FieldKind::Id;
    }
    if fa.skip.is_some() {
        return FieldKind::Skip;
    }
    if fa.hash_secure.is_some() {
        return FieldKind::HashSecure;
    }
    if fa.encrypt.is_some() || fa.encrypt_none.is_some() {
        let searchable = fa
            .searchable
            .as_ref()
            .map(|s| index(errors, &s.value, s.span, column, field_name, table));
        return FieldKind::Encrypt {
            encrypt_none: fa.encrypt_none.is_some(),
            searchable,
            partial: partials(errors, fa),
        };
    }
    for (key, opts) in partial_attrs(fa) {
        errors.at(
            opts.span,
            format!("`{key}` needs `encrypt`: write #[encx(encrypt, {key}(..))] (a plain column is searchable as it is)"),
        );
    }
    FieldKind::Plain
}

fn partial_attrs(fa: &FieldAttrs) -> Vec<(&'static str, &Spanned<PartialOptions>)> {
    [
        ("prefix", &fa.prefix),
        ("suffix", &fa.suffix),
        ("contains", &fa.contains),
        ("range", &fa.range),
    ]
    .into_iter()
    .filter_map(|(k, o)| o.as_ref().map(|o| (k, o)))
    .collect()
}

/// An integer option within `range`, or an error at its literal.
fn number<T: std::str::FromStr + Copy + PartialOrd + std::fmt::Display>(
    errors: &mut Errors,
    opts: &PartialOptions,
    key: &str,
    range: std::ops::RangeInclusive<T>,
    default: T,
) -> T
where
    T::Err: std::fmt::Display,
{
    match opts.number(key) {
        None => default,
        Some(lit) => match lit.base10_parse::<T>() {
            Ok(v) if range.contains(&v) => v,
            _ => {
                errors.at(
                    lit.span(),
                    format!(
                        "`{key}` must be between {} and {}",
                        range.start(),
                        range.end()
                    ),
                );
                default
            }
        },
    }
}

fn partials(errors: &mut Errors, fa: &FieldAttrs) -> Vec<Partial> {
    let mut out = Vec::new();
    for (key, opts) in partial_attrs(fa) {
        let span = opts.span;
        if let Some(en) = &fa.encrypt_none {
            errors.at(en.span, format!("`encrypt_none` hides whether a value is present, but a `{key}` index would reveal it: drop one of them"));
        }
        let o = &opts.value;
        let bits = number(errors, o, "bits", 8u16..=256, 16);
        let kind = match key {
            "prefix" | "suffix" => {
                let mut lengths = Vec::new();
                match &o.lengths {
                    None => errors.at(span, format!("`{key}` needs `lengths(..)`: the lengths in characters to index, e.g. {key}(lengths(2, 3))")),
                    Some(list) if list.value.is_empty() => errors.at(list.span, "`lengths` needs at least one length"),
                    Some(list) => {
                        for lit in &list.value {
                            match lit.base10_parse::<u8>() {
                                Ok(n) if (1..=64).contains(&n) && !lengths.contains(&n) => lengths.push(n),
                                Ok(n) if lengths.contains(&n) => errors.at(lit.span(), format!("length {n} is listed twice")),
                                _ => errors.at(lit.span(), "a length must be between 1 and 64 characters"),
                            }
                        }
                    }
                }
                lengths.sort_unstable();
                if key == "prefix" {
                    PartialKind::Prefix(lengths)
                } else {
                    PartialKind::Suffix(lengths)
                }
            }
            "contains" => {
                let filter_bits = number(errors, o, "filter_bits", 64u32..=65_536, 256);
                if !filter_bits.is_power_of_two() {
                    if let Some(lit) = o.number("filter_bits") {
                        errors.at(
                            lit.span(),
                            "`filter_bits` must be a power of two (64, 128, 256, ... 65536)",
                        );
                    }
                }
                PartialKind::Contains {
                    ngram: number(errors, o, "ngram", 1u8..=16, 3),
                    filter_bits,
                    hashes: number(errors, o, "hashes", 1u8..=16, 4),
                }
            }
            _ => {
                if o.number("width").is_none() {
                    errors.at(span, "`range` needs `width = N`: the bucket width in the value's unit (integers: 1; dates: days; timestamps: seconds)");
                }
                PartialKind::Range {
                    width: number(errors, o, "width", 1u64..=u64::MAX, 1),
                }
            }
        };
        let normalizer = match &o.normalize {
            Some(n) => normalizer(errors, n.value.clone()),
            None => "None",
        };
        let alphabet_default = if normalizer == "Digits" || normalizer == "Last4" {
            10
        } else {
            26
        };
        let expect = o
            .expect
            .as_ref()
            .map(|e| expect(errors, &e.value, e.span, key, alphabet_default));
        out.push(Partial {
            kind,
            bits,
            normalizer: Ident::new(normalizer, span),
            expect,
            span,
        });
    }
    out
}

fn expect(
    errors: &mut Errors,
    opts: &crate::attr::ExpectOptions,
    span: Span,
    kind: &str,
    alphabet: u64,
) -> Expect {
    let mut e = Expect {
        rows: 0,
        distinct: 0,
        chars: 0,
        alphabet,
        min_coincidence: 2.0,
        max_false_positives: None,
        max_fill: 0.5,
        span,
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, lit) in &opts.values {
        if seen.contains(&key.value) {
            errors.at(
                key.span,
                format!("duplicate `expect` option `{}`", key.value),
            );
            continue;
        }
        seen.push(key.value.clone());
        let int = || match lit {
            syn::Lit::Int(i) => i.base10_parse::<u64>().ok(),
            _ => None,
        };
        let float = || match lit {
            syn::Lit::Int(i) => i.base10_parse::<f64>().ok(),
            syn::Lit::Float(f) => f.base10_parse::<f64>().ok(),
            _ => None,
        };
        let bad = |errors: &mut Errors, what: &str| {
            errors.at(lit.span(), format!("`{}` must be {what}", key.value))
        };
        match key.value.as_str() {
            "rows" => match int() { Some(v) if v > 0 => e.rows = v, _ => bad(errors, "a positive integer") },
            "distinct" => match int() { Some(v) if v > 0 => e.distinct = v, _ => bad(errors, "a positive integer") },
            "chars" => match int().and_then(|v| u32::try_from(v).ok()) { Some(v) if v > 0 => e.chars = v, _ => bad(errors, "a positive integer") },
            "alphabet" => match int() { Some(v) if v > 1 => e.alphabet = v, _ => bad(errors, "an integer of 2 or more") },
            "min_coincidence" => match float() { Some(v) if v >= 0.0 => e.min_coincidence = v, _ => bad(errors, "a number of 0 or more") },
            "max_false_positives" => match float() { Some(v) if v >= 0.0 => e.max_false_positives = Some(v), _ => bad(errors, "a number of 0 or more") },
            "max_fill" => match float() { Some(v) if (0.0..=1.0).contains(&v) => e.max_fill = v, _ => bad(errors, "a number between 0 and 1") },
            other => errors.at(key.span, format!("unknown `expect` option `{other}`; expected one of: rows, distinct, chars, alphabet, min_coincidence, max_false_positives, max_fill")),
        }
    }
    if e.rows == 0 || e.distinct == 0 {
        errors.at(
            span,
            "`expect` needs `rows = N` and `distinct = N` (the planner's population)",
        );
    }
    if kind == "contains" && e.chars == 0 {
        errors.at(
            span,
            "`expect` of a `contains` index needs `chars = N`: the typical value length",
        );
    }
    e
}

/// The `encx::Normalizer` variant of a `normalize = ".."` value, or an error at it.
fn normalizer(errors: &mut Errors, lit: LitStr) -> &'static str {
    match NORMALIZERS.iter().find(|(k, _)| *k == lit.value()) {
        Some((_, variant)) => variant,
        None => {
            let names: Vec<_> = NORMALIZERS.iter().map(|(k, _)| *k).collect();
            errors.at(
                lit.span(),
                format!(
                    "unknown normalizer \"{}\"; expected one of: {}",
                    lit.value(),
                    names.join(", ")
                ),
            );
            "None"
        }
    }
}

/// `default_name` names the index and its column unless `name = ".."` is given; the handle
/// constant is the given name, or else `const_source` (the Rust field name), uppercased.
fn index(
    errors: &mut Errors,
    opts: &IndexOptions,
    span: Span,
    default_name: &str,
    const_source: &str,
    table: &str,
) -> Index {
    let name = opts
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| default_name.to_owned());
    if let Some(n) = &opts.name {
        check_sql_name(errors, &n.value, n.span, "index name");
    }
    if let Some(d) = opts
        .domain
        .as_ref()
        .filter(|d| d.value.starts_with("encx:"))
    {
        errors.at(
            d.span,
            "blind-index domains starting with `encx:` are reserved for encx's own keys \
             (signed values, tokens, CSRF); choose another domain",
        );
    }
    let bits = match &opts.bits {
        Some(b) => match b.value.base10_parse::<u16>() {
            Ok(v) if (8..=256).contains(&v) => v,
            _ => {
                errors.at(b.value.span(), "`bits` must be between 8 and 256");
                DEFAULT_BITS
            }
        },
        None => DEFAULT_BITS,
    };
    let normalizer = match &opts.normalize {
        Some(n) => normalizer(errors, n.value.clone()),
        None => "None",
    };
    let const_source = opts
        .name
        .as_ref()
        .map(|n| n.value.as_str())
        .unwrap_or(const_source);
    let const_name = format_ident!("{}", const_source.to_uppercase(), span = span);
    Index {
        const_name,
        column: format!("{name}_bidx"),
        domain: opts
            .domain
            .as_ref()
            .map(|d| d.value.clone())
            // `encx::index::default_domain`: netstrings of table and index name (unambiguous
            // whatever the names hold; a test in encx checks the two agree).
            .unwrap_or_else(|| format!("{}:{table},{}:{name},", table.len(), name.len())),
        name,
        bits,
        normalizer: Ident::new(normalizer, span),
    }
}

fn compound(
    errors: &mut Errors,
    ix: &Spanned<IndexOptions>,
    fields: &[Field],
    table: &str,
) -> Option<Compound> {
    let Some(name) = &ix.value.name else {
        errors.at(ix.span, "a compound index needs `name = \"...\"`");
        return None;
    };
    let Some(list) = &ix.value.fields else {
        errors.at(ix.span, "a compound index needs `fields(a, b, ...)`");
        return None;
    };
    if list.value.len() < 2 {
        errors.at(
            list.span,
            "a compound index needs at least two fields (one field: use `searchable`)",
        );
    }
    let mut members = Vec::new();
    for ident in &list.value {
        match fields.iter().position(|f| &f.ident == ident) {
            None => errors.at(ident.span(), format!("compound index `{}` names `{ident}`, which is not a field of this struct", name.value)),
            Some(i) if !fields[i].is_encrypted() => errors.at(
                ident.span(),
                format!("compound index `{}` names `{ident}`, which is not encrypted: only `encrypt` fields can be in a compound index", name.value),
            ),
            Some(i) if matches!(fields[i].kind, FieldKind::Encrypt { encrypt_none: true, .. }) => {
                errors.at(ident.span(), format!("`{ident}` is `encrypt_none`; a blind index would reveal its presence"))
            }
            Some(i) => members.push(i),
        }
    }
    Some(Compound {
        index: index(errors, &ix.value, ix.span, &name.value, &name.value, table),
        fields: members,
    })
}

fn check_unique_columns(errors: &mut Errors, fields: &[Field], indexes: &[Compound]) {
    let mut seen: Vec<(String, Span)> = vec![("encx_dek".into(), Span::call_site())];
    let mut consts: Vec<String> = Vec::new();
    let mut add = |errors: &mut Errors, name: &str, span: Span| {
        if seen.iter().any(|(n, _)| n == name) {
            errors.at(span, format!("column `{name}` would be stored twice (or collides with encx's own `encx_dek`); rename with `column = \"...\"` or `name = \"...\"`"));
        } else {
            seen.push((name.to_owned(), span));
        }
    };
    for f in fields {
        if matches!(f.kind, FieldKind::Skip) {
            continue;
        }
        add(errors, &f.column, f.span);
        if let FieldKind::Encrypt {
            searchable: Some(ix),
            ..
        } = &f.kind
        {
            add(errors, &ix.column, ix.const_name.span());
            consts.push(ix.const_name.to_string());
        }
        if let FieldKind::Encrypt { partial, .. } = &f.kind {
            for p in partial {
                for column in partial_columns(&f.column, &p.kind) {
                    add(errors, &column, p.span);
                }
            }
        }
    }
    for c in indexes {
        add(errors, &c.index.column, c.index.const_name.span());
        if consts.contains(&c.index.const_name.to_string()) {
            errors.at(
                c.index.const_name.span(),
                format!("two indexes are named `{}`", c.index.name),
            );
        }
        consts.push(c.index.const_name.to_string());
    }
}

fn check_sql_name(errors: &mut Errors, name: &str, span: Span, what: &str) {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            // Only a table may be schema-qualified; a column or index name with `.` could not
            // be a field of the generated record struct.
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (c == '.' && what == "table"));
    if !ok {
        let dot = if what == "table" {
            " (or `schema.table`)"
        } else {
            ""
        };
        errors.at(span, format!("{what} `{name}` must be an SQL identifier{dot}: ASCII letters, digits and `_`, not starting with a digit"));
    }
}

/// `Some(T)` for `Option<T>` (also `std::option::Option<T>`).
fn option_inner(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}

fn is_type_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

/// `User` → `users`, `Address` → `addresses`, `Company` → `companies`, `OrderItem` → `order_items`.
pub fn default_table(type_name: &str) -> String {
    let snake = RenameRule::Snake.apply_pascal(type_name);
    if snake.ends_with('s')
        || snake.ends_with('x')
        || snake.ends_with('z')
        || snake.ends_with("ch")
        || snake.ends_with("sh")
    {
        format!("{snake}es")
    } else if snake.ends_with('y')
        && !snake.ends_with("ay")
        && !snake.ends_with("ey")
        && !snake.ends_with("oy")
        && !snake.ends_with("uy")
    {
        format!("{}ies", &snake[..snake.len() - 1])
    } else {
        format!("{snake}s")
    }
}

#[derive(Clone, Copy)]
enum RenameRule {
    Lower,
    Upper,
    Snake,
    Camel,
    Pascal,
    ScreamingSnake,
}

impl RenameRule {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "snake_case" => Self::Snake,
            "camelCase" => Self::Camel,
            "PascalCase" => Self::Pascal,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            _ => return None,
        })
    }

    /// Applies the rule to a snake_case field name.
    fn apply(self, field: &str) -> String {
        match self {
            Self::Lower => field.to_ascii_lowercase(),
            Self::Upper => field.to_ascii_uppercase(),
            Self::Snake => field.to_owned(),
            Self::ScreamingSnake => field.to_ascii_uppercase(),
            Self::Pascal | Self::Camel => {
                let mut out = String::new();
                let mut upper = matches!(self, Self::Pascal);
                for c in field.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// PascalCase type name to snake_case.
    fn apply_pascal(self, name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// The stored columns of a partial index of the field stored in `column`, with their kind's
/// tag (`prefix2`, `contains`, ...): `<column>_prefix2_bidx`, `<column>_contains_bloom`.
pub fn partial_columns(column: &str, kind: &PartialKind) -> Vec<String> {
    partial_tags(kind)
        .into_iter()
        .map(|tag| match kind {
            PartialKind::Contains { .. } => format!("{column}_{tag}_bloom"),
            _ => format!("{column}_{tag}_bidx"),
        })
        .collect()
}

/// The kind tags of a partial index, one per stored column (`encx::index::PartialKind::tag`).
pub fn partial_tags(kind: &PartialKind) -> Vec<String> {
    match kind {
        PartialKind::Prefix(lengths) => lengths.iter().map(|n| format!("prefix{n}")).collect(),
        PartialKind::Suffix(lengths) => lengths.iter().map(|n| format!("suffix{n}")).collect(),
        PartialKind::Contains { .. } => vec!["contains".into()],
        PartialKind::Range { .. } => vec!["range".into()],
    }
}
