//! Requests by route template, method and status, latency per route, requests in flight: the
//! layer every request goes through when `metrics.enabled`.
//!
//! The route is the router's template (`/api/v1/companies/{id}`, never the concrete path); a
//! request no route matched is `unmatched`. Every (route, method, status) counter is resolved
//! once, at its first request, and kept: later requests add to it with one atomic operation.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry};
use rustc_hash::FxHashMap;
use tower_layer::Layer;
use tower_service::Service;

use super::{LATENCY_BUCKETS, Metrics, histogram_opts, opts, register};

/// The route label of a request no route matched (a 404 from the fallback).
pub const UNMATCHED: &str = "unmatched";

/// The method labels: the methods the API answers and the standard ones a client may try; any
/// other method is `other` (a client cannot grow the label set).
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"];

/// The statuses whose counters are kept per route and method (sorted): what the API answers.
/// Any other status is counted through the family's own lookup (rare, and bounded by HTTP's
/// three digits).
const STATUSES: [u16; 30] = [
    200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 414, 415, 421, 422, 429,
    431, 500, 501, 502, 503, 504, 507,
];

/// The HTTP metrics.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    /// [`UNMATCHED`] first, then every route template of the route table.
    routes: Vec<RouteMetrics>,
    by_template: FxHashMap<&'static str, usize>,
    in_flight: IntGauge,
}

#[derive(Debug)]
struct RouteMetrics {
    route: &'static str,
    duration: Histogram,
    requests: IntCounterVec,
    /// `[method][status]`, like [`METHODS`] and [`STATUSES`].
    counters: Box<[[OnceLock<IntCounter>; STATUSES.len()]; METHODS.len()]>,
}

impl HttpMetrics {
    pub(crate) fn new(registry: &Registry) -> prometheus::Result<HttpMetrics> {
        let requests = register(
            registry,
            IntCounterVec::new(
                opts("http_requests_total", "HTTP requests answered, by route template, method and status"),
                &["route", "method", "status"],
            )?,
        )?;
        let durations = register(
            registry,
            HistogramVec::new(
                histogram_opts(
                    "http_request_duration_seconds",
                    "time from a request's arrival to its answer's head, by route template",
                    &LATENCY_BUCKETS,
                ),
                &["route"],
            )?,
        )?;
        let in_flight = register(
            registry,
            IntGauge::with_opts(opts("http_requests_in_flight", "HTTP requests being answered now"))?,
        )?;
        let mut templates: Vec<&'static str> = crate::auth::routes::ROUTES.iter().map(|&(_, path, _)| path).collect();
        templates.sort_unstable();
        templates.dedup();
        templates.insert(0, UNMATCHED);
        let routes = templates
            .iter()
            .map(|&route| RouteMetrics {
                route,
                duration: durations.with_label_values(&[route]),
                requests: requests.clone(),
                counters: Box::new(std::array::from_fn(|_| std::array::from_fn(|_| OnceLock::new()))),
            })
            .collect();
        let by_template = templates.iter().enumerate().map(|(idx, &route)| (route, idx)).collect();
        Ok(HttpMetrics { routes, by_template, in_flight })
    }

    /// The place in `routes` of a request's route template (`None`: no route matched). A
    /// template the route table does not list (only the tests' own routes) counts as unmatched.
    fn route(&self, template: Option<&str>) -> usize {
        template.and_then(|template| self.by_template.get(template).copied()).unwrap_or(0)
    }
}

impl RouteMetrics {
    fn record(&self, method: usize, status: StatusCode, took: Duration) {
        self.duration.observe(took.as_secs_f64());
        match STATUSES.binary_search(&status.as_u16()) {
            Ok(slot) => self.counters[method][slot]
                .get_or_init(|| self.requests.with_label_values(&[self.route, METHODS[method], status.as_str()]))
                .inc(),
            Err(_) => self.requests.with_label_values(&[self.route, METHODS[method], status.as_str()]).inc(),
        }
    }
}

/// The place of a method in [`METHODS`].
fn method_slot(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// The layer that counts and times every request the router sees. Applied with
/// `Router::layer`, it wraps each route, where the route template is known.
#[derive(Debug, Clone)]
pub struct RecordLayer(pub Arc<Metrics>);

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record { inner, metrics: Arc::clone(&self.0) }
    }
}

/// A route with its requests counted and timed.
#[derive(Debug, Clone)]
pub struct Record<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Record<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = self.metrics.http.route(request.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
        let method = method_slot(request.method());
        self.metrics.http.in_flight.inc();
        let request_metrics = InFlight { metrics: Arc::clone(&self.metrics), route, method, started };
        Recorded { inner: self.inner.call(request), request: request_metrics }
    }
}

pin_project_lite::pin_project! {
    /// A route's answer; recorded when it is ready.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        request: InFlight,
    }
}

impl<F, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &answer {
            let request = &*this.request;
            let took = request.started.elapsed();
            request.metrics.http.routes[request.route].record(request.method, response.status(), took);
        }
        Poll::Ready(answer)
    }
}

/// A request being answered: what its answer is recorded under, and the in-flight gauge lowered
/// when it ends, answered or dropped (a client that disconnects drops its request's future).
struct InFlight {
    metrics: Arc<Metrics>,
    route: usize,
    method: usize,
    started: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.http.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_and_methods_map_to_their_labels() {
        assert!(STATUSES.windows(2).all(|pair| pair[0] < pair[1]));
        for (slot, name) in METHODS.iter().enumerate().take(7) {
            assert_eq!(method_slot(&Method::from_bytes(name.as_bytes()).unwrap()), slot);
        }
        assert_eq!(METHODS[method_slot(&Method::from_bytes(b"PROPFIND").unwrap())], "other");
    }

    #[test]
    fn a_request_counts_under_its_template_and_an_unknown_one_as_unmatched() {
        let registry = Registry::new();
        let http = HttpMetrics::new(&registry).unwrap();
        let route = &http.routes[http.route(Some("/api/v1/companies/{id}"))];
        route.record(0, StatusCode::OK, Duration::from_micros(30));
        route.record(0, StatusCode::OK, Duration::from_micros(30));
        route.record(0, StatusCode::IM_A_TEAPOT, Duration::from_micros(30));
        http.routes[http.route(None)].record(2, StatusCode::NOT_FOUND, Duration::from_micros(30));
        let unlisted = http.route(Some("/not/in/the/table"));
        http.routes[unlisted].record(2, StatusCode::NOT_FOUND, Duration::from_micros(30));
        let requests = &route.requests;
        assert_eq!(requests.with_label_values(&["/api/v1/companies/{id}", "GET", "200"]).get(), 2);
        assert_eq!(requests.with_label_values(&["/api/v1/companies/{id}", "GET", "418"]).get(), 1);
        assert_eq!(requests.with_label_values(&[UNMATCHED, "POST", "404"]).get(), 2);
        assert_eq!(route.duration.get_sample_count(), 3);
    }
}
