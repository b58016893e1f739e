//! `/admin/keys`: what `marketlounge keys` does, on the running server. `POST` creates a key
//! (201: its record and its secret `key`, shown this once), `GET` lists the records (never a
//! secret or a hash), `DELETE /admin/keys/{id}` revokes, `POST /admin/keys/{id}/rotate` gives a
//! new secret. Each write reloads the key cache, so a new key works on the next request and a
//! revoked one stops at once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::body::{BodyUse, read_body};
use super::usage::AuditTarget;
use super::{AppState, BodyKind, blocking, body_kind_in};
use crate::auth::cache::KeyCache;
use crate::auth::store::{KeyRecord, KeySpec};
use crate::auth::{AuthError, KeyKind, Scope};
use crate::error::{ApiError, ErrorCode, echoed};

/// The body of `POST /admin/keys`: the options of `marketlounge keys create`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    /// The billing customer (see `KeyRecord::owner`).
    #[serde(default)]
    owner: Option<String>,
    scopes: Vec<Scope>,
    #[serde(default)]
    publishable: bool,
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    quota: Option<u64>,
    /// A date (`2027-01-01`, UTC midnight) or an RFC 3339 time.
    #[serde(default)]
    expires: Option<String>,
}

/// The key cache, or why there is none: without a server secret (development mode) the server
/// cannot make keys it would check.
fn cache(state: &AppState) -> Result<Arc<KeyCache>, ApiError> {
    state.keys.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            "the server runs without a server secret (development mode): create the first key with `marketlounge keys create` and restart it",
        )
    })
}

/// A 400 naming `field`.
fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidField, format!("field {field}: {message}"))
        .with_details(serde_json::json!({ "field": field }))
}

/// A store error as an answer: the field it is about, a missing key, a revoked one.
fn answer(error: AuthError) -> ApiError {
    match error {
        AuthError::NoScope | AuthError::UnknownScope { .. } | AuthError::ScopeNotPublishable(_) => {
            invalid("scopes", error)
        }
        AuthError::BadOrigin { .. } => invalid("origins", error),
        AuthError::NotPositive { field, .. } | AuthError::BadText { field, .. } => invalid(field, error),
        AuthError::NoSuchKey(id) => ApiError::new(ErrorCode::NotFound, format!("no key {}", echoed(&id))),
        AuthError::Revoked(id) => {
            ApiError::new(ErrorCode::Conflict, format!("key {} is revoked: create a new one", echoed(&id)))
        }
        AuthError::Secret(_) | AuthError::Store { .. } => ApiError::internal(&error),
    }
}

/// The record with its secret, as the CLI's `--json` prints it.
/// A key's record and its secret, shown this once (creation, rotation).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct NewKey {
    #[serde(flatten)]
    pub record: KeyRecord,
    /// The secret key: keep it, the server stores only its HMAC.
    pub key: String,
}

/// `GET /admin/keys`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct KeyList {
    pub keys: Vec<KeyRecord>,
}

fn with_secret(record: &KeyRecord, key: String) -> NewKey {
    NewKey { record: record.clone(), key }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub async fn create(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let keys = cache(&state)?;
    body_kind_in(&headers, &[BodyKind::Json])?;
    let body = read_body(body, &headers, BodyUse::Request, &state.settings.limits).await?;
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let request: CreateKey = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = err.path().to_string();
        let code = if err.inner().is_data() { ErrorCode::InvalidField } else { ErrorCode::InvalidJson };
        ApiError::new(code, format!("field {field}: {}", err.inner()))
            .with_details(serde_json::json!({ "field": field }))
    })?;
    let now = now();
    let expires_at = match &request.expires {
        None => None,
        Some(text) => {
            let at = crate::usage::report::parse_time(text, crate::usage::report::End::From)
                .map_err(|err| invalid("expires", err))?;
            if at <= now {
                return Err(invalid("expires", "is in the past"));
            }
            Some(at)
        }
    };
    let spec = KeySpec {
        name: request.name,
        kind: if request.publishable { KeyKind::Publishable } else { KeyKind::Secret },
        scopes: {
            let mut scopes = request.scopes;
            scopes.sort_unstable();
            scopes.dedup();
            scopes
        },
        origins: request.origins,
        rate: request.rate,
        burst: request.burst,
        quota: request.quota,
        expires_at,
        owner: request.owner,
    };
    spec.check().map_err(answer)?;
    let (record, key) = blocking(move || {
        let created = keys.store().create(&spec, now)?;
        keys.reload()?;
        Ok::<_, AuthError>(created)
    })
    .await?
    .map_err(answer)?;
    let target = AuditTarget(record.id.clone());
    Ok((StatusCode::CREATED, Extension(target), Json(with_secret(&record, key))).into_response())
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<KeyList>, ApiError> {
    let keys = cache(&state)?;
    let records = blocking(move || keys.store().list()).await?.map_err(answer)?;
    Ok(Json(KeyList { keys: records }))
}

pub async fn revoke(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<KeyRecord>, ApiError> {
    let keys = cache(&state)?;
    let record = blocking(move || {
        let record = keys.store().revoke(&id, now())?;
        keys.reload()?;
        Ok::<_, AuthError>(record)
    })
    .await?
    .map_err(answer)?;
    Ok(Json(record))
}

pub async fn rotate(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<NewKey>, ApiError> {
    // A state change: JSON only, even without a body, so a cross-site form cannot rotate a key.
    body_kind_in(&headers, &[BodyKind::Json])?;
    let keys = cache(&state)?;
    let (record, key) = blocking(move || {
        let rotated = keys.store().rotate(&id, now())?;
        keys.reload()?;
        Ok::<_, AuthError>(rotated)
    })
    .await?
    .map_err(answer)?;
    Ok(Json(with_secret(&record, key)))
}
