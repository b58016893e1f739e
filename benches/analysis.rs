//! Benchmarks of the query-analysis hot path: tokenising and stemming, dictionary lookups, and
//! the full interpretation (concepts, synonyms, locations) of typical buyer queries.
//!
//! `cargo bench --bench analysis` (add `-- --quick` for a fast pass).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use marketlounge_index::analysis::{Analyzer, Language};
use marketlounge_index::interpret::Interpreter;

const QUERIES: &[&str] = &[
    "usinage de précision",
    "découpe laser inox près de Lyon",
    "anodisation aluminium dans le 69",
    "CNC machining titanium parts",
    "chaudronnerie inox Auvergne-Rhône-Alpes certifiée EN 9100",
    "traitement thermique sous vide cémentation basse pression",
];

fn bench(c: &mut Criterion) {
    let analyzer = Analyzer::new(Language::French);
    c.bench_function("analyze/6 queries", |b| {
        b.iter(|| {
            for query in QUERIES {
                black_box(analyzer.analyze(black_box(query)));
            }
        })
    });
    let interpreter = Interpreter::embedded().expect("embedded dictionaries load");
    c.bench_function("interpret/6 queries", |b| {
        b.iter(|| {
            for query in QUERIES {
                black_box(interpreter.interpret(black_box(query)));
            }
        })
    });
    c.bench_function("interpreter/load", |b| b.iter(|| black_box(Interpreter::embedded().expect("loads"))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
