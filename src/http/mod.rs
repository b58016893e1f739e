//! The HTTP API: routes, shared state and the middleware every request goes through.
//!
//! Invariant: handlers never block the async runtime; anything CPU-heavy will run on the blocking
//! pool. Invariant: every error response is JSON with a code from `crate::error::ErrorCode`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::{ApiError, ErrorCode};
use crate::settings::Settings;

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub data_dir: std::path::PathBuf,
}

/// The application's router, without a socket: tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.settings.limits.clone();
    Router::new()
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
        // Layers run outside-in from the last one: tracing sees everything, `json_errors` then
        // rewrites whatever the limit and timeout layers below it answer.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(limits.request_timeout_ms),
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn health(State(_state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, ErrorCode::NotFound.default_message())
}

/// Rewrites error responses that are not already JSON (the framework's 405, 413, 408…) into the
/// API's error shape, so clients parse one format whatever produced the error.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let mut rewritten = ApiError::new(code, code.default_message()).into_response();
    // Keep the framework's status (e.g. 411, 416) when our table folds it into a broader code.
    *rewritten.status_mut() = status;
    if let Some(allow) = response.headers().get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}

/// Serves `app` on `addr` until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(state: Arc<AppState>, addr: SocketAddr) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|err| anyhow::anyhow!("cannot listen on {addr}: {err}"))?;
    let local_addr = listener.local_addr()?;
    tracing::info!(addr = %local_addr, data_dir = %state.data_dir.display(), "listening");
    // Printed on stdout so scripts and tests can find the port when binding to port 0.
    println!("listening on http://{local_addr}");
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
