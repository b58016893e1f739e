//! Operator endpoints: `POST /admin/reindex` (background task), `GET /admin/tasks/{id}`,
//! `POST /admin/snapshot`, `POST /admin/priors`.
//!
//! Tasks live in memory: a restart forgets them (the index itself is either the old generation
//! or the new one, never a mix).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use marketlounge_index::engine::BuildPhase;
use marketlounge_index::ndjson::{UnpackLimitExceeded, UnpackLimits, open_reader};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::body::{BodyUse, ErrorList, read_body};
use super::{AppState, BodyKind, blocking, body_kind, body_kind_in, invalid_param, query_pairs};
use crate::error::{ApiError, ErrorCode};
use crate::indexing::{CompanySource, CountingReader, drop_limit, read_priors};

/// Finished tasks kept for `GET /admin/tasks/{id}`.
const KEEP_FINISHED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
}

/// A background task (reindex, scoring) and its progress.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TaskInfo {
    pub task_id: u64,
    pub kind: &'static str,
    pub status: TaskStatus,
    /// `reading`, `embedding` (the embedder computes vectors), `indexing`, `publishing` while
    /// processing.
    pub phase: Option<&'static str>,
    pub docs_processed: u64,
    pub bytes_read: u64,
    pub bytes_total: Option<u64>,
    pub docs_per_second: f64,
    /// Estimated seconds left, from the bytes read so far.
    pub eta_seconds: Option<f64>,
    pub elapsed_seconds: f64,
    /// Generation published on success.
    pub generation: Option<u64>,
    pub error: Option<String>,
    /// The stable code of a failed reindex's `error`, from the error table (`shrink_refused`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// What a finished scoring task produced (model version and metrics, or the apply report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// The registry of background tasks.
#[derive(Debug, Default)]
pub struct Tasks {
    next_id: AtomicU64,
    tasks: Mutex<BTreeMap<u64, TaskInfo>>,
}

impl Tasks {
    /// Registers a task of `kind` unless one of that kind is still running.
    pub(crate) fn start_exclusive(&self, kind: &'static str, bytes_total: Option<u64>) -> Option<u64> {
        let mut tasks = self.tasks.lock();
        let running =
            tasks.values().any(|t| t.kind == kind && matches!(t.status, TaskStatus::Enqueued | TaskStatus::Processing));
        if running {
            return None;
        }
        let task_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        tasks.insert(
            task_id,
            TaskInfo {
                task_id,
                kind,
                status: TaskStatus::Enqueued,
                phase: None,
                docs_processed: 0,
                bytes_read: 0,
                bytes_total,
                docs_per_second: 0.0,
                eta_seconds: None,
                elapsed_seconds: 0.0,
                generation: None,
                error: None,
                error_code: None,
                result: None,
            },
        );
        let finished: Vec<u64> = tasks
            .values()
            .filter(|t| matches!(t.status, TaskStatus::Succeeded | TaskStatus::Failed))
            .map(|t| t.task_id)
            .collect();
        for id in finished.iter().take(finished.len().saturating_sub(KEEP_FINISHED)) {
            tasks.remove(id);
        }
        Some(task_id)
    }

    pub(crate) fn update(&self, task_id: u64, change: impl FnOnce(&mut TaskInfo)) {
        if let Some(task) = self.tasks.lock().get_mut(&task_id) {
            change(task);
        }
    }

    pub fn get(&self, task_id: u64) -> Option<TaskInfo> {
        self.tasks.lock().get(&task_id).cloned()
    }

    /// The most recent task of `kind` (for the metrics: a reindex's progress).
    pub fn latest(&self, kind: &str) -> Option<TaskInfo> {
        self.tasks.lock().values().rev().find(|t| t.kind == kind).cloned()
    }
}

/// The JSON body of `POST /admin/reindex`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReindexRequest {
    /// A companies NDJSON file (plain or gzip) on the server.
    companies_path: PathBuf,
}

enum Source {
    Body(Bytes),
    File(PathBuf),
}

/// A background task was started: poll `status_url`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub(crate) task_id: u64,
    pub(crate) status_url: String,
}

/// `?allow_shrink=true`: publish even if the new generation drops more of the live documents
/// than `index.reindex_max_drop_share` allows.
fn allow_shrink(raw: Option<&str>) -> Result<bool, ApiError> {
    let mut allow = false;
    for (name, value) in query_pairs(raw)? {
        allow = match (name.as_str(), value.as_str()) {
            ("allow_shrink", "true") => true,
            ("allow_shrink", "false") => false,
            ("allow_shrink", other) => {
                return Err(invalid_param("allow_shrink", format!("{other:?} is not true or false")));
            }
            (other, _) => return Err(invalid_param(other, "unknown parameter (allow_shrink)")),
        };
    }
    Ok(allow)
}

/// The import directory in force (`admin.import_dir`, else the data directory's `import/`).
fn import_dir(state: &AppState) -> PathBuf {
    state.settings.admin.import_dir.clone().unwrap_or_else(|| state.data_dir.join("import"))
}

/// The one answer for a path that is not a file inside the import directory, whatever the
/// reason (missing, outside, a directory, unreadable): it neither echoes the operating system's
/// error nor tells which server paths exist.
fn outside_import_dir(state: &AppState) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidField,
        format!(
            "field companies_path: not a file inside the import directory {} (admin.import_dir)",
            import_dir(state).display()
        ),
    )
}

/// `requested` resolved inside the import directory (relative paths are taken inside it):
/// its canonical path, when that is a regular file under the directory's canonical path, so
/// neither `..` nor a symbolic link leads out of it.
fn confined(state: &AppState, requested: &std::path::Path) -> Result<PathBuf, ApiError> {
    let root = import_dir(state).canonicalize().map_err(|_| outside_import_dir(state))?;
    let path = root.join(requested).canonicalize().map_err(|_| outside_import_dir(state))?;
    if !path.starts_with(&root) || !path.is_file() {
        return Err(outside_import_dir(state));
    }
    Ok(path)
}

/// An NDJSON body (plain or gzip, within `limits.max_body_bytes`) or `{"companies_path"}`
/// (within `limits.max_json_body_bytes`).
pub async fn reindex(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let allow_shrink = allow_shrink(query.as_deref())?;
    let kind = body_kind(&headers)?;
    let body_use = if kind == BodyKind::Ndjson { BodyUse::Batch } else { BodyUse::Request };
    let body = read_body(body, &headers, body_use, &state.settings.limits).await?;
    let (source, bytes_total) = match kind {
        BodyKind::Ndjson => {
            // Unpacked once here, discarding the bytes, so that a gzip bomb is refused now
            // (413 naming the limit) instead of failing the task after it was accepted.
            let unpack = state.settings.limits.server_unpack_limits();
            let unpacked = body.clone();
            blocking(move || check_unpacked(unpacked, unpack)).await??;
            let len = body.len() as u64;
            (Source::Body(body), Some(len))
        }
        BodyKind::Json => {
            let mut deserializer = serde_json::Deserializer::from_slice(&body);
            let request: ReindexRequest = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
                let code = if err.inner().is_data() { ErrorCode::InvalidField } else { ErrorCode::InvalidJson };
                ApiError::new(code, format!("field {}: {}", err.path(), err.inner()))
            })?;
            let path = confined(&state, &request.companies_path)?;
            let metadata = std::fs::metadata(&path).map_err(|_| outside_import_dir(&state))?;
            (Source::File(path), Some(metadata.len()))
        }
    };
    let task_id = state
        .tasks
        .start_exclusive("reindex", bytes_total)
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "a reindex is already running"))?;
    let worker_state = Arc::clone(&state);
    std::thread::Builder::new()
        .name(format!("reindex-{task_id}"))
        .spawn(move || run_reindex(&worker_state, task_id, source, allow_shrink))
        .map_err(|err| ApiError::internal(&err))?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { task_id, status_url: format!("/admin/tasks/{task_id}") })))
}

/// A failed reindex's message. From a file on the server, a record's error names its id only
/// (the list of invalid lines is already written without values, see
/// `CompanySource::without_quoting`) and a reading error says no more than that.
fn reindex_error(error: &marketlounge_index::IndexError, from_file: bool) -> String {
    use marketlounge_index::IndexError;
    match error {
        IndexError::Record { id, .. } if from_file => {
            format!("record {} is invalid (values of server files are not quoted)", crate::error::echoed(id))
        }
        IndexError::Input { source }
            if from_file && marketlounge_index::ndjson::UnpackLimitExceeded::of(source).is_none() =>
        {
            tracing::warn!(%error, "reading the reindex file failed");
            "cannot read the companies file (the server log has the reason)".to_owned()
        }
        _ => error.to_string(),
    }
}

/// Reads `body` through the gzip decoder within `limits` (plain bytes pass as they are).
fn check_unpacked(body: Bytes, limits: UnpackLimits) -> Result<(), ApiError> {
    let read = open_reader(std::io::Cursor::new(body), limits)
        .and_then(|mut reader| std::io::copy(&mut reader, &mut std::io::sink()));
    match read {
        Ok(_) => Ok(()),
        Err(err) => Err(match UnpackLimitExceeded::of(&err) {
            Some(exceeded) => ApiError::new(ErrorCode::PayloadTooLarge, exceeded.to_string()),
            None => ApiError::new(ErrorCode::BadRequest, format!("the gzip body cannot be unpacked: {err}")),
        }),
    }
}

fn run_reindex(state: &AppState, task_id: u64, source: Source, allow_shrink: bool) {
    let started = Instant::now();
    let bytes_read = Arc::new(AtomicU64::new(0));
    let tasks = &state.tasks;
    tasks.update(task_id, |t| {
        t.status = TaskStatus::Processing;
        t.phase = Some("reading");
    });
    // A file on the server may hold anything readable by the server: its errors never quote
    // its values or the operating system's words (those go to the log).
    let from_file = matches!(source, Source::File(_));
    let input: std::io::Result<Box<dyn Read + Send>> = match source {
        Source::Body(bytes) => Ok(Box::new(std::io::Cursor::new(bytes))),
        Source::File(path) => std::fs::File::open(&path).map(|f| Box::new(f) as Box<dyn Read + Send>),
    };
    let result = input
        .and_then(|input| {
            let counted = CountingReader::new(input, Arc::clone(&bytes_read));
            open_reader(counted, state.settings.limits.server_unpack_limits())
        })
        .map_err(|err| (ErrorCode::BadRequest, format!("cannot read the companies: {err}")))
        .and_then(|input| {
            let companies = CompanySource::new(input, state.settings.limits.max_line_bytes);
            let companies = if from_file { companies.without_quoting() } else { companies };
            let mut progress = |phase: BuildPhase, docs: u64| {
                let elapsed = started.elapsed().as_secs_f64();
                let read = bytes_read.load(Ordering::Relaxed);
                tasks.update(task_id, |t| {
                    t.phase = Some(match phase {
                        BuildPhase::Reading => "reading",
                        BuildPhase::Embedding => "embedding",
                        BuildPhase::Indexing => "indexing",
                        BuildPhase::Publishing => "publishing",
                    });
                    t.docs_processed = docs;
                    t.bytes_read = read;
                    t.elapsed_seconds = elapsed;
                    t.docs_per_second = docs as f64 / elapsed.max(1e-9);
                    t.eta_seconds = match (phase, t.bytes_total) {
                        (BuildPhase::Reading | BuildPhase::Embedding, Some(total)) if read > 0 => {
                            Some(elapsed * (total.saturating_sub(read)) as f64 / read as f64)
                        }
                        _ => None,
                    };
                });
            };
            let limit = drop_limit(&state.settings, allow_shrink);
            state
                .engine
                .reindex_with_limit(companies, limit, &mut progress)
                .map_err(|err| (ErrorCode::for_index(&err), reindex_error(&err, from_file)))
        })
        .map_err(|(code, error)| match code {
            // The operating system's words about a server file stay in the log.
            ErrorCode::BadRequest if from_file => {
                tracing::warn!(task_id, %error, "reading the reindex file failed");
                (code, "cannot read the companies file (the server log has the reason)".to_owned())
            }
            _ => (code, error),
        });
    let succeeded = result.is_ok();
    let elapsed = started.elapsed().as_secs_f64();
    tasks.update(task_id, |t| {
        t.elapsed_seconds = elapsed;
        t.eta_seconds = None;
        t.phase = None;
        match result {
            Ok(generation) => {
                t.status = TaskStatus::Succeeded;
                t.generation = Some(generation);
                t.docs_per_second = t.docs_processed as f64 / elapsed.max(1e-9);
                tracing::info!(task_id, generation, docs = t.docs_processed, elapsed, "reindex published");
            }
            Err((code, error)) => {
                tracing::warn!(task_id, code = code.as_str(), %error, "reindex failed; the live index is unchanged");
                t.status = TaskStatus::Failed;
                t.error = Some(error);
                t.error_code = Some(code);
            }
        }
    });
    if succeeded {
        // Typeahead's company names for the new segments, before a request needs them (the
        // old segments' indexes are dropped by the next request that no longer sees them).
        if let Err(err) = state.suggester.warm(&state.engine.snapshot()) {
            tracing::error!(task_id, %err, "warming the typeahead index failed");
        }
    }
}

pub async fn task(State(state): State<Arc<AppState>>, Path(task_id): Path<String>) -> Result<Json<TaskInfo>, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, format!("no task {}", crate::error::echoed(&task_id)));
    let id: u64 = task_id.parse().map_err(|_| not_found())?;
    state.tasks.get(id).map(Json).ok_or_else(not_found)
}

/// The snapshot taken.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SnapshotTaken {
    /// Its directory on the server.
    path: String,
    /// The generation it holds.
    generation: u64,
}

/// `POST /admin/snapshot`: a backup of the published generation and the access state under
/// `DATA/snapshots/`, if the disk has `admin.snapshot_min_free_mb` free; then only the newest
/// `admin.snapshot_retention` snapshots are kept. Like every state change it takes a JSON
/// content type (its body may be empty): a cross-site form cannot send one.
pub async fn snapshot(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<SnapshotTaken>), ApiError> {
    body_kind_in(&headers, &[BodyKind::Json])?;
    let worker = Arc::clone(&state);
    let taken = blocking(move || -> Result<SnapshotTaken, ApiError> {
        let settings = &worker.settings.admin;
        let taken = crate::backup::take(
            &worker.engine,
            &worker.data_dir,
            &worker.data_dir.join("snapshots"),
            "data directory's",
            settings.snapshot_min_free_mb,
            settings.snapshot_retention,
            "admin.snapshot_retention",
        )
        .map_err(|err| match err {
            crate::backup::SnapshotError::InsufficientStorage { .. } => {
                ApiError::new(ErrorCode::InsufficientStorage, err.to_string())
            }
            crate::backup::SnapshotError::Index(err) => ApiError::from_index(err),
            other => ApiError::internal(&other),
        })?;
        Ok(SnapshotTaken { path: taken.path.display().to_string(), generation: taken.generation })
    })
    .await??;
    Ok((StatusCode::CREATED, Json(taken)))
}

/// What a priors upload changed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PriorsRefreshed {
    /// Live documents whose prior was replaced.
    updated: usize,
    /// Lines received.
    received: usize,
    /// The generation published with them.
    generation: u64,
}

/// NDJSON `{"id", "opportunity"}` lines within `limits.max_body_bytes`, read and applied on the
/// blocking pool; any invalid line changes nothing (errors listed and counted as for records).
pub async fn priors(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PriorsRefreshed>, ApiError> {
    body_kind_in(&headers, &[BodyKind::Ndjson])?;
    let body = read_body(body, &headers, BodyUse::Batch, &state.settings.limits).await?;
    let worker = Arc::clone(&state);
    let refreshed = blocking(move || {
        let mut errors = ErrorList::new(worker.settings.limits.max_listed_errors);
        let values = read_priors(&body[..], |line, found| errors.push_line(line, found))
            .map_err(|err| ApiError::internal(&err))?;
        if !errors.is_empty() {
            return Err(errors.into_error("nothing was changed"));
        }
        let engine = &worker.engine;
        let updated = engine.refresh_priors(&values).map_err(ApiError::from_index)?;
        Ok(PriorsRefreshed { updated, received: values.len(), generation: engine.snapshot().generation() })
    })
    .await??;
    Ok(Json(refreshed))
}
