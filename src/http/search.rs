//! `POST /api/v1/match`: the query path over HTTP. The body is one JSON object
//! ([`MatchRequest`]); unknown fields, wrong types and out-of-range values are 400s naming the
//! field. Interpretation, embedding and retrieval run on the blocking pool, at most as many
//! at once as the vector index has search slots; a query that waits too long for one is
//! answered 503 `overloaded` ([`SearchQueue`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use marketlounge_index::search::{MatchRequest, MatchResponse, RequestError, SearchError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::{AppState, BodyKind, blocking, body_kind_in};
use crate::error::{ApiError, ErrorCode};

pub async fn match_companies(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MatchResponse>, ApiError> {
    body_kind_in(&headers, &[BodyKind::Json])?;
    let request = parse_request(&body)?;
    state.matcher.check(&request).map_err(field_error)?;
    let permit = state.search_queue.admit(state.settings.limits.queue_timeout_ms).await?;
    let worker = Arc::clone(&state);
    let response = blocking(move || {
        let _permit = permit;
        let vector = crate::query::query_vector(
            &worker.matcher,
            &request,
            worker.query_embedder.as_ref(),
            worker.engine.options().vectors.as_ref().map(|v| v.dims),
        )
        .map_err(|err| match request.vector {
            Some(_) => field_error(RequestError::new("vector", err.to_string())),
            None => ApiError::internal(&format_args!("embedding the query: {err}")),
        })?;
        let snapshot = worker.engine.snapshot();
        worker.matcher.run(&snapshot, &request, vector.as_deref()).map_err(|err| match err {
            SearchError::Request(err) => field_error(err),
            SearchError::Index(err) => ApiError::internal(&err),
        })
    })
    .await??;
    Ok(Json(response))
}

/// How long a query may wait for a search slot: CoDel's idea applied to admission. A queue
/// that forms in a burst drains by itself, so a query may wait up to `limits.queue_timeout_ms`.
/// A queue that has stood for [`STANDING_QUEUE_INTERVAL`] — no arriving query found a slot free
/// in that time — means more queries arrive than the machine answers: waiting would only make
/// every answer late (each would wait the whole timeout), so the wait drops to
/// [`STANDING_QUEUE_TARGET`]. The queries that get a slot are then answered promptly, and the
/// rest are told at once to retry (503 `overloaded`, `Retry-After`).
#[derive(Debug)]
pub struct SearchQueue {
    /// Queries running at once (the vector index has this many search slots).
    pub slots: Arc<Semaphore>,
    /// When arriving queries started finding every slot taken; `None` once one finds a slot.
    saturated_since: parking_lot::Mutex<Option<Instant>>,
}

/// How long every slot must have stayed taken before the queue counts as standing.
pub const STANDING_QUEUE_INTERVAL: Duration = Duration::from_millis(100);
/// The longest wait for a slot while the queue stands: a few queries' service time.
pub const STANDING_QUEUE_TARGET: Duration = Duration::from_millis(10);

impl SearchQueue {
    /// `slots` queries at once (at least one).
    pub fn new(slots: usize) -> SearchQueue {
        SearchQueue { slots: Arc::new(Semaphore::new(slots.max(1))), saturated_since: parking_lot::Mutex::new(None) }
    }

    /// A search slot, or `overloaded` when none came free within the allowed wait.
    pub async fn admit(&self, queue_timeout_ms: u64) -> Result<OwnedSemaphorePermit, ApiError> {
        let slots = &self.slots;
        let shutting_down = || ApiError::new(ErrorCode::Unavailable, "the server is shutting down");
        let since = match Arc::clone(slots).try_acquire_owned() {
            Ok(permit) => {
                *self.saturated_since.lock() = None;
                return Ok(permit);
            }
            Err(TryAcquireError::Closed) => return Err(shutting_down()),
            Err(TryAcquireError::NoPermits) => *self.saturated_since.lock().get_or_insert_with(Instant::now),
        };
        let timeout = Duration::from_millis(queue_timeout_ms);
        let (wait, why) = if since.elapsed() >= STANDING_QUEUE_INTERVAL {
            (timeout.min(STANDING_QUEUE_TARGET), "every search slot has been taken for a while")
        } else {
            (timeout, "limits.queue_timeout_ms")
        };
        match tokio::time::timeout(wait, Arc::clone(slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(shutting_down()),
            Err(_) => Err(ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "no search slot came free within {} ms ({why}): the server has more queries than it can answer; retry later",
                    wait.as_millis()
                ),
            )),
        }
    }
}

/// A 400 naming the field; a field path built from the client's keys is cut to
/// [`crate::error::MAX_ECHOED_CHARS`] characters.
fn field_error(err: RequestError) -> ApiError {
    let field = crate::error::truncated(&err.field, crate::error::MAX_ECHOED_CHARS);
    ApiError::new(ErrorCode::InvalidField, format!("field {field}: {}", err.message))
        .with_details(serde_json::json!({ "field": field }))
}

/// The request, or a 400 that says where the body is wrong: `invalid_json` with line and
/// column for a syntax error, `invalid_field` with the field's path for a wrong value.
pub(crate) fn parse_request(body: &[u8]) -> Result<MatchRequest, ApiError> {
    let text = std::str::from_utf8(body).map_err(|err| {
        ApiError::new(ErrorCode::InvalidJson, format!("the body is not UTF-8 (byte {})", err.valid_up_to()))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let request: MatchRequest = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // serde_json counts a number too large for its field's type (1e39 for an f32) as a
        // syntax error, but the JSON is valid: the value is wrong, and its field is known.
        let out_of_range = inner.is_syntax() && path != "." && inner.to_string().starts_with("number out of range");
        if inner.is_data() || out_of_range {
            let field = if path == "." { "$".to_owned() } else { path };
            field_error(RequestError::new(field, inner.to_string()))
        } else {
            ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {err}")))?;
    Ok(request)
}
