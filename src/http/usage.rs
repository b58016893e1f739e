//! Metering and auditing around the access check, and their two read routes:
//! `GET /admin/usage?key=&from=&to=&granularity=hour|day|month` and
//! `GET /admin/audit?from=&to=&limit=`.
//!
//! The layer runs outside [`super::auth::check`]: the check leaves the [`Caller`] on every
//! answer to a known key (a refusal for lack of scope has none: no key was used), so the layer
//! counts what the caller was answered, 429s included; `match` and `suggest` leave a
//! [`ResultCount`]. An audited action (a state change of the admin scope, a delete) is written
//! to the log before its answer goes out.

use std::sync::Arc;

use axum::Json;
use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::auth::{Caller, client_ip};
use super::{AppState, blocking, invalid_param, query_pairs};
use crate::error::{ApiError, ErrorCode};
use crate::usage::ResultCount;
use crate::usage::audit::{ACTOR_DEV_MODE, AuditEntry, action_of, ip_prefix, path_target};
use crate::usage::meter::hour_of;
use crate::usage::report::{End, Granularity, KeyReport, parse_time, rfc3339, summarize};

/// The target of an audited action that its path does not name (the id of a new key): a
/// response extension its handler sets.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// Counts every answer to a known caller; writes audited actions to the log.
pub async fn meter(
    State(state): State<Arc<AppState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let method = if request.method() == axum::http::Method::HEAD { "GET" } else { request.method().as_str() };
    let audited = matched.as_ref().and_then(|path| {
        let action = action_of(method, path.as_str())?;
        let request_id = request.headers().get(super::REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Some((action, path_target(path.as_str(), request.uri().path()), request_id, client_ip(&request)))
    });
    let response = next.run(request).await;
    let caller = response.extensions().get::<Caller>();
    if let Some(caller) = caller {
        let results = response.extensions().get::<ResultCount>().map_or(0, |count| count.0);
        state.usage.record(&caller.key.id, caller.scope, response.status().as_u16(), results);
    }
    let Some((action, path_target, request_id, ip)) = audited else { return response };
    let actor = match (caller, &state.keys) {
        (Some(caller), _) => caller.key.id.clone(),
        (None, None) => ACTOR_DEV_MODE.to_owned(),
        // Refused before its handler (no key, a dead key, another scope): nothing was done.
        (None, Some(_)) => return response,
    };
    let target = response.extensions().get::<AuditTarget>().map(|target| target.0.clone()).or(path_target);
    let entry = AuditEntry {
        id: 0,
        at_ms: jiff::Timestamp::now().as_millisecond(),
        actor,
        ip_prefix: ip_prefix(ip),
        action,
        target,
        status: Some(response.status().as_u16()),
        request_id,
    };
    let worker = Arc::clone(&state);
    let written = blocking(move || {
        if let Err(error) = worker.usage.store().append_audit(&entry) {
            // The action is done: its answer still goes out, and the log says loudly what the
            // audit log is missing.
            tracing::error!(
                %error,
                actor = entry.actor,
                action = entry.action,
                target = entry.target,
                status = entry.status,
                "writing the audit log failed"
            );
        }
    })
    .await;
    if let Err(error) = written {
        tracing::error!(?error, "writing the audit log failed");
    }
    response
}

/// `GET /admin/usage`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UsageAnswer {
    pub from: String,
    pub to: String,
    pub granularity: Granularity,
    pub keys: Vec<KeyReport>,
}

/// `GET /admin/usage`: per key (or one key), buckets of requests by scope, results, errors and
/// 429s, the counts not flushed yet included. `from` defaults to the start of the current UTC
/// month, `to` to now; an hour is in the range when it starts in it.
pub async fn usage_report(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<UsageAnswer>, ApiError> {
    let now = jiff::Timestamp::now().as_second();
    let (mut from, mut to, mut granularity, mut key) = (None, None, Granularity::Day, None);
    for (name, value) in query_pairs(raw.as_deref())? {
        match name.as_str() {
            "from" => from = Some(parse_time(&value, End::From).map_err(|err| invalid_param("from", err))?),
            "to" => to = Some(parse_time(&value, End::To).map_err(|err| invalid_param("to", err))?),
            "granularity" => granularity = value.parse().map_err(|err| invalid_param("granularity", err))?,
            "key" => key = Some(value),
            other => return Err(invalid_param(other, "unknown parameter (key, from, to, granularity)")),
        }
    }
    let from = from.unwrap_or_else(|| Granularity::Month.bucket_of(hour_of(now)));
    // The hour under way is in: `to` defaults to just after now.
    let to = to.unwrap_or(now + 1);
    if from >= to {
        return Err(invalid_param("to", format!("{} is not after from ({})", rfc3339(to), rfc3339(from))));
    }
    let worker = Arc::clone(&state);
    let keys = blocking(move || worker.keys.as_ref().map(|keys| keys.store().list()).transpose())
        .await?
        .map_err(|err| ApiError::internal(&err))?
        .unwrap_or_default();
    if let Some(key) = &key
        && !keys.iter().any(|record| &record.id == key)
    {
        return Err(ApiError::new(ErrorCode::NotFound, format!("no key {}", crate::error::echoed(key)))
            .with_details(serde_json::json!({ "field": "key" })));
    }
    let worker = Arc::clone(&state);
    let filter = key.clone();
    // Hours starting in [from, to): the first whole hour at or after `from`.
    let first_hour = hour_of(from + 3599);
    let rows = blocking(move || worker.usage.rows(first_hour, to, filter.as_deref()))
        .await?
        .map_err(|err| ApiError::internal(&err))?;
    let mut reports = summarize(&rows, granularity, &keys);
    if let Some(key) = key
        && reports.is_empty()
    {
        let record = keys.iter().find(|record| record.id == key);
        reports.push(KeyReport {
            name: record.map(|r| r.name.clone()),
            owner: record.and_then(|r| r.owner.clone()),
            key,
            totals: Default::default(),
            buckets: Vec::new(),
        });
    }
    Ok(Json(UsageAnswer { from: rfc3339(from), to: rfc3339(to), granularity, keys: reports }))
}

/// An audit entry as `/admin/audit` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditView {
    pub id: i64,
    /// RFC 3339 UTC, to the millisecond.
    pub at: String,
    pub actor: String,
    pub ip_prefix: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
}

/// `GET /admin/audit`: newest first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditView>,
}

/// Entries shown when `limit` is not given, and the most one answer shows.
const DEFAULT_AUDIT_LIMIT: usize = 100;
const MAX_AUDIT_LIMIT: usize = 1000;

/// `GET /admin/audit`: the log's entries of `[from, to)`, newest first, at most `limit`.
pub async fn audit_log(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditLog>, ApiError> {
    let (mut from_ms, mut to_ms, mut limit) = (i64::MIN, i64::MAX, DEFAULT_AUDIT_LIMIT);
    for (name, value) in query_pairs(raw.as_deref())? {
        match name.as_str() {
            "from" => from_ms = parse_time(&value, End::From).map_err(|err| invalid_param("from", err))? * 1000,
            "to" => to_ms = parse_time(&value, End::To).map_err(|err| invalid_param("to", err))? * 1000,
            "limit" => {
                limit = value.parse().ok().filter(|n| (1..=MAX_AUDIT_LIMIT).contains(n)).ok_or_else(|| {
                    invalid_param("limit", format!("must be a whole number from 1 to {MAX_AUDIT_LIMIT}"))
                })?;
            }
            other => return Err(invalid_param(other, "unknown parameter (from, to, limit)")),
        }
    }
    let worker = Arc::clone(&state);
    let entries = blocking(move || worker.usage.store().audit(from_ms, to_ms, limit))
        .await?
        .map_err(|err| ApiError::internal(&err))?;
    let entries: Vec<AuditView> = entries
        .into_iter()
        .map(|entry| AuditView {
            id: entry.id,
            at: jiff::Timestamp::from_millisecond(entry.at_ms)
                .map_or_else(|_| entry.at_ms.to_string(), |t| format!("{t:.3}")),
            actor: entry.actor,
            ip_prefix: entry.ip_prefix,
            action: entry.action,
            target: entry.target,
            status: entry.status,
            request_id: entry.request_id,
        })
        .collect();
    Ok(Json(AuditLog { entries }))
}
