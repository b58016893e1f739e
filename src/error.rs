//! The one table of API error codes: each code's HTTP status and stable machine-readable name.
//!
//! Every error the server answers is `{"error": {"code", "message"}}` with a code from this
//! table, including the ones the HTTP framework produces itself (unknown route, wrong method,
//! body too large, timeout), which `http::json_errors` rewrites.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Stable error codes. Never rename one: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed in a way no other code describes.
    BadRequest,
    /// The body is not valid JSON.
    InvalidJson,
    /// A field has a wrong type, a missing value or a value out of range.
    InvalidField,
    /// One or more records of the body are invalid; `details` lists every error by line.
    InvalidRecord,
    /// The request conflicts with work in progress (e.g. a reindex is already running).
    Conflict,
    /// A reindex would have dropped more of the live documents than
    /// `index.reindex_max_drop_share` allows; the message gives the counts and the share, and
    /// the live index is unchanged. Reported by the failed task; `allow_shrink=true` overrides.
    ShrinkRefused,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body's content type is not JSON or NDJSON.
    UnsupportedMediaType,
    /// No such route or resource.
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// The request took longer than the configured timeout.
    Timeout,
    /// The server is shutting down or not ready.
    Unavailable,
    /// More queries arrive than the server can answer: this one waited longer than allowed for a
    /// search slot (`limits.queue_timeout_ms`, or 10 ms while the queue stands). Retry after the
    /// `Retry-After` seconds.
    Overloaded,
    /// No opportunity model is trained or applied yet, or the current one does not load; the
    /// message says which command fixes it.
    ModelUnavailable,
    /// A bug or an unexpected failure; details are in the server log only.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadRequest,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidField,
        ErrorCode::InvalidRecord,
        ErrorCode::Conflict,
        ErrorCode::ShrinkRefused,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::Overloaded,
        ErrorCode::ModelUnavailable,
        ErrorCode::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson | ErrorCode::InvalidField | ErrorCode::InvalidRecord => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::Conflict | ErrorCode::ShrinkRefused => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::ModelUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidRecord => "invalid_record",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ShrinkRefused => "shrink_refused",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::ModelUnavailable => "model_unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code of an index error: the caller's (a bad record, work in progress, a reindex that
    /// would drop too much) or `internal`.
    pub fn for_index(error: &marketlounge_index::IndexError) -> ErrorCode {
        use marketlounge_index::IndexError;
        match error {
            IndexError::Record { .. } | IndexError::InvalidRecords { .. } => ErrorCode::InvalidRecord,
            IndexError::Input { .. } => ErrorCode::BadRequest,
            IndexError::QueryDimensions { .. } => ErrorCode::InvalidField,
            IndexError::ReindexRunning => ErrorCode::Conflict,
            IndexError::ShrinkRefused { .. } => ErrorCode::ShrinkRefused,
            _ => ErrorCode::Internal,
        }
    }

    /// The code the server answers for a bare framework status.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
            StatusCode::CONFLICT => ErrorCode::Conflict,
            status if status.is_client_error() => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }

    /// The message for a framework-generated error, which carries none of its own.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "the request is malformed",
            ErrorCode::InvalidJson => "the body is not valid JSON",
            ErrorCode::InvalidField => "a field is invalid",
            ErrorCode::InvalidRecord => "one or more records are invalid",
            ErrorCode::Conflict => "the request conflicts with work in progress",
            ErrorCode::ShrinkRefused => "the reindex would drop more of the live documents than allowed",
            ErrorCode::PayloadTooLarge => "the request body is larger than the server accepts",
            ErrorCode::UnsupportedMediaType => "the content type is not supported here",
            ErrorCode::NotFound => "no such route or resource",
            ErrorCode::MethodNotAllowed => "this route does not accept this method",
            ErrorCode::Timeout => "the request took longer than the server allows",
            ErrorCode::Unavailable => "the server is not ready or is shutting down",
            ErrorCode::Overloaded => "the server has more queries than it can answer; retry later",
            ErrorCode::ModelUnavailable => "no opportunity model is available",
            ErrorCode::Internal => "internal error",
        }
    }
}

/// An error answered to an API client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Structured details (e.g. every invalid line of a batch).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), details: None }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// An index error: the caller's fault (bad record) or ours (logged, answered generically).
    pub fn from_index(error: marketlounge_index::IndexError) -> ApiError {
        match ErrorCode::for_index(&error) {
            ErrorCode::Internal => ApiError::internal(&error),
            code => ApiError::new(code, error.to_string()),
        }
    }

    /// An unexpected failure: logged in full, answered generically.
    pub fn internal(error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(ErrorCode::Internal, ErrorCode::Internal.default_message())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorPayload<'a>,
}

#[derive(Serialize)]
struct ErrorPayload<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorPayload { code: self.code.as_str(), message: &self.message, details: self.details.as_ref() },
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        if self.code == ErrorCode::Overloaded {
            // The queue drains in about the time a query waited: a second is a fair pause.
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_map_back_from_their_status() {
        let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!(code.status().is_client_error() || code.status().is_server_error());
            let serialized = serde_json::to_value(code).unwrap();
            assert_eq!(serialized, code.as_str());
        }
        for code in [ErrorCode::NotFound, ErrorCode::MethodNotAllowed, ErrorCode::PayloadTooLarge, ErrorCode::Timeout] {
            assert_eq!(ErrorCode::for_status(code.status()), code);
        }
    }
}
