//! Request bodies: each read within the limit that fits its use, record bodies parsed and
//! checked on the blocking pool, and their errors answered as a bounded list with a count.
//!
//! A body of 3 MB of `{}` lines used to be parsed on the async workers (stalling `/health` for
//! seconds) and answered with one error object per line (a 90 MB answer, and 800 MB of
//! memory the allocator kept).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use marketlounge_index::ndjson::{Parsed, RecordReader, parse_record_collecting};
use marketlounge_index::record::{FieldError, Record};
use marketlounge_index::refdata::RefData;
use serde::Serialize;

use super::{AppState, BodyKind};
use crate::error::{ApiError, ErrorCode};
use crate::settings::Limits;

/// What a body is for, which decides its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyUse {
    /// A query or a task's parameters (`/api/v1/match`, the admin tasks): small JSON.
    Request,
    /// One JSON record: as large as one NDJSON line may be.
    Record,
    /// An NDJSON batch: records, priors, a reindex body.
    Batch,
}

impl BodyUse {
    /// One JSON record or an NDJSON batch, by content type.
    pub(crate) fn of_records(kind: BodyKind) -> BodyUse {
        match kind {
            BodyKind::Json => BodyUse::Record,
            BodyKind::Ndjson => BodyUse::Batch,
        }
    }

    /// The limit in bytes, the setting it comes from, and what to do instead.
    fn limit(self, limits: &Limits) -> (usize, &'static str, &'static str) {
        match self {
            BodyUse::Request => (limits.max_json_body_bytes, "limits.max_json_body_bytes", ""),
            BodyUse::Record => (
                limits.max_line_bytes,
                "limits.max_line_bytes",
                ", the size of one record; send a batch as NDJSON (application/x-ndjson)",
            ),
            BodyUse::Batch => (limits.max_body_bytes, "limits.max_body_bytes", "; split the batch"),
        }
    }
}

/// The whole body, read only as far as its limit: a larger one is 413 `payload_too_large`
/// naming the limit, refused from its `Content-Length` before a byte is read when it declares
/// one.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    body_use: BodyUse,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    let (limit, setting, advice) = body_use.limit(limits);
    let too_large = || {
        ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {setting} ({limit} bytes){advice}"))
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit)).await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if is_length_limit(err.as_ref()) => Err(too_large()),
        Err(err) => {
            tracing::debug!(%err, "reading a request body");
            Err(ApiError::new(ErrorCode::BadRequest, "the body could not be read to its end"))
        }
    }
}

/// Whether `err` or one of its sources is a body-length limit (ours, or the router-wide one
/// for `limits.max_body_bytes` when the body declares no length).
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// Middleware for a route whose handler takes small JSON (`/api/v1/match`): the body within
/// `limits.max_json_body_bytes`, or 413 naming it.
pub(crate) async fn within_request_limit(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = read_body(body, &parts.headers, BodyUse::Request, &state.settings.limits).await?;
    Ok(next.run(Request::from_parts(parts, Body::from(bytes))).await)
}

/// The records of a write body: one JSON record, or an NDJSON batch. Runs on the blocking pool
/// (a 64 MiB batch is seconds of work). Every line is read and every error counted, the first
/// `limits.max_listed_errors` listed; nothing is to be written on any error, so valid records
/// are no longer kept once one line is bad. An empty body is an error.
pub(crate) fn parse_records<T: Record>(kind: BodyKind, body: &[u8], limits: &Limits) -> Result<Vec<T>, ApiError> {
    let mut errors = ErrorList::new(limits.max_listed_errors);
    let records = match kind {
        BodyKind::Json => parse_one(body, &mut errors)?,
        BodyKind::Ndjson => parse_batch(body, limits.max_line_bytes, &mut errors)?,
    };
    if !errors.is_empty() {
        return Err(errors.into_error("nothing was written"));
    }
    if records.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRecord, "the body holds no record"));
    }
    Ok(records)
}

fn parse_one<T: Record>(body: &[u8], errors: &mut ErrorList) -> Result<Vec<T>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|err| {
        ApiError::new(ErrorCode::InvalidJson, format!("the body is not UTF-8 (byte {})", err.valid_up_to()))
    })?;
    let (record, mut found) = parse_record_collecting::<T>(text);
    if let Some(record) = &record {
        record.check(RefData::embedded(), &mut found);
    }
    errors.push_line(1, &found);
    Ok(record.into_iter().collect())
}

fn parse_batch<T: Record>(body: &[u8], max_line_bytes: usize, errors: &mut ErrorList) -> Result<Vec<T>, ApiError> {
    let reader: RecordReader<'_, &[u8], T> =
        RecordReader::new(body, RefData::embedded()).with_max_line_bytes(max_line_bytes);
    let mut records = Vec::new();
    for parsed in reader {
        match parsed.map_err(|err| ApiError::internal(&err))? {
            Parsed::Valid { record, .. } if errors.is_empty() => records.push(record),
            Parsed::Valid { .. } => {}
            Parsed::Invalid { line, errors: found } => {
                if errors.is_empty() {
                    // Nothing will be written: free what was kept.
                    records = Vec::new();
                }
                errors.push_line(line, &found);
            }
        }
    }
    Ok(records)
}

/// The errors of a body: the first few listed, all counted.
#[derive(Debug)]
pub(crate) struct ErrorList {
    listed: Vec<ListedError>,
    max_listed: usize,
    error_count: u64,
    invalid_lines: u64,
}

/// One error as the answer lists it.
#[derive(Debug, Serialize)]
struct ListedError {
    line: u64,
    field: String,
    code: &'static str,
    message: String,
}

impl ErrorList {
    pub(crate) fn new(max_listed: usize) -> ErrorList {
        ErrorList { listed: Vec::new(), max_listed, error_count: 0, invalid_lines: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.error_count == 0
    }

    /// Every error of one line.
    pub(crate) fn push_line(&mut self, line: u64, errors: &[FieldError]) {
        if errors.is_empty() {
            return;
        }
        self.invalid_lines += 1;
        for error in errors {
            self.push(line, &error.field, error.code.as_str(), &error.message);
        }
    }

    /// One error; listed while there is room, counted always.
    fn push(&mut self, line: u64, field: &str, code: &'static str, message: &str) {
        self.error_count += 1;
        if self.listed.len() < self.max_listed {
            self.listed.push(ListedError { line, field: field.to_owned(), code, message: message.to_owned() });
        }
    }

    /// 400 `invalid_record`: the first error and the counts in the message; in `details`, the
    /// listed errors, `error_count` and `invalid_lines` (`listed` < `error_count` when some were
    /// left out).
    pub(crate) fn into_error(self, consequence: &str) -> ApiError {
        let first = self.listed.first().map(|e| format!("line {}: field {}: {}", e.line, e.field, e.message));
        let message = match (self.error_count, first) {
            (1, Some(first)) => format!("{first} ({consequence})"),
            (n, Some(first)) => {
                format!("{n} errors on {} line(s); {consequence}. First: {first}", self.invalid_lines)
            }
            (_, None) => format!("invalid records; {consequence}"),
        };
        let details = serde_json::json!({
            "errors": self.listed,
            "error_count": self.error_count,
            "invalid_lines": self.invalid_lines,
        });
        ApiError::new(ErrorCode::InvalidRecord, message).with_details(details)
    }
}

#[cfg(test)]
mod tests {
    use marketlounge_index::record::{Company, ValidationCode};

    use super::*;

    fn limits(max_listed_errors: usize) -> Limits {
        Limits { max_listed_errors, ..crate::settings::Settings::default_settings().limits }
    }

    #[test]
    fn errors_past_the_cap_are_counted_not_listed() {
        let body = "{}\n".repeat(1000);
        let error = parse_records::<Company>(BodyKind::Ndjson, body.as_bytes(), &limits(100)).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRecord);
        let details = error.details.unwrap();
        assert_eq!(details["errors"].as_array().unwrap().len(), 100);
        assert_eq!(details["error_count"], 1000);
        assert_eq!(details["invalid_lines"], 1000);
        assert_eq!(details["errors"][99]["line"], 100);
        assert_eq!(details["errors"][0]["code"], ValidationCode::MissingField.as_str());
        assert!(error.message.starts_with("1000 errors on 1000 line(s)"), "{}", error.message);
    }

    #[test]
    fn one_error_is_the_message() {
        let error = parse_records::<Company>(BodyKind::Json, b"{\"id\": 5}", &limits(100)).unwrap_err();
        assert!(error.message.starts_with("line 1: field id:"), "{}", error.message);
        assert_eq!(error.details.unwrap()["error_count"], 1);
    }
}
