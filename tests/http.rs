//! The HTTP skeleton: health, JSON errors for everything the framework and hyper answer
//! themselves, body limits, and real sockets: graceful shutdown on SIGTERM, malformed request
//! heads, slow and idle connections, the connection cap.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;

fn state(max_body_bytes: usize, data: &std::path::Path) -> Arc<AppState> {
    let mut settings = Settings::default_settings();
    settings.limits.max_body_bytes = max_body_bytes;
    Arc::new(AppState::open(settings, data).unwrap())
}

async fn call(request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let data = tempfile::tempdir().unwrap();
    let (status, bytes) = common::app::checked(&app(state(4096, data.path())), request).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&bytes))),
    )
}

#[tokio::test]
async fn health_answers_ok() {
    let (status, body) = call(Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn framework_errors_are_json_with_stable_codes() {
    let (status, body) = call(Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (status, body) = call(Request::delete("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let (status, body) = call(
        Request::post("/health").header("content-length", "100000").body(Body::from(vec![b'x'; 100_000])).unwrap(),
    )
    .await;
    // The body limit answers before routing, from the declared length.
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
}

/// Starts the real binary on an ephemeral port, talks HTTP over a socket, then stops it with
/// SIGTERM and expects a clean exit.
#[test]
fn real_socket_and_graceful_shutdown() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::binary())
        .args(["serve", "--data", data.path().to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env("MARKETLOUNGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let addr =
        first_line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{first_line:?}")).to_owned();

    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ok\""), "{response}");

    // A second server on the same data directory is refused.
    let second = Command::new(common::binary())
        .args(["serve", "--data", data.path().to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env("MARKETLOUNGE_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("used by another marketlounge process"));

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// A server whose limits are overridden by `limits` (the rest are the defaults).
fn serve_with_limits(data: &std::path::Path, limits: serde_json::Value) -> common::ServerProcess {
    let mut settings: serde_json::Value =
        serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
    for (key, value) in limits.as_object().unwrap() {
        settings["limits"][key] = value.clone();
    }
    let path = data.join("settings.json");
    std::fs::write(&path, settings.to_string()).unwrap();
    common::serve(&data.join("index"), Some(&path))
}

/// Sends `request` as is and reads the answer until the server closes the connection: the
/// status and the parsed JSON body (`Null` when the body is not JSON).
fn raw_exchange(addr: &str, request: &[u8]) -> (u16, String, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    // The server may answer and close before the whole request is written (a head too large).
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no answer: {response:?}"));
    let request_line = String::from_utf8_lossy(request);
    let mut words = request_line.split(' ');
    if let (Some(method), Some(path)) = (words.next(), words.next()) {
        common::check_raw(method, path, &response);
    }
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Errors hyper answers by itself, before a request reaches the router, are JSON with a code
/// from the table like every other error.
#[test]
fn malformed_request_heads_get_json_errors() {
    let data = tempfile::tempdir().unwrap();
    let server = serve_with_limits(data.path(), serde_json::json!({}));
    let huge_header = format!("GET /health HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n", "a".repeat(100_000));
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        (0..150).map(|n| format!("X-{n}: y\r\n")).collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("a header section over 64 KiB", huge_header.into_bytes(), 431, "header_too_large"),
        ("150 headers", many_headers.into_bytes(), 431, "header_too_large"),
        ("a header line without a colon", b"GET /health HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n".to_vec(), 400, "bad_request"),
        (
            "two Content-Length headers that disagree",
            b"POST /api/v1/match HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{\"query\": 1}".to_vec(),
            400,
            "bad_request",
        ),
        ("a request line that is not HTTP", b"HELLO\r\n\r\n".to_vec(), 400, "bad_request"),
        // A page whose DNS name was rebound to the server's address sends its own name.
        (
            "a Host that is not an allowed name",
            b"GET /health HTTP/1.1\r\nHost: rebound.example:80\r\n\r\n".to_vec(),
            421,
            "host_not_allowed",
        ),
    ];
    for (what, request, status, code) in cases {
        let (answered, head, body) = raw_exchange(&server.addr, &request);
        assert_eq!(answered, status, "{what}: {head}");
        assert!(head.contains("content-type: application/json"), "{what}: {head}");
        assert_eq!(body["error"]["code"], code, "{what}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: {body}");
    }
    // A malformed request after a good one on the same connection: the good one is answered
    // as usual, the bad one in JSON.
    let (status, _, body) = raw_exchange(
        &server.addr,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    // And the server still answers.
    let (status, body) = common::http(&server.addr, "GET", "/health", "application/json", b"").unwrap();
    assert_eq!(status, 200, "{body}");
    server.kill_9();
}

/// A 60 KB id is not echoed whole in the 404.
#[tokio::test]
async fn long_ids_are_cut_in_messages() {
    let (status, body) =
        call(Request::get(format!("/api/v1/companies/{}", "7".repeat(60_000))).body(Body::empty()).unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.len() < 200 && message.contains('…'), "{} bytes: {message:.200}", message.len());
}

/// A client that sends its headers a byte at a time is disconnected after
/// `limits.header_read_timeout_ms`, and an idle keep-alive connection after
/// `limits.keep_alive_timeout_ms`; the server keeps answering others meanwhile.
#[test]
fn slow_and_idle_connections_are_closed() {
    let data = tempfile::tempdir().unwrap();
    let server = serve_with_limits(
        data.path(),
        serde_json::json!({"header_read_timeout_ms": 600, "keep_alive_timeout_ms": 400}),
    );
    let started = std::time::Instant::now();
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    let mut reader = slow.try_clone().unwrap();
    reader.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let trickle = std::thread::spawn(move || {
        for byte in
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a')).take(200)
        {
            if slow.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let mut answer = Vec::new();
    let closed = reader.read_to_end(&mut answer).map(|_| ()).or_else(|err| match err.kind() {
        std::io::ErrorKind::ConnectionReset => Ok(()),
        _ => Err(err),
    });
    let after = started.elapsed();
    closed.expect("the slow connection is closed, not left open");
    assert!(after >= std::time::Duration::from_millis(500), "closed after {after:?}, before the timeout");
    assert!(after < std::time::Duration::from_secs(5), "closed only after {after:?} (still sending)");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    trickle.join().unwrap();

    // Idle after one answer: closed after the keep-alive timeout.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let answered = std::time::Instant::now();
    let mut response = Vec::new();
    let _ = idle.read_to_end(&mut response);
    let after = answered.elapsed();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(after >= std::time::Duration::from_millis(300), "closed after {after:?}, before the timeout");
    assert!(after < std::time::Duration::from_secs(5), "an idle connection stayed open {after:?}");
    server.kill_9();
}

/// Past `limits.max_connections`, a connection is answered 503 `too_many_connections` and
/// closed; once one closes, a fresh connection is served again.
#[test]
fn connections_over_the_cap_are_refused_until_one_closes() {
    let data = tempfile::tempdir().unwrap();
    let server = serve_with_limits(data.path(), serde_json::json!({"max_connections": 3}));
    let open_keep_alive = || {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head[9..12], b"200", "{:?}", String::from_utf8_lossy(&head));
        stream
    };
    let held: Vec<TcpStream> = (0..3).map(|_| open_keep_alive()).collect();
    let (status, head, body) = raw_exchange(&server.addr, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("retry-after: 1"), "{head}");
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    drop(held);
    // The server notices the closes on its own time: a fresh connection is served once it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, _, body) =
            raw_exchange(&server.addr, b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        if status == 200 {
            break;
        }
        assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
        assert!(std::time::Instant::now() < deadline, "still refused 10 s after the connections closed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill_9();
}
