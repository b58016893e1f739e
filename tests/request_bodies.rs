//! What the server does with request bodies: each read within the limit of its use, record
//! bodies parsed off the async workers with a bounded error list, gzip unpacked within its
//! limits, record size limits. Found by a robustness audit (issue 19): 3 MB of `{}` lines
//! stalled `/health` for seconds and left RSS 800 MB higher; a 1 MB gzip bomb unpacked to
//! 1 GiB; a record with 500 capabilities was accepted.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use marketlounge::settings::Settings;
use serde_json::{Value, json};

use common::app::TestApp as Server;

fn server(settings: Settings) -> Server {
    Server::open(settings)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn ndjson(records: impl IntoIterator<Item = Value>) -> String {
    records.into_iter().map(|r| format!("{r}\n")).collect()
}

impl Server {
    /// POSTs `body` as is, with a `Content-Length` when `declared` (else only reading it shows
    /// its size, as with a chunked upload).
    async fn send_sized(&self, uri: &str, content_type: &str, body: Vec<u8>, declared: bool) -> (StatusCode, Value) {
        let mut request = Request::post(uri).header("content-type", content_type);
        if declared {
            request = request.header("content-length", body.len());
        }
        self.call(request.body(Body::from(body)).unwrap()).await
    }
}

/// Each body is read within the limit of its use, and a larger one is 413 naming that limit,
/// whether it declares its length or not.
#[tokio::test]
async fn each_body_has_the_limit_of_its_use() {
    let mut settings = Settings::default_settings();
    settings.limits.max_json_body_bytes = 4096;
    settings.limits.max_line_bytes = 16 << 10;
    settings.limits.max_body_bytes = 256 << 10;
    let server = server(settings);
    let too_large = |(status, body): &(StatusCode, Value), setting: &str| {
        assert_eq!(
            (*status, body["error"]["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
        );
        assert!(message(body).contains(setting), "{body}");
    };
    let query = |n: usize| format!("{{\"query\": \"{}\"}}", "x".repeat(n)).into_bytes();
    let mut long_record = common::company(1);
    long_record["description"] = json!("usinage ".repeat(2_400));
    let long_record = long_record.to_string().into_bytes();
    assert!(long_record.len() > 16 << 10);
    let batch = ndjson((0..1000).map(common::company)).into_bytes();
    assert!(batch.len() > 256 << 10);
    for declared in [false, true] {
        // A query: small JSON.
        too_large(
            &server.send_sized("/api/v1/match", "application/json", query(5000), declared).await,
            "limits.max_json_body_bytes",
        );
        let (status, _) = server.send_sized("/api/v1/match", "application/json", query(10), declared).await;
        assert_eq!(status, StatusCode::OK);
        // One JSON record: as large as an NDJSON line may be.
        let record_limit = "limits.max_line_bytes";
        too_large(
            &server.send_sized("/api/v1/companies", "application/json", long_record.clone(), declared).await,
            record_limit,
        );
        too_large(
            &server.send_sized("/api/v1/signals", "application/json", long_record.clone(), declared).await,
            record_limit,
        );
        // The admin tasks' parameters: small JSON.
        for uri in ["/admin/reindex", "/admin/scoring/train", "/admin/scoring/apply"] {
            too_large(
                &server.send_sized(uri, "application/json", query(5000), declared).await,
                "limits.max_json_body_bytes",
            );
        }
    }
    // An NDJSON batch past limits.max_body_bytes, read to find out: named.
    too_large(
        &server.send_sized("/api/v1/companies", "application/x-ndjson", batch.clone(), false).await,
        "limits.max_body_bytes",
    );
    // Declared, the router refuses it before any handler.
    let (status, body) = server.send_sized("/api/v1/companies", "application/x-ndjson", batch, true).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    // Within its limit, a batch is written.
    let small = ndjson((0..20).map(common::company)).into_bytes();
    let (status, body) = server.send_sized("/api/v1/companies", "application/x-ndjson", small, true).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (StatusCode::OK, Some(20)), "{body}");
}

/// A body of bad lines is answered with the first errors, their total and the lines'.
#[tokio::test]
async fn a_body_of_bad_lines_answers_the_first_errors_and_the_count() {
    let server = server(Settings::default_settings());
    let lines = 10_000;
    let (status, body) = server.post("/api/v1/companies", "application/x-ndjson", "{}\n".repeat(lines)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_record")));
    let details = &body["error"]["details"];
    assert_eq!(details["errors"].as_array().unwrap().len(), 100);
    assert_eq!((details["error_count"].as_u64(), details["invalid_lines"].as_u64()), (Some(10_000), Some(10_000)));
    assert!(message(&body).starts_with("10000 errors on 10000 line(s)"), "{body}");
    assert!(body.to_string().len() < 32 << 10, "{}", body.to_string().len());

    let (status, body) = server.post("/admin/priors", "application/x-ndjson", "x\n".repeat(lines)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = &body["error"]["details"];
    assert_eq!((details["errors"].as_array().unwrap().len(), details["error_count"].as_u64()), (100, Some(10_000)));
    assert_eq!(details["errors"][0]["code"], "invalid_json", "{body}");
}

/// A gzip bomb sent to `/admin/reindex` is refused before a task starts, naming the limit; as
/// a server-side file, the task fails naming it and the live index keeps its documents.
#[tokio::test]
async fn a_gzip_bomb_is_refused_naming_the_limit() {
    let server = server(Settings::default_settings());
    server.post("/api/v1/companies", "application/json", common::company(1).to_string()).await;
    server.state.engine.flush().unwrap();
    // 64 MiB of zeros in about 64 KB: the stream would unpack 1000 times its size.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    let (status, body) = server.post("/admin/reindex", "application/x-ndjson", bomb.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    assert!(message(&body).contains("limits.max_unpack_ratio"), "{body}");
    assert_eq!(server.get("/admin/tasks/1").await.0, StatusCode::NOT_FOUND, "no task started");

    let import = server.state.data_dir.join("import");
    std::fs::create_dir_all(&import).unwrap();
    let path = import.join("bomb.ndjson.gz");
    std::fs::write(&path, &bomb).unwrap();
    let request = json!({ "companies_path": path }).to_string();
    let (status, accepted) = server.post("/admin/reindex", "application/json", request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(task["error"].as_str().unwrap().contains("limits.max_unpack_ratio"), "{task}");
    assert_eq!(server.state.engine.snapshot().live_count(), 1);
}

/// Real records past `limits.max_unpacked_bytes` once unpacked: refused, naming it.
#[tokio::test]
async fn the_unpacked_size_of_a_reindex_body_is_capped() {
    let mut settings = Settings::default_settings();
    settings.limits.max_unpacked_bytes = 64 << 10;
    let server = server(settings);
    let batch = ndjson((0..200).map(common::company));
    assert!(batch.len() > 64 << 10);
    let (status, body) = server.post("/admin/reindex", "application/x-ndjson", gzip(batch.as_bytes())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(message(&body).contains("limits.max_unpacked_bytes"), "{body}");
    // Below the cap, the same kind of body is accepted.
    let batch = ndjson((0..20).map(common::company));
    let (status, body) = server.post("/admin/reindex", "application/x-ndjson", gzip(batch.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let task = server.wait_task(body["task_id"].as_u64().unwrap()).await;
    assert_eq!((task["status"].as_str(), task["docs_processed"].as_u64()), (Some("succeeded"), Some(20)), "{task}");
}

/// Lists and texts past the format's limits name the field and the limit.
#[tokio::test]
async fn record_limits_name_the_field_and_the_limit() {
    use marketlounge_index::record::limits::{MAX_CAPABILITIES, MAX_COMPANY_TEXT_CHARS};
    let server = server(Settings::default_settings());
    let phrases =
        |n: usize, chars: usize| (0..n).map(|i| format!("{i:04} {}", "x".repeat(chars - 5))).collect::<Vec<_>>();
    let mut company = common::company(1);
    company["capabilities"] = json!(phrases(MAX_CAPABILITIES + 1, 20));
    let (status, body) = server.post("/api/v1/companies", "application/json", company.to_string()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_record")), "{body}");
    let error = &body["error"]["details"]["errors"][0];
    assert_eq!((error["field"].as_str(), error["code"].as_str()), (Some("capabilities"), Some("too_many_items")));
    assert!(error["message"].as_str().unwrap().contains(&MAX_CAPABILITIES.to_string()), "{body}");

    company["capabilities"] = json!(phrases(MAX_CAPABILITIES, 20));
    let (status, body) = server.post("/api/v1/companies", "application/json", company.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every field within its own limit, too much text together.
    company["description"] = json!("d".repeat(20_000));
    company["capabilities"] = json!(phrases(MAX_CAPABILITIES, 500));
    company["machines"] = json!(phrases(MAX_CAPABILITIES, 500));
    let (status, body) = server.post("/api/v1/companies", "application/json", company.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let error = &body["error"]["details"]["errors"][0];
    assert_eq!((error["field"].as_str(), error["code"].as_str()), (Some("$"), Some("record_too_large")), "{body}");
    assert!(error["message"].as_str().unwrap().contains(&MAX_COMPANY_TEXT_CHARS.to_string()), "{body}");
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The audit's case on a real server: four 3 MB bodies of `{}` lines at once. Parsed off the
/// async workers, they leave `/health` answering meanwhile; each answer is small and counts the
/// errors; memory does not stay hundreds of MB higher. Latency is judged against the time the
/// bodies took, not a fixed bound: on the async workers, `/health` waited about as long as a
/// body (half the run); off them, it waits for a scheduler slice.
#[test]
fn bad_bodies_leave_health_answering_and_memory_flat() {
    let data = tempfile::tempdir().unwrap();
    let server = common::serve(data.path(), None);
    let pid = server.child.id();
    let addr = server.addr.clone();
    let (status, _) = common::http(&addr, "GET", "/health", "application/json", b"").unwrap();
    assert_eq!(status, 200);
    let rss_before = rss_kib(pid);
    let lines = 1_500_000;
    let body = Arc::new("{}\n".repeat(lines).into_bytes());
    let started = Instant::now();
    let posters: Vec<_> = (0..4)
        .map(|_| {
            let (addr, body) = (addr.clone(), Arc::clone(&body));
            std::thread::spawn(move || common::http(&addr, "POST", "/api/v1/companies", "application/x-ndjson", &body))
        })
        .collect();
    let mut health = Vec::new();
    while !posters.iter().all(|poster| poster.is_finished()) {
        let asked = Instant::now();
        let (status, _) = common::http(&addr, "GET", "/health", "application/json", b"").unwrap();
        assert_eq!(status, 200);
        health.push(asked.elapsed());
    }
    let ingest = started.elapsed();
    for poster in posters {
        let (status, answer) = poster.join().unwrap().unwrap();
        assert_eq!(status, 400, "{answer}");
        assert!(answer.len() < 64 << 10, "{} bytes", answer.len());
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["details"]["error_count"].as_u64(), Some(lines as u64));
        assert_eq!(answer["error"]["details"]["errors"].as_array().map(Vec::len), Some(100));
    }
    let rss_after = rss_kib(pid);
    let worst = health.iter().max().copied().unwrap_or_default();
    eprintln!(
        "4 bodies of {lines} lines in {ingest:?}; /health asked {} times meanwhile, slowest {worst:?}; \
         RSS {rss_before} → {rss_after} KiB",
        health.len()
    );
    assert!(worst < (ingest / 4).max(Duration::from_millis(250)), "/health took {worst:?} during {ingest:?}");
    assert!(rss_after < rss_before + 200 * 1024, "RSS {rss_before} → {rss_after} KiB");
    server.kill_9();
}
