//! The gauges read from the server's state at each scrape, never pushed on a change: index size
//! and publication, write-ahead log, checksum scrub, reindex progress, the query-vector cache,
//! the scoring model and its drift, the process and the build.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, GaugeVec, IntCounter, IntGauge, IntGaugeVec, Registry};

use super::{opts, register};
use crate::http::AppState;
use crate::http::admin::TaskStatus;

/// The git commit the binary was built from (`build.rs`; `unknown` outside a git checkout).
pub const GIT_COMMIT: &str = env!("MARKETLOUNGE_GIT_COMMIT");

/// The states of the checksum scrub, as the `state` label names them.
const SCRUB_STATES: [&str; 3] = ["running", "ok", "failed"];

#[derive(Debug)]
pub(super) struct StateGauges {
    documents: IntGauge,
    segments: IntGauge,
    generation: IntGauge,
    last_publish: Gauge,
    pending_writes: IntGauge,
    wal_bytes: IntGauge,
    scrub: IntGaugeVec,
    reindex_running: IntGauge,
    reindex_documents: IntGauge,
    reindex_bytes_read: IntGauge,
    reindex_bytes_total: IntGauge,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_entries: IntGauge,
    model_info: IntGaugeVec,
    model_auc: GaugeVec,
    model_ece: GaugeVec,
    last_apply: Gauge,
    score_drift: Gauge,
    drift_shifted: IntGauge,
    feature_drift: GaugeVec,
    backups_succeeded: IntCounter,
    backups_failed: IntCounter,
    backup_last_success: Gauge,
    backup_last_failed: IntGauge,
    resident_bytes: IntGauge,
    open_fds: IntGauge,
    start_time: Gauge,
    uptime: Gauge,
    build_info: IntGaugeVec,
    started: SystemTime,
}

impl StateGauges {
    pub(super) fn new(registry: &Registry) -> prometheus::Result<StateGauges> {
        let int = |name: &str, help: &str| register(registry, IntGauge::with_opts(opts(name, help))?);
        let float = |name: &str, help: &str| register(registry, Gauge::with_opts(opts(name, help))?);
        let counter = |name: &str, help: &str| register(registry, IntCounter::with_opts(opts(name, help))?);
        Ok(StateGauges {
            documents: int("index_documents", "live documents in the published index")?,
            segments: int("index_segments", "segments of the published index")?,
            generation: int("index_generation", "generation of the published index (a reindex starts a new one)")?,
            last_publish: float(
                "index_last_publish_timestamp_seconds",
                "when the index was last published (flush, merge, reindex, priors), Unix time",
            )?,
            pending_writes: int("index_pending_writes", "writes accepted but not yet published by a flush")?,
            backups_succeeded: counter(
                "backups_succeeded_total",
                "scheduled backups taken since the server started (backup.interval_hours)",
            )?,
            backups_failed: counter("backups_failed_total", "scheduled backups that failed since the server started")?,
            backup_last_success: float(
                "backup_last_success_timestamp_seconds",
                "when the last scheduled backup succeeded, Unix time (0: none since the server started)",
            )?,
            backup_last_failed: int(
                "backup_last_failed",
                "1 when the last scheduled backup failed (the log says why)",
            )?,
            wal_bytes: int("index_wal_bytes", "size of the write-ahead log's files")?,
            scrub: register(
                registry,
                IntGaugeVec::new(
                    opts(
                        "index_checksum_scrub_state",
                        "the background checksum scrub of every segment byte: 1 for its state (running, ok, failed)",
                    ),
                    &["state"],
                )?,
            )?,
            reindex_running: int("reindex_running", "1 while a reindex task runs")?,
            reindex_documents: int("reindex_documents_processed", "documents the latest reindex task has processed")?,
            reindex_bytes_read: int("reindex_read_bytes", "input bytes the latest reindex task has read")?,
            reindex_bytes_total: int("reindex_input_bytes", "input size of the latest reindex task (0: unknown)")?,
            cache_hits: counter(
                "search_query_vector_cache_hits_total",
                "query vectors found in the query-vector cache",
            )?,
            cache_misses: counter(
                "search_query_vector_cache_misses_total",
                "query vectors the embedding model had to compute",
            )?,
            cache_entries: int("search_query_vector_cache_entries", "query vectors in the cache")?,
            model_info: register(
                registry,
                IntGaugeVec::new(
                    opts("scoring_model_info", "the current opportunity model (1, with its version as a label)"),
                    &["version"],
                )?,
            )?,
            model_auc: register(
                registry,
                GaugeVec::new(
                    opts("scoring_model_auc", "ROC-AUC of the current model, on its calibration rows or its backtest"),
                    &["rows"],
                )?,
            )?,
            model_ece: register(
                registry,
                GaugeVec::new(
                    opts(
                        "scoring_model_ece",
                        "expected calibration error of the current model, on its calibration rows or its backtest",
                    ),
                    &["rows"],
                )?,
            )?,
            last_apply: float(
                "scoring_last_apply_timestamp_seconds",
                "when scores were last applied to every company, Unix time",
            )?,
            score_drift: float(
                "scoring_score_drift_psi",
                "population stability index of the applied scores against the model's training reference",
            )?,
            drift_shifted: int(
                "scoring_score_drift_shifted",
                "1 when the applied scores' drift is `shifted` (PSI at or above 0.25)",
            )?,
            feature_drift: register(
                registry,
                GaugeVec::new(
                    opts("scoring_feature_drift_psi", "population stability index of each model feature"),
                    &["feature"],
                )?,
            )?,
            resident_bytes: int("process_resident_memory_bytes", "resident memory of the server process")?,
            open_fds: int("process_open_fds", "open file descriptors of the server process")?,
            start_time: float("process_start_time_seconds", "when the server started, Unix time")?,
            uptime: float("process_uptime_seconds", "seconds since the server started")?,
            build_info: register(
                registry,
                IntGaugeVec::new(
                    opts("build_info", "1, with the version, git commit and embedding model fingerprint as labels"),
                    &["version", "git_commit", "model_fingerprint"],
                )?,
            )?,
            started: SystemTime::now(),
        })
    }

    /// Reads every gauge from `state` now.
    pub(super) fn update(&self, state: &AppState) {
        self.update_index(state);
        self.update_backups(state);
        self.update_scoring(state);
        self.update_process(state);
    }

    fn update_index(&self, state: &AppState) {
        let snapshot = state.engine.snapshot();
        self.documents.set(snapshot.live_count() as i64);
        self.segments.set(snapshot.segments.len() as i64);
        self.generation.set(snapshot.generation() as i64);
        self.pending_writes.set(state.engine.pending_count() as i64);
        let root = state.engine.root();
        // Every publication replaces the manifest atomically: its time is the last publication's.
        let manifest = root.join(marketlounge_index::engine::MANIFEST_FILE);
        if let Some(published) = std::fs::metadata(manifest).and_then(|m| m.modified()).ok().and_then(unix_seconds) {
            self.last_publish.set(published);
        }
        self.wal_bytes.set(directory_bytes(&root.join(marketlounge_index::engine::WAL_DIR)) as i64);
        let scrub = match &*state.scrub.lock() {
            None => "running",
            Some(Ok(())) => "ok",
            Some(Err(_)) => "failed",
        };
        for name in SCRUB_STATES {
            self.scrub.with_label_values(&[name]).set(i64::from(name == scrub));
        }
        let reindex = state.tasks.latest("reindex");
        let running =
            reindex.as_ref().is_some_and(|t| matches!(t.status, TaskStatus::Enqueued | TaskStatus::Processing));
        self.reindex_running.set(i64::from(running));
        self.reindex_documents.set(reindex.as_ref().map_or(0, |t| t.docs_processed as i64));
        self.reindex_bytes_read.set(reindex.as_ref().map_or(0, |t| t.bytes_read as i64));
        self.reindex_bytes_total.set(reindex.as_ref().and_then(|t| t.bytes_total).unwrap_or(0) as i64);
        if let Some(embedder) = &state.query_embedder {
            let stats = embedder.stats();
            // Counters read from the cache's own: set to its value (the scrape lock is held).
            self.cache_hits.reset();
            self.cache_hits.inc_by(stats.hits);
            self.cache_misses.reset();
            self.cache_misses.inc_by(stats.misses);
            self.cache_entries.set(stats.entries as i64);
        }
    }

    fn update_backups(&self, state: &AppState) {
        let (succeeded, failed) = state.backups.counts();
        // Counters read from the schedule's own: set to its value (the scrape lock is held).
        self.backups_succeeded.reset();
        self.backups_succeeded.inc_by(succeeded);
        self.backups_failed.reset();
        self.backups_failed.inc_by(failed);
        self.backup_last_success.set(state.backups.last_success_unix().map_or(0.0, |at| at as f64));
        let last_failed = state.backups.last().is_some_and(|last| last.result == crate::backup::BackupResult::Failed);
        self.backup_last_failed.set(i64::from(last_failed));
    }

    fn update_scoring(&self, state: &AppState) {
        self.model_info.reset();
        self.model_auc.reset();
        self.model_ece.reset();
        if let Ok(scorer) = state.scoring.scorer() {
            let artefact = &scorer.artefact;
            self.model_info.with_label_values(&[artefact.version.as_str()]).set(1);
            let rows = [
                ("calibration", Some(&artefact.metrics.calibration)),
                ("backtest", artefact.metrics.backtest.as_ref()),
            ];
            for (name, metrics) in rows {
                // NaN (one class only) is no measure: left out rather than exported as NaN.
                if let Some(metrics) = metrics {
                    if metrics.auc.is_finite() {
                        self.model_auc.with_label_values(&[name]).set(metrics.auc);
                    }
                    if metrics.ece.is_finite() {
                        self.model_ece.with_label_values(&[name]).set(metrics.ece);
                    }
                }
            }
        }
        let store = &state.scoring.store;
        match store.meta("applied_at") {
            Ok(Some(at)) => {
                if let Ok(at) = at.parse::<jiff::Timestamp>() {
                    self.last_apply.set(at.as_millisecond() as f64 / 1000.0);
                }
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "metrics: reading the scoring store's last apply"),
        }
        self.feature_drift.reset();
        match store.meta("drift") {
            Ok(Some(drift)) => match serde_json::from_str::<serde_json::Value>(&drift) {
                Ok(drift) => {
                    if let Some(psi) = drift["score"]["psi"].as_f64() {
                        self.score_drift.set(psi);
                    }
                    self.drift_shifted.set(i64::from(drift["score"]["status"] == "shifted"));
                    for feature in drift["features"].as_array().into_iter().flatten() {
                        if let (Some(name), Some(psi)) = (feature["name"].as_str(), feature["psi"].as_f64()) {
                            self.feature_drift.with_label_values(&[name]).set(psi);
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "metrics: the stored drift report is not JSON"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "metrics: reading the scoring store's drift"),
        }
    }

    fn update_process(&self, state: &AppState) {
        if let Some(bytes) = resident_bytes() {
            self.resident_bytes.set(bytes as i64);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as i64);
        }
        self.start_time.set(unix_seconds(self.started).unwrap_or(0.0));
        self.uptime.set(self.started.elapsed().map_or(0.0, |d| d.as_secs_f64()));
        let model = state.engine.options().embedder.as_ref().map_or("none", |e| e.fingerprint());
        self.build_info.reset();
        self.build_info.with_label_values(&[env!("CARGO_PKG_VERSION"), GIT_COMMIT, model]).set(1);
    }
}

fn unix_seconds(time: SystemTime) -> Option<f64> {
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

/// The total size of the files directly in `dir` (0 when it does not exist).
fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum()
}

/// The process's resident set (`VmRSS` of `/proc/self/status`, in kB).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
