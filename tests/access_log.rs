//! The access log (issue 22): one JSON line per request with `--log-format json`, whatever
//! answered it, with the request id answered, the route template, status, latency, bytes, the
//! key id and the client's IP prefix; never a key, a concrete path or a full address.

mod common;

/// A request on a fresh connection: the status and the `x-request-id` answered.
fn exchange(addr: &str, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let id = response
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned))
        .unwrap_or_default();
    (status, id)
}

#[test]
fn one_access_line_per_request_with_the_key_id_and_an_ip_prefix_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = common::run(&[
        "keys",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--name",
        "partner",
        "--scopes",
        "suggest,read",
        "--json",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (key_id, key) = (created["id"].as_str().unwrap(), created["key"].as_str().unwrap());
    let server = common::serve_with(&data, None, &["--log-format", "json"]);
    let addr = &server.addr;
    let get = |path: &str, headers: &str| {
        exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n"))
    };
    let bearer = format!("Authorization: Bearer {key}\r\n");
    let company = format!("/api/v1/companies/{}", common::siren(4242));
    // (status, the route logged, whether the key id is logged)
    let sent = [
        (get("/health", "x-request-id: trace-me-42\r\n"), 200, "/health", false),
        (get("/api/v1/suggest?q=usinage&k=3", &bearer), 200, "/api/v1/suggest", true),
        (get(&company, &bearer), 404, "/api/v1/companies/{id}", true),
        (get("/no/such/route", ""), 404, "unmatched", false),
        (
            get("/api/v1/suggest?q=usinage", "Authorization: Bearer mlk_sec_not-a-key-at-all\r\n"),
            401,
            "/api/v1/suggest",
            false,
        ),
        // Refused before routing (DNS rebinding): still one line.
        (
            exchange(addr, "GET /health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"),
            421,
            "unmatched",
            false,
        ),
    ];
    assert_eq!(sent[0].0.1, "trace-me-42");
    let log_text = || std::fs::read_to_string(&server.log).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let lines: Vec<serde_json::Value> = loop {
        let lines: Vec<serde_json::Value> = log_text()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| line["target"] == "access")
            .collect();
        if lines.len() >= sent.len() || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(lines.len(), sent.len(), "one line per request: {lines:#?}");
    for (((status, request_id), expected_status, route, keyed), line) in sent.iter().zip(&lines) {
        let fields = &line["fields"];
        assert_eq!(*status, *expected_status, "{line}");
        assert_eq!(fields["status"], *status, "{line}");
        assert_eq!(fields["route"], *route, "{line}");
        assert_eq!(fields["method"], "GET", "{line}");
        assert_eq!(fields["request_id"], request_id.as_str(), "the id answered: {line}");
        assert_eq!(fields["ip_prefix"], "127.0.0.0/24", "{line}");
        assert!(
            fields["latency_us"].is_u64() && fields["bytes_in"] == 0 && fields["bytes_out"].as_u64().unwrap() > 0,
            "{line}"
        );
        assert_eq!(fields["key_id"].as_str(), keyed.then_some(key_id), "{line}");
    }
    let text = log_text();
    assert!(!text.contains(key) && !text.contains("not-a-key-at-all"), "a key reached the log");
    // (The debug-level request traces of `tower_http`, on in tests, show URIs; access lines never.)
    for line in text.lines().filter(|line| line.contains("\"target\":\"access\"")) {
        assert!(!line.contains("127.0.0.1"), "a full address in {line}");
        assert!(!line.contains(&common::siren(4242)) && !line.contains("usinage"), "a concrete path in {line}");
    }
}
