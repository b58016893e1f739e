//! The access check of one request, in process, on real parts (a key table in SQLite, the keys
//! in memory, the limiters and the quota leases): the key's verification (HMAC-SHA256 and a map
//! lookup), then its limits (per-address for a publishable key, the key's GCRA, its monthly
//! quota, whose lease is raised ahead every 5,000 requests by another thread, as the server's
//! blocking pool does), then the rate-limit headers of the answer. Issue 21 asks for at most 5 µs at p99.
//!
//! `cargo bench --bench auth`: criterion's means, then the p50/p99/p99.9 of a million single
//! checks timed one by one (each with two clock reads, about 40 ns, included).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use criterion::{Criterion, criterion_group};
use marketlounge::auth::cache::KeyCache;
use marketlounge::auth::limits::{Decision, Limits};
use marketlounge::auth::secret::MasterSecret;
use marketlounge::auth::store::{KeySpec, KeyStore, Verdict};
use marketlounge::auth::{KeyKind, Scope};
use marketlounge::settings::AuthSettings;

/// A server's key table with a secret and a publishable key, both with a rate and a quota far
/// above what the benchmark spends (so every check takes the admitting path).
struct Setup {
    _dir: tempfile::TempDir,
    cache: Arc<KeyCache>,
    limits: Arc<Limits>,
    secret_key: String,
    publishable_key: String,
    /// To the thread that raises quota leases ahead.
    raises: std::sync::mpsc::Sender<marketlounge::auth::quota::RaiseAhead>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path(), MasterSecret::from_bytes(&[1; 32]).unwrap()).unwrap();
    let spec = |kind, scopes: &[Scope]| KeySpec {
        name: "bench".into(),
        owner: None,
        kind,
        scopes: scopes.to_vec(),
        origins: vec!["https://shop.example".into()],
        rate: Some(1e9),
        burst: Some(1_000_000_000),
        quota: Some(1_000_000_000_000),
        expires_at: None,
    };
    let now = jiff::Timestamp::now().as_second();
    let (_, secret_key) = store.create(&spec(KeyKind::Secret, &[Scope::Search]), now).unwrap();
    let (_, publishable_key) = store.create(&spec(KeyKind::Publishable, &[Scope::Suggest]), now).unwrap();
    let cache = Arc::new(KeyCache::new(store, Duration::from_secs(1)).unwrap());
    // A million client addresses may each make a million requests a second: never refused.
    let settings = AuthSettings { per_ip_rate: 1e6, per_ip_burst: 1_000_000, ..AuthSettings::default() };
    let limits = Limits::new(&settings, Default::default(), Arc::clone(&cache)).unwrap();
    let (raises, raise_queue) = std::sync::mpsc::channel::<marketlounge::auth::quota::RaiseAhead>();
    std::thread::spawn(move || {
        for ahead in raise_queue {
            ahead.run().unwrap();
        }
    });
    Setup { _dir: dir, cache, limits, secret_key, publishable_key, raises }
}

/// One request's whole check: verify, limits, headers. Panics if refused.
fn check(setup: &Setup, key: &str, ip: IpAddr, headers: &mut HeaderMap) {
    setup.cache.refresh_if_due().unwrap();
    let Verdict::Valid(record) = setup.cache.verify(key, jiff::Timestamp::now().as_second()) else {
        panic!("the key is valid")
    };
    let admitted = match setup.limits.admit_now(&record, ip) {
        Decision::Done(decision) => decision,
        // Half a lease block spent (one in 5,000 requests): raised by the lease thread, as the
        // server's blocking pool does, while this request goes on.
        Decision::DoneRaiseAhead(admitted, ahead) => {
            setup.raises.send(ahead).unwrap();
            Ok(admitted)
        }
        // A lease raise that could not be done ahead (the first request): in line.
        Decision::Pending(pending) => pending.complete().unwrap(),
    }
    .expect("admitted");
    marketlounge::http::rate_limits::write_headers(&admitted.statuses, None, headers);
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    let mut headers = HeaderMap::new();
    c.bench_function("verify only", |b| {
        b.iter(|| black_box(setup.cache.verify(black_box(&setup.secret_key), 1_800_000_000)))
    });
    c.bench_function("access check, secret key (verify + rate + quota + headers)", |b| {
        b.iter(|| check(&setup, black_box(&setup.secret_key), ip, &mut headers))
    });
    c.bench_function("access check, publishable key (verify + address + rate + quota + headers)", |b| {
        b.iter(|| check(&setup, black_box(&setup.publishable_key), ip, &mut headers))
    });
}

criterion_group!(benches, bench);

/// A million checks timed one by one, from 1,000 addresses: their percentiles.
fn percentiles() {
    let setup = setup();
    let mut headers = HeaderMap::new();
    for (name, key) in [("secret", &setup.secret_key), ("publishable", &setup.publishable_key)] {
        let mut histogram = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for i in 0..1_000_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 + i % 1000));
            let started = Instant::now();
            check(&setup, key, ip, &mut headers);
            histogram.record(started.elapsed().as_nanos() as u64).unwrap();
        }
        println!(
            "access check, {name} key, one at a time: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            histogram.value_at_quantile(0.999),
            histogram.max()
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only when benchmarking (`cargo test` runs each benchmark once, in test mode).
    if std::env::args().any(|arg| arg == "--bench") {
        percentiles();
    }
}
