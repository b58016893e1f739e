//! The index endpoints over HTTP: company upsert/get/delete, background reindex with task
//! progress, snapshot, priors refresh, and their errors; the reindex drop limit over HTTP and in
//! `marketlounge index build`.

mod common;
#[path = "../index/tests/support/top_k.rs"]
mod top_k;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use marketlounge::settings::Settings;
use serde_json::{Value, json};

use common::app::TestApp as Server;

fn server() -> Server {
    Server::open(Settings::default_settings())
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

#[tokio::test]
async fn upsert_get_delete_round_trip() {
    let server = server();
    let one = common::company(1);
    let (status, body) = server.send("POST", "/api/v1/companies", "application/json", one.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["acknowledged"], 1);
    let id = one["id"].as_str().unwrap();
    let (status, stored) = server.get(&format!("/api/v1/companies/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["name"], one["name"]);
    assert_eq!(stored["address"]["postal_code"], "42000");

    let batch = ndjson(&[common::company(2), common::company(3)]);
    let (status, body) = server.send("POST", "/api/v1/companies", "application/x-ndjson", batch).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (StatusCode::OK, Some(2)));
    // Searchable once flushed (the server's background flusher does this every 200 ms).
    assert!(server.state.engine.flush().unwrap());
    assert_eq!(server.state.engine.snapshot().live_count(), 3);

    let (status, body) = server.send("DELETE", &format!("/api/v1/companies/{id}"), "application/json", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server.get(&format!("/api/v1/companies/{id}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, _) = server.send("DELETE", &format!("/api/v1/companies/{id}"), "application/json", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_batch_with_bad_lines_names_them_and_writes_nothing() {
    let server = server();
    let mut bad_naf = common::company(11);
    bad_naf["naf"] = json!("99.99Z");
    let mut unknown = common::company(12);
    unknown["colour"] = json!("red");
    let body = format!("{}\n{}\n{}\n{{not json\n", common::company(10), bad_naf, unknown);
    let (status, body) = server.send("POST", "/api/v1/companies", "application/x-ndjson", body).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_record")), "{body}");
    let details = &body["error"]["details"];
    let lines: Vec<u64> = details["errors"].as_array().unwrap().iter().map(|d| d["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4]);
    assert_eq!((details["error_count"].as_u64(), details["invalid_lines"].as_u64()), (Some(3), Some(3)));
    assert_eq!(details["errors"][0]["field"], "naf");
    assert_eq!(server.state.engine.pending_count(), 0, "nothing written");

    let (status, body) = server.send("POST", "/api/v1/companies", "application/json", "{\"id\": 5}").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_record")), "{body}");
    let (status, body) = server.send("POST", "/api/v1/companies", "text/plain", "x").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type"))
    );
    let (status, body) = server.send("POST", "/api/v1/companies", "application/json", vec![0xff, 0xfe]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let (status, _) = server.send("POST", "/api/v1/companies", "application/x-ndjson", "\n\n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn reindex_runs_in_the_background_and_swaps_the_generation() {
    let server = server();
    server.send("POST", "/api/v1/companies", "application/json", common::company(99).to_string()).await;
    server.state.engine.flush().unwrap();

    let body = ndjson(&(100..140).map(common::company).collect::<Vec<_>>());
    let (status, accepted) = server.send("POST", "/admin/reindex", "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task_id = accepted["task_id"].as_u64().unwrap();
    assert_eq!(accepted["status_url"], format!("/admin/tasks/{task_id}"));
    let task = server.wait_task(task_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["docs_processed"], 40);
    assert_eq!(task["bytes_read"], task["bytes_total"]);
    assert!(task["generation"].as_u64().unwrap() >= 2);
    assert_eq!(server.state.engine.snapshot().live_count(), 40);
    let gone = common::siren(99);
    assert_eq!(server.get(&format!("/api/v1/companies/{gone}")).await.0, StatusCode::NOT_FOUND);

    // From a server-side file in the import directory, gzip-compressed.
    let import = server.state.data_dir.join("import");
    std::fs::create_dir_all(&import).unwrap();
    let path = import.join("companies.ndjson.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, ndjson(&(200..205).map(common::company).collect::<Vec<_>>()).as_bytes())
        .unwrap();
    std::fs::write(&path, encoder.finish().unwrap()).unwrap();
    // 40 documents → 5 drops more than the default share: asked for explicitly.
    let request = json!({ "companies_path": path }).to_string();
    let (status, accepted) = server.send("POST", "/admin/reindex?allow_shrink=true", "application/json", request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(server.state.engine.snapshot().live_count(), 5);
}

/// An empty body (or a gzip stream cut short, or any input much smaller than the index) would
/// replace a populated index with an empty one: the task fails with `shrink_refused` and the
/// live documents stay, unless the request says `allow_shrink=true`.
#[tokio::test]
async fn a_reindex_that_would_drop_most_documents_is_refused_unless_asked() {
    let server = server();
    let batch = ndjson(&(0..200).map(common::company).collect::<Vec<_>>());
    let (status, body) = server.send("POST", "/api/v1/companies", "application/x-ndjson", batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.state.engine.flush().unwrap();
    let generation = server.state.engine.snapshot().generation();

    let (status, accepted) = server.send("POST", "/admin/reindex", "application/x-ndjson", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(
        (task["status"].as_str(), task["error_code"].as_str()),
        (Some("failed"), Some("shrink_refused")),
        "{task}"
    );
    let message = task["error"].as_str().unwrap();
    for part in ["0 documents where 200 are live", "drop 100.0 %", "allows 50.0 %", "allow_shrink=true"] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    assert_eq!(server.state.engine.snapshot().live_count(), 200);
    assert_eq!(server.state.engine.snapshot().generation(), generation);
    let (status, _) = server.get(&format!("/api/v1/companies/{}", common::siren(7))).await;
    assert_eq!(status, StatusCode::OK);

    // Half of them is within the default share.
    let half = ndjson(&(0..100).map(common::company).collect::<Vec<_>>());
    let (_, accepted) = server.send("POST", "/admin/reindex", "application/x-ndjson", half).await;
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(task.get("error_code").is_none(), "{task}");
    assert_eq!(server.state.engine.snapshot().live_count(), 100);

    // Said explicitly, the empty body empties the index.
    let (status, accepted) = server.send("POST", "/admin/reindex?allow_shrink=true", "application/x-ndjson", "").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(server.state.engine.snapshot().live_count(), 0);

    for (uri, field) in [("/admin/reindex?allow_shrink=yes", "allow_shrink"), ("/admin/reindex?force=true", "force")] {
        let (status, body) = server.send("POST", uri, "application/x-ndjson", "").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "{body}"
        );
        assert_eq!(body["error"]["details"]["field"], field, "{body}");
    }
}

/// `marketlounge index build` refuses the same loss unless `--allow-shrink` says so.
#[test]
fn index_build_refuses_to_drop_most_documents_without_allow_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (full, empty) = (dir.path().join("full.ndjson"), dir.path().join("empty.ndjson"));
    std::fs::write(&full, ndjson(&(0..20).map(common::company).collect::<Vec<_>>())).unwrap();
    std::fs::write(&empty, "").unwrap();
    let build = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["index", "build", "--data", data.to_str().unwrap(), "--companies", file.to_str().unwrap()];
        args.extend(extra);
        common::run(&args)
    };
    let live_docs = || {
        let output = common::run(&["index", "info", "--data", data.to_str().unwrap()]);
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["live_docs"].as_u64().unwrap()
    };
    assert!(build(&full, &[]).status.success());
    let refused = build(&empty, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("reindex refused") && stderr.contains("--allow-shrink"), "{stderr}");
    assert_eq!(live_docs(), 20);
    assert!(build(&empty, &["--allow-shrink"]).status.success());
    assert_eq!(live_docs(), 0);
}

#[tokio::test]
async fn a_reindex_with_bad_input_fails_and_leaves_the_index() {
    let server = server();
    server.send("POST", "/api/v1/companies", "application/json", common::company(1).to_string()).await;
    server.state.engine.flush().unwrap();
    let mut bad = common::company(3);
    bad["created"] = json!("yesterday");
    let body = format!("{}\n{}\n", common::company(2), bad);
    let (status, accepted) = server.send("POST", "/admin/reindex", "application/x-ndjson", body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "failed");
    assert!(task["error"].as_str().unwrap().contains("line 2: field created"), "{task}");
    assert_eq!(server.state.engine.snapshot().live_count(), 1);

    // Only files inside the import directory: not elsewhere, not by `..`, not through a
    // symbolic link, and the answer is the same whether the file exists or not (no OS error).
    let import = server.state.data_dir.join("import");
    std::fs::create_dir_all(import.join("sub")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.ndjson");
    std::fs::write(&secret, "{\"DB_PASSWORD\": \"hunter2\"}\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, import.join("link.ndjson")).unwrap();
    let mut answers = Vec::new();
    for path in [
        "/nonexistent/x.ndjson".to_owned(),
        secret.display().to_string(),
        "../keys.sqlite".to_owned(),
        "sub/../../keys.sqlite".to_owned(),
        "link.ndjson".to_owned(),
        "sub".to_owned(),
        "missing.ndjson".to_owned(),
    ] {
        let request = json!({ "companies_path": path }).to_string();
        let (status, body) = server.send("POST", "/admin/reindex", "application/json", request).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "{path}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains("companies_path") && !message.contains("hunter2") && !message.contains("os error"),
            "{message}"
        );
        answers.push(message);
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "different answers tell which paths exist: {answers:?}");
    let (status, body) = server.send("POST", "/admin/reindex", "application/json", r#"{"path": "x"}"#).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("path"), "{body}");
    let (status, body) = server.send("POST", "/admin/reindex", "application/json", "{").await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{body}");
    assert_eq!(server.get("/admin/tasks/424242").await.0, StatusCode::NOT_FOUND);
    assert_eq!(server.get("/admin/tasks/abc").await.0, StatusCode::NOT_FOUND);

    // A file inside the import directory that is not companies (a secrets file put there by
    // mistake): the failed task names lines, fields and codes, never a value or an unknown key.
    std::fs::write(
        import.join("env.ndjson"),
        "{\"DB_PASSWORD\": \"hunter2\"}\n\"AWS_SECRET=abc123\"\n{\"id\": \"s3cr3t-id\", \"name\": 42}\nnot json AKIA0000\n",
    )
    .unwrap();
    let (status, accepted) = server
        .send("POST", "/admin/reindex", "application/json", json!({ "companies_path": "env.ndjson" }).to_string())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = server.wait_task(accepted["task_id"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "failed");
    let error = task["error"].as_str().unwrap();
    for value in ["hunter2", "DB_PASSWORD", "AWS_SECRET", "abc123", "s3cr3t", "AKIA"] {
        assert!(!error.contains(value), "{value} quoted: {error}");
    }
    assert!(error.contains("line 1: field") && error.contains("line 4:"), "{error}");
    assert_eq!(server.state.engine.snapshot().live_count(), 1);
}

#[tokio::test]
async fn snapshot_and_priors() {
    let server = server();
    let batch = ndjson(&[common::company(1), common::company(2)]);
    server.send("POST", "/api/v1/companies", "application/x-ndjson", batch).await;
    let (status, taken) = server.send("POST", "/admin/snapshot", "application/json", "").await;
    assert_eq!(status, StatusCode::CREATED, "{taken}");
    let path = std::path::PathBuf::from(taken["path"].as_str().unwrap());
    assert!(path.join("MANIFEST").exists());
    assert!(taken["generation"].as_u64().unwrap() >= 1, "pending writes were published first");

    let priors = format!("{{\"id\": \"{}\", \"opportunity\": 0.8}}\n", common::siren(1));
    let (status, body) = server.send("POST", "/admin/priors", "application/x-ndjson", priors).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["updated"].as_u64(), body["received"].as_u64()), (Some(1), Some(1)));
    let bad = "{\"id\": \"123\", \"opportunity\": 0.8}\n{\"id\": \"x\", \"opportunity\": 2}\n";
    let (status, body) = server.send("POST", "/admin/priors", "application/x-ndjson", bad).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_record")), "{body}");
    let details = &body["error"]["details"];
    assert_eq!((details["error_count"].as_u64(), details["invalid_lines"].as_u64()), (Some(3), Some(2)), "{body}");
    let fields: Vec<(u64, &str)> = details["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [(1, "id"), (2, "id"), (2, "opportunity")]);
}

#[tokio::test]
async fn the_background_flush_makes_writes_searchable() {
    // The one-second bound is the flush interval (settings refuse more than 1000 ms); timing is
    // not asserted here (a loaded CI machine is no benchmark), only that the flusher publishes.
    let server = server();
    let interval = Duration::from_millis(server.state.settings.index.flush_interval_ms);
    let _maintenance = marketlounge::http::Maintenance::start(&server.state, interval);
    let batch = ndjson(&(0..5).map(common::company).collect::<Vec<_>>());
    let written = Instant::now();
    let (status, _) = server.send("POST", "/api/v1/companies", "application/x-ndjson", batch).await;
    assert_eq!(status, StatusCode::OK);
    loop {
        let (_, health) = server.get("/health").await;
        if health["documents"] == 5 && health["pending_writes"] == 0 {
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(30), "never published: {health}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The background scrub checks every byte of the (now one) segment.
    loop {
        let (_, health) = server.get("/health").await;
        if health["checksums"] != "running" {
            assert_eq!((health["status"].as_str(), health["checksums"].as_str()), (Some("ok"), Some("ok")), "{health}");
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(30), "scrub never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let snapshot = server.state.engine.snapshot();
    let query = top_k::text_query("fraisage", &[(server.state.engine.fields().capabilities, 1.0)]);
    assert_eq!(top_k::search(&snapshot, query.as_ref(), 10).unwrap().len(), 5);
}
