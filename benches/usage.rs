//! The cost metering adds to a request: `Usage::record` (the clock, a shard lock, two map
//! lookups, four additions) for one key, and spread over 1,000 keys, alone and with another
//! thread counting at the same time.
//!
//! `cargo bench --bench usage`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use marketlounge::auth::Scope;
use marketlounge::usage::Usage;

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let usage = Arc::new(Usage::open(dir.path()).unwrap());
    let keys: Vec<String> = (0..1000).map(|i| format!("key_{i:016}")).collect();
    c.bench_function("usage_record_one_key", |b| {
        b.iter(|| usage.record(black_box("key_0000000000000001"), Scope::Suggest, 200, 8));
    });
    let mut i = 0;
    c.bench_function("usage_record_1000_keys", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            usage.record(black_box(&keys[i]), Scope::Search, 200, 10);
        });
    });
    // Another thread counts for other keys meanwhile: shards keep the locks apart.
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (usage, stop) = (Arc::clone(&usage), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                usage.record(&format!("key_other_{}", n % 64), Scope::Search, 200, 10);
                n += 1;
            }
        })
    };
    c.bench_function("usage_record_1000_keys_contended", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            usage.record(black_box(&keys[i]), Scope::Search, 200, 10);
        });
    });
    stop.store(true, Ordering::Relaxed);
    other.join().unwrap();
}

criterion_group!(benches, record);
criterion_main!(benches);
