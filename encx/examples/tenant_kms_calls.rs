//! KMS calls and latency of tenants' keys: 10,000 record operations spread over 1,000 tenants
//! with a Zipf-like popularity (a few hot tenants, a long tail), half of the tenants on the
//! operator's KMS key (the default root) and half on KMS keys of their own (bring your own
//! key: two tenant keys), against the AWS KMS API of a local emulator (moto).
//!
//! ```sh
//! moto_server -H 127.0.0.1 -p 5055 &
//! ENCX_KMS_ENDPOINT=http://127.0.0.1:5055 \
//!     cargo run --release -p encx --features aws-kms --example tenant_kms_calls
//! ```
//!
//! Prints, for a tenant cache that holds every tenant and for one that holds 100: the KMS
//! calls, how many tenants were touched, calls per operation, and the latency of operations
//! (p50, p99, max). AWS KMS direct mode would make one call per operation (10,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use encx::index::IndexKeys;
use encx::keys::tenant::{KmsTenantRoots, MemoryTenantStore, TenantRoot};
use encx::{AwsKmsKeyring, Crypto, Encrypted};

const TENANTS: usize = 1_000;
const OPERATIONS: usize = 10_000;
const WORKERS: usize = 16;
/// The Zipf exponent: tenant k is picked with probability proportional to 1 / k^s.
const ZIPF_S: f64 = 1.1;

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "invoices")]
struct Invoice {
    #[encx(id)]
    id: u64,
    #[encx(tenant)]
    customer: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    amount_cents: i64,
}

/// A small deterministic generator for the workload (not for keys).
struct Workload(u64);

impl Workload {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The tenant of each operation, by Zipf-like popularity.
fn tenant_sequence() -> Vec<usize> {
    let weights: Vec<f64> = (1..=TENANTS)
        .map(|k| 1.0 / (k as f64).powf(ZIPF_S))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(TENANTS);
    let mut sum = 0.0;
    for w in &weights {
        sum += w / total;
        cdf.push(sum);
    }
    let mut rng = Workload(0x9e37_79b9_7f4a_7c15);
    (0..OPERATIONS)
        .map(|_| {
            let u = rng.unit();
            cdf.partition_point(|c| *c < u).min(TENANTS - 1)
        })
        .collect()
}

async fn kms_client(endpoint: &str) -> aws_sdk_kms::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing", "testing", None, None, "example",
        ))
        .load()
        .await;
    aws_sdk_kms::Client::new(&config)
}

async fn new_key(client: &aws_sdk_kms::Client) -> String {
    let created = client
        .create_key()
        .description("encx tenant example")
        .send()
        .await
        .expect("CreateKey (is the emulator running at ENCX_KMS_ENDPOINT?)");
    created
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("a key ARN")
        .to_owned()
}

struct Run {
    calls: u64,
    touched: usize,
    latencies: Vec<Duration>,
    wall: Duration,
}

async fn run(endpoint: &str, cache_entries: usize, sequence: &[usize]) -> Run {
    let client = kms_client(endpoint).await;
    let operator_key = new_key(&client).await;
    let own_keys = [new_key(&client).await, new_key(&client).await];
    let default_root = AwsKmsKeyring::from_client(client.clone(), operator_key);
    let default_calls = default_root.clone();
    let roots = Arc::new(KmsTenantRoots::new(client.clone()));
    let crypto = Crypto::builder()
        .keyring(default_root)
        .index_keys(IndexKeys::generate().expect("index keys"))
        .tenants(Arc::new(MemoryTenantStore::new()))
        .tenant_roots(roots.clone())
        .tenant_cache(Duration::from_secs(300), cache_entries)
        .build()
        .await
        .expect("crypto");
    // Odd tenants bring their own key (alternating between the two tenant keys).
    for t in (1..TENANTS).step_by(2) {
        let key = &own_keys[(t / 2) % 2];
        crypto
            .onboard_tenant(format!("tenant-{t}").as_bytes(), TenantRoot::own(key))
            .await
            .expect("onboard");
    }
    let before = default_calls.calls().total() + roots.calls().total();
    let sequence = Arc::new(sequence.to_vec());
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (crypto, sequence) = (crypto.clone(), sequence.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut written: Vec<(usize, <Invoice as Encrypted>::Record)> = Vec::new();
            for (i, &t) in sequence.iter().enumerate().skip(w).step_by(WORKERS) {
                let op = Instant::now();
                // Every other operation reads back an earlier record of the same tenant.
                match written.iter().rev().find(|(tenant, _)| *tenant == t) {
                    Some((_, record)) if i % 2 == 1 => {
                        Invoice::decrypt(record, &crypto).await.expect("decrypt");
                    }
                    _ => {
                        let invoice = Invoice {
                            id: i as u64,
                            customer: format!("tenant-{t}"),
                            email: format!("buyer{i}@example.com"),
                            amount_cents: i as i64,
                        };
                        written.push((t, invoice.encrypt(&crypto).await.expect("encrypt")));
                    }
                }
                latencies.push(op.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let wall = started.elapsed();
    let mut touched: Vec<usize> = sequence.to_vec();
    touched.sort_unstable();
    touched.dedup();
    latencies.sort_unstable();
    Run {
        calls: default_calls.calls().total() + roots.calls().total() - before,
        touched: touched.len(),
        latencies,
        wall,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("ENCX_KMS_ENDPOINT").unwrap_or_else(|_| {
        eprintln!("set ENCX_KMS_ENDPOINT to a KMS emulator (moto_server -H 127.0.0.1 -p 5055)");
        std::process::exit(2)
    });
    let sequence = tenant_sequence();
    let hot: usize = sequence.iter().filter(|t| **t < 10).count();
    println!(
        "{OPERATIONS} operations over {TENANTS} tenants (Zipf s = {ZIPF_S}: the 10 hottest \
         take {:.1}%), {WORKERS} workers, tenants on 3 KMS keys (the operator's and 2 of tenants')",
        100.0 * hot as f64 / OPERATIONS as f64
    );
    println!("| tenant cache | tenants touched | KMS calls | calls per operation | p50 | p99 | max | wall |");
    println!("|---|---|---|---|---|---|---|---|");
    for entries in [TENANTS, 100] {
        let r = run(&endpoint, entries, &sequence).await;
        println!(
            "| {entries} | {} | {} | {:.3} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} s |",
            r.touched,
            r.calls,
            r.calls as f64 / OPERATIONS as f64,
            percentile(&r.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&r.latencies, 0.99).as_secs_f64() * 1e3,
            r.latencies
                .last()
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
            r.wall.as_secs_f64(),
        );
    }
    println!("AWS KMS direct mode: 1 call per operation ({OPERATIONS} calls).");
}
