//! `GET /api/v1/suggest?q=…&k=8&kinds=concept,company,location,query,constraint&fuzzy=true`:
//! typeahead completions.
//!
//! The query string is decoded byte-exactly: a parameter that is not UTF-8, an unknown
//! parameter, a `k` or `kinds` that does not parse, or a `q` that is empty or longer than the
//! limit is a 400 naming the parameter. `k` above the maximum is clamped to it.
//!
//! A signed token's forced filters hold here too: its company suggestions are only the
//! companies `/match` would return to it ([`crate::auth::token`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use marketlounge_index::search::Filters;
use marketlounge_index::suggest::{Kind, SuggestRequest, Suggestion, Suggestions, TOP_MAX};

use super::auth::Caller;
use super::{AppState, blocking, invalid_param as invalid};
use crate::error::{ApiError, echoed};
use crate::usage::ResultCount;

/// Longest `q` accepted, in bytes.
pub const MAX_SUGGEST_QUERY_BYTES: usize = 256;
/// `k` when not given.
pub const DEFAULT_K: usize = 8;

/// The answer of `GET /api/v1/suggest`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct SuggestResponse {
    pub suggestions: Vec<Suggestion>,
    /// Company names of a large new segment are still being indexed for typeahead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    /// The signed token's filters the company suggestions obey (as `/match`'s
    /// `interpretation.forced_filters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_filters: Option<Filters>,
    pub took_us: u64,
}

/// The parameters of a raw query string, or a 400 naming the one that is wrong.
pub fn parse_params(raw: Option<&str>) -> Result<SuggestRequest, ApiError> {
    let mut params = SuggestRequest { q: String::new(), k: DEFAULT_K, kinds: Vec::new(), fuzzy: true };
    let mut seen_q = false;
    for (name, value) in super::query_pairs(raw)? {
        match name.as_str() {
            "q" => {
                if value.len() > MAX_SUGGEST_QUERY_BYTES {
                    return Err(invalid(
                        "q",
                        format!("is {} bytes, the limit is {MAX_SUGGEST_QUERY_BYTES}", value.len()),
                    ));
                }
                params.q = value;
                seen_q = true;
            }
            "k" => {
                let k: usize =
                    value.parse().map_err(|_| invalid("k", format!("{} is not a whole number", echoed(&value))))?;
                if k == 0 {
                    return Err(invalid("k", "must be at least 1"));
                }
                params.k = k.min(TOP_MAX);
            }
            "kinds" => {
                params.kinds = value
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(|k| {
                        Kind::parse(k).ok_or_else(|| {
                            let names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.name()).collect();
                            invalid("kinds", format!("{} is not one of {}", echoed(k), names.join(", ")))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            "fuzzy" => {
                params.fuzzy = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("fuzzy", format!("{} is not true or false", echoed(&value)))),
                };
            }
            other => return Err(invalid(other, "unknown parameter (q, k, kinds, fuzzy)")),
        }
    }
    if !seen_q || params.q.trim().is_empty() {
        return Err(invalid("q", "is required and must not be empty"));
    }
    if params.q.chars().any(|c| c.is_control()) {
        return Err(invalid("q", "contains control characters"));
    }
    Ok(params)
}

pub async fn suggest(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    RawQuery(raw): RawQuery,
) -> Result<(axum::Extension<ResultCount>, Json<SuggestResponse>), ApiError> {
    let started = Instant::now();
    let params = parse_params(raw.as_deref())?;
    let forced_filters = super::search::forced_filters(caller.as_ref());
    let companies_wanted = params.kinds.is_empty() || params.kinds.contains(&Kind::Company);
    if let Some(filters) = &forced_filters
        && companies_wanted
    {
        return suggest_within(state, params, filters.clone(), started).await;
    }
    // Answered inline (lookups take microseconds, typo walks a millisecond at most: a hop to
    // the blocking pool costs more than that in context switches on a loaded machine). Only a
    // segment whose company index is not built yet sends the request to the blocking pool.
    let snapshot = state.engine.snapshot();
    let quick = state.suggester.quick(&snapshot, &params).map_err(|err| ApiError::internal(&err))?;
    let found = match quick {
        Some(found) => found,
        None => {
            let worker = Arc::clone(&state);
            blocking(move || worker.suggester.suggest(&snapshot, &params).map_err(|err| ApiError::internal(&err)))
                .await??
        }
    };
    Ok(answer(&state, found, forced_filters, started))
}

/// Suggestions with company names for a signed token with forced filters: only of the companies
/// they allow, as `/match` would return them. Concepts, places, past queries and constraint
/// completions name no company and are the same for every caller. Computing the allowed set
/// runs a filter query over the snapshot (up to milliseconds on a large index): off the async
/// workers, like a segment's first company index.
async fn suggest_within(
    state: Arc<AppState>,
    params: SuggestRequest,
    filters: Filters,
    started: Instant,
) -> Result<(axum::Extension<ResultCount>, Json<SuggestResponse>), ApiError> {
    let worker = Arc::clone(&state);
    let (found, filters) = blocking(move || {
        let state = worker;
        let snapshot = state.engine.snapshot();
        let allowed = state.matcher.allowed(&snapshot, &filters).map_err(|err| ApiError::internal(&err))?;
        let found = state.suggester.suggest_within(&snapshot, &params, &allowed);
        found.map(|found| (found, filters)).map_err(|err| ApiError::internal(&err))
    })
    .await??;
    Ok(answer(&state, found, Some(filters), started))
}

/// The answer, with the count of suggestions for metering (and the metrics').
fn answer(
    state: &AppState,
    found: Suggestions,
    forced_filters: Option<Filters>,
    started: Instant,
) -> (axum::Extension<ResultCount>, Json<SuggestResponse>) {
    let results = ResultCount::of(found.suggestions.len());
    state.metrics.suggested(&found.suggestions);
    let response = SuggestResponse {
        suggestions: found.suggestions,
        incomplete: found.incomplete,
        forced_filters,
        took_us: started.elapsed().as_micros() as u64,
    };
    (axum::Extension(results), Json(response))
}
