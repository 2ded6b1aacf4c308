//! Instruction counts of the record hot paths, encx beside the hand-written baseline, for
//! `valgrind --tool=callgrind` (which counts instructions the same way on every run, whatever
//! else the machine does). Each workload runs `N` times; the count of one call is
//! `(Ir(N) - Ir(0)) / N`:
//!
//! ```text
//! cargo bench -p encx --bench instructions --no-run
//! scripts/instruction-ratios target/release/deps/instructions-<hash>
//! ```
//!
//! `instructions interleaved <rounds>` times raw and encx alternately instead (wall clock).
//!
//! Workloads: `raw_encrypt`, `encx_encrypt`, `raw_decrypt`, `encx_decrypt` (the derived
//! 4-field record with its blind index, local keyring), `raw_seal_<n>`, `encx_seal_<n>`,
//! `raw_open_<n>`, `encx_open_<n>` (one field of n bytes). Valgrind does not run VAES or
//! SHA-NI code: these counts compare paths, not the speed of this CPU's AES.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;

use encx::aead::Backend;
use encx::{Crypto, Encrypted, LocalKeyring, MasterKey};

#[path = "raw/mod.rs"]
mod raw;
use raw::{customer, raw_open, raw_seal, ready_now, Customer, RawKey, RawRecords};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench" || a == "--list") && args.len() < 3 {
        return; // `cargo bench` / `cargo test --benches` run every bench target: nothing to do
    }
    let (Some(workload), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: instructions <workload> <iterations>");
        std::process::exit(2);
    };
    let n: usize = n;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let backend = Backend::current();
    let crypto = rt
        .block_on(
            Crypto::builder()
                .keyring(LocalKeyring::new(vec![MasterKey::new("v1", [9; 32]).unwrap()]).unwrap())
                .index_keys(encx::index::IndexKeys::new(vec![(1, [7; 32])]).unwrap())
                .build(),
        )
        .unwrap();
    let cust = Customer {
        id: uuid::Uuid::from_u128(7),
        ..customer()
    };
    let raw = RawRecords::for_customers(backend, &cust.id);
    let raw_encrypt = |c: &Customer| raw.encrypt_customer(c);
    // Everything set up before the loop, for every workload, so that Ir(0) holds it all.
    let ((wrapped, fields), _) = raw_encrypt(&cust);
    let record = rt.block_on(cust.encrypt(&crypto)).unwrap();
    let size: usize = workload
        .rsplit('_')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let text: String = "x".repeat(size);
    let key = RawKey::new(backend, &[3; 32]);
    let sealer = rt.block_on(crypto.seal_record("docs", b"d")).unwrap();
    let raw_sealed = raw_seal(&key, &raw.field_aads[0], text.as_bytes());
    let encx_sealed = sealer.seal("body", &text).unwrap();
    let wrapped_doc = sealer.wrapped_dek().clone();
    let opener = rt
        .block_on(crypto.open_record("docs", b"d", Some(&wrapped_doc), &"d"))
        .unwrap();
    let kind = workload.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
    if kind == "interleaved" {
        // Wall clock, raw and encx alternating in blocks of 500 calls for `n` rounds: the
        // median time per call of each and the median of the per-round ratios, so that a
        // slow patch of the machine hits both sides alike. encx's futures are polled in place
        // (no executor entry per call), as inside a running application.
        let mut rounds: [Vec<f64>; 4] = Default::default();
        let time = |f: &mut dyn FnMut()| {
            let started = std::time::Instant::now();
            for _ in 0..500 {
                f();
            }
            started.elapsed().as_nanos() as f64 / 500.0
        };
        for round in 0..n {
            let mut raw_e = || drop(black_box(raw_encrypt(black_box(&cust))));
            let mut raw_d = || drop(black_box(raw.decrypt(black_box(&wrapped), &fields)));
            let mut encx_e = || drop(black_box(ready_now(cust.encrypt(&crypto)).unwrap()));
            let mut encx_d = || {
                drop(black_box(
                    ready_now(Customer::decrypt(black_box(&record), &crypto)).unwrap(),
                ))
            };
            let swap = round % 2 == 1;
            let (re, ee) = if swap {
                let e = time(&mut encx_e);
                (time(&mut raw_e), e)
            } else {
                let r = time(&mut raw_e);
                (r, time(&mut encx_e))
            };
            let (rd, ed) = if swap {
                let e = time(&mut encx_d);
                (time(&mut raw_d), e)
            } else {
                let r = time(&mut raw_d);
                (r, time(&mut encx_d))
            };
            for (i, t) in [re, ee, rd, ed].into_iter().enumerate() {
                rounds[i].push(t);
            }
        }
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratio = |a: &[f64], b: &[f64]| {
            let r: Vec<f64> = a.iter().zip(b).map(|(e, r)| e / r).collect();
            median(&r)
        };
        for (what, r, e) in [("encrypt", 0, 1), ("decrypt", 2, 3)] {
            println!(
                "{what}: raw {:.0} ns, encx {:.0} ns per record, median ratio {:.3}",
                median(&rounds[r]),
                median(&rounds[e]),
                ratio(&rounds[e], &rounds[r])
            );
        }
        return;
    }
    // One executor entry for the whole loop, as in an application (see benches/record.rs).
    rt.block_on(async {
        for _ in 0..n {
            match kind {
                "raw_encrypt" => drop(black_box(raw_encrypt(black_box(&cust)))),
                "encx_encrypt" => drop(black_box(cust.encrypt(&crypto).await.unwrap())),
                "raw_decrypt" => drop(black_box(raw.decrypt(black_box(&wrapped), &fields))),
                "encx_decrypt" => drop(black_box(
                    Customer::decrypt(black_box(&record), &crypto)
                        .await
                        .unwrap(),
                )),
                "raw_seal" => drop(black_box(raw_seal(
                    &key,
                    &raw.field_aads[0],
                    text.as_bytes(),
                ))),
                "encx_seal" => drop(black_box(sealer.seal("body", black_box(&text)).unwrap())),
                "raw_open" => drop(black_box(
                    String::from_utf8(raw_open(&key, &raw.field_aads[0], &raw_sealed)).unwrap(),
                )),
                "encx_open" => drop(black_box(
                    opener
                        .open::<String>("body", black_box(&encx_sealed))
                        .unwrap(),
                )),
                other => {
                    eprintln!("unknown workload {other}");
                    std::process::exit(2);
                }
            }
        }
    });
}
