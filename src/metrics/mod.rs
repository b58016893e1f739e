//! Prometheus metrics (`GET /metrics`): what the server records as it answers (requests, the
//! search phases, typeahead, flushes and merges) and what it reads from its state at each scrape
//! (index size, checksum scrub, reindex progress, scoring model, process).
//!
//! Names start with `marketlounge_`, durations are in seconds and sizes in bytes, counters end in
//! `_total`. Invariant: no key, tenant, user or query text is ever a label; every label has a
//! fixed, small set of values (route templates, methods, statuses, phases, kinds, model
//! features).
//!
//! Invariant: recording on the request path is a few atomic operations on handles resolved
//! when the server starts (per route, method and status, per search phase, per suggestion
//! kind): no lock and no allocation. `metrics.enabled = false` turns recording off; the gauges
//! read at scrape time are still served.

pub mod http;
mod state;

use std::time::Duration;

use marketlounge_index::search::QueryStats;
use marketlounge_index::suggest::{Kind, Suggestion};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

use crate::http::AppState;

/// Every metric name starts with this.
pub const PREFIX: &str = "marketlounge_";

/// Latency buckets, in seconds: 25 µs (a typeahead answer) to 10 s (a request's timeout is of
/// that order), about three per decade.
pub const LATENCY_BUCKETS: [f64; 18] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// Flush and merge buckets, in seconds: a small flush takes milliseconds, a merge of large
/// segments minutes.
const MAINTENANCE_BUCKETS: [f64; 16] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Candidates a pass found: the pool is `fusion.candidates` deep (hundreds), more for deep pages.
const CANDIDATE_BUCKETS: [f64; 12] = [0.0, 1.0, 10.0, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0];

/// The phases of a `/match` query, as the `phase` label names them.
const PHASES: [&str; 8] = ["interpret", "filters", "lexical", "vector", "concept", "exact_scoring", "fusion", "hits"];

/// The candidate passes, as the `pass` label names them (`pool`: all of them together).
const PASSES: [&str; 4] = ["lexical", "vector", "concept", "pool"];

/// The server's metrics: one registry per server (tests run several in one process).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    recording: bool,
    pub(crate) http: http::HttpMetrics,
    /// Indexed like [`PHASES`].
    phase_seconds: Vec<Histogram>,
    /// Indexed like [`PASSES`].
    candidates: Vec<Histogram>,
    query_vector_seconds: Histogram,
    shed: IntCounter,
    zero_results_match: IntCounter,
    zero_results_suggest: IntCounter,
    /// Indexed like [`Kind::ALL`].
    suggestions: Vec<IntCounter>,
    flush_seconds: Histogram,
    merge_seconds: Histogram,
    state: state::StateGauges,
    /// One scrape at a time sets the gauges read from the state and encodes them.
    scrape: parking_lot::Mutex<()>,
}

impl Metrics {
    /// The metrics of a server; `recording: false` (`metrics.enabled`) records nothing on the
    /// request path.
    pub fn new(recording: bool) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let phase_family = register(
            &registry,
            HistogramVec::new(
                histogram_opts(
                    "search_phase_duration_seconds",
                    "time of each phase of a /match query (lexical and vector passes run side by side)",
                    &LATENCY_BUCKETS,
                ),
                &["phase"],
            )?,
        )?;
        let candidate_family = register(
            &registry,
            HistogramVec::new(
                histogram_opts(
                    "search_candidates",
                    "candidates each pass of a /match query found, and the pool they made",
                    &CANDIDATE_BUCKETS,
                ),
                &["pass"],
            )?,
        )?;
        let zero_results = register(
            &registry,
            IntCounterVec::new(
                opts("zero_result_queries_total", "queries answered without any result, by endpoint"),
                &["endpoint"],
            )?,
        )?;
        let suggestion_family = register(
            &registry,
            IntCounterVec::new(opts("suggest_suggestions_total", "typeahead suggestions served, by kind"), &["kind"])?,
        )?;
        let metrics = Metrics {
            http: http::HttpMetrics::new(&registry)?,
            phase_seconds: PHASES.iter().map(|phase| phase_family.with_label_values(&[phase])).collect(),
            candidates: PASSES.iter().map(|pass| candidate_family.with_label_values(&[pass])).collect(),
            query_vector_seconds: register(
                &registry,
                Histogram::with_opts(histogram_opts(
                    "search_query_vector_duration_seconds",
                    "time to get a /match query's vector from the embedding model (through its cache)",
                    &LATENCY_BUCKETS,
                ))?,
            )?,
            shed: register(
                &registry,
                IntCounter::with_opts(opts(
                    "search_shed_total",
                    "/match queries shed with 503 overloaded (no search slot came free in time)",
                ))?,
            )?,
            zero_results_match: zero_results.with_label_values(&["match"]),
            zero_results_suggest: zero_results.with_label_values(&["suggest"]),
            suggestions: Kind::ALL.iter().map(|kind| suggestion_family.with_label_values(&[kind.name()])).collect(),
            flush_seconds: register(
                &registry,
                Histogram::with_opts(histogram_opts(
                    "index_flush_duration_seconds",
                    "time of each flush that published pending writes",
                    &MAINTENANCE_BUCKETS,
                ))?,
            )?,
            merge_seconds: register(
                &registry,
                Histogram::with_opts(histogram_opts(
                    "index_merge_duration_seconds",
                    "time of each segment merge",
                    &MAINTENANCE_BUCKETS,
                ))?,
            )?,
            state: state::StateGauges::new(&registry)?,
            registry,
            recording,
            scrape: parking_lot::Mutex::new(()),
        };
        Ok(metrics)
    }

    /// Whether the request path records (`metrics.enabled`).
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// A `/match` query answered: its phases (`interpret` and the query vector measured by the
    /// server, the others by the index), its candidates, whether it found nothing.
    pub fn search_answered(&self, interpret: Duration, query_vector: Option<Duration>, stats: &QueryStats, total: u64) {
        if !self.recording {
            return;
        }
        let phases = [
            Some(interpret),
            Some(stats.filters),
            stats.lexical,
            stats.vector,
            stats.concept,
            Some(stats.exact_scoring),
            Some(stats.fusion),
            Some(stats.hits),
        ];
        for (histogram, phase) in self.phase_seconds.iter().zip(phases) {
            if let Some(phase) = phase {
                histogram.observe(phase.as_secs_f64());
            }
        }
        let passes = [stats.lexical_candidates, stats.vector_candidates, stats.concept_candidates, Some(stats.pool)];
        for (histogram, found) in self.candidates.iter().zip(passes) {
            if let Some(found) = found {
                histogram.observe(found as f64);
            }
        }
        if let Some(seconds) = query_vector {
            self.query_vector_seconds.observe(seconds.as_secs_f64());
        }
        if total == 0 {
            self.zero_results_match.inc();
        }
    }

    /// A `/match` query shed with `overloaded`.
    pub fn search_shed(&self) {
        if self.recording {
            self.shed.inc();
        }
    }

    /// A typeahead answer: its suggestions by kind, whether it had none.
    pub fn suggested(&self, suggestions: &[Suggestion]) {
        if !self.recording {
            return;
        }
        if suggestions.is_empty() {
            self.zero_results_suggest.inc();
            return;
        }
        // Counted first: one atomic add per kind present, not one per suggestion. A kind's
        // discriminant is its place in `Kind::ALL` (checked by a test).
        let mut by_kind = [0u64; Kind::ALL.len()];
        for suggestion in suggestions {
            by_kind[suggestion.kind as usize] += 1;
        }
        for (counter, n) in self.suggestions.iter().zip(by_kind) {
            if n > 0 {
                counter.inc_by(n);
            }
        }
    }

    /// A flush published pending writes in `took`.
    pub fn flushed(&self, took: Duration) {
        if self.recording {
            self.flush_seconds.observe(took.as_secs_f64());
        }
    }

    /// A merge was published in `took`.
    pub fn merged(&self, took: Duration) {
        if self.recording {
            self.merge_seconds.observe(took.as_secs_f64());
        }
    }

    /// The Prometheus text format of every metric, the state's gauges read now. Reads the
    /// scoring store and a few `/proc` files: off the async workers.
    pub fn render(&self, state: &AppState) -> prometheus::Result<String> {
        let _one_scrape = self.scrape.lock();
        self.state.update(state);
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text)?;
        Ok(text)
    }
}

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(format!("{PREFIX}{name}"), help)
}

fn histogram_opts(name: &str, help: &str, buckets: &[f64]) -> HistogramOpts {
    HistogramOpts::new(format!("{PREFIX}{name}"), help).buckets(buckets.to_vec())
}

/// Registers `collector` and hands it back (a clone shares the same values).
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_has_the_prefix_and_counters_end_in_total() {
        let metrics = Metrics::new(true).unwrap();
        metrics.search_shed();
        metrics.suggested(&[]);
        for family in metrics.registry.gather() {
            let name = family.name();
            assert!(name.starts_with(PREFIX), "{name}");
            if family.get_field_type() == prometheus::proto::MetricType::COUNTER {
                assert!(name.ends_with("_total"), "{name}");
            }
        }
    }

    #[test]
    fn a_kinds_discriminant_is_its_place_in_all() {
        for (place, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, place, "{}", kind.name());
        }
    }

    #[test]
    fn nothing_is_recorded_when_recording_is_off() {
        let metrics = Metrics::new(false).unwrap();
        metrics.search_shed();
        metrics.suggested(&[]);
        metrics.flushed(Duration::from_millis(5));
        assert_eq!(metrics.shed.get(), 0);
        assert_eq!(metrics.zero_results_suggest.get(), 0);
        assert_eq!(metrics.flush_seconds.get_sample_count(), 0);
        let on = Metrics::new(true).unwrap();
        on.search_shed();
        on.suggested(&[]);
        on.flushed(Duration::from_millis(5));
        assert_eq!((on.shed.get(), on.zero_results_suggest.get(), on.flush_seconds.get_sample_count()), (1, 1, 1));
    }
}
