//! Emits the generated code from a checked [`Container`]. Never validates (that is `check.rs`).
//! Generated code names only `::encx::...` and `::core::...` paths.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use crate::check::{partial_columns, partial_tags};
use crate::columns::{Storage, StoredColumn};
use crate::model::{Compound, Container, Field, FieldKind, Index, Partial, PartialKind};

/// A column name as a field identifier of the record struct (raw identifier for keywords).
fn column_ident(name: &str) -> Ident {
    syn::parse_str::<Ident>(name)
        .unwrap_or_else(|_| Ident::new_raw(name, proc_macro2::Span::call_site()))
}

fn spec(ix: &Index) -> TokenStream {
    let (name, domain, bits, norm) = (&ix.name, &ix.domain, ix.bits, &ix.normalizer);
    quote!(::encx::IndexSpec::new(#name, #domain, #bits, ::encx::Normalizer::#norm))
}

/// `Option<&dyn Indexable>` of a field of `v`.
fn indexable(f: &Field, owner: &TokenStream) -> TokenStream {
    let ident = &f.ident;
    if f.option_inner.is_some() {
        quote!(#owner.#ident.as_ref().map(|__v| __v as &dyn ::encx::Indexable))
    } else {
        quote!(::core::option::Option::Some(&#owner.#ident as &dyn ::encx::Indexable))
    }
}

pub fn derive(c: &Container) -> TokenStream {
    let ident = &c.ident;
    let vis = &c.vis;
    let record = format_ident!("{}Record", ident);
    let table = &c.table;

    let mut encrypt_fields = Vec::new();
    let mut decrypt_fields = Vec::new();
    let mut columns = Vec::new();
    let mut handles = Vec::new();
    // Compile-time planner checks of `expect(..)`.
    let mut asserts = Vec::new();
    // (record field, column name, stored type) in column order, for the sqlx impls.
    let mut stored: Vec<(Ident, String, TokenStream)> = Vec::new();
    // How an ORM row holds each of `stored` (same order), whether it is the primary key, and
    // whether erasure sets it to NULL.
    let mut storage: Vec<(Storage, bool, bool)> = Vec::new();

    for f in &c.fields {
        let fid = &f.ident;
        let ty = &f.ty;
        let col = &f.column;
        let rid = column_ident(col);
        match &f.kind {
            FieldKind::Skip => {
                decrypt_fields.push(quote!(#fid: ::core::default::Default::default()));
            }
            FieldKind::Id | FieldKind::Plain | FieldKind::HashSecure => {
                stored.push((rid.clone(), col.clone(), quote!(#ty)));
                storage.push(match f.kind {
                    FieldKind::HashSecure => (Storage::PasswordHash, false, false),
                    FieldKind::Id => (Storage::Plain, true, false),
                    _ => (Storage::Plain, false, false),
                });
                encrypt_fields.push(quote!(#rid: ::core::clone::Clone::clone(&self.#fid)));
                decrypt_fields.push(quote!(#fid: ::core::clone::Clone::clone(&record.#rid)));
                let nullable_syntax = f.option_inner.is_some();
                columns.push(match f.kind {
                    FieldKind::HashSecure => quote!(::encx::schema::Column::new(#col, ::encx::schema::ColumnKind::PasswordHash)),
                    FieldKind::Id => quote!(::encx::schema::Column::new(#col, ::encx::schema::ColumnKind::Id {
                        sql_type: {
                            #[allow(unused_imports)]
                            use ::encx::schema::probe::{ViaFallback as _, ViaSqlType as _};
                            (&::encx::schema::probe::Probe::<#ty>::new()).encx_sql_type()
                        },
                    })),
                    _ => quote!(::encx::schema::Column::new(#col, ::encx::schema::ColumnKind::Plain {
                        sql_type: {
                            #[allow(unused_imports)]
                            use ::encx::schema::probe::{ViaFallback as _, ViaSqlType as _};
                            (&::encx::schema::probe::Probe::<#ty>::new()).encx_sql_type()
                        },
                        nullable: #nullable_syntax,
                    })),
                });
            }
            FieldKind::Encrypt {
                encrypt_none,
                searchable,
                partial,
            } => {
                for p in partial {
                    partial_index(
                        c,
                        f,
                        p,
                        &mut PartialOut {
                            stored: &mut stored,
                            storage: &mut storage,
                            encrypt_fields: &mut encrypt_fields,
                            columns: &mut columns,
                            handles: &mut handles,
                            asserts: &mut asserts,
                        },
                    );
                }
                let stored_option = f.option_inner.is_some() && !encrypt_none;
                // Spanned at the field's type: a type without `Serialize`/`DeserializeOwned`
                // is reported at the field, not at the derive.
                let at = syn::spanned::Spanned::span(ty);
                if stored_option {
                    stored.push((
                        rid.clone(),
                        col.clone(),
                        quote!(::core::option::Option<::encx::Ciphertext>),
                    ));
                    storage.push((Storage::OptionalBytes, false, false));
                    encrypt_fields.push(
                        quote_spanned!(at=> #rid: __encx_sealer.seal_option(#col, &self.#fid)?),
                    );
                    decrypt_fields.push(
                        quote_spanned!(at=> #fid: __encx_opener.open_option(#col, &record.#rid)?),
                    );
                } else {
                    stored.push((rid.clone(), col.clone(), quote!(::encx::Ciphertext)));
                    storage.push((Storage::Bytes, false, false));
                    encrypt_fields
                        .push(quote_spanned!(at=> #rid: __encx_sealer.seal(#col, &self.#fid)?));
                    decrypt_fields
                        .push(quote_spanned!(at=> #fid: __encx_opener.open(#col, &record.#rid)?));
                }
                columns.push(quote!(::encx::schema::Column::new(#col, ::encx::schema::ColumnKind::Ciphertext { nullable: #stored_option })));
                if let Some(ix) = searchable {
                    let bcol = &ix.column;
                    let bid = column_ident(bcol);
                    let konst = &ix.const_name;
                    let bytes = ix.bits.div_ceil(8);
                    let value_fn =
                        format_ident!("__encx_value_{}", konst.to_string().to_lowercase());
                    let get = indexable(f, &quote!(v));
                    let get_self = indexable(f, &quote!(self));
                    stored.push((
                        bid.clone(),
                        bcol.clone(),
                        quote!(::core::option::Option<::encx::BlindIndex>),
                    ));
                    storage.push((Storage::OptionalBytes, false, true));
                    encrypt_fields.push(quote!(#bid: match #get_self {
                        ::core::option::Option::Some(__v) => ::core::option::Option::Some(crypto.blind_index(Self::#konst.spec(), __v)?),
                        ::core::option::Option::None => ::core::option::Option::None,
                    }));
                    columns.push(quote!(::encx::schema::Column::new(#bcol, ::encx::schema::ColumnKind::BlindIndex { bytes: #bytes })));
                    let spec = spec(ix);
                    let doc = format!("Blind index of `{fid}` (column `{bcol}`): query with it, e.g. `Repo::find_by({ident}::{konst}, value)`.");
                    handles.push(quote_spanned! {konst.span()=>
                        #[doc = #doc]
                        #vis const #konst: ::encx::SearchField<#ident> = ::encx::SearchField::new(#spec, #bcol, Self::#value_fn);
                        #[doc(hidden)]
                        fn #value_fn(v: &Self) -> ::core::option::Option<&dyn ::encx::Indexable> {
                            #get
                        }
                    });
                }
            }
        }
    }

    for Compound { index: ix, fields } in &c.indexes {
        let bcol = &ix.column;
        let bid = column_ident(bcol);
        let konst = &ix.const_name;
        let bytes = ix.bits.div_ceil(8);
        let values_fn = format_ident!("__encx_values_{}", konst.to_string().to_lowercase());
        let vars: Vec<Ident> = (0..fields.len())
            .map(|i| format_ident!("__p{}", i))
            .collect();
        let gets_self: Vec<TokenStream> = fields
            .iter()
            .map(|&i| indexable(&c.fields[i], &quote!(self)))
            .collect();
        let gets_v: Vec<TokenStream> = fields
            .iter()
            .map(|&i| indexable(&c.fields[i], &quote!(v)))
            .collect();
        stored.push((
            bid.clone(),
            bcol.clone(),
            quote!(::core::option::Option<::encx::BlindIndex>),
        ));
        storage.push((Storage::OptionalBytes, false, true));
        encrypt_fields.push(quote!(#bid: match (#(#gets_self,)*) {
            (#(::core::option::Option::Some(#vars),)*) => ::core::option::Option::Some(crypto.compound_index(Self::#konst.spec(), &[#(#vars),*])?),
            _ => ::core::option::Option::None,
        }));
        columns.push(quote!(::encx::schema::Column::new(#bcol, ::encx::schema::ColumnKind::BlindIndex { bytes: #bytes })));
        let spec = spec(ix);
        let names: Vec<String> = fields
            .iter()
            .map(|&i| format!("`{}`", c.fields[i].ident))
            .collect();
        let doc = format!(
            "Compound blind index over {} (column `{bcol}`).",
            names.join(", ")
        );
        handles.push(quote_spanned! {konst.span()=>
            #[doc = #doc]
            #vis const #konst: ::encx::CompoundIndex<#ident> = ::encx::CompoundIndex::new(#spec, #bcol, Self::#values_fn);
            #[doc(hidden)]
            fn #values_fn(v: &Self) -> ::core::option::Option<::std::vec::Vec<&dyn ::encx::Indexable>> {
                match (#(#gets_v,)*) {
                    (#(::core::option::Option::Some(#vars),)*) => ::core::option::Option::Some(::std::vec![#(#vars),*]),
                    _ => ::core::option::Option::None,
                }
            }
        });
    }

    // The signature over the signed plain columns: sealed before the sealer gives up the DEK.
    let verify_signature = if c.signed.is_empty() {
        TokenStream::new()
    } else {
        stored.push((
            format_ident!("encx_sig"),
            "encx_sig".into(),
            quote!(::core::option::Option<::encx::Ciphertext>),
        ));
        storage.push((Storage::OptionalBytes, false, false));
        columns.push(quote!(::encx::schema::Column::new(
            "encx_sig",
            ::encx::schema::ColumnKind::Signature
        )));
        let pushes_self: Vec<TokenStream> = c
            .signed
            .iter()
            .map(|&i| {
                let f = &c.fields[i];
                let (fid, col) = (&f.ident, &f.column);
                let at = syn::spanned::Spanned::span(&f.ty);
                quote_spanned!(at=> __encx_signed.push(#col, &self.#fid)?;)
            })
            .collect();
        let pushes_record: Vec<TokenStream> = c
            .signed
            .iter()
            .map(|&i| {
                let f = &c.fields[i];
                let col = &f.column;
                let rid = column_ident(col);
                let at = syn::spanned::Spanned::span(&f.ty);
                quote_spanned!(at=> __encx_signed.push(#col, &record.#rid)?;)
            })
            .collect();
        encrypt_fields.push(quote!(encx_sig: ::core::option::Option::Some({
            let mut __encx_signed = ::encx::record::SignedColumns::new();
            #(#pushes_self)*
            __encx_sealer.sign(&__encx_signed)?
        })));
        quote! {
            let mut __encx_signed = ::encx::record::SignedColumns::new();
            #(#pushes_record)*
            __encx_opener.verify(&__encx_signed, record.encx_sig.as_ref())?;
        }
    };

    stored.push((
        format_ident!("encx_dek"),
        "encx_dek".into(),
        quote!(::core::option::Option<::encx::WrappedDek>),
    ));
    storage.push((Storage::OptionalBytes, false, true));
    encrypt_fields
        .push(quote!(encx_dek: ::core::option::Option::Some(__encx_sealer.into_wrapped_dek())));
    columns.push(quote!(::encx::schema::Column::new(
        "encx_dek",
        ::encx::schema::ColumnKind::WrappedDek
    )));

    let id_display_fn = c.id.map(|i| {
        let fid = &c.fields[i].ident;
        quote! {
            fn id_display(&self) -> ::std::string::String {
                ::encx::RecordId::record_id_display(&self.#fid)
            }
        }
    });
    let (id_bytes_enc, id_bytes_dec, id_display, id_shown) = match c.id {
        Some(i) => {
            let fid = &c.fields[i].ident;
            let rid = column_ident(&c.fields[i].column);
            (
                quote!(::encx::RecordId::record_id_bytes(&self.#fid)),
                quote!(::encx::RecordId::record_id_bytes(&record.#rid)),
                quote!(::encx::RecordId::record_id_display(&record.#rid)),
                // Formatted only if an error names the record.
                quote!(::encx::record::ShownId(&record.#rid)),
            )
        }
        None => (
            quote!(::std::borrow::Cow::<'static, [u8]>::Borrowed(&[])),
            quote!(::std::borrow::Cow::<'static, [u8]>::Borrowed(&[])),
            quote!(::std::string::String::from("(record without #[encx(id)])")),
            quote!("(record without #[encx(id)])"),
        ),
    };
    let (seal, open) = match c.subject {
        Some(i) => {
            let fid = &c.fields[i].ident;
            let rid = column_ident(&c.fields[i].column);
            (
                quote!(crypto.seal_subject_record(
                    #table,
                    &__encx_id,
                    &::encx::RecordId::record_id_bytes(&self.#fid),
                    &::encx::RecordId::record_id_display(&self.#fid),
                ).await?),
                quote!(crypto.open_subject_record(
                    #table,
                    &__encx_id,
                    &::encx::RecordId::record_id_bytes(&record.#rid),
                    record.encx_dek.as_ref(),
                    &__encx_display,
                ).await?),
            )
        }
        None => (
            quote!(crypto.seal_record(#table, &__encx_id).await?),
            quote!(crypto
                .open_record(#table, &__encx_id, record.encx_dek.as_ref(), &__encx_display)
                .await?),
        ),
    };
    // A tenant's records are sealed, opened and indexed in the tenant's scope.
    let (scope_enc, scope_dec) = match c.tenant {
        Some(i) => {
            let fid = &c.fields[i].ident;
            let rid = column_ident(&c.fields[i].column);
            (
                quote! {
                    let __encx_scope = crypto.for_tenant(
                        &::encx::RecordId::record_id_bytes(&self.#fid),
                        &::encx::RecordId::record_id_display(&self.#fid),
                    ).await?;
                    let crypto = &__encx_scope;
                },
                quote! {
                    let __encx_scope = crypto.for_tenant(
                        &::encx::RecordId::record_id_bytes(&record.#rid),
                        &::encx::RecordId::record_id_display(&record.#rid),
                    ).await?;
                    let crypto = &__encx_scope;
                },
            )
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
    let record_tenant_fn = c.tenant.map(|i| {
        let rid = column_ident(&c.fields[i].column);
        let fid = &c.fields[i].ident;
        quote! {
            fn tenant_bytes(&self) -> ::core::option::Option<::std::vec::Vec<u8>> {
                ::core::option::Option::Some(
                    ::encx::RecordId::record_id_bytes(&self.#fid).into_owned(),
                )
            }

            fn record_tenant(record: &#record) -> ::core::option::Option<::std::vec::Vec<u8>> {
                ::core::option::Option::Some(
                    ::encx::RecordId::record_id_bytes(&record.#rid).into_owned(),
                )
            }
        }
    });
    let tenant_column_fn = c.tenant.map(|i| {
        let col = &c.fields[i].column;
        quote! {
            fn tenant_column() -> ::core::option::Option<&'static str> {
                ::core::option::Option::Some(#col)
            }
        }
    });
    let has_tenant = c.tenant.map(|_| {
        quote! {
            #[automatically_derived]
            impl ::encx::HasTenant for #ident {}
        }
    });
    let subject_display_fn = c.subject.map(|i| {
        let fid = &c.fields[i].ident;
        quote! {
            fn subject_display(&self) -> ::core::option::Option<::std::string::String> {
                ::core::option::Option::Some(::encx::RecordId::record_id_display(&self.#fid))
            }
        }
    });
    let subject_column_fn = c.subject.map(|i| {
        let col = &c.fields[i].column;
        quote! {
            fn subject_column() -> ::core::option::Option<&'static str> {
                ::core::option::Option::Some(#col)
            }
        }
    });
    let has_subject = c.subject.map(|_| {
        quote! {
            #[automatically_derived]
            impl ::encx::HasSubject for #ident {}
        }
    });
    let has_record_id = c.id.map(|_| {
        quote! {
            #[automatically_derived]
            impl ::encx::HasRecordId for #ident {}
        }
    });
    let record_fields = stored.iter().map(|(field, _, ty)| quote!(pub #field: #ty));
    let sqlx_impls = if cfg!(feature = "sqlx") {
        sqlx_impls(
            &record,
            &stored,
            c.id.map(|i| {
                let ty = &c.fields[i].ty;
                (column_ident(&c.fields[i].column), quote!(#ty))
            }),
            c.subject.map(|i| {
                let ty = &c.fields[i].ty;
                (column_ident(&c.fields[i].column), quote!(#ty))
            }),
            c.tenant.map(|i| {
                let ty = &c.fields[i].ty;
                (column_ident(&c.fields[i].column), quote!(#ty))
            }),
        )
    } else {
        TokenStream::new()
    };
    let orm_columns: Vec<StoredColumn> = stored
        .iter()
        .zip(&storage)
        .map(
            |((field, column, ty), &(storage, primary_key, erased))| StoredColumn {
                field: field.clone(),
                column: column.clone(),
                ty: ty.clone(),
                storage,
                primary_key,
                erased,
            },
        )
        .collect();
    let sea_orm_entity = c
        .sea_orm_module
        .as_ref()
        .map(|module| crate::sea_orm::entity(c, module, &record, &orm_columns));
    let diesel_row = c
        .diesel_table
        .as_ref()
        .map(|table_path| crate::diesel::row(c, table_path, &record, &orm_columns));
    let record_doc = format!(
        "The stored form of [`{ident}`] in table `{table}`: plain columns, ciphertexts, blind indexes and the wrapped data key. Generated by `#[derive(Encrypted)]`."
    );

    quote! {
        #[doc = #record_doc]
        #[derive(::core::clone::Clone)]
        #[allow(non_snake_case)]
        #vis struct #record {
            #(#record_fields,)*
        }

        #[automatically_derived]
        impl ::encx::Encrypted for #ident {
            type Record = #record;
            const TABLE: &'static str = #table;

            async fn encrypt(&self, crypto: &::encx::Crypto) -> ::encx::Result<#record> {
                #scope_enc
                let __encx_id = #id_bytes_enc;
                let __encx_sealer = #seal;
                ::core::result::Result::Ok(#record {
                    #(#encrypt_fields,)*
                })
            }

            async fn decrypt(record: &#record, crypto: &::encx::Crypto) -> ::encx::Result<Self> {
                #scope_dec
                let __encx_id = #id_bytes_dec;
                let __encx_display = #id_shown;
                let __encx_opener = #open;
                #verify_signature
                ::core::result::Result::Ok(#ident {
                    #(#decrypt_fields,)*
                })
            }

            #id_display_fn

            #subject_display_fn

            #record_tenant_fn

            fn record_id_display(record: &#record) -> ::std::string::String {
                #id_display
            }
        }

        #has_record_id

        #has_subject

        #has_tenant

        #[automatically_derived]
        impl ::encx::schema::Schema for #ident {
            const TABLE: &'static str = #table;
            fn columns() -> &'static [::encx::schema::Column] {
                static COLUMNS: ::std::sync::OnceLock<::std::vec::Vec<::encx::schema::Column>> = ::std::sync::OnceLock::new();
                COLUMNS.get_or_init(|| ::std::vec![#(#columns),*])
            }

            #subject_column_fn

            #tenant_column_fn
        }

        #[automatically_derived]
        impl #ident {
            #(#handles)*
        }

        #(#asserts)*

        #sqlx_impls
        #sea_orm_entity
        #diesel_row
    }
}

/// Where [`partial_index`] puts what it generates.
struct PartialOut<'a> {
    stored: &'a mut Vec<(Ident, String, TokenStream)>,
    storage: &'a mut Vec<(Storage, bool, bool)>,
    encrypt_fields: &'a mut Vec<TokenStream>,
    columns: &'a mut Vec<TokenStream>,
    handles: &'a mut Vec<TokenStream>,
    asserts: &'a mut Vec<TokenStream>,
}

/// The columns, stored values, handle and planner checks of one partial index of `f`.
fn partial_index(c: &Container, f: &Field, p: &Partial, out: &mut PartialOut<'_>) {
    let ident = &c.ident;
    let vis = &c.vis;
    let table = &c.table;
    let fid = &f.ident;
    let field_name = f.column.as_str();
    let bits = p.bits;
    let norm = &p.normalizer;
    let at = p.span;
    let upper = fid.to_string().trim_start_matches("r#").to_uppercase();
    let partial_kind = quote!(::encx::index::PartialKind);
    let kinds: Vec<TokenStream> = match &p.kind {
        PartialKind::Prefix(lengths) => lengths
            .iter()
            .map(|n| quote!(#partial_kind::Prefix { chars: #n }))
            .collect(),
        PartialKind::Suffix(lengths) => lengths
            .iter()
            .map(|n| quote!(#partial_kind::Suffix { chars: #n }))
            .collect(),
        PartialKind::Contains {
            ngram,
            filter_bits,
            hashes,
        } => {
            // 65536 is written 0 (it does not fit the u16).
            let stored_bits = (*filter_bits % 65_536) as u16;
            vec![
                quote!(#partial_kind::Contains { ngram: #ngram, filter_bits: #stored_bits, hashes: #hashes }),
            ]
        }
        PartialKind::Range { width } => vec![quote!(#partial_kind::Range { width: #width })],
    };
    let names = partial_columns(&f.column, &p.kind);
    let tags = partial_tags(&p.kind);
    let mut handle_columns = Vec::new();
    for ((kind, column), tag) in kinds.iter().zip(&names).zip(&tags) {
        let domain = format!(
            "{}:{table},{}:{field_name},{}:{tag},",
            table.len(),
            field_name.len(),
            tag.len()
        );
        let spec = quote!(::encx::index::PartialSpec::new(#field_name, #domain, #kind, #bits, ::encx::Normalizer::#norm));
        let rid = column_ident(column);
        out.stored.push((
            rid.clone(),
            column.clone(),
            quote!(::core::option::Option<::encx::BlindIndex>),
        ));
        out.storage.push((Storage::OptionalBytes, false, true));
        let compute = match &p.kind {
            PartialKind::Range { .. } => {
                let get = match f.option_inner {
                    Some(_) => quote!(self.#fid.as_ref()),
                    None => quote!(::core::option::Option::Some(&self.#fid)),
                };
                quote_spanned!(at=> match #get {
                    ::core::option::Option::Some(__v) => ::core::option::Option::Some(crypto.range_index(&#spec, __v)?),
                    ::core::option::Option::None => ::core::option::Option::None,
                })
            }
            _ => {
                let get = indexable(f, &quote!(self));
                quote_spanned!(at=> match #get {
                    ::core::option::Option::Some(__v) => ::core::option::Option::Some(crypto.partial_index(&#spec, __v)?),
                    ::core::option::Option::None => ::core::option::Option::None,
                })
            }
        };
        out.encrypt_fields.push(quote!(#rid: #compute));
        out.columns.push(match &p.kind {
            PartialKind::Contains { filter_bits, .. } => {
                let bytes = (*filter_bits / 8) as u16;
                quote!(::encx::schema::Column::new(#column, ::encx::schema::ColumnKind::BloomFilter { bytes: #bytes }))
            }
            _ => {
                let bytes = bits.div_ceil(8);
                quote!(::encx::schema::Column::new(#column, ::encx::schema::ColumnKind::BlindIndex { bytes: #bytes }))
            }
        });
        handle_columns.push(quote!(::encx::search::PartialColumn::new(#spec, #column)));
        if let Some(e) = &p.expect {
            let leakage = quote!(::encx::index::leakage);
            let (rows, distinct, chars, alphabet) = (e.rows, e.distinct, e.chars, e.alphabet);
            let keys = match &p.kind {
                PartialKind::Prefix(_) | PartialKind::Suffix(_) => {
                    let n: u8 = tag
                        .trim_start_matches(char::is_alphabetic)
                        .parse()
                        .unwrap_or(1);
                    quote!(#leakage::Population::affix_keys(#distinct, #alphabet, #n))
                }
                _ => quote!(#distinct),
            };
            let (min_c, max_fill) = (e.min_coincidence, e.max_fill);
            let max_fp = match e.max_false_positives {
                Some(v) => quote!(::core::option::Option::Some(#v)),
                None => quote!(::core::option::Option::None),
            };
            // Named after the type and column, so that a refusal names the index.
            let plan_const = format_ident!("encx_plan_of_{}_{}", ident, column);
            out.asserts.push(quote_spanned! {e.span=>
                #[allow(dead_code, non_upper_case_globals, non_snake_case)]
                #[doc(hidden)]
                const #plan_const: () = #leakage::assert_within(
                    #kind,
                    #bits,
                    #leakage::Population::new(#rows, #keys, #chars),
                    #leakage::Bound { min_coincidence: #min_c, max_false_positives: #max_fp, max_fill: #max_fill },
                );
            });
        }
    }
    let (suffix, handle_doc) = match &p.kind {
        PartialKind::Prefix(_) => ("PREFIX", "Prefix index"),
        PartialKind::Suffix(_) => ("SUFFIX", "Suffix index"),
        PartialKind::Contains { .. } => ("CONTAINS", "Substring (contains) index"),
        PartialKind::Range { .. } => ("RANGE", "Range index"),
    };
    let konst = format_ident!("{}_{}", upper, suffix, span = at);
    let value_fn = format_ident!("__encx_{}_{}", suffix.to_lowercase(), upper.to_lowercase());
    let doc = format!(
        "{handle_doc} of `{fid}` (columns {}).",
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let first = &handle_columns[0];
    out.handles.push(match &p.kind {
        PartialKind::Prefix(_) | PartialKind::Suffix(_) => {
            let handle = format_ident!("{}Index", if suffix == "PREFIX" { "Prefix" } else { "Suffix" });
            let get = indexable(f, &quote!(v));
            quote_spanned! {at=>
                #[doc = #doc]
                #vis const #konst: ::encx::#handle<#ident> = ::encx::#handle::new(&[#(#handle_columns),*], Self::#value_fn);
                #[doc(hidden)]
                fn #value_fn(v: &Self) -> ::core::option::Option<&dyn ::encx::Indexable> {
                    #get
                }
            }
        }
        PartialKind::Contains { .. } => {
            let get = indexable(f, &quote!(v));
            quote_spanned! {at=>
                #[doc = #doc]
                #vis const #konst: ::encx::ContainsIndex<#ident> = ::encx::ContainsIndex::new(#first, Self::#value_fn);
                #[doc(hidden)]
                fn #value_fn(v: &Self) -> ::core::option::Option<&dyn ::encx::Indexable> {
                    #get
                }
            }
        }
        PartialKind::Range { .. } => {
            let inner = f.option_inner.as_ref().unwrap_or(&f.ty);
            let get = match f.option_inner {
                Some(_) => quote!(v.#fid.as_ref()),
                None => quote!(::core::option::Option::Some(&v.#fid)),
            };
            quote_spanned! {at=>
                #[doc = #doc]
                #vis const #konst: ::encx::RangeIndex<#ident, #inner> = ::encx::RangeIndex::new(#first, Self::#value_fn);
                #[doc(hidden)]
                fn #value_fn(v: &Self) -> ::core::option::Option<&#inner> {
                    #get
                }
            }
        }
    });
}

/// `sqlx::FromRow` for any row type (bounded by what the stored field types need), and
/// `encx::sql::StoredIn` for each database whose feature is on.
fn sqlx_impls(
    record: &Ident,
    stored: &[(Ident, String, TokenStream)],
    id: Option<(Ident, TokenStream)>,
    subject: Option<(Ident, TokenStream)>,
    tenant: Option<(Ident, TokenStream)>,
) -> TokenStream {
    let sqlx = quote!(::encx::__private::sqlx);
    let mut types: Vec<TokenStream> = Vec::new();
    for (_, _, ty) in stored {
        if !types.iter().any(|t| t.to_string() == ty.to_string()) {
            types.push(ty.clone());
        }
    }
    let fields: Vec<&Ident> = stored.iter().map(|(f, _, _)| f).collect();
    let columns: Vec<&String> = stored.iter().map(|(_, c, _)| c).collect();
    let (id_type, key) = match &id {
        Some((field, ty)) => (
            ty.clone(),
            quote!(::core::option::Option::Some(&self.#field)),
        ),
        None => (
            quote!(::encx::sql::NoId),
            quote!(::core::option::Option::None),
        ),
    };
    let subject_type = match &subject {
        Some((_, ty)) => ty.clone(),
        None => quote!(::encx::sql::NoId),
    };
    let tenant_type = match &tenant {
        Some((_, ty)) => ty.clone(),
        None => quote!(::encx::sql::NoId),
    };
    let mut per_database = Vec::new();
    for (feature, database) in [
        (cfg!(feature = "postgres"), quote!(#sqlx::Postgres)),
        (cfg!(feature = "mysql"), quote!(#sqlx::MySql)),
        (cfg!(feature = "sqlite"), quote!(#sqlx::Sqlite)),
    ] {
        if feature {
            per_database.push(stored_in(record, stored, &id, &subject, &tenant, &database));
        }
    }
    let pg_arrays = if cfg!(feature = "postgres") {
        pg_bind_arrays(record, stored)
    } else {
        TokenStream::new()
    };
    quote! {
        #[automatically_derived]
        impl<'r, R: #sqlx::Row> #sqlx::FromRow<'r, R> for #record
        where
            &'r str: #sqlx::ColumnIndex<R>,
            #(#types: #sqlx::Decode<'r, R::Database> + #sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> ::core::result::Result<Self, #sqlx::Error> {
                ::core::result::Result::Ok(#record {
                    #(#fields: #sqlx::Row::try_get(row, #columns)?,)*
                })
            }
        }

        #[automatically_derived]
        impl ::encx::sql::RecordKey for #record {
            type Id = #id_type;
            type Subject = #subject_type;
            type Tenant = #tenant_type;
            fn key(&self) -> ::core::option::Option<&Self::Id> {
                #key
            }
            fn wrapped_dek(&self) -> ::core::option::Option<&::encx::WrappedDek> {
                self.encx_dek.as_ref()
            }
        }

        #(#per_database)*

        #pg_arrays
    }
}

/// `encx::sql::StoredIn<database>`: each column bound or read through sqlx when sqlx supports
/// its type on that database, an `UnsupportedColumn` error otherwise (autoref specialization).
fn stored_in(
    record: &Ident,
    stored: &[(Ident, String, TokenStream)],
    id: &Option<(Ident, TokenStream)>,
    subject: &Option<(Ident, TokenStream)>,
    tenant: &Option<(Ident, TokenStream)>,
    database: &TokenStream,
) -> TokenStream {
    let sqlx = quote!(::encx::__private::sqlx);
    let stored_mod = quote!(::encx::sql::stored);
    let fields: Vec<&Ident> = stored.iter().map(|(f, _, _)| f).collect();
    let columns: Vec<&String> = stored.iter().map(|(_, c, _)| c).collect();
    let types: Vec<&TokenStream> = stored.iter().map(|(_, _, t)| t).collect();
    let bind_one = |named: &Option<(Ident, TokenStream)>, value: TokenStream| match named {
        Some((field, ty)) => {
            let column = stored
                .iter()
                .find(|(f, _, _)| f == field)
                .map(|(_, c, _)| c.as_str())
                .unwrap_or_default();
            quote!((&#stored_mod::Column::<'q, #database, #ty>::new(#value, #column)).encx_bind(args))
        }
        None => quote!(match *#value {}),
    };
    let bind_key = bind_one(id, quote!(id));
    let bind_subject = bind_one(subject, quote!(subject));
    let bind_tenant = bind_one(tenant, quote!(tenant));
    quote! {
        #[automatically_derived]
        impl ::encx::sql::StoredIn<#database> for #record {
            fn bind_columns<'q>(
                &'q self,
                args: &mut <#database as #sqlx::Database>::Arguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #[allow(unused_imports)]
                use #stored_mod::{DoesNotEncode as _, Encodes as _};
                #((&#stored_mod::Column::<'q, #database, #types>::new(&self.#fields, #columns)).encx_bind(args)?;)*
                ::core::result::Result::Ok(())
            }

            fn bind_key<'q>(
                id: &'q Self::Id,
                args: &mut <#database as #sqlx::Database>::Arguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #[allow(unused_imports)]
                use #stored_mod::{DoesNotEncode as _, Encodes as _};
                #bind_key
            }

            fn bind_subject<'q>(
                subject: &'q Self::Subject,
                args: &mut <#database as #sqlx::Database>::Arguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #[allow(unused_imports)]
                use #stored_mod::{DoesNotEncode as _, Encodes as _};
                #bind_subject
            }

            fn bind_tenant<'q>(
                tenant: &'q Self::Tenant,
                args: &mut <#database as #sqlx::Database>::Arguments,
            ) -> ::core::result::Result<(), #sqlx::error::BoxDynError> {
                #[allow(unused_imports)]
                use #stored_mod::{DoesNotEncode as _, Encodes as _};
                #bind_tenant
            }

            fn from_row(
                row: &<#database as #sqlx::Database>::Row,
            ) -> ::core::result::Result<Self, #sqlx::Error> {
                #[allow(unused_imports)]
                use #stored_mod::{DoesNotDecode as _, Decodes as _};
                ::core::result::Result::Ok(#record {
                    #(#fields: (&#stored_mod::Field::<#database, #types>::new(#columns)).encx_get(row)?,)*
                })
            }
        }
    }
}

/// `encx::sql::PgBindArrays`: each stored column of a batch as one PostgreSQL array, or `None`
/// when some column type has no array type (resolved per type by autoref specialization).
fn pg_bind_arrays(record: &Ident, stored: &[(Ident, String, TokenStream)]) -> TokenStream {
    let sqlx = quote!(::encx::__private::sqlx);
    let arrays = quote!(::encx::sql::pg_arrays);
    let vars: Vec<Ident> = stored
        .iter()
        .map(|(f, _, _)| format_ident!("__encx_column_{}", f))
        .collect();
    let fields = stored.iter().map(|(f, _, _)| f);
    let types = stored.iter().map(|(_, _, ty)| ty);
    quote! {
        #[automatically_derived]
        impl ::encx::sql::PgBindArrays for #record {
            fn pg_bind_arrays(
                records: &[Self],
                args: &mut #sqlx::postgres::PgArguments,
            ) -> ::core::option::Option<::core::result::Result<(), #sqlx::error::BoxDynError>> {
                #[allow(unused_imports)]
                use #arrays::{ViaArray as _, ViaRows as _};
                #(
                    let #vars = #arrays::ColumnArray::<'_, #types>(
                        records.iter().map(|record| &record.#fields).collect(),
                    );
                )*
                if !(#((&#vars).encx_has_array())&&*) {
                    return ::core::option::Option::None;
                }
                #(
                    if let ::core::result::Result::Err(e) = (&#vars).encx_bind_array(args) {
                        return ::core::option::Option::Some(::core::result::Result::Err(e));
                    }
                )*
                ::core::option::Option::Some(::core::result::Result::Ok(()))
            }
        }
    }
}
