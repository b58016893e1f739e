//! `POST /api/v1/companies` (one JSON record or an NDJSON batch), `GET` and `DELETE
//! /api/v1/companies/{id}`. Writes are durable when answered (write-ahead log, fsynced) and
//! searchable within the `visible_within_ms` the answer promises (`super::visibility`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use marketlounge_index::record::Company;
use serde::Serialize;

use super::body::{BodyUse, parse_records, read_body};
use super::{AppState, blocking, body_kind};
use crate::error::{ApiError, ErrorCode};

/// A write's answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Acknowledged {
    /// Number of records written.
    acknowledged: usize,
    /// Write-ahead-log sequence number of the last one.
    seq: u64,
    /// The records are searchable within this delay (see `visibility`).
    visible_within_ms: u64,
}

/// One JSON record (within `limits.max_line_bytes`) or an NDJSON batch (within
/// `limits.max_body_bytes`), parsed, checked and logged on the blocking pool.
pub async fn upsert(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Acknowledged>, ApiError> {
    let kind = body_kind(&headers)?;
    let bytes = read_body(body, &headers, BodyUse::of_records(kind), &state.settings.limits).await?;
    let worker = Arc::clone(&state);
    let (count, seq, visible_within_ms) = blocking(move || {
        let companies: Vec<Company> = parse_records(kind, &bytes, &worker.settings.limits)?;
        let count = companies.len();
        let units = worker.visibility.units(&companies);
        let visible_within_ms = worker.visibility.promise_ms(units);
        let seq = worker.engine.upsert(companies).map_err(ApiError::from_index)?;
        worker.visibility.written(units);
        Ok::<_, ApiError>((count, seq, visible_within_ms))
    })
    .await??;
    Ok(Json(Acknowledged { acknowledged: count, seq, visible_within_ms }))
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

/// A delete's answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Deleted {
    /// The id deleted.
    deleted: String,
    /// Write-ahead-log sequence number of the delete.
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
