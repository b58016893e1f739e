//! The long commands' progress when stderr is not a terminal (a log, CI): plain lines that name
//! the command, the phase and the counts, without an escape sequence or a carriage return.
//! `index build`, `score ingest`, `score train`, `score apply` and `eval`, run as a user would.

mod common;

use std::path::Path;

const N: u32 = 120;

/// The binary's stderr, after checking that it succeeded and that stderr is plain text.
fn run_plain(args: &[&str]) -> String {
    let out = common::run(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?}: {}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains('\x1b') && !stderr.contains('\r'), "{args:?}: not plain: {stderr:?}");
    stderr
}

/// `needle` is one of the lines of `stderr`, as a prefix.
fn has_line(stderr: &str, needle: &str) {
    assert!(stderr.lines().any(|line| line.starts_with(needle)), "no line starting with {needle:?} in:\n{stderr}");
}

fn write_lines(path: &Path, lines: impl Iterator<Item = serde_json::Value>) {
    let text: String = lines.map(|line| format!("{line}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn month(m: i32) -> jiff::civil::Date {
    jiff::civil::date(2024, 1, 1).checked_add(jiff::Span::new().months(m)).unwrap()
}

#[test]
fn long_commands_print_plain_progress_lines_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("input"));
    std::fs::create_dir_all(&input).unwrap();
    let companies = input.join("companies.ndjson");
    write_lines(&companies, (1..=N).map(common::company));
    // Vectors by the hashed embedder: computed for every company, in seconds.
    let settings = dir.path().join("settings.json");
    let defaults = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/settings.default.json");
    let mut values: serde_json::Value = serde_json::from_slice(&std::fs::read(defaults).unwrap()).unwrap();
    values["index"]["embedder"] = "hashed".into();
    std::fs::write(&settings, values.to_string()).unwrap();
    let (data, companies, settings) = (data.to_str().unwrap(), companies.to_str().unwrap(), settings.to_str().unwrap());

    let stderr = run_plain(&["--settings", settings, "index", "build", "--data", data, "--companies", companies]);
    has_line(&stderr, &format!("index build: reading: started, {N} companies"));
    // The hashed embedder computes every vector, so the reading phase turns into embedding.
    has_line(&stderr, "index build: reading, now embedding: ");
    has_line(&stderr, &format!("index build: embedding: done, {N}/{N} companies in "));
    has_line(&stderr, "index build: indexing: started");
    has_line(&stderr, &format!("index build: publishing: done, {N} companies in "));

    // Signals every few months and an outcome per company: enough history to fit a model.
    let signals = input.join("signals.ndjson");
    write_lines(
        &signals,
        (1..=N).flat_map(|n| {
            (0..n % 7).map(move |k| {
                serde_json::json!({"id": format!("s-{n}-{k}"), "company_id": common::siren(n), "type": "hiring",
                    "date": month(i32::try_from(k * 2).unwrap()).to_string(), "source": "job_board"})
            })
        }),
    );
    let outcomes = input.join("outcomes.ndjson");
    write_lines(
        &outcomes,
        (1..=N).map(|n| {
            serde_json::json!({"company_id": common::siren(n), "as_of": month(12 + i32::try_from(n % 4).unwrap()).to_string(),
                "horizon_days": 181, "converted": n % 7 >= 4})
        }),
    );
    let n_signals: u32 = (1..=N).map(|n| n % 7).sum();
    let stderr = run_plain(&[
        "--settings",
        settings,
        "score",
        "ingest",
        "--data",
        data,
        "--signals",
        signals.to_str().unwrap(),
        "--outcomes",
        outcomes.to_str().unwrap(),
    ]);
    has_line(&stderr, &format!("score ingest: signals: started, {n_signals} records"));
    has_line(&stderr, &format!("score ingest: signals: done, {n_signals}/{n_signals} records in "));
    has_line(&stderr, &format!("score ingest: outcomes: done, {N}/{N} records in "));

    let stderr = run_plain(&["--settings", settings, "score", "train", "--data", data, "--until", "2026-06-30"]);
    has_line(&stderr, &format!("score train: reading companies: done, {N} companies in "));
    has_line(&stderr, &format!("score train: training set: done, {N} rows in "));
    has_line(&stderr, &format!("score train: fitting: done, {N} rows in "));

    let stderr = run_plain(&["--settings", settings, "score", "apply", "--data", data, "--as-of", "2026-06-30"]);
    has_line(&stderr, &format!("score apply: scoring: done, {N} companies in "));

    // A small BEIR-layout benchmark, lexical (no vectors): indexing, then the queries.
    let corpus = input.join("corpus.jsonl");
    write_lines(
        &corpus,
        (1..=40).map(|n| serde_json::json!({"_id": format!("d{n}"), "title": format!("Atelier {n}"), "text": "usinage; tôlerie"})),
    );
    let queries = input.join("queries.jsonl");
    write_lines(
        &queries,
        (1..=6).map(|n| serde_json::json!({"_id": format!("q{n}"), "text": format!("atelier {n} usinage")})),
    );
    let qrels = input.join("qrels.tsv");
    std::fs::write(
        &qrels,
        (1..=6).fold("query-id\tcorpus-id\tscore\n".to_owned(), |t, n| t + &format!("q{n}\td{n}\t1\n")),
    )
    .unwrap();
    let stderr = run_plain(&[
        "eval",
        "--corpus",
        corpus.to_str().unwrap(),
        "--queries",
        queries.to_str().unwrap(),
        "--qrels",
        qrels.to_str().unwrap(),
        "--mode",
        "lexical",
    ]);
    has_line(&stderr, "eval: reading: started, 40 companies");
    has_line(&stderr, "eval: reading: done, 40/40 companies in ");
    has_line(&stderr, "eval: queries: done, 6/6 queries in ");
}
