//! The HTTP skeleton: health, JSON errors for everything the framework answers itself, body
//! limits, and a real socket with graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use tower::ServiceExt;

fn state(max_body_bytes: usize, data: &std::path::Path) -> Arc<AppState> {
    let mut settings = Settings::default_settings();
    settings.limits.max_body_bytes = max_body_bytes;
    Arc::new(AppState::open(settings, data).unwrap())
}

async fn call(request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let data = tempfile::tempdir().unwrap();
    let response = app(state(4096, data.path())).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
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
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
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
