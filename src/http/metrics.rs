//! `GET /metrics`: every metric in the Prometheus text format (`crate::metrics`), for a key with
//! the `metrics` or `admin` scope (open in development mode).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::{AppState, blocking};
use crate::error::ApiError;

pub async fn scrape(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    // The state's gauges read the scoring store and /proc: on the blocking pool.
    let text = blocking(move || state.metrics.render(&state)).await?.map_err(|err| ApiError::internal(&err))?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}
