//! Embedding latency and throughput with the real model (`tools/setup-model` first):
//! cold start, one short query (uncached and cached, p50/p99), documents per second in batches
//! of 32 on every core, and peak RSS.
//!
//! `cargo bench --bench embed` (a plain main: percentiles need every sample, not a mean).

use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use marketlounge_index::embed::{
    Embedder, ModelPaths, OnnxEmbedder, OnnxOptions, QueryEmbedder, StaticEmbedder, TextKind,
};

const QUERIES: &[&str] = &[
    "usinage de précision",
    "découpe laser inox",
    "chaudronnerie",
    "fraisage 5 axes",
    "tôlerie fine",
    "traitement de surface",
    "anodisation",
    "soudure TIG",
    "injection plastique",
    "fonderie aluminium",
    "décolletage",
    "rectification",
    "impression 3D métal",
    "peinture industrielle",
    "assemblage",
    "precision machining",
    "laser cutting",
    "sheet metal",
    "surface treatment",
    "plastic injection",
];

fn micros(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<32} n={:<5} p50 {:>9.1} µs  p99 {:>9.1} µs  max {:>9.1} µs",
        h.len(),
        micros(h, 0.5),
        micros(h, 0.99),
        h.max() as f64 / 1000.0
    );
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn queries(embedder: &Arc<dyn Embedder>, label: &str, rounds: usize) {
    let mut uncached = Histogram::<u64>::new(3).unwrap();
    // Distinct texts, so nothing is cached: every query goes through the model.
    for round in 0..rounds {
        for query in QUERIES {
            let text = format!("{query} {round}");
            let started = Instant::now();
            embedder.embed_query(&text).unwrap();
            uncached.record(started.elapsed().as_nanos() as u64).unwrap();
        }
    }
    report(&format!("{label} query, uncached"), &uncached);
    let cache = QueryEmbedder::new(embedder.clone(), 10_000);
    for query in QUERIES {
        cache.embed(query).unwrap();
    }
    let mut cached = Histogram::<u64>::new(3).unwrap();
    for _ in 0..500 {
        for query in QUERIES {
            let started = Instant::now();
            std::hint::black_box(cache.embed(query).unwrap());
            cached.record(started.elapsed().as_nanos() as u64).unwrap();
        }
    }
    report(&format!("{label} query, cached"), &cached);
}

fn main() {
    let paths = ModelPaths::resolve("", "");
    let started = Instant::now();
    let onnx = OnnxEmbedder::open(&paths, OnnxOptions::default()).expect("run tools/setup-model first");
    let cold = started.elapsed();
    let first = Instant::now();
    onnx.embed_query("premier appel").unwrap();
    println!(
        "onnx cold start: open {:.0} ms (tokenizer, sessions), first query {:.1} ms; RSS {:.0} MB",
        cold.as_secs_f64() * 1000.0,
        first.elapsed().as_secs_f64() * 1000.0,
        peak_rss_mb()
    );
    let onnx: Arc<dyn Embedder> = Arc::new(onnx);
    queries(&onnx, "onnx", 10);

    // Company-like passages (~60-120 tokens), 256 of them, batches of 32 across the sessions.
    let passages: Vec<String> = (0..256)
        .map(|i| {
            format!(
                "Atelier {i} de mécanique de précision. Usinage. Tournage CN. Basée en région Auvergne-Rhône-Alpes, \
                 la société fabrique à la demande des pièces et des sous-ensembles pour l'industrie : tolérances \
                 serrées, géométries complexes, aluminium 6061, acier inoxydable 304L et titane. Certifiée ISO 9001, \
                 elle sert l'aéronautique, le médical et l'énergie, en prototypes comme en séries {i}."
            )
        })
        .collect();
    let texts: Vec<&str> = passages.iter().map(String::as_str).collect();
    let started = Instant::now();
    onnx.embed(TextKind::Passage, &texts).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "onnx documents: {} in {seconds:.1} s = {:.1} docs/s (batch 32, all cores)",
        texts.len(),
        texts.len() as f64 / seconds
    );
    println!("onnx peak RSS {:.0} MB", peak_rss_mb());

    let started = Instant::now();
    let table: Arc<dyn Embedder> = Arc::new(StaticEmbedder::open(&paths).unwrap());
    println!("static cold start: open {:.0} ms", started.elapsed().as_secs_f64() * 1000.0);
    queries(&table, "static", 50);
    let started = Instant::now();
    table.embed(TextKind::Passage, &texts).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!("static documents: {:.0} docs/s (one thread)", texts.len() as f64 / seconds);
    println!("peak RSS {:.0} MB", peak_rss_mb());
}
