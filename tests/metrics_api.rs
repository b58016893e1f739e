//! `GET /metrics` of a real server: what it records, `promtool check metrics` on its text, a real
//! Prometheus scraping it and answering a query, `promtool check rules` on the alerting rules of
//! `tools/monitoring/`, and recording turned off. That the rules and the Grafana dashboard name
//! only served metrics is checked in `scoring_api.rs`, whose server has applied a model (the
//! scoring families have no series before).
//!
//! `promtool` and `prometheus` come from Debian's `prometheus` package, which `tools/test`
//! installs; without them these tests fail (they never pass silently).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use common::metrics::{samples, value};
use tower::ServiceExt;

/// How long the server may take to publish a write, and Prometheus to start and scrape.
const DEADLINE: Duration = Duration::from_secs(60);

/// `name`, a tool of Debian's `prometheus` package, once it is known to run; else a failure
/// that says how to install it.
fn tool(name: &'static str) -> &'static str {
    let found = Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(
        found.is_ok_and(|status| status.success()),
        "`{name}` is missing: run tools/test, which installs Debian's prometheus package (apt-get install prometheus)"
    );
    name
}

/// The body of `GET path`, which must answer 200.
fn get(addr: &str, path: &str) -> String {
    let (status, body) = common::http(addr, "GET", path, "text/plain", b"").unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// A child process killed and reaped when the test ends, passing or failing.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on 127.0.0.1 (the listener is closed before the port is used).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Percent-encodes a query parameter's value.
fn encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /metrics` polled until `ready` holds for its text (the server's flush is asynchronous).
fn metrics_when(addr: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = get(addr, "/metrics");
        if ready(&text) {
            return text;
        }
        assert!(started.elapsed() < DEADLINE, "{what} not seen in /metrics within {DEADLINE:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_real_server_serves_valid_metrics_that_prometheus_scrapes() {
    let promtool = tool("promtool");
    let prometheus = tool("prometheus");
    let data = tempfile::tempdir().unwrap();
    // Killed when the test ends, passing or failing (`ServerProcess`'s drop).
    let server = common::serve(&data.path().join("data"), None);
    let addr = server.addr.as_str();

    let batch: String = (1..=3).map(|n| format!("{}\n", common::company(n))).collect();
    let (status, body) =
        common::http(addr, "POST", "/api/v1/companies", "application/x-ndjson", batch.as_bytes()).unwrap();
    assert!(status == 200 || status == 202, "{status} {body}");
    metrics_when(addr, "the 3 companies published", |text| {
        value(text, "marketlounge_index_documents", &[]) == Some(3.0)
    });
    for q in ["usin", "mecanique", "zzzzqqq"] {
        get(addr, &format!("/api/v1/suggest?q={q}"));
    }
    let (status, body) = common::http(addr, "GET", "/no/such/path", "text/plain", b"").unwrap();
    assert_eq!(status, 404, "{body}");
    let text = get(addr, "/metrics");
    for query in [r#"{"query": "usinage inox"}"#, r#"{"query": "zzzzqqq"}"#] {
        let (status, body) = common::http(addr, "POST", "/api/v1/match", "application/json", query.as_bytes()).unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let text_after = get(addr, "/metrics");

    // What was recorded, under the route's template and the fixed labels.
    let suggest = ["route=\"/api/v1/suggest\"", "method=\"GET\"", "status=\"200\""];
    assert_eq!(value(&text, "marketlounge_http_requests_total", &suggest), Some(3.0), "{text}");
    let unmatched = ["route=\"unmatched\"", "status=\"404\""];
    assert_eq!(value(&text, "marketlounge_http_requests_total", &unmatched), Some(1.0), "{text}");
    assert!(!text.contains("/no/such/path"), "a concrete path became a label");
    let bucket = |le: &str| {
        let le = format!("le=\"{le}\"");
        value(&text, "marketlounge_http_request_duration_seconds_bucket", &["route=\"/api/v1/suggest\"", &le])
    };
    // The buckets span 25 µs to 10 s.
    assert!(bucket("0.000025").is_some(), "{text}");
    assert_eq!(bucket("10"), Some(3.0), "{text}");
    assert!(value(&text, "marketlounge_index_flush_duration_seconds_count", &[]) >= Some(1.0), "{text}");
    assert_eq!(value(&text, "marketlounge_index_checksum_scrub_state", &["state=\"failed\""]), Some(0.0));
    assert!(value(&text, "marketlounge_suggest_suggestions_total", &["kind=\"company\""]) > Some(0.0), "{text}");
    assert_eq!(value(&text, "marketlounge_zero_result_queries_total", &["endpoint=\"suggest\""]), Some(1.0));
    assert_eq!(value(&text_after, "marketlounge_zero_result_queries_total", &["endpoint=\"match\""]), Some(1.0));
    assert_eq!(
        value(&text_after, "marketlounge_search_phase_duration_seconds_count", &["phase=\"interpret\""]),
        Some(2.0)
    );
    assert_eq!(value(&text_after, "marketlounge_search_candidates_count", &["pass=\"lexical\""]), Some(2.0));
    assert!(value(&text_after, "marketlounge_process_resident_memory_bytes", &[]) > Some(1e6));
    let commit = samples(&text).into_iter().find(|(series, _)| series.starts_with("marketlounge_build_info"));
    assert!(commit.is_some_and(|(series, value)| series.contains("git_commit=\"") && value == 1.0), "{text}");

    // promtool's own parser and lint.
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(check.stdin.as_mut().unwrap(), text_after.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus on loopback scrapes the server every second.
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: marketlounge\n    \
             metrics_path: /metrics\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let prometheus_addr = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(work.path().join("prometheus.log")).unwrap();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", work.path().join("tsdb").display()))
        .arg(format!("--web.listen-address={prometheus_addr}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let _prometheus = Killed(child);
    let query = r#"marketlounge_http_requests_total{job="marketlounge",route="/api/v1/suggest",status="200"}"#;
    let path = format!("/api/v1/query?query={}", encoded(query));
    let started = Instant::now();
    let scraped = loop {
        if let Ok((200, body)) = common::http_other(&prometheus_addr, "GET", &path) {
            let json = &body[body.find('{').unwrap_or(0)..=body.rfind('}').unwrap_or(0)];
            let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            if let Some(sample) = answer["data"]["result"].get(0) {
                break sample["value"][1].as_str().unwrap_or_default().parse::<f64>().unwrap();
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "Prometheus did not scrape the server within {DEADLINE:?}; its log:\n{}",
            std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(scraped, 3.0, "the typeahead requests as Prometheus scraped them");
}

#[test]
fn the_alerting_rules_pass_promtool_and_the_dashboard_has_its_panels() {
    let promtool = tool("promtool");
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/monitoring/alerts.yml");
    let checked = Command::new(promtool).args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let (rules, dashboard) = common::metrics::monitoring_files();
    for alert in
        ["5..", "route=\"/api/v1/suggest\"", "marketlounge_search_shed_total", "state=\"failed\"", "drift_shifted"]
    {
        assert!(rules.contains(alert), "no alert on {alert}");
    }
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let titles: Vec<&str> =
        dashboard["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    for panel in ["Requests per second", "p50", "p99", "Errors", "shed", "Index size", "drift"] {
        assert!(titles.iter().any(|title| title.contains(panel)), "no panel about {panel}: {titles:?}");
    }
    for target in dashboard["panels"].as_array().unwrap().iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        assert!(target["expr"].as_str().is_some_and(|expr| expr.contains("marketlounge_")), "{target}");
    }
}

/// `metrics.enabled = false`: nothing is recorded per request, and `/metrics` still serves the
/// gauges read from the state.
#[tokio::test]
async fn recording_off_serves_the_state_but_records_no_request() {
    let mut settings = marketlounge::settings::Settings::default_settings();
    settings.metrics.enabled = false;
    let app = common::app::TestApp::open(settings);
    let (status, _) = app.get("/api/v1/suggest?q=usin").await;
    assert_eq!(status, 200);
    let response = app.router.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(value(&text, "marketlounge_index_documents", &[]), Some(0.0), "{text}");
    assert!(value(&text, "marketlounge_build_info", &[]) == Some(1.0), "{text}");
    assert!(value(&text, "marketlounge_http_requests_total", &[]).is_none(), "a request was counted: {text}");
    assert_eq!(value(&text, "marketlounge_suggest_suggestions_total", &["kind=\"concept\""]), Some(0.0));
}
