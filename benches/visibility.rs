//! How long company writes take to become searchable through the server, against the
//! `visible_within_ms` its answer promised: the largest record the format allows, alone and a
//! hundred at once, then batches of demo-sized records, with the server's own flush thread and
//! the embedder named on the command line (`tools/setup-model` first for the models).
//!
//! `cargo bench --bench visibility [-- --embedder onnx|static|hashed|none] [--rounds 3]
//! [--max-records 1000]` (a plain main: each case is one write, timed until every record of it
//! is live in a snapshot; the model takes about half a second a demo-sized record on 2 cores, so
//! `--max-records 100` keeps an `onnx` run to minutes).
//! Prints, per case, the promise and the measured delay of each round, and fails if a delay
//! went past its promise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use marketlounge::http::{AppState, Maintenance, app};
use marketlounge::settings::{EmbedderKind, Settings};
use marketlounge_index::record::limits::{MAX_CAPABILITIES, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use tower::ServiceExt;

/// Words the texts are made of: French sourcing vocabulary, so the model sees real tokens.
const WORDS: &[&str] = &[
    "usinage",
    "fraisage",
    "tournage",
    "découpe",
    "laser",
    "inox",
    "aluminium",
    "titane",
    "soudure",
    "tôlerie",
    "chaudronnerie",
    "rectification",
    "traitement",
    "surface",
    "anodisation",
    "peinture",
    "assemblage",
    "précision",
    "prototype",
    "série",
    "pièces",
    "mécanique",
    "pliage",
    "emboutissage",
    "fonderie",
    "injection",
    "plastique",
    "contrôle",
    "tridimensionnel",
    "aéronautique",
    "médical",
    "énergie",
    "ferroviaire",
    "automobile",
    "outillage",
];

fn siren(n: u32) -> String {
    let body = format!("{:08}", n % 100_000_000);
    (0..10)
        .map(|check| format!("{body}{check}"))
        .find(|candidate| marketlounge_index::record::is_valid_siren(candidate))
        .expect("one check digit fits")
}

/// About `chars` characters of words, varied by `seed`.
fn text(seed: usize, chars: usize) -> String {
    let mut out = String::with_capacity(chars + 16);
    let mut i = seed;
    while out.chars().count() + 16 < chars {
        out.push_str(WORDS[i % WORDS.len()]);
        out.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    out.trim_end().to_owned()
}

/// The largest company the format allows: every capability the list takes, long ones, and the
/// rest of the text budget in the description and machines.
fn largest(n: u32) -> serde_json::Value {
    let capabilities: Vec<String> = (0..MAX_CAPABILITIES).map(|i| text(n as usize * 100 + i, 480)).collect();
    serde_json::json!({
        "id": siren(n),
        "name": text(n as usize, MAX_NAME_CHARS - 20),
        "description": text(n as usize + 1, MAX_DESCRIPTION_CHARS - 100),
        "capabilities": capabilities,
        "machines": (0..8).map(|i| text(n as usize + i, 480)).collect::<Vec<_>>(),
        "naf": "25.62B", "headcount": "20-49", "created": "1987-03-12",
        "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218"}
    })
}

/// A company the size of the demo's: five capabilities, a paragraph of description.
fn demo_sized(n: u32) -> serde_json::Value {
    serde_json::json!({
        "id": siren(n),
        "name": format!("Atelier {n}"),
        "description": text(n as usize, 600),
        "capabilities": (0..5).map(|i| text(n as usize * 7 + i, 30)).collect::<Vec<_>>(),
        "machines": [text(n as usize, 40)], "materials": ["inox 316L"], "certifications": ["ISO 9001"],
        "naf": "25.62B", "headcount": "20-49", "created": "1987-03-12",
        "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218"}
    })
}

/// Builds the `n`-th record of a case.
type MakeRecord = fn(u32) -> serde_json::Value;

struct Bench {
    state: Arc<AppState>,
    router: axum::Router,
    next_id: u32,
}

impl Bench {
    /// Writes `records` and waits until all are live: (promised, measured from the answer).
    async fn write(&mut self, make: MakeRecord, n_records: u32) -> (u64, Duration) {
        let ids: Vec<u32> = (self.next_id..self.next_id + n_records).collect();
        self.next_id += n_records;
        let body: String = ids.iter().map(|&n| format!("{}\n", make(n))).collect();
        let request = Request::post("/api/v1/companies")
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let answered = Instant::now();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let promised = answer["visible_within_ms"].as_u64().unwrap_or_else(|| panic!("{answer}"));
        let sirens: Vec<String> = ids.iter().map(|&n| siren(n)).collect();
        loop {
            let snapshot = self.state.engine.snapshot();
            if sirens.iter().all(|id| snapshot.locate(id).is_some()) {
                return (promised, answered.elapsed());
            }
            assert!(answered.elapsed() < Duration::from_secs(600), "never visible");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let embedder = match argument("--embedder").as_deref().unwrap_or("onnx") {
        "onnx" => EmbedderKind::Onnx,
        "static" => EmbedderKind::Static,
        "hashed" => EmbedderKind::Hashed,
        "none" => EmbedderKind::None,
        other => panic!("unknown embedder {other:?}"),
    };
    let rounds: usize = argument("--rounds").map_or(3, |r| r.parse().expect("--rounds N"));
    let max_records: u32 = argument("--max-records").map_or(1000, |n| n.parse().expect("--max-records N"));
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::default_settings();
    settings.index.embedder = embedder;
    // A fresh cache: every vector is computed, as for new records.
    settings.embedding.vector_cache_dir = data.path().join("vectors").to_string_lossy().into_owned();
    let interval = Duration::from_millis(settings.index.flush_interval_ms);
    let state = Arc::new(AppState::open(settings, &data.path().join("index")).expect("open (tools/setup-model?)"));
    let _maintenance = Maintenance::start(&state, interval);
    let mut bench = Bench { router: app(Arc::clone(&state)), state, next_id: 1 };
    println!("embedder {embedder:?}, flush interval {} ms, {rounds} round(s)", interval.as_millis());
    println!("{:<28} {:>8} {:>11}  measured ms per round", "case", "records", "promised ms");
    let cases: [(&str, MakeRecord, u32); 6] = [
        ("largest record", largest, 1),
        ("demo-sized", demo_sized, 1),
        ("demo-sized", demo_sized, 10),
        ("demo-sized", demo_sized, 100),
        ("largest records", largest, 100),
        ("demo-sized", demo_sized, 1000),
    ];
    let mut broken = Vec::new();
    for (name, make, n_records) in cases.into_iter().filter(|case| case.2 <= max_records) {
        let mut line = Vec::new();
        let mut promises = Vec::new();
        for _ in 0..rounds {
            let (promised, measured) = bench.write(make, n_records).await;
            if measured.as_millis() > u128::from(promised) {
                broken.push(format!("{name} × {n_records}: {} ms > {promised} ms", measured.as_millis()));
            }
            promises.push(promised.to_string());
            line.push(format!("{:.0}", measured.as_secs_f64() * 1e3));
        }
        println!("{name:<28} {n_records:>8} {:>11}  {}", promises.join("/"), line.join(" "));
    }
    assert!(broken.is_empty(), "promises broken: {broken:?}");
}
