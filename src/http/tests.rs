//! Tests of the middleware every request goes through, on a real socket: a panic in a handler,
//! on the async workers or on the blocking pool, is answered 500 `internal` JSON, logged with
//! the request's id, and the connection and the server go on.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use super::{AppState, blocking};
use crate::error::ApiError;
use crate::settings::Settings;

/// Routes compiled into the app only for tests.
pub(super) fn panicking_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/test/panic/inline", get(panics_inline))
        .route("/test/panic/blocking", get(panics_on_the_blocking_pool))
}

/// Like the typeahead handler, which answers on the async workers.
async fn panics_inline() -> &'static str {
    panic!("a test panic on the async worker")
}

/// Like `/match`, whose work runs on the blocking pool.
async fn panics_on_the_blocking_pool() -> Result<&'static str, ApiError> {
    blocking(|| -> &'static str { panic!("a test panic on the blocking pool") }).await
}

/// The log lines written while a test runs.
#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One request on an open keep-alive connection: the status, the `x-request-id` answered and
/// the body (read to its `content-length`).
fn exchange(stream: &mut std::net::TcpStream, path: &str, request_id: &str) -> (u16, String, String) {
    use std::io::Read;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nx-request-id: {request_id}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed: {:?}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(received[..head_end].to_vec()).unwrap().to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|line| line.strip_prefix(&format!("{name}: ")).map(str::to_owned)).unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap();
    while received.len() < head_end + length {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed mid-body");
        received.extend_from_slice(&chunk[..n]);
    }
    let status = head[9..12].parse().unwrap();
    (status, header("x-request-id"), String::from_utf8(received[head_end..].to_vec()).unwrap())
}

#[tokio::test]
async fn a_panic_is_answered_500_json_logged_with_the_request_id_and_the_server_goes_on() {
    // The runtime runs on this thread only, so the subscriber set here sees every request's log.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let data = tempfile::tempdir().unwrap();
    let settings = Settings::default_settings();
    let limits = settings.limits.clone();
    let state = Arc::new(AppState::open(settings, data.path()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        super::serve_on(listener, super::app(state), &limits, None, async {
            let _ = stopped.await;
        })
        .await;
    });

    // The client runs on its own thread; the server on this one.
    let client_log = captured.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        for (path, request_id, panic) in [
            ("/test/panic/inline", "panic-inline-1", "a test panic on the async worker"),
            ("/test/panic/blocking", "panic-blocking-2", "a test panic on the blocking pool"),
        ] {
            let (status, echoed, body) = exchange(&mut stream, path, request_id);
            assert_eq!(status, 500, "{body}");
            assert_eq!(echoed, request_id);
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"]["code"], "internal", "{body}");
            assert_eq!(body["error"]["message"], "internal error", "{body}");
            // The same connection answers the next request.
            let (status, echoed, body) = exchange(&mut stream, "/health", "after-the-panic");
            assert_eq!((status, echoed.as_str()), (200, "after-the-panic"), "{body}");
            let log = String::from_utf8_lossy(&client_log.0.lock()).into_owned();
            let line = log.lines().find(|line| line.contains(panic)).unwrap_or_else(|| panic!("not logged: {log}"));
            assert!(line.contains(request_id) && line.contains("ERROR"), "{line}");
        }
        // A request with an unusable id gets a new one.
        let (_, given, _) = exchange(&mut stream, "/health", "bad id with spaces");
        assert!(!given.is_empty() && !given.contains(' '), "{given:?}");
        drop(stream);
        let mut fresh = std::net::TcpStream::connect(addr).unwrap();
        let (status, _, _) = exchange(&mut fresh, "/health", "fresh-connection");
        assert_eq!(status, 200);
    })
    .await
    .unwrap();

    stop.send(()).unwrap();
    server.await.unwrap();
}
