//! `POST /api/v1/match`: the query path over HTTP. The body is one JSON object
//! ([`MatchRequest`]); unknown fields, wrong types and out-of-range values are 400s naming the
//! field. Interpretation, embedding and retrieval run on the blocking pool, at most as many
//! at once as the vector index has search slots; a query that waits too long for one is
//! answered 503 `overloaded` ([`SearchQueue`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use marketlounge_index::search::{Filters, MatchRequest, MatchResponse, RequestError, SearchError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

use super::auth::Caller;
use super::{AppState, BodyKind, blocking, body_kind_in};
use crate::error::{ApiError, ErrorCode};
use crate::usage::ResultCount;

pub async fn match_companies(
    State(state): State<Arc<AppState>>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(axum::Extension<ResultCount>, Json<MatchResponse>), ApiError> {
    body_kind_in(&headers, &[BodyKind::Json])?;
    let mut request = parse_request(&body)?;
    state.matcher.check(&request).map_err(field_error)?;
    // A signed token's filters are ANDed with the request's: the body cannot widen them.
    request.forced_filters = forced_filters(caller.as_ref());
    let permit = match state.search_queue.admit(state.settings.limits.queue_timeout_ms).await {
        Ok(permit) => permit,
        Err(error) => {
            if error.code == ErrorCode::Overloaded {
                state.metrics.search_shed();
            }
            return Err(error);
        }
    };
    let worker = Arc::clone(&state);
    let response = blocking(move || {
        let _permit = permit;
        // Interpreted once: the plan gives the text to embed and drives the search.
        let interpret_started = std::time::Instant::now();
        let prepared = worker.matcher.prepare(&request);
        let interpreted = interpret_started.elapsed();
        let vector_started = std::time::Instant::now();
        let vector = crate::query::query_vector(
            &prepared,
            worker.query_embedder.as_ref(),
            worker.engine.options().vectors.as_ref().map(|v| v.dims),
        )
        .map_err(|err| match request.vector {
            Some(_) => field_error(RequestError::new("vector", err.to_string())),
            None => ApiError::internal(&format_args!("embedding the query: {err}")),
        })?;
        // The model's time (or its cache's) only: a vector the caller sent is no embedding.
        let embedded = (request.vector.is_none() && vector.is_some()).then(|| vector_started.elapsed());
        let snapshot = worker.engine.snapshot();
        let response =
            worker.matcher.run_prepared(&snapshot, &prepared, vector.as_deref()).map_err(|err| match err {
                SearchError::Request(err) => field_error(err),
                SearchError::Index(err) => ApiError::internal(&err),
            })?;
        worker.metrics.search_answered(interpreted, embedded, &response.stats, response.total);
        Ok(response)
    })
    .await??;
    Ok((axum::Extension(ResultCount::of(response.hits.len())), Json(response)))
}

/// Admission to the search slots, CoDel-style: a query waits for a slot while the queue is
/// one that drains, and is shed (503 `overloaded`, `Retry-After`) once queries have been
/// waiting too long for a while.
///
/// A query may always wait up to `limits.queue_timeout_ms`. Beyond that, what matters is the
/// *sojourn* time, how long queries wait for a slot, not whether every slot is busy: a few
/// clients that keep the server busy make every slot stay taken, and their queries wait about
/// one service time each; they are the server working at full use, not overload. When even
/// the shortest wait of an [`INTERVAL`] was longer than the target, the queue stands (it did
/// not drain once in that time): more queries arrive than are answered, and waiting would only
/// make every answer late. A query then waits at most the target, until an interval in which
/// no query had to be shed (the queue kept up within the target). The target is [`TARGET_SERVICE_TIMES`] mean
/// service times (at least [`TARGET_FLOOR`]), so it means the same on a small index and a large
/// one: with `n` closed-loop clients on `s` slots a query waits about `(n / s - 1)` service
/// times, which stays under the target up to `n` = 9 `s` clients.
#[derive(Debug)]
pub struct SearchQueue {
    /// Queries running at once (the vector index has this many search slots).
    pub slots: Arc<Semaphore>,
    state: Arc<parking_lot::Mutex<QueueState>>,
}

/// How long the shortest wait must stay above the target before the queue counts as standing.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// The sojourn target in mean service times: a query may wait behind this many queries per slot
/// before the queue counts as too long.
pub const TARGET_SERVICE_TIMES: u32 = 8;
/// The smallest sojourn target: below it, a wait is noise next to the network's.
pub const TARGET_FLOOR: Duration = Duration::from_millis(20);
/// The weight of a new service time in the running mean (about the last 16 queries count).
const SERVICE_TIME_WEIGHT: f64 = 1.0 / 16.0;
/// Shedding is logged at most once per this period (with how many queries were shed).
const SHED_LOG_PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct QueueState {
    /// Start of the interval whose waits are being measured.
    interval_start: Instant,
    /// The shortest wait of a query that left the queue in this interval.
    min_sojourn: Option<Duration>,
    /// Whether a query was shed in this interval.
    shed_in_interval: bool,
    /// The verdict of the last full interval: the queue stands (see [`QueueState::left_queue`]).
    standing: bool,
    /// Running mean of how long a query holds its slot, in seconds (0 before the first).
    service_seconds: f64,
    /// Queries shed since shedding was last logged, and when that was.
    shed_unlogged: u64,
    last_shed_log: Option<Instant>,
}

impl QueueState {
    fn target(&self) -> Duration {
        TARGET_FLOOR.max(Duration::from_secs_f64(self.service_seconds * f64::from(TARGET_SERVICE_TIMES)))
    }

    /// Whether the queue stands now. A verdict older than two intervals (no query left the
    /// queue since) says nothing about now.
    fn standing(&self, now: Instant) -> bool {
        self.standing && now.duration_since(self.interval_start) < 2 * INTERVAL
    }

    /// A query left the queue after waiting `sojourn` for a slot, or was shed (`None`: it got
    /// no slot, its wait has no end). At the end of an interval, the queue starts standing when
    /// even the shortest wait was above the target, and goes on standing while queries are
    /// shed: waits are then cut at the target, so the served ones' waits cannot show whether
    /// the queue would still stand; an interval without a query shed shows that it does not.
    fn left_queue(&mut self, sojourn: Option<Duration>, now: Instant) {
        let sojourn = sojourn.unwrap_or(Duration::MAX);
        self.min_sojourn = Some(self.min_sojourn.map_or(sojourn, |min| min.min(sojourn)));
        self.shed_in_interval |= sojourn == Duration::MAX;
        if now.duration_since(self.interval_start) >= INTERVAL {
            self.standing = if self.standing {
                self.shed_in_interval
            } else {
                self.min_sojourn.is_some_and(|min| min > self.target())
            };
            self.interval_start = now;
            self.min_sojourn = None;
            self.shed_in_interval = false;
        }
    }

    fn served(&mut self, service: Duration) {
        let seconds = service.as_secs_f64();
        self.service_seconds = if self.service_seconds == 0.0 {
            seconds
        } else {
            self.service_seconds + SERVICE_TIME_WEIGHT * (seconds - self.service_seconds)
        };
    }

    /// Counts a shed query; logs at warn level at most once per [`SHED_LOG_PERIOD`].
    fn shed(&mut self, now: Instant, wait: Duration, because: &str) {
        self.shed_unlogged += 1;
        if self.last_shed_log.is_none_or(|at| now.duration_since(at) >= SHED_LOG_PERIOD) {
            tracing::warn!(
                shed = self.shed_unlogged,
                wait_ms = wait.as_millis() as u64,
                target_ms = self.target().as_millis() as u64,
                service_ms = self.service_seconds * 1000.0,
                because,
                "shedding /match queries with 503 overloaded"
            );
            self.shed_unlogged = 0;
            self.last_shed_log = Some(now);
        }
    }
}

/// A search slot, held while a query runs; its release measures the query's service time.
#[derive(Debug)]
pub struct SearchPermit {
    _permit: OwnedSemaphorePermit,
    since: Instant,
    state: Arc<parking_lot::Mutex<QueueState>>,
}

impl Drop for SearchPermit {
    fn drop(&mut self) {
        self.state.lock().served(self.since.elapsed());
    }
}

impl SearchQueue {
    /// `slots` queries at once (at least one).
    pub fn new(slots: usize) -> SearchQueue {
        let state = QueueState {
            interval_start: Instant::now(),
            min_sojourn: None,
            shed_in_interval: false,
            standing: false,
            service_seconds: 0.0,
            shed_unlogged: 0,
            last_shed_log: None,
        };
        SearchQueue { slots: Arc::new(Semaphore::new(slots.max(1))), state: Arc::new(parking_lot::Mutex::new(state)) }
    }

    /// A search slot, or `overloaded` when none came free within the allowed wait.
    pub async fn admit(&self, queue_timeout_ms: u64) -> Result<SearchPermit, ApiError> {
        let arrived = Instant::now();
        let shutting_down = || ApiError::new(ErrorCode::Unavailable, "the server is shutting down");
        let permit = |permit: OwnedSemaphorePermit| {
            let now = Instant::now();
            self.state.lock().left_queue(Some(now.duration_since(arrived)), now);
            SearchPermit { _permit: permit, since: now, state: Arc::clone(&self.state) }
        };
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(slot) => return Ok(permit(slot)),
            Err(TryAcquireError::Closed) => return Err(shutting_down()),
            Err(TryAcquireError::NoPermits) => {}
        }
        let timeout = Duration::from_millis(queue_timeout_ms);
        let (wait, standing) = {
            let state = self.state.lock();
            if state.standing(arrived) && state.target() < timeout { (state.target(), true) } else { (timeout, false) }
        };
        match tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(slot)) => Ok(permit(slot)),
            Ok(Err(_)) => Err(shutting_down()),
            Err(_) => {
                let now = Instant::now();
                let mut state = self.state.lock();
                state.left_queue(None, now);
                let because = if standing {
                    format!(
                        "a standing queue: queries have waited longer than that for over {} ms",
                        INTERVAL.as_millis()
                    )
                } else {
                    "limits.queue_timeout_ms".to_owned()
                };
                state.shed(now, wait, &because);
                Err(ApiError::new(
                    ErrorCode::Overloaded,
                    format!(
                        "no search slot came free within {} ms ({because}): the server has more queries than it can answer; retry later",
                        wait.as_millis()
                    ),
                ))
            }
        }
    }
}

/// The filters a caller's signed token forces on every query, if any.
pub(crate) fn forced_filters(caller: Option<&Extension<Caller>>) -> Option<Filters> {
    caller?.token.as_ref()?.filters.clone()
}

/// A 400 naming the field; a field path built from the client's keys is cut to
/// [`crate::error::MAX_ECHOED_CHARS`] characters.
fn field_error(err: RequestError) -> ApiError {
    let field = crate::error::truncated(&err.field, crate::error::MAX_ECHOED_CHARS);
    ApiError::new(ErrorCode::InvalidField, format!("field {field}: {}", err.message))
        .with_details(serde_json::json!({ "field": field }))
}

/// The request, or a 400 that says where the body is wrong: `invalid_json` with line and
/// column for a syntax error, `invalid_field` with the field's path for a wrong value.
pub(crate) fn parse_request(body: &[u8]) -> Result<MatchRequest, ApiError> {
    let text = std::str::from_utf8(body).map_err(|err| {
        ApiError::new(ErrorCode::InvalidJson, format!("the body is not UTF-8 (byte {})", err.valid_up_to()))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let request: MatchRequest = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // serde_json counts a number too large for its field's type (1e39 for an f32) as a
        // syntax error, but the JSON is valid: the value is wrong, and its field is known.
        let out_of_range = inner.is_syntax() && path != "." && inner.to_string().starts_with("number out of range");
        // It also counts a value of the wrong type for an enum (`"material": true`) as a syntax
        // error ("expected value"): when the body is valid JSON, the value is what is wrong.
        let wrong_type =
            || inner.is_syntax() && path != "." && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
        if inner.is_data() || out_of_range || wrong_type() {
            let field = if path == "." { "$".to_owned() } else { path };
            field_error(RequestError::new(field, inner.to_string()))
        } else {
            ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {err}")))?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clients` closed-loop clients on a queue of `slots`: each asks for a slot, holds it for
    /// `service` (the query's work), and asks again at once, `rounds` times. Returns how many
    /// queries were shed.
    async fn closed_loop(
        slots: usize,
        clients: usize,
        rounds: usize,
        service: Duration,
        queue_timeout_ms: u64,
    ) -> usize {
        let queue = Arc::new(SearchQueue::new(slots));
        let clients: Vec<_> = (0..clients)
            .map(|_| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move {
                    let mut shed = 0;
                    for _ in 0..rounds {
                        match queue.admit(queue_timeout_ms).await {
                            Ok(permit) => {
                                tokio::time::sleep(service).await;
                                drop(permit);
                            }
                            Err(error) => {
                                assert_eq!(error.code, ErrorCode::Overloaded, "{}", error.message);
                                shed += 1;
                            }
                        }
                    }
                    shed
                })
            })
            .collect();
        let mut shed = 0;
        for client in clients {
            shed += client.await.unwrap();
        }
        shed
    }

    /// Four clients per slot keep every slot taken all the time, and each query waits about
    /// three service times: full use, not overload. None is shed (the rule that shed once every
    /// slot had stayed taken for 100 ms refused most of them).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_few_closed_loop_clients_per_slot_are_queued_not_shed() {
        let shed = closed_loop(2, 8, 15, Duration::from_millis(20), 1000).await;
        assert_eq!(shed, 0, "{shed} of 120 queries shed");
    }

    /// Twenty clients per slot: each query would wait about 19 service times (380 ms), well
    /// under the 5 s queue timeout, so only the sojourn rule can shed them, and it does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standing_queue_is_shed_before_the_queue_timeout() {
        let shed = closed_loop(2, 40, 6, Duration::from_millis(20), 5000).await;
        assert!(shed > 0, "a standing queue of 38 queries was never shed");
    }
}
