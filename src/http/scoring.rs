//! The opportunity scorer over HTTP:
//!
//! - `POST /api/v1/signals`, `/api/v1/articles`, `/api/v1/outcomes`: one JSON record or an NDJSON batch,
//!   validated like companies (every error by line and field, nothing written on error),
//!   stored durably in one transaction. Articles answer the event type and polarity read from
//!   their text.
//! - `GET /api/v1/companies/{id}/opportunity?as_of=&top=`: probability, score_pct, percentile,
//!   the largest contributions with their feature values, model version and as-of date.
//! - `GET /api/v1/opportunities/top?k=10&naf=&region=&headcount=` (also served as
//!   `/api/v1/top-opportunities`, the scoring document's path): the applied ranking, each with
//!   the same fields.
//! - `POST /api/v1/score`: one company scored as of a date, indexed (`company_id`) or given
//!   whole with its own signals and articles (a prospect not yet indexed), with the same
//!   probability and explanation the stored scores have. Nothing is written.
//! - `GET /admin/scoring/drift`: PSI per feature and of the score against training, as of the
//!   last apply.
//! - `POST /admin/scoring/train` (`{"until"?}`) and `POST /admin/scoring/apply` (`{"as_of"?}`):
//!   what `marketlounge score train` and `score apply` do, as background tasks (one at a time;
//!   `GET /admin/tasks/{id}` has the result), so a running server's scores can be refreshed.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use marketlounge_index::record::parse_id;
use marketlounge_index::record::{Article, HeadcountBand, Signal};
use marketlounge_index::refdata::RefData;
use marketlounge_index::score::ScoreError;
use marketlounge_index::score::features::day_number;
use marketlounge_index::score::scorer::{Contribution, Scorer};
use marketlounge_index::score::store::{Histories, StoredArticle, TopFilter, company_id, history_of_records};
use serde::Serialize;

use super::body::{BodyUse, ErrorList, parse_records, read_body};
use super::{AppState, BodyKind, blocking, body_kind, body_kind_in, invalid_param, query_pairs};
use crate::error::{ApiError, ErrorCode};
use crate::scoring::{CompanyRow, Ingest, today};

/// Contributions shown when `top` is not given.
const DEFAULT_TOP: usize = 5;
/// The longest top list.
const MAX_K: usize = 100;

/// What a signals, articles or outcomes upload stored.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Stored {
    /// Records written.
    acknowledged: usize,
    /// For articles: the event type and polarity used, and whether they were read from the text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    articles: Vec<StoredArticle>,
}

/// One JSON record or an NDJSON batch, read within its limit, then parsed, checked and stored
/// in one transaction on the blocking pool.
async fn store<T: Ingest + Send + 'static>(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Stored>, ApiError> {
    let kind = body_kind(&headers)?;
    let bytes = read_body(body, &headers, BodyUse::of_records(kind), &state.settings.limits).await?;
    let stored = blocking(move || {
        let records: Vec<T> = parse_records(kind, &bytes, &state.settings.limits)?;
        let mut articles = Vec::new();
        state
            .scoring
            .store
            .write_batch(|inserter| {
                for record in &records {
                    articles.extend(record.insert(inserter)?);
                }
                Ok(true)
            })
            .map_err(score_error)?;
        Ok::<_, ApiError>(Stored { acknowledged: records.len(), articles })
    })
    .await??;
    Ok(Json(stored))
}

pub async fn post_signals(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Stored>, ApiError> {
    store::<Signal>(state, headers, body).await
}

pub async fn post_outcomes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Stored>, ApiError> {
    store::<marketlounge_index::record::Outcome>(state, headers, body).await
}

pub async fn post_articles(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Stored>, ApiError> {
    store::<Article>(state, headers, body).await
}

fn score_error(err: ScoreError) -> ApiError {
    match err {
        ScoreError::Invalid(message) => ApiError::new(ErrorCode::InvalidRecord, message),
        ScoreError::NoModel(_) | ScoreError::SchemaMismatch { .. } | ScoreError::Artefact { .. } => no_model(&err),
        other => ApiError::internal(&other),
    }
}

/// 503 `model_unavailable` saying what to run. The error's own message names files of the
/// data directory: it stays in the log (written when the model was loaded), the client gets
/// the same advice without the paths.
fn no_model(err: &ScoreError) -> ApiError {
    let message = match err {
        ScoreError::NoModel(_) => "no opportunity model yet: train one with `marketlounge score train`".to_owned(),
        ScoreError::SchemaMismatch { version, found, expected, .. } => format!(
            "model {version} was trained on feature schema {found}, but this build computes {expected}; train a new model with `marketlounge score train`"
        ),
        _ => "the current opportunity model does not load (the server log says why): train a new one with `marketlounge score train`"
            .to_owned(),
    };
    ApiError::new(ErrorCode::ModelUnavailable, message)
}

/// One company's opportunity.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Opportunity {
    pub company_id: String,
    pub probability: f64,
    pub score_pct: f64,
    /// Share of scored companies (at the last apply) with a lower probability, in percent.
    pub percentile: Option<f64>,
    pub logit: f64,
    /// The log-odds of a company with average features; baseline + Σ contributions = logit.
    pub baseline: f64,
    /// The largest contributions (log-odds), with the feature values.
    pub contributions: Vec<Contribution>,
    pub model_version: String,
    pub as_of: String,
}

fn explain(
    state: &AppState,
    scorer: &Scorer,
    row: &CompanyRow,
    as_of: jiff::civil::Date,
    top: usize,
    percentile: Option<f64>,
) -> Result<Opportunity, ApiError> {
    let histories = state.scoring.store.history_of(row.company).map_err(score_error)?;
    explain_with(state, scorer, row, &histories, as_of, top, percentile)
}

/// [`explain`] with the company's history given.
fn explain_with(
    state: &AppState,
    scorer: &Scorer,
    row: &CompanyRow,
    histories: &Histories,
    as_of: jiff::civil::Date,
    top: usize,
    percentile: Option<f64>,
) -> Result<Opportunity, ApiError> {
    let explanation = scorer.explain(day_number(as_of), &row.firm, histories.get(row.company));
    let percentile = match percentile {
        Some(p) => Some(p),
        None => state.scoring.store.percentile_of(explanation.probability).map_err(score_error)?,
    };
    let mut contributions = explanation.contributions;
    contributions.truncate(top);
    Ok(Opportunity {
        company_id: company_id(row.company),
        probability: explanation.probability,
        score_pct: explanation.score_pct,
        percentile,
        logit: explanation.logit,
        baseline: explanation.baseline,
        contributions,
        model_version: scorer.artefact.version.clone(),
        as_of: as_of.to_string(),
    })
}

/// The as-of date of the last apply, else today.
fn default_as_of(state: &AppState) -> Result<jiff::civil::Date, ApiError> {
    let applied = state.scoring.store.meta("as_of").map_err(score_error)?;
    Ok(applied.and_then(|d| d.parse().ok()).unwrap_or_else(|| jiff::Zoned::now().date()))
}

fn parse_top(value: &str) -> Result<usize, ApiError> {
    value.parse::<usize>().map_err(|_| invalid_param("top", format!("{value:?} is not a whole number")))
}

pub async fn company_opportunity(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Opportunity>, ApiError> {
    let mut as_of = None;
    let mut top = DEFAULT_TOP;
    for (name, value) in query_pairs(raw.as_deref())? {
        match name.as_str() {
            "as_of" => {
                as_of = Some(
                    value
                        .parse::<jiff::civil::Date>()
                        .map_err(|_| invalid_param("as_of", format!("{value:?} is not a date (YYYY-MM-DD)")))?,
                )
            }
            "top" => top = parse_top(&value)?,
            other => return Err(invalid_param(other, "unknown parameter (as_of, top)")),
        }
    }
    if parse_id(&id).is_none() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no company with id {} (ids are 9 digits)", crate::error::echoed(&id)),
        ));
    }
    let scorer = state.scoring.scorer().map_err(|err| no_model(&err))?;
    let worker = Arc::clone(&state);
    let opportunity = blocking(move || {
        let company = worker.engine.get(&id).map_err(ApiError::from_index)?.ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, format!("no company with id {}", crate::error::echoed(&id)))
        })?;
        let row = CompanyRow::of(&company).ok_or_else(|| ApiError::internal(&"a stored id does not parse"))?;
        let as_of = match as_of {
            Some(date) => date,
            None => default_as_of(&worker)?,
        };
        explain(&worker, &scorer, &row, as_of, top, None)
    })
    .await??;
    Ok(Json(opportunity))
}

/// The best opportunities at the last apply.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TopOpportunities {
    pub opportunities: Vec<Opportunity>,
    /// The model that ranked the list (at the last apply); each entry's explanation comes
    /// from the current model.
    pub model_version: String,
    pub as_of: String,
}

fn parse_top_filter(raw: Option<&str>) -> Result<(usize, TopFilter), ApiError> {
    let mut k = 10;
    let mut filter = TopFilter::default();
    for (name, value) in query_pairs(raw)? {
        match name.as_str() {
            "k" => {
                k = value
                    .parse::<usize>()
                    .map_err(|_| invalid_param("k", format!("{value:?} is not a whole number")))?;
                if k == 0 {
                    return Err(invalid_param("k", "must be at least 1"));
                }
                k = k.min(MAX_K);
            }
            "naf" if value.is_empty() => {}
            "naf" => {
                let valid_section =
                    value.len() == 1 && value.as_bytes()[0].is_ascii_uppercase() && value.as_str() <= "U";
                let valid_code =
                    RefData::embedded().naf.keys().any(|code| code.starts_with(value.as_str())) && value.len() >= 2;
                if !valid_section && !valid_code {
                    return Err(invalid_param(
                        "naf",
                        format!(
                            "{value:?} is neither a NAF section (A–U) nor the start of a NAF code (\"25\", \"25.62B\")"
                        ),
                    ));
                }
                filter.naf = Some(value);
            }
            "region" if value.is_empty() => {}
            "region" => {
                if !RefData::embedded().is_region(&value) {
                    return Err(invalid_param(
                        "region",
                        format!("{value:?} is not a région name (e.g. \"Auvergne-Rhône-Alpes\")"),
                    ));
                }
                filter.region = Some(value);
            }
            "headcount" => {
                for band in value.split(',').filter(|b| !b.is_empty()) {
                    let parsed: Result<HeadcountBand, _> = serde_json::from_value(serde_json::json!(band));
                    if parsed.is_err() {
                        return Err(invalid_param(
                            "headcount",
                            format!("{band:?} is not a headcount band (\"0\", \"1-2\", \"3-5\", … \"10000+\")"),
                        ));
                    }
                    filter.headcount.push(band.to_owned());
                }
            }
            other => return Err(invalid_param(other, "unknown parameter (k, naf, region, headcount)")),
        }
    }
    Ok((k, filter))
}

pub async fn top_opportunities(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TopOpportunities>, ApiError> {
    let (k, filter) = parse_top_filter(raw.as_deref())?;
    let scorer = state.scoring.scorer().map_err(|err| no_model(&err))?;
    let worker = Arc::clone(&state);
    let answer = blocking(move || {
        let store = &worker.scoring.store;
        let applied = store.meta("model_version").map_err(score_error)?;
        let Some(applied) = applied else {
            return Err(ApiError::new(
                ErrorCode::ModelUnavailable,
                "no scores applied yet: run `marketlounge score apply`",
            ));
        };
        let as_of = default_as_of(&worker)?;
        let rows = store.top(k, &filter).map_err(score_error)?;
        let snapshot = worker.engine.snapshot();
        let mut opportunities = Vec::with_capacity(rows.len());
        for row in rows {
            let id = company_id(row.company);
            // A company deleted since the apply drops out of the list.
            let Some(company) = snapshot.get(&id).map_err(ApiError::from_index)? else { continue };
            let Some(company_row) = CompanyRow::of(&company) else { continue };
            opportunities.push(explain(&worker, &scorer, &company_row, as_of, DEFAULT_TOP, Some(row.percentile))?);
        }
        Ok(TopOpportunities { opportunities, model_version: applied, as_of: as_of.to_string() })
    })
    .await??;
    Ok(Json(answer))
}

/// The body of `POST /api/v1/score`: `company_id` (an indexed company, scored from its stored
/// history) or `company` (a whole company record, with its own `signals` and `articles`: a
/// prospect not indexed yet). Nothing is written.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    /// An indexed company's id (9 digits).
    company_id: Option<String>,
    /// A whole company record, checked as on `POST /api/v1/companies` (every error by field).
    #[schemars(with = "Option<marketlounge_index::record::Company>")]
    company: Option<serde_json::Value>,
    /// The given company's signals (only with `company`; each its `company_id`).
    #[serde(default)]
    #[schemars(with = "Vec<Signal>")]
    signals: Vec<serde_json::Value>,
    /// The given company's articles (only with `company`); event type and polarity are read
    /// from the text when absent.
    #[serde(default)]
    #[schemars(with = "Vec<Article>")]
    articles: Vec<serde_json::Value>,
    /// The date to score as of (default: the last apply's, else today).
    as_of: Option<jiff::civil::Date>,
    /// How many contributions to show (default 5).
    top: Option<usize>,
}

/// Where a scored company came from.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScoreSource {
    /// The index's record and the stored history.
    Indexed,
    /// The request's company record and its own signals and articles.
    Given,
}

/// What `POST /api/v1/score` answers: the opportunity, and for a prospect what was read from
/// its articles.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Scored {
    #[serde(flatten)]
    pub opportunity: Opportunity,
    pub source: ScoreSource,
    /// For a given company: each article's event type and polarity, as given or read from its
    /// text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub articles: Vec<StoredArticle>,
}

/// A company given whole, with its history, checked like the records of the write endpoints.
struct Prospect {
    company: marketlounge_index::record::Company,
    signals: Vec<Signal>,
    articles: Vec<Article>,
}

/// A body that does not deserialise: 400 `invalid_json`, or `invalid_field` naming the field
/// (an unknown one by its name).
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let mut field = err.path().to_string();
    let inner = err.into_inner();
    let message = inner.to_string();
    if let Some(name) = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()) {
        field = name.to_owned();
    }
    if inner.is_syntax() || inner.is_eof() {
        ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {inner}"))
    } else {
        ApiError::new(ErrorCode::InvalidField, format!("field {field}: {inner}"))
            .with_details(serde_json::json!({ "field": field }))
    }
}

fn parse_score_request(body: &[u8]) -> Result<ScoreRequest, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: ScoreRequest = serde_path_to_error::deserialize(&mut deserializer).map_err(body_error)?;
    deserializer
        .end()
        .map_err(|err| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {err}")))?;
    let field_error = |field: &str, message: &str| {
        ApiError::new(ErrorCode::InvalidField, format!("field {field}: {message}"))
            .with_details(serde_json::json!({ "field": field }))
    };
    match (&request.company_id, &request.company) {
        (Some(_), Some(_)) => {
            return Err(field_error("company", "give `company_id` (an indexed company) or `company`, not both"));
        }
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidField,
                "field company_id: missing: give `company_id` (an indexed company) or `company` (a whole company record)",
            )
            .with_details(serde_json::json!({ "field": "company_id" })));
        }
        (Some(_), None) if !request.signals.is_empty() => {
            return Err(field_error(
                "signals",
                "only with `company`: an indexed company is scored from its stored history",
            ));
        }
        (Some(_), None) if !request.articles.is_empty() => {
            return Err(field_error(
                "articles",
                "only with `company`: an indexed company is scored from its stored history",
            ));
        }
        _ => {}
    }
    Ok(request)
}

/// Checks one embedded record like a line of a batch; its errors are pushed with their field
/// paths under `prefix` (`signals[2].date`).
fn check_embedded<T: marketlounge_index::record::Record>(
    value: &serde_json::Value,
    prefix: &str,
    found: &mut Vec<marketlounge_index::record::FieldError>,
) -> Option<T> {
    let text = value.to_string();
    let (record, mut errors) = marketlounge_index::ndjson::parse_record_collecting::<T>(&text);
    if let Some(record) = &record {
        record.check(RefData::embedded(), &mut errors);
    }
    for mut error in errors {
        error.field = if error.field == "$" { prefix.to_owned() } else { format!("{prefix}.{}", error.field) };
        found.push(error);
    }
    record
}

fn parse_prospect(request: &ScoreRequest, max_listed: usize) -> Result<Prospect, ApiError> {
    use marketlounge_index::record::{FieldError, ValidationCode};
    let mut found: Vec<FieldError> = Vec::new();
    let company = request
        .company
        .as_ref()
        .and_then(|value| check_embedded::<marketlounge_index::record::Company>(value, "company", &mut found));
    // Events of another company would be scored as this one's.
    let company_id = company.as_ref().map(|company| company.id.clone());
    let check_owner = |owner: &str, field: String, found: &mut Vec<FieldError>| {
        if let Some(id) = &company_id
            && owner != id
        {
            found.push(FieldError::new(
                field,
                ValidationCode::InvalidValue,
                format!("must be the scored company's id, {id}"),
            ));
        }
    };
    let mut signals = Vec::with_capacity(request.signals.len());
    for (i, value) in request.signals.iter().enumerate() {
        if let Some(signal) = check_embedded::<Signal>(value, &format!("signals[{i}]"), &mut found) {
            check_owner(&signal.company_id, format!("signals[{i}].company_id"), &mut found);
            signals.push(signal);
        }
    }
    let mut articles = Vec::with_capacity(request.articles.len());
    for (i, value) in request.articles.iter().enumerate() {
        if let Some(article) = check_embedded::<Article>(value, &format!("articles[{i}]"), &mut found) {
            check_owner(&article.company_id, format!("articles[{i}].company_id"), &mut found);
            articles.push(article);
        }
    }
    if !found.is_empty() {
        let mut errors = ErrorList::new(max_listed);
        errors.push_line(1, &found);
        return Err(errors.into_error("nothing was scored"));
    }
    let company = company.ok_or_else(|| ApiError::internal(&"a company without errors did not parse"))?;
    Ok(Prospect { company, signals, articles })
}

/// `POST /api/v1/score`: one company's opportunity as of a date, from the index or from the
/// body; nothing is written.
pub async fn score(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Scored>, ApiError> {
    body_kind_in(&headers, &[BodyKind::Json])?;
    let bytes = read_body(body, &headers, BodyUse::Record, &state.settings.limits).await?;
    let request = parse_score_request(&bytes)?;
    let top = request.top.unwrap_or(DEFAULT_TOP);
    if let Some(id) = &request.company_id
        && parse_id(id).is_none()
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no company with id {} (ids are 9 digits)", crate::error::echoed(id)),
        ));
    }
    let prospect = match request.company {
        Some(_) => Some(parse_prospect(&request, state.settings.limits.max_listed_errors)?),
        None => None,
    };
    let scorer = state.scoring.scorer().map_err(|err| no_model(&err))?;
    let worker = Arc::clone(&state);
    let company_id = request.company_id;
    let as_of = request.as_of;
    blocking(move || {
        let as_of = match as_of {
            Some(date) => date,
            None => default_as_of(&worker)?,
        };
        match (prospect, company_id) {
            (Some(prospect), _) => {
                let row = CompanyRow::of(&prospect.company)
                    .ok_or_else(|| ApiError::internal(&"a checked company id does not parse"))?;
                let (histories, articles) = history_of_records(row.company, &prospect.signals, &prospect.articles);
                let opportunity = explain_with(&worker, &scorer, &row, &histories, as_of, top, None)?;
                Ok(Json(Scored { opportunity, source: ScoreSource::Given, articles }))
            }
            (None, Some(id)) => {
                let company = worker.engine.get(&id).map_err(ApiError::from_index)?.ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound, format!("no company with id {}", crate::error::echoed(&id)))
                })?;
                let row = CompanyRow::of(&company).ok_or_else(|| ApiError::internal(&"a stored id does not parse"))?;
                let opportunity = explain(&worker, &scorer, &row, as_of, top, None)?;
                Ok(Json(Scored { opportunity, source: ScoreSource::Indexed, articles: Vec::new() }))
            }
            (None, None) => Err(ApiError::internal(&"a score request without a company passed its check")),
        }
    })
    .await?
}

/// Drift at the last apply.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Drift {
    pub model_version: Option<String>,
    pub as_of: Option<String>,
    /// When the scores were applied (RFC 3339).
    pub applied_at: Option<String>,
    /// The scores' population stability against the training data (PSI and its reading).
    pub score: serde_json::Value,
    /// Each feature's population stability.
    pub features: serde_json::Value,
}

pub async fn drift(State(state): State<Arc<AppState>>) -> Result<Json<Drift>, ApiError> {
    let worker = Arc::clone(&state);
    blocking(move || {
        let store = &worker.scoring.store;
        let drift = store.meta("drift").map_err(score_error)?.ok_or_else(|| {
            ApiError::new(ErrorCode::ModelUnavailable, "no scores applied yet: run `marketlounge score apply`")
        })?;
        let drift: serde_json::Value = serde_json::from_str(&drift).map_err(|err| ApiError::internal(&err))?;
        Ok(Json(Drift {
            model_version: store.meta("model_version").map_err(score_error)?,
            as_of: store.meta("as_of").map_err(score_error)?,
            applied_at: store.meta("applied_at").map_err(score_error)?,
            score: drift["score"].clone(),
            features: drift["features"].clone(),
        }))
    })
    .await?
}

/// The body of the scoring tasks: dates, all optional.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoringJob {
    /// `train`: learn from outcomes observed by this date (default today).
    until: Option<jiff::civil::Date>,
    /// `apply`: score as of this date (default today).
    as_of: Option<jiff::civil::Date>,
}

fn parse_job(body: &[u8], allowed: &str) -> Result<ScoringJob, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ScoringJob::default());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let job: ScoringJob = serde_path_to_error::deserialize(&mut deserializer).map_err(body_error)?;
    let extra = if allowed == "until" {
        job.as_of.is_some().then_some("as_of")
    } else {
        job.until.is_some().then_some("until")
    };
    if let Some(field) = extra {
        return Err(ApiError::new(ErrorCode::InvalidField, format!("field {field}: not used here (only {allowed})"))
            .with_details(serde_json::json!({ "field": field })));
    }
    Ok(job)
}

/// Runs `work` as a background scoring task; one at a time.
fn spawn_task(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> anyhow::Result<serde_json::Value> + Send + 'static,
) -> Result<(axum::http::StatusCode, Json<super::admin::Accepted>), ApiError> {
    let task_id = state
        .tasks
        .start_exclusive("scoring", None)
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "a scoring task is already running"))?;
    let worker = Arc::clone(state);
    std::thread::Builder::new()
        .name(format!("scoring-{task_id}"))
        .spawn(move || {
            let started = std::time::Instant::now();
            worker.tasks.update(task_id, |t| t.status = super::admin::TaskStatus::Processing);
            let outcome = work(&worker);
            worker.tasks.update(task_id, |t| {
                t.elapsed_seconds = started.elapsed().as_secs_f64();
                match outcome {
                    Ok(result) => {
                        t.status = super::admin::TaskStatus::Succeeded;
                        t.result = Some(result);
                    }
                    Err(err) => {
                        tracing::error!(task_id, err = format!("{err:#}"), "scoring task failed");
                        t.status = super::admin::TaskStatus::Failed;
                        t.error = Some(format!("{err:#}"));
                    }
                }
            });
        })
        .map_err(|err| ApiError::internal(&err))?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(super::admin::Accepted { task_id, status_url: format!("/admin/tasks/{task_id}") }),
    ))
}

pub async fn train_task(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(axum::http::StatusCode, Json<super::admin::Accepted>), ApiError> {
    // JSON only, even empty: a cross-site form or text/plain fetch cannot start a task.
    super::body_kind_in(&headers, &[super::BodyKind::Json])?;
    let body = read_body(body, &headers, BodyUse::Request, &state.settings.limits).await?;
    let job = parse_job(&body, "until")?;
    spawn_task(&state, move |state| {
        let scoring = &state.scoring;
        let data = scoring.dataset(&crate::scoring::companies_of_index(&state.engine.snapshot())?)?;
        let (artefact, _) = scoring.train(&data, job.until.unwrap_or_else(today))?;
        state.matcher.set_prior_base_rate(artefact.base_rate as f32);
        Ok(serde_json::json!({
            "version": artefact.version, "training": artefact.training, "metrics": artefact.metrics,
            "base_rate": artefact.base_rate, "calibration": artefact.calibrator.kind(),
        }))
    })
}

pub async fn apply_task(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(axum::http::StatusCode, Json<super::admin::Accepted>), ApiError> {
    // JSON only, even empty: a cross-site form or text/plain fetch cannot start a task.
    super::body_kind_in(&headers, &[super::BodyKind::Json])?;
    let body = read_body(body, &headers, BodyUse::Request, &state.settings.limits).await?;
    let job = parse_job(&body, "as_of")?;
    spawn_task(&state, move |state| {
        state.scoring.reload();
        if let Ok(scorer) = state.scoring.scorer() {
            state.matcher.set_prior_base_rate(scorer.artefact.base_rate as f32);
        }
        let report = crate::scoring::apply(&state.scoring, &state.engine, job.as_of.unwrap_or_else(today))?;
        Ok(serde_json::to_value(report)?)
    })
}
