//! `POST /api/v1/match`: the query path over HTTP. The body is one JSON object
//! ([`MatchRequest`]); unknown fields, wrong types and out-of-range values are 400s naming the
//! field. Interpretation, embedding and retrieval run on the blocking pool, at most as many
//! at once as the vector index has search slots; a query that waits longer than
//! `limits.queue_timeout_ms` for one is answered 503 `overloaded`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use marketlounge_index::search::{MatchRequest, MatchResponse, RequestError, SearchError};

use super::{AppState, BodyKind, blocking, body_kind};
use crate::error::{ApiError, ErrorCode};

pub async fn match_companies(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MatchResponse>, ApiError> {
    if body_kind(&headers)? != BodyKind::Json {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send one JSON object (application/json)"));
    }
    let request = parse_request(&body)?;
    state.matcher.check(&request).map_err(field_error)?;
    // A query that cannot start within the queue timeout would be answered too late to be of
    // use, and would make every query behind it later still: shed it.
    let queue_timeout = std::time::Duration::from_millis(state.settings.limits.queue_timeout_ms);
    let permit = tokio::time::timeout(queue_timeout, Arc::clone(&state.search_permits).acquire_owned())
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::Overloaded,
                format!(
                    "no search slot came free within {} ms (limits.queue_timeout_ms): the server has more queries than it can answer; retry later",
                    queue_timeout.as_millis()
                ),
            )
        })?
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "the server is shutting down"))?;
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

fn field_error(err: RequestError) -> ApiError {
    ApiError::new(ErrorCode::InvalidField, err.to_string()).with_details(serde_json::json!({ "field": err.field }))
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
        if inner.is_data() {
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
