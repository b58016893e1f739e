//! The HTTP API: routes, shared state and the middleware every request goes through.
//!
//! Invariant: handlers never block the async runtime; anything CPU-heavy runs on the blocking
//! pool. The one deliberate exception is typeahead (`suggest.rs`): once its company indexes are
//! built it answers inline, in microseconds to well under a millisecond, because a hop to the
//! blocking pool would cost more than the answer. Invariant: every error response is JSON with
//! a code from `crate::error::ErrorCode`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::{ApiError, ErrorCode};
use crate::settings::Settings;

mod access_log;
pub mod admin;
mod auth;
pub(crate) mod body;
pub mod companies;
mod connection_io;
mod cors;
mod docs;
pub mod keys;
mod metrics;
mod page;
pub mod rate_limits;
pub mod scoring;
pub mod search;
mod serve;
pub mod suggest;
pub mod tls;
pub mod usage;
pub mod visibility;

pub use serve::{serve, serve_on};

use marketlounge_index::engine::Engine;

/// State shared by all handlers.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub data_dir: std::path::PathBuf,
    pub engine: Arc<Engine>,
    pub tasks: admin::Tasks,
    /// Result of the background checksum scrub: `None` while it runs, then `Ok` or the problem.
    pub scrub: parking_lot::Mutex<Option<Result<(), String>>>,
    /// The query path.
    pub matcher: marketlounge_index::search::Matcher,
    /// Query vectors from the index's own model (cached), when it has one.
    pub query_embedder: Option<marketlounge_index::embed::QueryEmbedder>,
    /// The search slots (as many as the vector index has) and how long a query may wait for one.
    pub search_queue: search::SearchQueue,
    /// Typeahead sources (concepts and places built at start, company names per segment).
    pub suggester: Arc<marketlounge_index::suggest::Suggester>,
    /// The opportunity scorer's store and current model.
    pub scoring: crate::scoring::Scoring,
    /// What a company write's answer promises as `visible_within_ms`, learnt from the flushes.
    pub visibility: visibility::Visibility,
    /// The API keys, when the data directory has a server secret; `None`: development mode,
    /// every route open (`serve` allows it on loopback addresses only).
    pub keys: Option<Arc<crate::auth::cache::KeyCache>>,
    /// The rate limits and monthly quotas of the keys (with `keys`).
    pub limits: Option<Arc<crate::auth::limits::Limits>>,
    /// Usage per key in memory until flushed to `DATA/usage.sqlite`, and the audit log there.
    pub usage: Arc<crate::usage::Usage>,
    /// What the backup schedule has done (`backup.interval_hours`).
    pub backups: crate::backup::BackupStatus,
    /// What `GET /metrics` serves.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    /// Opens the index in `data_dir` (creating an empty one) with the settings' embedder.
    pub fn open(settings: Settings, data_dir: &std::path::Path) -> anyhow::Result<AppState> {
        let options = crate::indexing::engine_options(&settings, settings.index.embedder)?;
        let search_threads = options.search_threads;
        let query_embedder = options.embedder.as_ref().map(|embedder| {
            marketlounge_index::embed::QueryEmbedder::new(Arc::clone(embedder), settings.embedding.query_cache_entries)
        });
        let engine = Engine::open(data_dir, options)
            .map_err(|err| anyhow::anyhow!("opening the index in {}: {err}", data_dir.display()))?;
        let scoring = crate::scoring::Scoring::open(data_dir, &settings.scoring)?;
        let matcher = crate::query::matcher(&settings)?;
        // The search prior is the log-odds relative to the current model's base rate (the
        // settings' `fusion.prior_base_rate` until a model is trained).
        if let Ok(scorer) = scoring.scorer() {
            matcher.set_prior_base_rate(scorer.artefact.base_rate as f32);
        }
        let suggester = Arc::new(marketlounge_index::suggest::Suggester::new(matcher.shared_interpreter()));
        let visibility = visibility::Visibility::new(
            settings.index.flush_interval_ms,
            settings.index.embedder,
            settings.embedding.max_tokens,
            &engine,
        );
        let engine = Arc::new(engine);
        // Company names of the segments already there, off the request path.
        let (warm_suggester, warm_engine) = (Arc::clone(&suggester), Arc::clone(&engine));
        // It reads every stored record once (tens of seconds at a million companies, on one
        // core): the log says when it is done, so that a benchmark can wait for it.
        std::thread::Builder::new().name("suggest-warm".into()).spawn(move || {
            let started = std::time::Instant::now();
            match warm_suggester.warm(&warm_engine.snapshot()) {
                Ok(()) => tracing::info!(seconds = started.elapsed().as_secs_f64(), "typeahead company index warm"),
                Err(err) => tracing::error!(%err, "warming the typeahead index failed"),
            }
        })?;
        let keys = match crate::auth::secret::MasterSecret::load(data_dir)? {
            Some(secret) => {
                let store = crate::auth::store::KeyStore::open(data_dir, secret)?;
                Some(Arc::new(crate::auth::cache::KeyCache::new(store, Duration::from_secs(1))?))
            }
            None => None,
        };
        let limits = match &keys {
            Some(keys) => {
                let trusted = crate::auth::proxies::TrustedProxies::parse(&settings.auth.trusted_proxies)
                    .map_err(anyhow::Error::msg)?;
                let limits = crate::auth::limits::Limits::new(&settings.auth, trusted, Arc::clone(keys))?;
                crate::auth::limits::Limits::start_upkeep(&limits)?;
                Some(limits)
            }
            None => None,
        };
        let usage = Arc::new(crate::usage::Usage::open(data_dir)?);
        let metrics = Arc::new(crate::metrics::Metrics::new(settings.metrics.enabled)?);
        Ok(AppState {
            settings,
            data_dir: data_dir.to_owned(),
            engine,
            tasks: admin::Tasks::default(),
            scrub: parking_lot::Mutex::new(None),
            matcher,
            query_embedder,
            search_queue: search::SearchQueue::new(search_threads),
            suggester,
            scoring,
            visibility,
            keys,
            limits,
            usage,
            backups: crate::backup::BackupStatus::default(),
            metrics,
        })
    }
}

/// The two body formats the write endpoints take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Ndjson,
}

/// The body format from `Content-Type`: JSON, or NDJSON (`application/x-ndjson`,
/// `application/ndjson`, `application/jsonl`); anything else is 415. For the endpoints that
/// take both.
pub(crate) fn body_kind(headers: &axum::http::HeaderMap) -> Result<BodyKind, ApiError> {
    body_kind_in(headers, &[BodyKind::Json, BodyKind::Ndjson])
}

/// The body format from `Content-Type`, if it is one of `accepted`; else a 415 whose message
/// names what this endpoint takes.
pub(crate) fn body_kind_in(headers: &axum::http::HeaderMap, accepted: &[BodyKind]) -> Result<BodyKind, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()));
    let content_type = content_type.as_deref().unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let kind = match essence.as_str() {
        "application/json" => Some(BodyKind::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Some(BodyKind::Ndjson)
        }
        _ => None,
    };
    match kind {
        Some(kind) if accepted.contains(&kind) => Ok(kind),
        _ => {
            let takes: Vec<&str> = accepted
                .iter()
                .map(|kind| match kind {
                    BodyKind::Json => "application/json (one JSON object)",
                    BodyKind::Ndjson => "application/x-ndjson (one JSON object per line)",
                })
                .collect();
            Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "content type {}: this endpoint takes {}",
                    crate::error::echoed(content_type),
                    takes.join(" or ")
                ),
            ))
        }
    }
}

/// A 400 naming the query parameter that is wrong.
pub(crate) fn invalid_param(parameter: &str, message: impl std::fmt::Display) -> ApiError {
    // The name is the client's: cut, so an unknown 60 KB parameter is not sent back whole.
    let parameter = crate::error::truncated(parameter, crate::error::MAX_ECHOED_CHARS);
    ApiError::new(ErrorCode::InvalidField, format!("query parameter {parameter}: {message}"))
        .with_details(serde_json::json!({ "field": parameter }))
}

/// The `name=value` pairs of a raw query string, decoded byte-exactly (`+` is a space): a name
/// or value that is not UTF-8 is a 400 naming it, never a silent U+FFFD.
pub(crate) fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |text: &str, what: &str| -> Result<String, ApiError> {
        let plus = text.replace('+', " ");
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(&plus).collect();
        String::from_utf8(bytes)
            .map_err(|err| invalid_param(what, format!("is not UTF-8 (byte {})", err.utf8_error().valid_up_to())))
    };
    let mut pairs = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name, "name")?;
        let value = decode(value, &name)?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Runs blocking index work on the blocking pool, never on the async workers.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|err| ApiError::internal(&err))
}

/// The application's router, without a socket: tests drive it with `tower::ServiceExt::oneshot`.
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.settings.limits.clone();
    let hosts = Arc::new(state.settings.auth.allowed_hosts.clone());
    // The other handlers with a body read it themselves, within the limit of its use.
    let match_body = middleware::from_fn_with_state(Arc::clone(&state), body::within_request_limit);
    let router = Router::new()
        .route("/", get(page::ui))
        .route("/health", get(health))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .route("/docs/redoc.standalone.js", get(docs::script))
        .route("/metrics", get(metrics::scrape))
        .route("/api/v1/match", post(search::match_companies).layer(match_body))
        .route("/api/v1/suggest", get(suggest::suggest))
        .route("/api/v1/companies", post(companies::upsert))
        .route("/api/v1/companies/{id}", get(companies::get_company).delete(companies::delete_company))
        .route("/admin/reindex", post(admin::reindex))
        .route("/admin/tasks/{task_id}", get(admin::task))
        .route("/admin/snapshot", post(admin::snapshot))
        .route("/admin/priors", post(admin::priors))
        .route("/api/v1/signals", post(scoring::post_signals))
        .route("/api/v1/articles", post(scoring::post_articles))
        .route("/api/v1/outcomes", post(scoring::post_outcomes))
        .route("/api/v1/companies/{id}/opportunity", get(scoring::company_opportunity))
        .route("/api/v1/opportunities/top", get(scoring::top_opportunities))
        // The scoring document's own paths.
        .route("/api/v1/top-opportunities", get(scoring::top_opportunities))
        .route("/api/v1/score", post(scoring::score))
        .route("/admin/scoring/drift", get(scoring::drift))
        .route("/admin/scoring/train", post(scoring::train_task))
        .route("/admin/scoring/apply", post(scoring::apply_task))
        .route("/admin/keys", post(keys::create).get(keys::list))
        .route("/admin/keys/{id}", delete(keys::revoke))
        .route("/admin/keys/{id}/rotate", post(keys::rotate))
        .route("/admin/usage", get(usage::usage_report))
        .route("/admin/audit", get(usage::audit_log));
    // Handlers that panic on purpose, to test that a panic is answered and the server goes on.
    #[cfg(test)]
    let router = router.merge(tests::panicking_routes());
    let cors = middleware::from_fn_with_state(Arc::clone(&state), cors::cors);
    let access = middleware::from_fn_with_state(Arc::clone(&state), access_log::access_log);
    let metrics = Arc::clone(&state.metrics);
    let router = router
        // Every routed request shows its key first (unrouted ones get their 404 or 405).
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), auth::check))
        // Around the check: counts what each key was answered, logs admin actions.
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), usage::meter))
        .route_layer(middleware::from_fn(access_log::remember_route))
        .fallback(not_found)
        .with_state(state)
        // Layers run outside-in from the last one: the request id and its span cover
        // everything, tracing sees everything, `json_errors` then rewrites whatever the panic,
        // limit and timeout layers below it answer.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(limits.request_timeout_ms),
        ))
        .layer(CatchPanicLayer::custom(answer_panic))
        .layer(middleware::from_fn(json_errors))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn_with_state(hosts, host_allowed))
        // One line per request, whoever answered it (a 421 too), inside the request's span.
        .layer(access)
        .layer(middleware::from_fn(request_id));
    // Outermost, so it times and counts every answer (a 421 too); `Router::layer` wraps each
    // route, so the route's template is known here. Left out when recording is off.
    if metrics.recording() { router.layer(crate::metrics::http::RecordLayer(metrics)) } else { router }
}

/// The header that carries a request's id, in the request (the client's, if it sends a usable
/// one) and in the answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives every request an id (the client's `x-request-id` when it is 1 to 64 letters, digits or
/// `-_.:`, else a new one), logs everything about the request inside a span that names it,
/// and echoes it in the answer, so that a client's report finds the server's log lines.
async fn request_id(mut request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let usable = |value: &header::HeaderValue| {
        let bytes = value.as_bytes();
        (1..=64).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    };
    let id = match request.headers().get(REQUEST_ID) {
        Some(value) if usable(value) => value.clone(),
        _ => {
            let id = header::HeaderValue::from_str(&next_request_id()).expect("hex digits and a dash");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let span = tracing::info_span!("request", id = %String::from_utf8_lossy(id.as_bytes()));
    let mut response = next.run(request).instrument(span).await;
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, id);
    // Every answer: no MIME sniffing, no referrer sent on, never shown inside another site's
    // frame.
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(header::HeaderValue::from_static("frame-ancestors 'none'"));
    response
}

/// Refuses a request whose `Host` (its name, whatever the port) is not an allowed one: 421
/// `host_not_allowed`. A DNS-rebinding page reaches this server under its own name, so it never
/// gets past this. Requests without `Host` (HTTP/1.0 tools, tests without a socket) go on.
async fn host_allowed(State(hosts): State<Arc<Vec<String>>>, request: Request, next: Next) -> Response {
    if let Some(host) = request.headers().get(header::HOST)
        && !host_is_allowed(host.as_bytes(), &hosts)
    {
        let name = String::from_utf8_lossy(host.as_bytes());
        return ApiError::new(
            ErrorCode::HostNotAllowed,
            format!(
                "this server does not answer for host {} (auth.allowed_hosts lists the names it answers)",
                crate::error::echoed(&name)
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether `host` (`name[:port]`, `[v6][:port]`) names one of `allowed` (`"*"`: any).
fn host_is_allowed(host: &[u8], allowed: &[String]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else { return false };
    let name = match host.rfind(':') {
        // `[::1]:8080` and `name:8080` lose the port; `[::1]` keeps its brackets.
        Some(colon) if !host[colon..].contains(']') => &host[..colon],
        _ => host,
    };
    allowed.iter().any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(name))
}

/// A new request id: the process's start (seconds, hex) and a counter, unique across restarts
/// that are a second apart.
fn next_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = *STARTED
        .get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    format!("{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The answer to a request whose handler panicked (a bug): 500 `internal`, the panic logged in
/// the request's span (so with its id). The connection and the server go on.
fn answer_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    tracing::error!(panic = message, "a request panicked; answered 500 internal");
    ApiError::new(ErrorCode::Internal, ErrorCode::Internal.default_message()).into_response()
}

/// `GET /health`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the checksum scrub found a corrupt file (see `problem`).
    status: &'static str,
    /// `running`, `ok` or `failed`: the background verification of every segment byte.
    checksums: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    version: &'static str,
    generation: u64,
    documents: u64,
    segments: usize,
    pending_writes: usize,
    /// `enabled` with a server secret (routes need keys), `disabled` in development mode.
    auth: &'static str,
    /// Scheduled backups, when `backup.interval_hours` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<HealthBackup>,
}

/// The backup schedule in `/health`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HealthBackup {
    /// Hours between two backups (`backup.interval_hours`).
    interval_hours: f64,
    /// How many are kept (`backup.keep`).
    keep: usize,
    /// The last one since the server started (`null` before the first).
    last: Option<crate::backup::LastBackup>,
}

async fn health(State(state): State<Arc<AppState>>) -> Json<Health> {
    let snapshot = state.engine.snapshot();
    let (checksums, problem) = match &*state.scrub.lock() {
        None => ("running", None),
        Some(Ok(())) => ("ok", None),
        Some(Err(problem)) => ("failed", Some(problem.clone())),
    };
    Json(Health {
        status: if problem.is_some() { "degraded" } else { "ok" },
        checksums,
        problem,
        version: env!("CARGO_PKG_VERSION"),
        generation: snapshot.generation(),
        documents: snapshot.live_count(),
        segments: snapshot.segments.len(),
        pending_writes: state.engine.pending_count(),
        auth: if state.keys.is_some() { "enabled" } else { "disabled" },
        backup: state.settings.backup.interval_hours.map(|interval_hours| HealthBackup {
            interval_hours,
            keep: state.settings.backup.keep,
            last: state.backups.last(),
        }),
    })
}

/// Background index upkeep: publishes pending writes every `flush_interval` (so they are
/// searchable within it) and merges segments on its own thread (a long merge never delays a
/// flush). Stops, with a last flush, when dropped.
#[derive(Debug)]
pub struct Maintenance {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    engine: Arc<Engine>,
    /// Stopped last, with a last flush of the usage counts (after the last answer).
    usage: Option<crate::usage::Flusher>,
    /// Scheduled backups (`backup.interval_hours`), stopped first.
    backups: Option<crate::backup::Schedule>,
}

impl Maintenance {
    pub fn start(state: &Arc<AppState>, flush_interval: Duration) -> Maintenance {
        use std::sync::atomic::AtomicBool;
        let engine = Arc::clone(&state.engine);
        let stop = Arc::new(AtomicBool::new(false));
        // The open checked sizes and small files; every byte is checked here, in the background,
        // so a million-document index serves within a second of starting.
        let scrubber = {
            let state = Arc::clone(state);
            std::thread::Builder::new()
                .name("scrub".into())
                .spawn(move || {
                    let result = state.engine.scrub().map(|segments| {
                        tracing::info!(segments, "every segment file checksummed");
                    });
                    if let Err(error) = &result {
                        tracing::error!(%error, "checksum scrub found a problem");
                    }
                    *state.scrub.lock() = Some(result.map_err(|e| e.to_string()));
                })
                .expect("spawning the scrub thread")
        };
        let flusher = {
            let state = Arc::clone(state);
            every("flush", flush_interval, &stop, move || {
                // What each flush costs is what the next writes are promised from.
                let units = state.visibility.flush_started();
                let started = std::time::Instant::now();
                let outcome = state.engine.flush();
                if let Ok(true) = outcome {
                    state.metrics.flushed(started.elapsed());
                }
                state.visibility.flush_ended(units, started.elapsed().as_secs_f64() * 1e3, &outcome);
                if let Err(error) = outcome {
                    tracing::error!(%error, "flush failed; the writes stay in the write-ahead log and are retried");
                }
            })
        };
        let merger = {
            let engine = Arc::clone(&engine);
            let metrics = Arc::clone(&state.metrics);
            every("merge", Duration::from_millis(500), &stop, move || {
                let started = std::time::Instant::now();
                match engine.merge_if_needed() {
                    Ok(true) => {
                        metrics.merged(started.elapsed());
                        tracing::info!(segments = engine.snapshot().segments.len(), "segments merged");
                    }
                    Ok(false) => {}
                    Err(error) => tracing::error!(%error, "merge failed; will retry"),
                }
            })
        };
        let retention = Duration::from_secs(u64::from(state.settings.auth.audit_retention_days) * 86_400);
        let usage = crate::usage::Flusher::start(
            Arc::clone(&state.usage),
            state.keys.clone(),
            crate::usage::FLUSH_INTERVAL,
            Some(retention),
        );
        let backups = crate::backup::Schedule::start(state).unwrap_or_else(|err| {
            tracing::error!(%err, "spawning the backup thread failed: no scheduled backups");
            None
        });
        Maintenance { stop, threads: vec![flusher, merger, scrubber], engine, usage: Some(usage), backups }
    }
}

/// Runs `work` on its own thread every `interval` until `stop` is set.
fn every(
    name: &str,
    interval: Duration,
    stop: &Arc<std::sync::atomic::AtomicBool>,
    mut work: impl FnMut() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = Arc::clone(stop);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::sleep(interval);
                work();
            }
        })
        .unwrap_or_else(|err| panic!("spawning the {name} thread: {err}"))
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        drop(self.backups.take());
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Err(error) = self.engine.flush() {
            tracing::error!(%error, "final flush failed; the writes stay in the write-ahead log");
        }
        drop(self.usage.take());
    }
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, ErrorCode::NotFound.default_message())
}

/// Rewrites error responses that are not already JSON (the framework's 405, 413, 408…) into the
/// API's error shape, so clients parse one format whatever produced the error.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let mut rewritten = ApiError::new(code, code.default_message()).into_response();
    // Keep the framework's status (e.g. 411, 416) when our table folds it into a broader code.
    *rewritten.status_mut() = status;
    if let Some(allow) = response.headers().get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod host_tests {
    #[test]
    fn host_names_are_compared_without_their_port() {
        let allowed = super::super::settings::AuthSettings::default().allowed_hosts;
        for host in ["localhost", "localhost:8080", "LOCALHOST:1", "127.0.0.1:7700", "[::1]", "[::1]:7700"] {
            assert!(super::host_is_allowed(host.as_bytes(), &allowed), "{host}");
        }
        for host in ["evil.example", "evil.example:80", "127.0.0.2", "localhost.evil.example", "[::2]:80", ""] {
            assert!(!super::host_is_allowed(host.as_bytes(), &allowed), "{host}");
        }
        assert!(super::host_is_allowed(b"search.example:443", &["*".to_owned()]));
        assert!(!super::host_is_allowed(b"\xff", &allowed));
    }
}
