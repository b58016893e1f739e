//! Snapshots of a running server: the published index generation and the access state (keys,
//! usage, the master key file), each a directory that `marketlounge restore` turns back into a
//! data directory. Taken on demand (`POST /admin/snapshot`, into `DATA/snapshots/`) or on a
//! schedule (`backup.interval_hours`, into `backup.dir`, default `DATA/backups/`); after each,
//! only the newest ones of its directory are kept (`admin.snapshot_retention`, `backup.keep`).
//!
//! A snapshot is consistent: the engine flushes and copies the files of one published
//! generation (written once, never modified), SQLite copies its databases with `VACUUM INTO`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use marketlounge_index::IndexError;
use marketlounge_index::engine::Engine;
use serde::Serialize;

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The destination's file system has less free space than `admin.snapshot_min_free_mb`.
    #[error(
        "the {what} disk has {free_mb} MiB free, admin.snapshot_min_free_mb asks for {needed_mb}: no snapshot taken"
    )]
    InsufficientStorage { what: &'static str, free_mb: u64, needed_mb: u64 },
    #[error("copying the index: {0}")]
    Index(#[from] IndexError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// Copying the access state (keys, usage, master key).
    #[error("copying the access state: {0:#}")]
    Access(anyhow::Error),
}

impl SnapshotError {
    /// What failed, without the details (paths) the log has.
    pub fn problem(&self) -> SnapshotProblem {
        match self {
            SnapshotError::InsufficientStorage { .. } => SnapshotProblem::InsufficientStorage,
            SnapshotError::Index(_) => SnapshotProblem::Index,
            SnapshotError::Io { .. } => SnapshotProblem::Io,
            SnapshotError::Access(_) => SnapshotProblem::AccessState,
        }
    }
}

/// A snapshot taken.
#[derive(Debug, Clone, Serialize)]
pub struct Taken {
    pub path: PathBuf,
    pub generation: u64,
}

/// Takes a snapshot of `engine` and the access state of `data_dir` into a new directory of
/// `dir`, if its disk has `min_free_mb` free; then keeps only the newest `keep` of `dir`
/// (`keep_setting` names the setting in the log). Blocking.
pub fn take(
    engine: &Engine,
    data_dir: &Path,
    dir: &Path,
    what: &'static str,
    min_free_mb: u64,
    keep: usize,
    keep_setting: &str,
) -> Result<Taken, SnapshotError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| SnapshotError::Io { context: format!("creating {}", dir.display()), source })?;
    let free = fs4::available_space(dir)
        .map_err(|source| SnapshotError::Io { context: format!("free space of {}", dir.display()), source })?;
    let needed = min_free_mb.saturating_mul(1 << 20);
    if free < needed {
        return Err(SnapshotError::InsufficientStorage { what, free_mb: free >> 20, needed_mb: min_free_mb });
    }
    let generation = engine.snapshot().generation();
    // Unique even for two snapshots in the same millisecond.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let name = format!("gen-{generation:08}-{millis}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let path = dir.join(name);
    let manifest = engine.backup(&path)?;
    if let Err(err) = crate::auth::backup::save(data_dir, &path) {
        // Half a snapshot would restore without its keys: none at all.
        let _ = std::fs::remove_dir_all(&path);
        return Err(SnapshotError::Access(err));
    }
    prune(dir, keep, keep_setting);
    Ok(Taken { path, generation: manifest.generation })
}

/// The snapshots of `dir`, oldest first (by the time in their names).
pub fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    // `gen-{generation}-{millis}-{n}`: taken at millis, n-th of the process.
    let taken_at = |name: &str| -> Option<(u128, u64)> {
        let mut parts = name.strip_prefix("gen-")?.split('-').skip(1);
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    let mut snapshots: Vec<((u128, u64), PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| Some((taken_at(e.file_name().to_str()?)?, e.path())))
        .collect();
    snapshots.sort();
    Ok(snapshots.into_iter().map(|(_, path)| path).collect())
}

/// Deletes the oldest snapshots of `dir` beyond the newest `keep`; a failure is logged, the
/// new snapshot stands.
fn prune(dir: &Path, keep: usize, keep_setting: &str) {
    let snapshots = match list(dir) {
        Ok(snapshots) => snapshots,
        Err(error) => {
            tracing::error!(%error, dir = %dir.display(), "listing snapshots to prune");
            return;
        }
    };
    let excess = snapshots.len().saturating_sub(keep);
    for path in snapshots.into_iter().take(excess) {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(path = %path.display(), setting = keep_setting, "old snapshot deleted"),
            Err(error) => tracing::error!(%error, path = %path.display(), "deleting an old snapshot"),
        }
    }
}

/// The last scheduled backup, as `/health` and the metrics show it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LastBackup {
    /// When it ended (RFC 3339, UTC).
    pub at: String,
    #[serde(skip)]
    pub at_unix: i64,
    pub result: BackupResult,
    /// What failed; the server log has the whole error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<SnapshotProblem>,
    /// The index generation it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Its directory's name inside `backup.dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub duration_ms: f64,
}

/// How a backup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupResult {
    Ok,
    Failed,
}

/// What failed in a snapshot, safe to show without a key (`/health`, metrics labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotProblem {
    /// Less free space than `admin.snapshot_min_free_mb`.
    InsufficientStorage,
    /// Copying the index.
    Index,
    /// Creating the directory or reading its free space.
    Io,
    /// Copying the keys, usage and master key.
    AccessState,
}

impl SnapshotProblem {
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotProblem::InsufficientStorage => "insufficient_storage",
            SnapshotProblem::Index => "index",
            SnapshotProblem::Io => "io",
            SnapshotProblem::AccessState => "access_state",
        }
    }
}

/// What the schedule has done since the server started.
#[derive(Debug, Default)]
pub struct BackupStatus {
    last: parking_lot::Mutex<Option<LastBackup>>,
    /// When the last successful one ended (unix seconds; 0: none yet).
    last_success_unix: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl BackupStatus {
    pub fn last(&self) -> Option<LastBackup> {
        self.last.lock().clone()
    }

    /// Unix seconds of the last success, if any.
    pub fn last_success_unix(&self) -> Option<u64> {
        Some(self.last_success_unix.load(Ordering::Acquire)).filter(|&at| at > 0)
    }

    /// (succeeded, failed) since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.succeeded.load(Ordering::Acquire), self.failed.load(Ordering::Acquire))
    }

    fn record(&self, outcome: &Result<Taken, SnapshotError>, duration: Duration) {
        let now = jiff::Timestamp::now();
        let last = LastBackup {
            at: now.round(jiff::Unit::Second).unwrap_or(now).to_string(),
            at_unix: now.as_second(),
            result: if outcome.is_ok() { BackupResult::Ok } else { BackupResult::Failed },
            problem: outcome.as_ref().err().map(SnapshotError::problem),
            generation: outcome.as_ref().ok().map(|taken| taken.generation),
            name: outcome.as_ref().ok().and_then(|taken| Some(taken.path.file_name()?.to_string_lossy().into_owned())),
            duration_ms: duration.as_secs_f64() * 1e3,
        };
        match outcome {
            Ok(_) => {
                self.succeeded.fetch_add(1, Ordering::AcqRel);
                self.last_success_unix.store(now.as_second().max(1) as u64, Ordering::Release);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::AcqRel);
            }
        }
        *self.last.lock() = Some(last);
    }
}

/// Where scheduled backups go: `backup.dir`, else `DATA/backups/` (a relative `backup.dir` is
/// taken inside the data directory).
pub fn scheduled_dir(settings: &crate::settings::BackupSettings, data_dir: &Path) -> PathBuf {
    match &settings.dir {
        Some(dir) => data_dir.join(dir),
        None => data_dir.join("backups"),
    }
}

/// The thread that takes a backup every `backup.interval_hours`; dropping it stops it (a backup
/// under way finishes first).
#[derive(Debug)]
pub struct Schedule {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Schedule {
    /// Starts the schedule when `backup.interval_hours` is set; the first backup is one
    /// interval after the start.
    pub fn start(state: &Arc<crate::http::AppState>) -> std::io::Result<Option<Schedule>> {
        let Some(hours) = state.settings.backup.interval_hours else { return Ok(None) };
        let interval = Duration::from_secs_f64(hours * 3600.0);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let state = Arc::clone(state);
        let thread = std::thread::Builder::new().name("backup".into()).spawn(move || {
            let dir = scheduled_dir(&state.settings.backup, &state.data_dir);
            tracing::info!(dir = %dir.display(), hours, keep = state.settings.backup.keep, "scheduled backups on");
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let started = Instant::now();
                let outcome = take(
                    &state.engine,
                    &state.data_dir,
                    &dir,
                    "backup directory's",
                    state.settings.admin.snapshot_min_free_mb,
                    state.settings.backup.keep,
                    "backup.keep",
                );
                match &outcome {
                    Ok(taken) => tracing::info!(
                        path = %taken.path.display(),
                        generation = taken.generation,
                        seconds = started.elapsed().as_secs_f64(),
                        "scheduled backup taken"
                    ),
                    Err(error) => {
                        tracing::error!(%error, "scheduled backup failed; the next one is due in one interval")
                    }
                }
                state.backups.record(&outcome, started.elapsed());
            }
        })?;
        Ok(Some(Schedule { stop: Some(stop), thread: Some(thread) }))
    }
}

impl Drop for Schedule {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
