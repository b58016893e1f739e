//! The HTTP app in process, without a socket (`tower::ServiceExt::oneshot`): a temporary data
//! directory, the router and its state, and calls that read the JSON answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub state: Arc<AppState>,
    _data: tempfile::TempDir,
}

impl TestApp {
    /// A server with `settings` on a new, empty data directory.
    pub fn open(settings: Settings) -> TestApp {
        let data = tempfile::tempdir().unwrap();
        let state = Arc::new(AppState::open(settings, data.path()).unwrap());
        TestApp { router: app(Arc::clone(&state)), state, _data: data }
    }

    /// The status and the JSON body of the answer (a body that is not JSON fails the test, and
    /// so does one the OpenAPI document does not describe: `super::contract`).
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, bytes) = checked(&self.router, request).await;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let request =
            Request::builder().method(method).uri(uri).header("content-type", content_type).body(body.into()).unwrap();
        self.call(request).await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        self.send("POST", uri, content_type, body).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    /// The raw answer, checked against the OpenAPI document like every other.
    pub async fn call_raw(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
        checked_parts(&self.router, request).await
    }

    /// Polls `/admin/tasks/{task_id}` until the task has succeeded or failed (a minute at most).
    pub async fn wait_task(&self, task_id: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, task) = self.get(&format!("/admin/tasks/{task_id}")).await;
            assert_eq!(status, StatusCode::OK, "{task}");
            if task["status"] == "succeeded" || task["status"] == "failed" {
                return task;
            }
            assert!(Instant::now() < deadline, "task did not finish: {task}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends `request` to `router` and checks the answer against the OpenAPI document
/// (`super::contract`): its status and body.
pub async fn checked(router: &Router, request: Request<Body>) -> (StatusCode, axum::body::Bytes) {
    let (status, _, bytes) = checked_parts(router, request).await;
    (status, bytes)
}

/// [`checked`], with the answer's headers.
pub async fn checked_parts(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, axum::body::Bytes) {
    let (method, uri) = (request.method().to_string(), request.uri().to_string());
    let response = router.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    super::contract::check(&method, &uri, status.as_u16(), content_type, &bytes);
    (status, headers, bytes)
}
