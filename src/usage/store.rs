//! `DATA/usage.sqlite`: hourly usage rows and the audit log, apart from `keys.sqlite` (the key
//! cache reloads the whole key table whenever another connection commits to that file, which a
//! flush every 10 s would make it do for nothing). SQLite in WAL mode, one connection behind a
//! lock in the server (its one writer); the CLI appends audit entries and reads for exports
//! through its own.
//!
//! Tables (format version 1, `PRAGMA user_version`):
//! - `usage (key_id, hour, scope, requests, results, errors, rate_limited)`, keyed by
//!   (key_id, hour, scope); `hour` is the unix second the UTC hour starts at; a flush adds
//!   to a row (upsert), so a row is the sum of every flush of its hour.
//! - `audit (id, at_ms, actor, ip_prefix, action, target, status, request_id)`.

use std::path::{Path, PathBuf};

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, params};

use super::audit::AuditEntry;
use super::meter::{Counts, Pending, UsageRow};
use crate::auth::Scope;

/// The usage database's file in the data directory.
pub const USAGE_FILE: &str = "usage.sqlite";
/// The format version this build writes and reads.
const FORMAT_VERSION: i64 = 1;

/// Why usage or audit entries could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("usage store {path}: {message}")]
    Store { path: String, message: String },
    #[error(
        "usage store {path} has format version {found}, this build reads version {FORMAT_VERSION}: use a matching build"
    )]
    Version { path: String, found: i64 },
}

/// The usage and audit tables of a data directory.
#[derive(Debug)]
pub struct UsageStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl UsageStore {
    /// Opens (creating) `usage.sqlite` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<UsageStore, UsageError> {
        let path = data_dir.join(USAGE_FILE);
        let error =
            |err: rusqlite::Error| UsageError::Store { path: path.display().to_string(), message: err.to_string() };
        let connection = Connection::open(&path).map_err(error)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(error)?;
        // An audit entry is written before its answer: it must survive a power loss too.
        connection.pragma_update(None, "synchronous", "FULL").map_err(error)?;
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
        let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(error)?;
        if found > FORMAT_VERSION {
            return Err(UsageError::Version { path: path.display().to_string(), found });
        }
        if found == 0 {
            // A new file (an open of an existing one writes nothing: readers may open it while
            // the server writes).
            connection
                .execute_batch(
                    "CREATE TABLE IF NOT EXISTS usage (
                    key_id TEXT NOT NULL,
                    hour INTEGER NOT NULL,
                    scope TEXT NOT NULL,
                    requests INTEGER NOT NULL,
                    results INTEGER NOT NULL,
                    errors INTEGER NOT NULL,
                    rate_limited INTEGER NOT NULL,
                    PRIMARY KEY (key_id, hour, scope)
                ) STRICT, WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS usage_by_hour ON usage (hour);
                CREATE TABLE IF NOT EXISTS audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at_ms INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    ip_prefix TEXT,
                    action TEXT NOT NULL,
                    target TEXT,
                    status INTEGER,
                    request_id TEXT
                ) STRICT;
                CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_ms);
                PRAGMA user_version = 1;",
                )
                .map_err(error)?;
        }
        Ok(UsageStore { path, connection: Mutex::new(connection) })
    }

    /// Opens the store of a data directory that has one; `None` when nothing was ever recorded
    /// there (an export creates no file).
    pub fn open_existing(data_dir: &Path) -> Result<Option<UsageStore>, UsageError> {
        if data_dir.join(USAGE_FILE).exists() { UsageStore::open(data_dir).map(Some) } else { Ok(None) }
    }

    fn error(&self, err: rusqlite::Error) -> UsageError {
        UsageError::Store { path: self.path.display().to_string(), message: err.to_string() }
    }

    /// The connection, held: a flush holds it from taking the counts out of memory to its
    /// commit, and a read that adds the counts still in memory holds it too, so a count is
    /// always in exactly one of the two places for whoever holds it.
    pub(crate) fn lock(&self) -> Held<'_> {
        Held { store: self, connection: self.connection.lock() }
    }

    /// Adds `rows` to the stored ones, in one transaction.
    pub fn add(&self, rows: &[UsageRow]) -> Result<(), UsageError> {
        self.lock().add(rows.iter().map(|row| (row.key_id.as_str(), row.hour, row.scope, &row.counts)))
    }

    /// The stored rows whose hour is in `[from, to)`, of `key` (every key: `None`), by key, hour
    /// and scope.
    pub fn rows(&self, from: i64, to: i64, key: Option<&str>) -> Result<Vec<UsageRow>, UsageError> {
        self.lock().rows(from, to, key)
    }

    /// Appends an entry to the audit log (durably: it is on disk when this returns).
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<i64, UsageError> {
        let connection = self.connection.lock();
        connection
            .execute(
                "INSERT INTO audit (at_ms, actor, ip_prefix, action, target, status, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    entry.at_ms,
                    entry.actor,
                    entry.ip_prefix,
                    entry.action,
                    entry.target,
                    entry.status,
                    entry.request_id
                ],
            )
            .map_err(|err| self.error(err))?;
        Ok(connection.last_insert_rowid())
    }

    /// Deletes the audit entries from before `before_ms`; how many.
    pub fn prune_audit(&self, before_ms: i64) -> Result<usize, UsageError> {
        let connection = self.connection.lock();
        connection.execute("DELETE FROM audit WHERE at_ms < ?1", params![before_ms]).map_err(|err| self.error(err))
    }

    /// Audit entries of `[from_ms, to_ms)`, newest first, at most `limit`.
    pub fn audit(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<Vec<AuditEntry>, UsageError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, at_ms, actor, ip_prefix, action, target, status, request_id FROM audit
                 WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms DESC, id DESC LIMIT ?3",
            )
            .map_err(|err| self.error(err))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let entries = statement
            .query_map(params![from_ms, to_ms, limit], |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    at_ms: row.get(1)?,
                    actor: row.get(2)?,
                    ip_prefix: row.get(3)?,
                    action: row.get(4)?,
                    target: row.get(5)?,
                    status: row.get(6)?,
                    request_id: row.get(7)?,
                })
            })
            .map_err(|err| self.error(err))?;
        entries.collect::<Result<Vec<_>, _>>().map_err(|err| self.error(err))
    }
}

/// The store's connection, held (see [`UsageStore::lock`]).
pub(crate) struct Held<'a> {
    store: &'a UsageStore,
    connection: MutexGuard<'a, Connection>,
}

impl std::fmt::Debug for Held<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("path", &self.store.path).finish()
    }
}

impl Held<'_> {
    /// Adds every count of `pending` to the stored rows, in one transaction.
    pub(crate) fn add_pending(&mut self, pending: &Pending) -> Result<(), UsageError> {
        self.add(pending.iter().flat_map(|(key_id, usage)| {
            usage.counts.iter().map(move |(&(hour, scope), counts)| (key_id.as_str(), hour, scope, counts))
        }))
    }

    fn add<'r>(&mut self, rows: impl Iterator<Item = (&'r str, i64, Scope, &'r Counts)>) -> Result<(), UsageError> {
        let store = self.store;
        let transaction = self.connection.transaction().map_err(|err| store.error(err))?;
        {
            let mut upsert = transaction
                .prepare_cached(
                    "INSERT INTO usage (key_id, hour, scope, requests, results, errors, rate_limited)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (key_id, hour, scope) DO UPDATE SET
                        requests = requests + excluded.requests,
                        results = results + excluded.results,
                        errors = errors + excluded.errors,
                        rate_limited = rate_limited + excluded.rate_limited",
                )
                .map_err(|err| store.error(err))?;
            for (key_id, hour, scope, counts) in rows {
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                upsert
                    .execute(params![
                        key_id,
                        hour,
                        scope.as_str(),
                        count(counts.requests),
                        count(counts.results),
                        count(counts.errors),
                        count(counts.rate_limited)
                    ])
                    .map_err(|err| store.error(err))?;
            }
        }
        transaction.commit().map_err(|err| store.error(err))
    }

    pub(crate) fn rows(&self, from: i64, to: i64, key: Option<&str>) -> Result<Vec<UsageRow>, UsageError> {
        let store = self.store;
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT key_id, hour, scope, requests, results, errors, rate_limited FROM usage
                 WHERE hour >= ?1 AND hour < ?2 AND (?3 IS NULL OR key_id = ?3)
                 ORDER BY key_id, hour, scope",
            )
            .map_err(|err| store.error(err))?;
        let rows = statement
            .query_map(params![from, to, key], |row| {
                let scope: String = row.get(2)?;
                let scope = scope.parse::<Scope>().map_err(|err| {
                    rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, err.to_string().into())
                })?;
                let count = |idx: usize| row.get::<_, i64>(idx).map(|n| n.max(0) as u64);
                Ok(UsageRow {
                    key_id: row.get(0)?,
                    hour: row.get(1)?,
                    scope,
                    counts: Counts {
                        requests: count(3)?,
                        results: count(4)?,
                        errors: count(5)?,
                        rate_limited: count(6)?,
                    },
                })
            })
            .map_err(|err| store.error(err))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|err| store.error(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key_id: &str, hour: i64, scope: Scope, requests: u64) -> UsageRow {
        UsageRow {
            key_id: key_id.into(),
            hour,
            scope,
            counts: Counts { requests, results: 2 * requests, errors: 1, rate_limited: 0 },
        }
    }

    /// Rows of the same key, hour and scope add up, across flushes and across a reopen.
    #[test]
    fn flushes_add_to_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = UsageStore::open(dir.path()).unwrap();
        store.add(&[row("key_a", 3600, Scope::Search, 5), row("key_a", 7200, Scope::Search, 1)]).unwrap();
        store.add(&[row("key_a", 3600, Scope::Search, 2), row("key_b", 3600, Scope::Suggest, 4)]).unwrap();
        drop(store);
        let store = UsageStore::open(dir.path()).unwrap();
        let rows = store.rows(0, 7200, None).unwrap();
        assert_eq!(
            rows,
            [
                UsageRow {
                    key_id: "key_a".into(),
                    hour: 3600,
                    scope: Scope::Search,
                    counts: Counts { requests: 7, results: 14, errors: 2, rate_limited: 0 }
                },
                row("key_b", 3600, Scope::Suggest, 4),
            ]
        );
        assert_eq!(store.rows(0, i64::MAX, Some("key_a")).unwrap().len(), 2);
        assert!(store.rows(0, i64::MAX, Some("key_c")).unwrap().is_empty());
    }

    #[test]
    fn the_audit_log_reads_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = UsageStore::open(dir.path()).unwrap();
        for (at_ms, action) in [(1_000, "keys.create"), (3_000, "reindex"), (2_000, "keys.revoke")] {
            store.append_audit(&AuditEntry { at_ms, ..AuditEntry::cli(action, Some("key_a")) }).unwrap();
        }
        let actions = |entries: Vec<AuditEntry>| entries.into_iter().map(|e| e.action).collect::<Vec<_>>();
        assert_eq!(actions(store.audit(0, i64::MAX, 10).unwrap()), ["reindex", "keys.revoke", "keys.create"]);
        assert_eq!(actions(store.audit(0, i64::MAX, 1).unwrap()), ["reindex"]);
        assert_eq!(actions(store.audit(1_000, 3_000, 10).unwrap()), ["keys.revoke", "keys.create"]);
        let entry = &store.audit(0, i64::MAX, 1).unwrap()[0];
        assert_eq!((entry.actor.as_str(), entry.target.as_deref(), entry.status), ("cli", Some("key_a"), None));
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(UsageStore::open(dir.path()).unwrap());
        Connection::open(dir.path().join(USAGE_FILE)).unwrap().pragma_update(None, "user_version", 2).unwrap();
        let err = UsageStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("format version 2"), "{err}");
    }
}
