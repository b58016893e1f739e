//! The access log: one structured line per request, target `access`, written when the answer
//! leaves: request id (the `x-request-id` answered), method, route template (`unmatched` for a
//! path no route has), status, latency, bytes in and out, the key id when a key or token was
//! checked, and the client's IP prefix (/24, /48). Never a key, a token, a query string, a
//! concrete path (it may hold an id) or a full address. `--log-format json` makes each line a
//! JSON object; `MARKETLOUNGE_LOG=info,access=off` turns the lines off (their fields are then
//! not even gathered).

use std::sync::Arc;
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::auth::Caller;

/// The route template of a routed request, carried out in its answer's extensions for
/// [`access_log`], which runs before routing.
#[derive(Debug, Clone)]
pub(super) struct RouteOf(MatchedPath);

/// A route layer: remembers the route template in the answer.
pub(super) async fn remember_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(RouteOf(matched));
    }
    response
}

/// Logs one line per request once its answer is ready (see the module's documentation).
pub(super) async fn access_log(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let request_id = request.headers().get(super::REQUEST_ID).cloned();
    let bytes_in = request.body().size_hint().exact().unwrap_or_else(|| {
        request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0)
    });
    let ip = super::rate_limits::client_address(state.limits.as_deref(), &request);
    let response = next.run(request).await;
    let latency_us = started.elapsed().as_micros() as u64;
    let route = response.extensions().get::<RouteOf>().map_or("unmatched", |route| route.0.as_str());
    let key_id = response.extensions().get::<Caller>().map(|caller| caller.key.id.as_str());
    // A streamed body's size is not known here; the ones this server sends are whole.
    let bytes_out = response.body().size_hint().exact();
    let request_id = request_id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or("");
    let ip_prefix = crate::usage::audit::ip_prefix(ip);
    tracing::info!(
        target: "access",
        request_id,
        method = method.as_str(),
        route,
        status = response.status().as_u16(),
        latency_us,
        bytes_in,
        bytes_out,
        key_id,
        ip_prefix = ip_prefix.as_deref(),
        "request"
    );
    response
}
