//! Parsing `#[encx(...)]` attributes into raw, span-carrying values. No cross-field rules here
//! (that is `check.rs`); only syntax, unknown keys and duplicate keys.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Ident, LitInt, LitStr};

/// A value with the span of the attribute key that set it.
#[derive(Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// Collects errors so that every mistake is reported, not only the first.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    pub fn push(&mut self, err: syn::Error) {
        self.0.push(err);
    }
    pub fn at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, msg));
    }
    pub fn finish(self) -> Result<(), syn::Error> {
        let mut iter = self.0.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                for e in iter {
                    first.combine(e);
                }
                Err(first)
            }
        }
    }
}

/// The key of a nested meta (`encrypt`, `table`, ...), empty for a path that is not an identifier.
fn key_of(meta: &ParseNestedMeta<'_>) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Calls `each` for every item of every `#[encx(...)]` attribute, collecting syntax errors.
fn for_each_encx_meta(
    errors: &mut Errors,
    attrs: &[Attribute],
    mut each: impl FnMut(&mut Errors, ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("encx")) {
        let mut found = Vec::new();
        let result = attr.parse_nested_meta(|m| {
            let mut inner = Errors::default();
            let r = each(&mut inner, m);
            found.extend(inner.0);
            r
        });
        for e in found {
            errors.push(e);
        }
        if let Err(e) = result {
            errors.push(e);
        }
    }
}

/// Sets `slot` once; a second time is a "duplicate" error at the key.
fn set_once<T>(
    errors: &mut Errors,
    slot: &mut Option<Spanned<T>>,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    value: T,
) {
    if slot.is_some() {
        errors.push(meta.error(format!("duplicate encx attribute `{key}`")));
    } else {
        *slot = Some(Spanned {
            value,
            span: meta
                .path
                .get_ident()
                .map(Ident::span)
                .unwrap_or_else(Span::call_site),
        });
    }
}

fn flag(
    errors: &mut Errors,
    slot: &mut Option<Spanned<()>>,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) {
    set_once(errors, slot, meta, key, ());
}

/// Options of a blind index: `searchable(...)` on a field or `index(...)` on the container.
#[derive(Default, Clone)]
pub struct IndexOptions {
    pub name: Option<Spanned<String>>,
    pub normalize: Option<Spanned<LitStr>>,
    pub bits: Option<Spanned<LitInt>>,
    pub domain: Option<Spanned<String>>,
    pub fields: Option<Spanned<Vec<Ident>>>,
}

impl IndexOptions {
    fn parse(
        errors: &mut Errors,
        meta: &ParseNestedMeta<'_>,
        allow_fields: bool,
    ) -> syn::Result<Self> {
        let mut opts = IndexOptions::default();
        meta.parse_nested_meta(|m| {
            let key = key_of(&m);
            match key.as_str() {
                "name" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut opts.name, &m, "name", v.value());
                }
                "normalize" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut opts.normalize, &m, "normalize", v);
                }
                "bits" => {
                    let v: LitInt = m.value()?.parse()?;
                    set_once(errors, &mut opts.bits, &m, "bits", v);
                }
                "domain" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut opts.domain, &m, "domain", v.value());
                }
                "fields" if allow_fields => {
                    let mut idents = Vec::new();
                    m.parse_nested_meta(|f| {
                        match f.path.get_ident() {
                            Some(ident) => idents.push(ident.clone()),
                            None => errors.push(f.error("expected a field name")),
                        }
                        Ok(())
                    })?;
                    set_once(errors, &mut opts.fields, &m, "fields", idents);
                }
                _ => {
                    let known = if allow_fields {
                        "name, fields, bits, normalize, domain"
                    } else {
                        "name, bits, normalize, domain"
                    };
                    errors.push(m.error(format!(
                        "unknown encx index option `{key}`; expected one of: {known}"
                    )));
                    skip_value(&m)?;
                }
            }
            Ok(())
        })?;
        Ok(opts)
    }
}

/// The planner's inputs and bound of a partial index: `expect(rows = .., distinct = .., ..)`.
#[derive(Default, Clone)]
pub struct ExpectOptions {
    /// `(key, literal)` pairs, checked in `check.rs`.
    pub values: Vec<(Spanned<String>, syn::Lit)>,
}

/// Options of a partial index: `prefix(..)`, `suffix(..)`, `contains(..)`, `range(..)`.
#[derive(Default, Clone)]
pub struct PartialOptions {
    pub lengths: Option<Spanned<Vec<LitInt>>>,
    /// `bits`, `ngram`, `filter_bits`, `hashes`, `width`: integer options by key.
    pub numbers: Vec<(Spanned<String>, LitInt)>,
    pub normalize: Option<Spanned<LitStr>>,
    pub expect: Option<Spanned<ExpectOptions>>,
}

impl PartialOptions {
    /// Parses `kind(...)`; `numbers` are the integer keys this kind takes, `lengths`
    /// whether it takes `lengths(..)`, `normalize` whether it takes a normalizer.
    fn parse(
        errors: &mut Errors,
        meta: &ParseNestedMeta<'_>,
        kind: &str,
        numbers: &[&str],
        lengths: bool,
    ) -> syn::Result<Self> {
        let mut opts = PartialOptions::default();
        if !meta.input.peek(syn::token::Paren) {
            errors.push(meta.error(format!(
                "`{kind}` needs its options: {}",
                match kind {
                    "prefix" => "prefix(lengths(2, 3))",
                    "suffix" => "suffix(lengths(4))",
                    "contains" => "contains(ngram = 3, filter_bits = 256, hashes = 3)",
                    _ => "range(width = 100)",
                }
            )));
            return Ok(opts);
        }
        meta.parse_nested_meta(|m| {
            let key = key_of(&m);
            let span = m
                .path
                .get_ident()
                .map(Ident::span)
                .unwrap_or_else(Span::call_site);
            match key.as_str() {
                "lengths" if lengths => {
                    let mut list = Vec::new();
                    let content;
                    syn::parenthesized!(content in m.input);
                    let items =
                        content.parse_terminated(|p| p.parse::<LitInt>(), syn::Token![,])?;
                    list.extend(items);
                    set_once(errors, &mut opts.lengths, &m, "lengths", list);
                }
                "normalize" if kind != "range" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut opts.normalize, &m, "normalize", v);
                }
                "expect" => {
                    let mut expect = ExpectOptions::default();
                    m.parse_nested_meta(|e| {
                        let key = key_of(&e);
                        let span = e
                            .path
                            .get_ident()
                            .map(Ident::span)
                            .unwrap_or_else(Span::call_site);
                        let lit: syn::Lit = e.value()?.parse()?;
                        expect.values.push((Spanned { value: key, span }, lit));
                        Ok(())
                    })?;
                    set_once(errors, &mut opts.expect, &m, "expect", expect);
                }
                k if numbers.contains(&k) => {
                    let v: LitInt = m.value()?.parse()?;
                    if opts.numbers.iter().any(|(n, _)| n.value == k) {
                        errors.push(m.error(format!("duplicate encx attribute `{k}`")));
                    } else {
                        opts.numbers.push((
                            Spanned {
                                value: k.to_owned(),
                                span,
                            },
                            v,
                        ));
                    }
                }
                _ => {
                    let mut known: Vec<&str> = Vec::new();
                    if lengths {
                        known.push("lengths");
                    }
                    known.extend_from_slice(numbers);
                    if kind != "range" {
                        known.push("normalize");
                    }
                    known.push("expect");
                    errors.push(m.error(format!(
                        "unknown `{kind}` option `{key}`; expected one of: {}",
                        known.join(", ")
                    )));
                    skip_value(&m)?;
                }
            }
            Ok(())
        })?;
        Ok(opts)
    }

    /// The integer option `key`, with the span of its literal.
    pub fn number(&self, key: &str) -> Option<&LitInt> {
        self.numbers
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, v)| v)
    }
}

/// Consumes `= value` or `(...)` after an unknown key so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        let _: syn::Expr = meta.value()?.parse()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _ = meta.parse_nested_meta(|m| skip_value(&m));
    }
    Ok(())
}

/// Container attributes.
#[derive(Default)]
pub struct ContainerAttrs {
    pub table: Option<Spanned<String>>,
    pub rename_all: Option<Spanned<LitStr>>,
    pub indexes: Vec<Spanned<IndexOptions>>,
    /// `sea_orm` or `sea_orm(module = "name")`: also generate a SeaORM entity module.
    pub sea_orm: Option<Spanned<Option<LitStr>>>,
    /// `diesel(table = path::to::table)`: also generate a Diesel row for that `table!`.
    pub diesel: Option<Spanned<syn::Path>>,
}

impl ContainerAttrs {
    pub fn parse(errors: &mut Errors, attrs: &[Attribute]) -> Self {
        let mut out = ContainerAttrs::default();
        for_each_encx_meta(errors, attrs, |errors, m| {
            let key = key_of(&m);
            match key.as_str() {
                "table" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut out.table, &m, "table", v.value());
                }
                "rename_all" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut out.rename_all, &m, "rename_all", v);
                }
                "index" => {
                    let span = m
                        .path
                        .get_ident()
                        .map(Ident::span)
                        .unwrap_or_else(Span::call_site);
                    let opts = IndexOptions::parse(errors, &m, true)?;
                    out.indexes.push(Spanned { value: opts, span });
                }
                "sea_orm" => {
                    let mut module = None;
                    if m.input.peek(syn::token::Paren) {
                        m.parse_nested_meta(|inner| {
                            if inner.path.is_ident("module") {
                                let v: LitStr = inner.value()?.parse()?;
                                module = Some(v);
                                Ok(())
                            } else {
                                Err(inner
                                    .error("unknown sea_orm option; expected: module = \"name\""))
                            }
                        })?;
                    }
                    set_once(errors, &mut out.sea_orm, &m, "sea_orm", module);
                }
                "diesel" => {
                    let mut table = None;
                    m.parse_nested_meta(|inner| {
                        if inner.path.is_ident("table") {
                            table = Some(inner.value()?.parse::<syn::Path>()?);
                            Ok(())
                        } else {
                            Err(inner
                                .error("unknown diesel option; expected: table = path::to::table"))
                        }
                    })?;
                    match table {
                        Some(path) => set_once(errors, &mut out.diesel, &m, "diesel", path),
                        None => errors.push(m.error(
                            "`diesel` needs the table: #[encx(diesel(table = schema::users))]",
                        )),
                    }
                }
                _ => {
                    errors.push(m.error(format!(
                        "unknown encx container attribute `{key}`; expected one of: table, rename_all, index, sea_orm, diesel"
                    )));
                    skip_value(&m)?;
                }
            }
            Ok(())
        });
        out
    }
}

/// Field attributes.
#[derive(Default)]
pub struct FieldAttrs {
    pub id: Option<Spanned<()>>,
    pub subject: Option<Spanned<()>>,
    pub tenant: Option<Spanned<()>>,
    pub signed: Option<Spanned<()>>,
    pub encrypt: Option<Spanned<()>>,
    pub encrypt_none: Option<Spanned<()>>,
    pub searchable: Option<Spanned<IndexOptions>>,
    pub hash_secure: Option<Spanned<()>>,
    pub column: Option<Spanned<String>>,
    pub skip: Option<Spanned<()>>,
    pub prefix: Option<Spanned<PartialOptions>>,
    pub suffix: Option<Spanned<PartialOptions>>,
    pub contains: Option<Spanned<PartialOptions>>,
    pub range: Option<Spanned<PartialOptions>>,
}

impl FieldAttrs {
    pub fn parse(errors: &mut Errors, attrs: &[Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        for_each_encx_meta(errors, attrs, |errors, m| {
            let key = key_of(&m);
            match key.as_str() {
                "id" => flag(errors, &mut out.id, &m, "id"),
                "subject" => flag(errors, &mut out.subject, &m, "subject"),
                "tenant" => flag(errors, &mut out.tenant, &m, "tenant"),
                "signed" => flag(errors, &mut out.signed, &m, "signed"),
                "encrypt" => flag(errors, &mut out.encrypt, &m, "encrypt"),
                "encrypt_none" => flag(errors, &mut out.encrypt_none, &m, "encrypt_none"),
                "hash_secure" => flag(errors, &mut out.hash_secure, &m, "hash_secure"),
                "skip" => flag(errors, &mut out.skip, &m, "skip"),
                "column" => {
                    let v: LitStr = m.value()?.parse()?;
                    set_once(errors, &mut out.column, &m, "column", v.value());
                }
                "searchable" => {
                    let opts = if m.input.peek(syn::token::Paren) {
                        IndexOptions::parse(errors, &m, false)?
                    } else {
                        IndexOptions::default()
                    };
                    set_once(errors, &mut out.searchable, &m, "searchable", opts);
                }
                "prefix" => {
                    let opts = PartialOptions::parse(errors, &m, "prefix", &["bits"], true)?;
                    set_once(errors, &mut out.prefix, &m, "prefix", opts);
                }
                "suffix" => {
                    let opts = PartialOptions::parse(errors, &m, "suffix", &["bits"], true)?;
                    set_once(errors, &mut out.suffix, &m, "suffix", opts);
                }
                "contains" => {
                    let opts = PartialOptions::parse(
                        errors,
                        &m,
                        "contains",
                        &["ngram", "filter_bits", "hashes"],
                        false,
                    )?;
                    set_once(errors, &mut out.contains, &m, "contains", opts);
                }
                "range" => {
                    let opts =
                        PartialOptions::parse(errors, &m, "range", &["width", "bits"], false)?;
                    set_once(errors, &mut out.range, &m, "range", opts);
                }
                _ => {
                    errors.push(m.error(format!(
                        "unknown encx field attribute `{key}`; expected one of: id, subject, \
                         tenant, signed, encrypt, searchable, prefix, suffix, contains, range, encrypt_none, \
                         hash_secure, column, skip"
                    )));
                    skip_value(&m)?;
                }
            }
            Ok(())
        });
        out
    }
}
