//! The real embedding models, as installed by `tools/setup-model` (the test command runs it
//! first: these tests never skip). Parity with Python ONNX Runtime, the static table, the CLI,
//! clear errors for missing or wrong files, and vector reuse across reindexes.

mod common;

use std::path::Path;
use std::sync::Arc;

use marketlounge_index::embed::{Embedder, ModelPaths, OnnxEmbedder, OnnxOptions, StaticEmbedder, TextKind, cosine};

fn paths() -> ModelPaths {
    let paths = ModelPaths::resolve("", "");
    assert!(
        paths.onnx_dir().join("model.onnx").is_file(),
        "the model is not installed in {}: run tools/setup-model (tools/test does)",
        paths.dir.display()
    );
    paths
}

fn onnx() -> OnnxEmbedder {
    OnnxEmbedder::open(&paths(), OnnxOptions { sessions: 2, batch_size: 4, max_tokens: 256 }).expect("the model loads")
}

#[derive(serde::Deserialize)]
struct Reference {
    dim: usize,
    phrases: Vec<Phrase>,
}

#[derive(serde::Deserialize)]
struct Phrase {
    kind: String,
    text: String,
    vector: Vec<f32>,
}

fn reference(path: &Path) -> Reference {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn kind(phrase: &Phrase) -> TextKind {
    if phrase.kind == "query" { TextKind::Query } else { TextKind::Passage }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Rust (tokenizers + ort) equals Python (tokenizers + onnxruntime) on the same model to 1e-5,
/// one text at a time and in padded batches; and the committed reference (made on the machine
/// that built the model) agrees, so the model itself has not drifted.
#[test]
fn rust_embeddings_equal_python_onnxruntime() {
    let embedder = onnx();
    assert_eq!(embedder.dims(), 384);
    let local = reference(&paths().onnx_dir().join("reference.json"));
    let committed = reference(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frozen/e5-reference.json"));
    assert_eq!(local.dim, 384);
    assert!(local.phrases.len() >= 20);
    for phrase in &local.phrases {
        let single = embedder.embed(kind(phrase), &[phrase.text.as_str()]).unwrap().pop().unwrap();
        let diff = max_abs_diff(&single, &phrase.vector);
        assert!(diff < 1e-5, "{:?}: max |rust - python| = {diff}", phrase.text);
    }
    for kind_name in ["query", "passage"] {
        let phrases: Vec<&Phrase> = local.phrases.iter().filter(|p| p.kind == kind_name).collect();
        let texts: Vec<&str> = phrases.iter().map(|p| p.text.as_str()).collect();
        let batch = embedder.embed(kind(phrases[0]), &texts).unwrap();
        for (phrase, vector) in phrases.iter().zip(&batch) {
            let diff = max_abs_diff(vector, &phrase.vector);
            assert!(diff < 1e-5, "{:?} in a batch: max |rust - python| = {diff}", phrase.text);
        }
    }
    for (phrase, frozen) in local.phrases.iter().zip(&committed.phrases) {
        assert_eq!(phrase.text, frozen.text);
        let similarity = cosine(&phrase.vector, &frozen.vector);
        assert!(similarity > 0.9999, "{:?}: cosine with the committed reference {similarity}", phrase.text);
    }
    // The model means what it should: the English paraphrase is the closest text.
    let query = embedder.embed_query("usinage de précision").unwrap();
    let close = embedder.embed_query("precision machining").unwrap();
    let far = embedder.embed_query("fonderie aluminium").unwrap();
    assert!(cosine(&query, &close) > cosine(&query, &far) + 0.05);
}

#[test]
fn static_table_embeds_fast_texts_of_its_own_model() {
    let embedder = StaticEmbedder::open(&paths()).expect("the static table loads");
    assert_eq!(embedder.dims(), 256);
    assert!(embedder.fingerprint().starts_with("multilingual-e5-small-static:"));
    let a = embedder.embed_query("découpe laser acier").unwrap();
    assert!((a.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
    assert_eq!(a, embedder.embed_query("découpe laser acier").unwrap(), "deterministic");
    let near = embedder.embed_query("découpe laser inox").unwrap();
    let far = embedder.embed_query("comptabilité cabinet expert").unwrap();
    assert!(cosine(&a, &near) > cosine(&a, &far) + 0.3, "{} vs {}", cosine(&a, &near), cosine(&a, &far));
    // A text of unknown pieces only still gets a unit vector.
    let empty = embedder.embed_query("").unwrap();
    assert!((empty.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn query_cache_returns_the_models_vector() {
    let embedder: Arc<dyn Embedder> = Arc::new(onnx());
    let queries = marketlounge_index::embed::QueryEmbedder::new(embedder.clone(), 100);
    let first = queries.embed("découpe laser  inox").unwrap();
    let again = queries.embed("découpe laser inox").unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(&first[..], &embedder.embed_query("découpe laser inox").unwrap()[..]);
    assert_eq!(queries.stats().hits, 1);
}

fn settings_with(dir: &Path, embedding: serde_json::Value, index: serde_json::Value) -> std::path::PathBuf {
    let mut settings: serde_json::Value =
        serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
    for (key, value) in embedding.as_object().unwrap() {
        settings["embedding"][key] = value.clone();
    }
    for (key, value) in index.as_object().unwrap() {
        settings["index"][key] = value.clone();
    }
    let path = dir.join(format!("settings-{}.json", crc32fast::hash(settings.to_string().as_bytes())));
    std::fs::write(&path, settings.to_string()).unwrap();
    path
}

#[test]
fn cli_embed_and_similarity() {
    let out = common::run(&["embed", "--json", "--kind", "passage", "Tôlerie fine et pliage"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["dim"], 384);
    assert_eq!(json["vector"].as_array().unwrap().len(), 384);
    assert!(json["model"].as_str().unwrap().starts_with("multilingual-e5-small-q4:"));
    let out = common::run(&["embed", "usinage"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("dim 384  norm 1.000000"), "{text}");
    // e5's cosines are compressed: unrelated texts score about 0.8, so a threshold alone says
    // little. A French-English paraphrase must stand well above unrelated pairs (measured with
    // multilingual-e5-small q4: 0.918 against 0.822 to 0.846, a margin of 0.072).
    let similarity = |a: &str, b: &str| -> f32 {
        let out = common::run(&["similarity", a, b]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
    };
    let paraphrase = similarity("usinage de précision", "precision machining");
    let unrelated = ["boulangerie artisanale", "organisation de mariages", "cabinet d'avocats en droit de la famille"]
        .map(|other| similarity("usinage de précision", other));
    let closest_unrelated = unrelated.iter().copied().fold(f32::MIN, f32::max);
    assert!(paraphrase > 0.90, "paraphrase {paraphrase}");
    assert!(closest_unrelated < 0.87, "unrelated {unrelated:?}");
    assert!(paraphrase - closest_unrelated > 0.05, "paraphrase {paraphrase}, unrelated {unrelated:?}");
    let out = common::run(&["embed", "--embedder", "none", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `embed` with `settings` exits 2 and its error mentions every needle.
fn embed_fails_with(settings: &Path, needles: &[&str]) {
    let out = common::run(&["--settings", settings.to_str().unwrap(), "embed", "x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    }
}

#[test]
fn missing_or_wrong_files_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        settings_with(dir.path(), serde_json::json!({"model_dir": "/nonexistent/models"}), serde_json::json!({}));
    embed_fails_with(&settings, &["/nonexistent/models/me5s-q4/model.onnx", "tools/setup-model"]);

    // A file that is not ONNX Runtime where the library should be.
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let settings = settings_with(
        dir.path(),
        serde_json::json!({"runtime_library": fake.to_str().unwrap()}),
        serde_json::json!({}),
    );
    embed_fails_with(&settings, &["cannot load the ONNX Runtime library", "tools/setup-model"]);

    // An ONNX Runtime too old for this build (a stand-in library that reports version 1.20.0,
    // compiled here with the C compiler the build needs anyway).
    let source = dir.path().join("old_ort.c");
    std::fs::write(
        &source,
        "typedef struct { const void *(*get_api)(unsigned); const char *(*version)(void); } Base;\n\
         static const char *version(void) { return \"1.20.0\"; }\n\
         static const void *get_api(unsigned v) { (void)v; return 0; }\n\
         static const Base base = { get_api, version };\n\
         const Base *OrtGetApiBase(void) { return &base; }\n",
    )
    .unwrap();
    let old = dir.path().join("libonnxruntime.so.1.20.0");
    let cc = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o", old.to_str().unwrap(), source.to_str().unwrap()])
        .status()
        .expect("a C compiler (the build needs one)");
    assert!(cc.success());
    let settings =
        settings_with(dir.path(), serde_json::json!({"runtime_library": old.to_str().unwrap()}), serde_json::json!({}));
    embed_fails_with(&settings, &["1.20.0", "tools/setup-model"]);

    // A model file that is not a model.
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("me5s-q4")).unwrap();
    std::fs::write(models.join("me5s-q4/model.onnx"), b"garbage").unwrap();
    std::fs::copy(paths().onnx_dir().join("tokenizer.json"), models.join("me5s-q4/tokenizer.json")).unwrap();
    let settings = settings_with(
        dir.path(),
        serde_json::json!({"model_dir": models.to_str().unwrap(), "runtime_library": paths().runtime_library.to_str().unwrap()}),
        serde_json::json!({}),
    );
    embed_fails_with(&settings, &["cannot load the model", "tools/setup-model --force"]);
}

/// The line `index build` prints ends with "vectors (model): C computed, R reused".
fn vector_counts(stdout: &str) -> (u64, u64) {
    let tail = stdout.rsplit("): ").next().unwrap();
    let numbers: Vec<u64> = tail.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse().ok()).collect();
    (numbers[0], numbers[1])
}

/// Unchanged texts are never embedded twice: not by a reindex of the same data directory, not
/// by a build into a new one that shares the vector cache. A different model cannot open it.
#[test]
fn reindexing_unchanged_companies_recomputes_no_vector() {
    let dir = tempfile::tempdir().unwrap();
    let companies = dir.path().join("companies.ndjson");
    let lines: Vec<String> = (1..=24)
        .map(|n| {
            let mut company = common::company(n);
            company["description"] = format!("Atelier {n} : usinage, tôlerie et peinture de pièces série {n}.").into();
            company.to_string()
        })
        .collect();
    std::fs::write(&companies, lines.join("\n")).unwrap();
    let cache = dir.path().join("vector-cache");
    let settings = settings_with(
        dir.path(),
        serde_json::json!({"vector_cache_dir": cache.to_str().unwrap(), "sessions": 2}),
        serde_json::json!({"embedder": "onnx"}),
    );
    let settings = settings.to_str().unwrap();
    let build = |data: &Path| {
        let out = common::run(&[
            "--settings",
            settings,
            "index",
            "build",
            "--data",
            data.to_str().unwrap(),
            "--companies",
            companies.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        vector_counts(&stdout)
    };
    let data = dir.path().join("data");
    // Per company: the profile's vector and three capability vectors (the name, then each of
    // its two capabilities).
    assert_eq!(build(&data), (96, 0), "first build computes every vector");
    let out = common::run(&["--settings", settings, "index", "info", "--data", data.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["segments"][0]["capability_vectors"], 72, "{info}");
    assert_eq!(build(&data), (0, 96), "a reindex of the same texts reuses them all");
    assert_eq!(build(&dir.path().join("other")), (0, 96), "a new index reuses the persistent cache");

    let hashed = settings_with(dir.path(), serde_json::json!({}), serde_json::json!({"embedder": "hashed"}));
    let out = common::run(&["--settings", hashed.to_str().unwrap(), "index", "info", "--data", data.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("multilingual-e5-small-q4") && stderr.contains("rebuild"), "{stderr}");
}
