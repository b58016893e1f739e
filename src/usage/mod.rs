//! Usage metering and the audit log (issue 21). Every answer to a known key is counted in
//! memory per key, UTC hour and scope (requests, results returned, errors, 429s: [`meter`]) and
//! flushed to `DATA/usage.sqlite` ([`store`]) every [`FLUSH_INTERVAL`] by a background thread
//! and once more when the server stops ([`Flusher`]); each key's `last_used_at` is written at
//! the same time. Admin actions are appended to the same file before they are answered
//! ([`audit`]). [`report`] turns rows into `/admin/usage` buckets and billing events.
//!
//! What a crash loses: the counts since the last flush (at most 10 s of traffic) on SIGKILL or
//! a power loss; SIGTERM and Ctrl-C flush. Never an audit entry of an answered action.

pub mod audit;
pub mod meter;
pub mod report;
pub mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Scope;
use crate::auth::store::KeyStore;
use meter::{Counts, Meter, UsageRow};
use store::{UsageError, UsageStore};

/// How often counts go from memory to disk.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// How many results an answer returned (hits, suggestions): a response extension the `match`
/// and `suggest` handlers set and the metering layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCount(pub u32);

impl ResultCount {
    pub fn of(n: usize) -> ResultCount {
        ResultCount(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// The server's usage meter and audit log.
#[derive(Debug)]
pub struct Usage {
    meter: Meter,
    store: UsageStore,
}

impl Usage {
    pub fn open(data_dir: &Path) -> Result<Usage, UsageError> {
        Ok(Usage { meter: Meter::default(), store: UsageStore::open(data_dir)? })
    }

    pub fn store(&self) -> &UsageStore {
        &self.store
    }

    /// Counts one answer to `key_id` (the request path: memory only).
    pub fn record(&self, key_id: &str, scope: Scope, status: u16, results: u32) {
        self.record_at(key_id, scope, jiff::Timestamp::now().as_second(), status, results);
    }

    pub fn record_at(&self, key_id: &str, scope: Scope, now: i64, status: u16, results: u32) {
        self.meter.record(key_id, scope, now, &Counts::of_answer(status, results));
    }

    /// Writes the counts in memory to disk and the keys' `last_used_at` to the key table
    /// (through `keys`' own connection). Counts whose write fails go back to memory for the
    /// next flush.
    pub fn flush(&self, keys: Option<&KeyStore>) -> Result<(), UsageError> {
        let mut held = self.store.lock();
        let pending = self.meter.take();
        if pending.is_empty() {
            return Ok(());
        }
        if let Err(err) = held.add_pending(&pending) {
            self.meter.restore(pending);
            return Err(err);
        }
        drop(held);
        if let Some(keys) = keys {
            let used: Vec<(&str, i64)> = pending.iter().map(|(id, usage)| (id.as_str(), usage.last_seen)).collect();
            // Only a display field: a failure is logged, the counts are already safe.
            if let Err(error) = keys.touch(&used) {
                tracing::warn!(%error, "recording when keys were last used failed");
            }
        }
        Ok(())
    }

    /// Every count of `[from, to)` (hours by their start), of `key` or of every key: the
    /// stored rows and those still in memory.
    pub fn rows(&self, from: i64, to: i64, key: Option<&str>) -> Result<Vec<UsageRow>, UsageError> {
        // Held across both reads: a flush cannot move counts from one to the other between.
        let held = self.store.lock();
        let mut rows = held.rows(from, to, key)?;
        rows.extend(self.meter.rows(from, to, key));
        Ok(rows)
    }
}

/// The thread that flushes usage every [`FLUSH_INTERVAL`]; dropping it flushes once more and
/// waits for that (the server drops it after its last answer).
#[derive(Debug)]
pub struct Flusher {
    /// Dropped to stop the thread at once (it waits on the other end).
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often audit entries past their retention are looked for.
const AUDIT_PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

impl Flusher {
    /// Flushes every `interval`; with `audit_retention`, also deletes older audit entries, at
    /// start and then hourly.
    pub fn start(
        usage: Arc<Usage>,
        keys: Option<Arc<crate::auth::cache::KeyCache>>,
        interval: Duration,
        audit_retention: Option<Duration>,
    ) -> Flusher {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let mut pruned_at: Option<std::time::Instant> = None;
        let flush = move || {
            if let Err(error) = usage.flush(keys.as_ref().map(|keys| keys.store())) {
                tracing::error!(%error, "usage flush failed; the counts stay in memory and are retried");
            }
            if let Some(retention) = audit_retention
                && pruned_at.is_none_or(|at| at.elapsed() >= AUDIT_PRUNE_INTERVAL)
            {
                pruned_at = Some(std::time::Instant::now());
                let before_ms = jiff::Timestamp::now().as_millisecond() - retention.as_millis() as i64;
                match usage.store().prune_audit(before_ms) {
                    Ok(0) => {}
                    Ok(deleted) => tracing::info!(deleted, "audit entries past auth.audit_retention_days deleted"),
                    Err(error) => tracing::error!(%error, "deleting old audit entries failed; retried within the hour"),
                }
            }
        };
        let mut flush = flush;
        let thread = std::thread::Builder::new()
            .name("usage-flush".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    flush();
                }
                flush();
            })
            .expect("spawning the usage flush thread");
        Flusher { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts are in exactly one place whoever reads: memory before a flush, the file after,
    /// added together by `rows`; a flush records when each key was last used.
    #[test]
    fn reads_see_every_count_once_across_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let secret = crate::auth::secret::MasterSecret::from_bytes(&[5; 32]).unwrap();
        let keys = KeyStore::open(dir.path(), secret).unwrap();
        let spec = crate::auth::store::KeySpec {
            name: "partner".into(),
            kind: crate::auth::KeyKind::Secret,
            scopes: vec![Scope::Search],
            origins: Vec::new(),
            rate: None,
            burst: None,
            quota: None,
            expires_at: None,
            owner: None,
        };
        let (record, _) = keys.create(&spec, 100).unwrap();
        let usage = Usage::open(dir.path()).unwrap();
        let t = 1_780_000_000;
        usage.record_at(&record.id, Scope::Search, t, 200, 10);
        usage.record_at(&record.id, Scope::Search, t + 1, 500, 0);
        let total = |usage: &Usage| {
            let mut total = Counts::default();
            for row in usage.rows(0, i64::MAX, None).unwrap() {
                total.add(&row.counts);
            }
            total
        };
        assert_eq!(total(&usage).requests, 2);
        usage.flush(Some(&keys)).unwrap();
        assert_eq!(total(&usage), Counts { requests: 2, results: 10, errors: 1, rate_limited: 0 });
        assert_eq!(keys.get(&record.id).unwrap().last_used_at, Some(t + 1));
        usage.record_at(&record.id, Scope::Search, t + 2, 429, 0);
        assert_eq!(total(&usage), Counts { requests: 3, results: 10, errors: 1, rate_limited: 1 });
        usage.flush(Some(&keys)).unwrap();
        drop(usage);
        let reopened = Usage::open(dir.path()).unwrap();
        assert_eq!(total(&reopened), Counts { requests: 3, results: 10, errors: 1, rate_limited: 1 });
        assert_eq!(reopened.rows(0, i64::MAX, None).unwrap().len(), 1, "one hour, one scope: one row");
        assert_eq!(keys.get(&record.id).unwrap().last_used_at, Some(t + 2));
    }

    /// The flusher writes on its interval and once more when dropped.
    #[test]
    fn the_flusher_flushes_on_its_interval_and_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Arc::new(Usage::open(dir.path()).unwrap());
        let flusher = Flusher::start(Arc::clone(&usage), None, Duration::from_millis(20), None);
        usage.record("key_a", Scope::Suggest, 200, 8);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while usage.store().rows(0, i64::MAX, None).unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no flush in 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(flusher);
        let slow = Flusher::start(Arc::clone(&usage), None, Duration::from_secs(3600), None);
        usage.record("key_a", Scope::Suggest, 200, 8);
        let started = std::time::Instant::now();
        drop(slow);
        assert!(started.elapsed() < Duration::from_secs(5), "a stop does not wait for the interval");
        let rows = usage.store().rows(0, i64::MAX, None).unwrap();
        assert_eq!(rows.iter().map(|r| r.counts.requests).sum::<u64>(), 2);
    }

    /// Audit entries past their retention go with the first flush; younger ones stay.
    #[test]
    fn audit_entries_past_their_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let usage = Arc::new(Usage::open(dir.path()).unwrap());
        let now_ms = jiff::Timestamp::now().as_millisecond();
        let day_ms = 86_400_000;
        for (age_days, target) in [(400, "old"), (366, "just-past"), (364, "within"), (0, "today")] {
            let entry = audit::AuditEntry {
                id: 0,
                at_ms: now_ms - age_days * day_ms,
                actor: "cli".into(),
                ip_prefix: Some("192.0.2.0/24".into()),
                action: "keys.create".into(),
                target: Some(target.into()),
                status: Some(201),
                request_id: None,
            };
            usage.store().append_audit(&entry).unwrap();
        }
        let retention = Some(Duration::from_secs(365 * 86_400));
        drop(Flusher::start(Arc::clone(&usage), None, Duration::from_secs(3600), retention));
        let left: Vec<String> =
            usage.store().audit(0, i64::MAX, 100).unwrap().into_iter().filter_map(|entry| entry.target).collect();
        assert_eq!(left, ["today", "within"]);
    }
}
