//! The one table of API error codes: each code's HTTP status, stable machine-readable name and
//! default message, declared together so that a new code cannot miss one of them.
//!
//! Every error the server answers is `{"error": {"code", "message"}}` with a code from this
//! table, including the ones the HTTP framework produces itself (unknown route, wrong method,
//! body too large, timeout), which `http::json_errors` rewrites, and the ones hyper answers
//! before a request reaches the router (a malformed or oversized request head), which
//! `http::connection_io` rewrites.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Declares [`ErrorCode`] from one table: variant, name, status, default message. `ALL`,
/// `as_str`, `status` and `default_message` are generated from the same rows.
macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident => ($name:literal, $status:ident, $message:literal), )*) => {
        /// Stable error codes. Never rename one: clients match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The message for an error that carries none of its own (a framework error).
            pub fn default_message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message,)*
                }
            }

            /// The code's doc comment, one line per source line: what the OpenAPI document
            /// says of it (`crate::openapi`), so the table stays its only description.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!($($doc, "\n",)*),)*
                }
            }
        }
    };
}

error_codes! {
    /// The request is malformed in a way no other code describes (including a request line or
    /// header that is not valid HTTP/1.1, or conflicting `Content-Length` headers).
    BadRequest => ("bad_request", BAD_REQUEST, "the request is malformed"),
    /// The body is not valid JSON.
    InvalidJson => ("invalid_json", BAD_REQUEST, "the body is not valid JSON"),
    /// A field has a wrong type, a missing value or a value out of range.
    InvalidField => ("invalid_field", BAD_REQUEST, "a field is invalid"),
    /// One or more records of the body are invalid; `details` lists every error by line.
    InvalidRecord => ("invalid_record", BAD_REQUEST, "one or more records are invalid"),
    /// The route needs an API key and the request presents none (`Authorization: Bearer` or
    /// `X-API-Key`).
    MissingApiKey => ("missing_api_key", UNAUTHORIZED, "this route needs an API key"),
    /// The key presented is unknown, revoked or expired (which one is not said).
    InvalidApiKey => ("invalid_api_key", UNAUTHORIZED, "the API key is unknown, revoked or expired"),
    /// The key does not hold the scope the route needs (the message and `details.scope` name it).
    Forbidden => ("forbidden", FORBIDDEN, "the API key does not hold the scope this route needs"),
    /// A publishable key used from an origin it does not list.
    OriginNotAllowed => ("origin_not_allowed", FORBIDDEN, "the API key is not accepted from this origin"),
    /// The request's `Host` is not one of `auth.allowed_hosts` (a DNS-rebinding page, or a name
    /// the operator has not configured).
    HostNotAllowed => ("host_not_allowed", MISDIRECTED_REQUEST, "this server does not answer for this host name"),
    /// The data directory's file system has less free space than `admin.snapshot_min_free_mb`
    /// (the message gives both): no snapshot is taken.
    InsufficientStorage => ("insufficient_storage", INSUFFICIENT_STORAGE, "not enough free disk space"),
    /// Too many requests: from this key (its `rate`), from this address with publishable keys
    /// (`auth.per_ip_rate`), or from this address with invalid keys (`auth.failed_auth_rate`,
    /// answered before any key check). `Retry-After` says when to come back; `details.policy`
    /// names the limit (`key`, `ip`, `failed-auth`).
    RateLimited => ("rate_limited", TOO_MANY_REQUESTS, "too many requests; retry after the Retry-After seconds"),
    /// The key's monthly quota is used up: the message and `details.resets_at` name the reset
    /// (the first day of next month, UTC), and `Retry-After` counts the seconds to it.
    QuotaExceeded => ("quota_exceeded", TOO_MANY_REQUESTS, "the API key's monthly quota is used up"),
    /// The request conflicts with work in progress (e.g. a reindex is already running).
    Conflict => ("conflict", CONFLICT, "the request conflicts with work in progress"),
    /// A reindex would have dropped more of the live documents than
    /// `index.reindex_max_drop_share` allows; the message gives the counts and the share, and
    /// the live index is unchanged. Reported by the failed task; `allow_shrink=true` overrides.
    ShrinkRefused => ("shrink_refused", CONFLICT, "the reindex would drop more of the live documents than allowed"),
    /// The body is larger than the configured limit.
    PayloadTooLarge => ("payload_too_large", PAYLOAD_TOO_LARGE, "the request body is larger than the server accepts"),
    /// The body's content type is not one this endpoint takes (the message names them).
    UnsupportedMediaType => ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "the content type is not supported here"),
    /// No such route or resource.
    NotFound => ("not_found", NOT_FOUND, "no such route or resource"),
    /// The route exists but not with this method.
    MethodNotAllowed => ("method_not_allowed", METHOD_NOT_ALLOWED, "this route does not accept this method"),
    /// The request took longer than the configured timeout.
    Timeout => ("timeout", REQUEST_TIMEOUT, "the request took longer than the server allows"),
    /// The request line and headers together are larger than the server reads (64 KiB), or
    /// there are more than 100 headers.
    HeaderTooLarge => ("header_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE, "the request's headers are larger than the server accepts"),
    /// The server is shutting down or not ready.
    Unavailable => ("unavailable", SERVICE_UNAVAILABLE, "the server is not ready or is shutting down"),
    /// More queries arrive than the server can answer: this one waited longer than allowed for a
    /// search slot (`limits.queue_timeout_ms`, or the sojourn target while queries have been
    /// waiting longer than it for a while). Retry after the `Retry-After` seconds.
    Overloaded => ("overloaded", SERVICE_UNAVAILABLE, "the server has more queries than it can answer; retry later"),
    /// The server already holds `limits.max_connections` connections; this one is answered and
    /// closed. Retry after the `Retry-After` seconds.
    TooManyConnections => ("too_many_connections", SERVICE_UNAVAILABLE, "the server holds as many connections as it allows; retry later"),
    /// No opportunity model is trained or applied yet, or the current one does not load; the
    /// message says which command fixes it.
    ModelUnavailable => ("model_unavailable", SERVICE_UNAVAILABLE, "no opportunity model is available"),
    /// A bug or an unexpected failure; details are in the server log only.
    Internal => ("internal", INTERNAL_SERVER_ERROR, "internal error"),
}

impl ErrorCode {
    /// The code of an index error: the caller's (a bad record, unreadable input, a bad query
    /// vector, work in progress, a reindex that would drop too much) or `internal`.
    pub fn for_index(error: &marketlounge_index::IndexError) -> ErrorCode {
        use marketlounge_index::IndexError;
        match error {
            IndexError::Record { .. } | IndexError::InvalidRecords { .. } => ErrorCode::InvalidRecord,
            IndexError::Input { source } if marketlounge_index::ndjson::UnpackLimitExceeded::of(source).is_some() => {
                ErrorCode::PayloadTooLarge
            }
            IndexError::Input { .. } => ErrorCode::BadRequest,
            IndexError::QueryDimensions { .. } => ErrorCode::InvalidField,
            IndexError::ReindexRunning => ErrorCode::Conflict,
            IndexError::ShrinkRefused { .. } => ErrorCode::ShrinkRefused,
            _ => ErrorCode::Internal,
        }
    }

    /// The code the server answers for a bare framework status: the first code of the table with
    /// that status, else `bad_request` for a client error and `internal` for anything else.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match ErrorCode::ALL.iter().find(|code| code.status() == status) {
            Some(code) => *code,
            None if status.is_client_error() => ErrorCode::BadRequest,
            None => ErrorCode::Internal,
        }
    }

    /// Whether a client should come back later: the answer carries `Retry-After`.
    pub fn retry_later(self) -> bool {
        matches!(self, ErrorCode::Overloaded | ErrorCode::TooManyConnections)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

pub use marketlounge_index::search::request::{MAX_ECHOED_CHARS, echoed};

/// Longest message answered, in characters: a last guard for messages that quote what a
/// library said about the input (serde names an unknown field in full).
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// `text` cut to `max` characters, with "…" when it was longer.
pub fn truncated(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
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

    /// An index error: the caller's fault (bad record) or ours (logged, answered generically:
    /// the messages of the other variants name files of the data directory).
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

    /// The JSON body of the answer: `{"error": {"code", "message", "details"?}}`.
    pub fn body(&self) -> Vec<u8> {
        let message = truncated(&self.message, MAX_MESSAGE_CHARS);
        let body = ErrorBody {
            error: ErrorPayload { code: self.code.as_str(), message: &message, details: self.details.as_ref() },
        };
        serde_json::to_vec(&body).expect("an error body serialises")
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
        let body = self.body();
        let mut response = (
            self.code.status(),
            [(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response();
        if self.code.retry_later() {
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
        for &code in ErrorCode::ALL {
            assert!(code.status().is_client_error() || code.status().is_server_error());
            let serialized = serde_json::to_value(code).unwrap();
            assert_eq!(serialized, code.as_str());
            assert!(code.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code:?}");
        }
        for code in [
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::Timeout,
            ErrorCode::HeaderTooLarge,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::for_status(code.status()), code);
        }
        assert_eq!(ErrorCode::for_status(StatusCode::BAD_REQUEST), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(StatusCode::LENGTH_REQUIRED), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(StatusCode::URI_TOO_LONG), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(StatusCode::BAD_GATEWAY), ErrorCode::Internal);
    }

    /// The README's list of codes is the table: a new code cannot go undocumented.
    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../README.md");
        let start = readme.find("Every error is JSON").expect("the README's error section");
        let section = &readme[start..];
        let section = &section[..section.find("\n\n").unwrap_or(section.len())];
        for &code in ErrorCode::ALL {
            assert!(section.contains(&format!("`{}`", code.as_str())), "README does not list {}", code.as_str());
        }
    }

    #[test]
    fn echoed_strings_are_cut() {
        assert_eq!(echoed("abc"), "\"abc\"");
        let long = "é".repeat(60_000);
        let shown = echoed(&long);
        assert_eq!(shown, format!("{:?}…", "é".repeat(MAX_ECHOED_CHARS)));
        let error = ApiError::new(ErrorCode::BadRequest, "x".repeat(100_000));
        let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body["error"]["message"].as_str().unwrap().chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
