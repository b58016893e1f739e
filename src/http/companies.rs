//! `POST /api/v1/companies` (one JSON record or an NDJSON batch), `GET` and `DELETE
//! /api/v1/companies/{id}`. Writes are durable when answered (write-ahead log, fsynced) and
//! searchable within `index.flush_interval_ms`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use marketlounge_index::ndjson::{Parsed, RecordReader, parse_record_collecting};
use marketlounge_index::record::{Company, FieldError, Record};
use marketlounge_index::refdata::RefData;
use serde::Serialize;

use super::{AppState, BodyKind, blocking, body_kind};
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Serialize)]
pub struct Acknowledged {
    /// Number of records written.
    acknowledged: usize,
    /// Write-ahead-log sequence number of the last one.
    seq: u64,
    /// The records are searchable within this delay.
    visible_within_ms: u64,
}

pub async fn upsert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Acknowledged>, ApiError> {
    let companies: Vec<Company> = parse_records(&headers, &body, state.settings.limits.max_line_bytes)?;
    let count = companies.len();
    let engine = Arc::clone(&state.engine);
    let seq = blocking(move || engine.upsert(companies)).await?.map_err(ApiError::from_index)?;
    Ok(Json(Acknowledged { acknowledged: count, seq, visible_within_ms: state.settings.index.flush_interval_ms }))
}

fn detail(line: u64, error: &FieldError) -> serde_json::Value {
    serde_json::json!({ "line": line, "field": error.field, "code": error.code.as_str(), "message": error.message })
}

fn invalid(details: Vec<serde_json::Value>) -> ApiError {
    let first = details
        .first()
        .and_then(|d| Some(format!("line {}: field {}: {}", d["line"], d["field"].as_str()?, d["message"].as_str()?)));
    let message = match (details.len(), first) {
        (1, Some(first)) => first,
        (n, Some(first)) => format!("{n} errors; nothing was written. First: {first}"),
        (_, None) => "invalid records; nothing was written".into(),
    };
    ApiError::new(ErrorCode::InvalidRecord, message).with_details(serde_json::Value::Array(details))
}

/// The records of a write body: one JSON record, or an NDJSON batch. Every invalid field of every
/// line is reported (and nothing is to be written); an empty body is an error.
pub(crate) fn parse_records<T: Record>(
    headers: &HeaderMap,
    body: &[u8],
    max_line_bytes: usize,
) -> Result<Vec<T>, ApiError> {
    let records = match body_kind(headers)? {
        BodyKind::Json => parse_one(body)?,
        BodyKind::Ndjson => parse_batch(body, max_line_bytes)?,
    };
    if records.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidRecord, "the body holds no record"));
    }
    Ok(records)
}

fn parse_one<T: Record>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|err| {
        ApiError::new(ErrorCode::InvalidJson, format!("the body is not UTF-8 (byte {})", err.valid_up_to()))
    })?;
    let (record, mut errors) = parse_record_collecting::<T>(text);
    if let Some(record) = &record {
        record.check(RefData::embedded(), &mut errors);
    }
    match record {
        Some(record) if errors.is_empty() => Ok(vec![record]),
        _ => Err(invalid(errors.iter().map(|e| detail(1, e)).collect())),
    }
}

fn parse_batch<T: Record>(body: &[u8], max_line_bytes: usize) -> Result<Vec<T>, ApiError> {
    let reader: RecordReader<'_, &[u8], T> =
        RecordReader::new(body, RefData::embedded()).with_max_line_bytes(max_line_bytes);
    let mut records = Vec::new();
    let mut details = Vec::new();
    for parsed in reader {
        match parsed.map_err(|err| ApiError::internal(&err))? {
            Parsed::Valid { record, .. } => records.push(record),
            Parsed::Invalid { line, errors } => details.extend(errors.iter().map(|e| detail(line, e))),
        }
    }
    if details.is_empty() { Ok(records) } else { Err(invalid(details)) }
}

pub async fn get_company(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Company>, ApiError> {
    let engine = Arc::clone(&state.engine);
    let lookup = id.clone();
    let company = blocking(move || engine.get(&lookup)).await?.map_err(ApiError::from_index)?;
    company
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no company with id {}", crate::error::echoed(&id))))
}

#[derive(Debug, Serialize)]
pub struct Deleted {
    deleted: String,
    seq: u64,
}

pub async fn delete_company(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let engine = Arc::clone(&state.engine);
    let target = id.clone();
    let seq = blocking(move || engine.delete(&target)).await?.map_err(ApiError::from_index)?;
    match seq {
        Some(seq) => Ok(Json(Deleted { deleted: id, seq })),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("no company with id {}", crate::error::echoed(&id)))),
    }
}
