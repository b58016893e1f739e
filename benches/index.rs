//! Benchmarks of the storage engine at a size CI can afford (20,000 generated companies):
//! opening the live set, a lexical query through `Matcher` (the path `/match` takes), a
//! stored-record lookup, and a small incremental flush. The million-company numbers come from
//! the CLI on `datagen` output (see the closing notes and `marketlounge index build` /
//! `index info`).
//!
//! `cargo bench --bench index` (add `-- --quick` for a fast pass).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::record::Company;
use marketlounge_index::search::{MatchRequest, Matcher, Mode, SearchConfig};

const DOCS: u32 = 20_000;
const TRADES: [(&str, &str); 4] = [
    ("fraisage 5 axes", "Usinage de pièces de précision en fraisage et tournage, petites séries."),
    ("découpe laser", "Découpe laser de tôles inox et acier, pliage et soudure."),
    ("soudage TIG", "Chaudronnerie et soudage TIG de structures inox pour l'agroalimentaire."),
    ("peinture poudre", "Traitement de surface et peinture poudre époxy, cataphorèse."),
];

use marketlounge_index::record::siren_with_check_digit as siren;

fn company(n: u32) -> Company {
    let (capability, description) = TRADES[n as usize % TRADES.len()];
    serde_json::from_value(serde_json::json!({
        "id": siren(n),
        "name": format!("Atelier {n}"),
        "description": format!("{description} Atelier numéro {n}."),
        "capabilities": [capability],
        "naf": "25.62B",
        "headcount": "20-49",
        "created": "1990-01-01",
        "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218"}
    }))
    .unwrap()
}

fn engine_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions { threads: 2, ..EngineOptions::default() };
    {
        let engine = Engine::open(dir.path(), options.clone()).unwrap();
        engine.reindex((0..DOCS).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    }
    c.bench_function("open 20k (full checksums)", |b| {
        b.iter(|| black_box(Engine::open(dir.path(), options.clone()).unwrap()))
    });
    let engine = Engine::open(dir.path(), options.clone()).unwrap();
    // The path `/match` takes: `Matcher::run` in lexical mode (interpretation, filters, the
    // MaxScore pass, exact scores, fusion, then the page's records and snippets).
    let matcher = Matcher::new(Arc::new(Interpreter::embedded().unwrap()), SearchConfig::default());
    let request = MatchRequest { k: 10, mode: Mode::Lexical, ..MatchRequest::new("découpe laser inox") };
    c.bench_function("match lexical top-10 'découpe laser inox', 20k", |b| {
        b.iter(|| black_box(matcher.run(&engine.snapshot(), black_box(&request), None).unwrap()))
    });
    c.bench_function("get stored record by id", |b| {
        let mut n = 0;
        b.iter(|| {
            n = (n + 7919) % DOCS;
            black_box(engine.get(&siren(n)).unwrap())
        })
    });
    c.bench_function("upsert 10 + flush (durable, published)", |b| {
        let mut n = 0;
        b.iter(|| {
            n += 10;
            engine.upsert((n..n + 10).map(|i| company(i % DOCS)).collect()).unwrap();
            engine.flush().unwrap();
            engine.merge_if_needed().unwrap();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = engine_benches
}
criterion_main!(benches);
