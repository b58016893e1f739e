//! The key table: SQLite (WAL) under the data directory, one connection behind a lock (one
//! writer, as the scoring store). Only each key's HMAC and display prefix are stored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::secret::{MasterSecret, new_key};
use super::{AuthError, KeyKind, Scope, parse_scopes};

/// The key database's file in the data directory.
pub const KEYS_FILE: &str = "keys.sqlite";

/// A key as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub kind: KeyKind,
    /// The first characters of the key's random part, for display (`mlk_sec_AbCdEfGh…`).
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// Origins a publishable key may be used from (`https://shop.example`).
    pub origins: Vec<String>,
    /// Requests per second, and the burst above it.
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    /// Requests per calendar month (UTC).
    pub quota: Option<u64>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Who is billed for the key (a billing provider's customer id, e.g. `cus_…`): several keys
    /// (a browser key and a server key) may share one. Usage exports name it as `customer`,
    /// the key's `name` when absent.
    pub owner: Option<String>,
}

/// What a new key is.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    pub name: String,
    pub kind: KeyKind,
    pub scopes: Vec<Scope>,
    pub origins: Vec<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub quota: Option<u64>,
    pub expires_at: Option<i64>,
    pub owner: Option<String>,
}

/// Longest key name or owner, in characters.
pub const MAX_NAME_CHARS: usize = 200;

impl KeySpec {
    /// Refuses what a key of this kind cannot hold.
    pub fn check(&self) -> Result<(), AuthError> {
        if self.scopes.is_empty() {
            return Err(AuthError::NoScope);
        }
        for (field, value) in [("name", Some(&self.name)), ("owner", self.owner.as_ref())] {
            if let Some(value) = value
                && (value.trim().is_empty()
                    || value.chars().count() > MAX_NAME_CHARS
                    || value.chars().any(char::is_control))
            {
                return Err(AuthError::BadText { field, max: MAX_NAME_CHARS });
            }
        }
        if self.kind == KeyKind::Publishable
            && let Some(scope) = self.scopes.iter().find(|s| !Scope::PUBLISHABLE.contains(s))
        {
            return Err(AuthError::ScopeNotPublishable(*scope));
        }
        for origin in &self.origins {
            if !is_origin(origin) {
                return Err(AuthError::BadOrigin { origin: origin.clone() });
            }
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(AuthError::NotPositive { field: "rate", value: rate });
        }
        if self.burst == Some(0) {
            return Err(AuthError::NotPositive { field: "burst", value: 0.0 });
        }
        if self.quota == Some(0) {
            return Err(AuthError::NotPositive { field: "quota", value: 0.0 });
        }
        Ok(())
    }
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn is_origin(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")) else { return false };
    !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        && !rest.starts_with(':')
}

/// What a presented key is worth.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Valid(Arc<KeyRecord>),
    Unknown,
    Revoked,
    Expired,
}

/// The key table of a data directory.
#[derive(Debug)]
pub struct KeyStore {
    path: PathBuf,
    secret: MasterSecret,
    connection: Mutex<Connection>,
}

const COLUMNS: &str = "id, name, kind, prefix, scopes, origins, rate, burst, quota, expires_at, created_at, last_used_at, revoked_at, owner";

impl KeyStore {
    /// Opens (creating) `keys.sqlite` in `data_dir`; hashes are keyed with `secret`.
    pub fn open(data_dir: &Path, secret: MasterSecret) -> Result<KeyStore, AuthError> {
        let path = data_dir.join(KEYS_FILE);
        let store_error =
            |err: rusqlite::Error| AuthError::Store { path: path.display().to_string(), message: err.to_string() };
        let connection = Connection::open(&path).map_err(store_error)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(store_error)?;
        connection.pragma_update(None, "synchronous", "FULL").map_err(store_error)?;
        connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(store_error)?;
        connection
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS keys (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    hash BLOB NOT NULL UNIQUE,
                    scopes TEXT NOT NULL,
                    origins TEXT NOT NULL,
                    rate REAL,
                    burst INTEGER,
                    quota INTEGER,
                    expires_at INTEGER,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER,
                    revoked_at INTEGER,
                    owner TEXT
                ) STRICT;",
            )
            .map_err(store_error)?;
        add_owner_column(&connection).map_err(store_error)?;
        super::token::migrate(&connection).map_err(store_error)?;
        Ok(KeyStore { path, secret, connection: Mutex::new(connection) })
    }

    fn error(&self, err: rusqlite::Error) -> AuthError {
        AuthError::Store { path: self.path.display().to_string(), message: err.to_string() }
    }

    /// Creates a key: its record and its secret, which is shown once and never stored.
    pub fn create(&self, spec: &KeySpec, now: i64) -> Result<(KeyRecord, String), AuthError> {
        spec.check()?;
        let (key, prefix) = new_key(spec.kind);
        let id = format!("key_{}", &new_key(KeyKind::Secret).0[8..24]);
        let scopes: Vec<&str> = spec.scopes.iter().map(|s| s.as_str()).collect();
        let origins = serde_json::to_string(&spec.origins).expect("strings serialise");
        let token_key = super::token::sealed_signing_key(&self.secret, &id, spec.kind, &key);
        self.connection
            .lock()
            .execute(
                "INSERT INTO keys (id, name, kind, prefix, hash, scopes, origins, rate, burst, quota, expires_at, created_at, owner, token_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    id,
                    spec.name,
                    spec.kind.as_str(),
                    prefix,
                    self.secret.key_hash(&key).as_slice(),
                    scopes.join(","),
                    origins,
                    spec.rate,
                    spec.burst,
                    spec.quota.map(|q| q as i64),
                    spec.expires_at,
                    now,
                    spec.owner,
                    token_key.as_ref().map(|sealed| sealed.as_slice())
                ],
            )
            .map_err(|err| self.error(err))?;
        Ok((self.get(&id)?, key))
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyRecord>, AuthError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare(&format!("SELECT {COLUMNS} FROM keys ORDER BY created_at, id"))
            .map_err(|err| self.error(err))?;
        let rows = statement.query_map([], read_record).map_err(|err| self.error(err))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|err| self.error(err))
    }

    pub fn get(&self, id: &str) -> Result<KeyRecord, AuthError> {
        self.connection
            .lock()
            .query_row(&format!("SELECT {COLUMNS} FROM keys WHERE id = ?1"), [id], read_record)
            .optional()
            .map_err(|err| self.error(err))?
            .ok_or_else(|| AuthError::NoSuchKey(id.to_owned()))
    }

    /// Revokes a key (for good; revoking twice keeps the first time).
    pub fn revoke(&self, id: &str, now: i64) -> Result<KeyRecord, AuthError> {
        self.get(id)?;
        self.connection
            .lock()
            .execute("UPDATE keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1", params![id, now])
            .map_err(|err| self.error(err))?;
        self.get(id)
    }

    /// Gives a key a new secret, same id and settings: the old secret stops working at once.
    pub fn rotate(&self, id: &str, _now: i64) -> Result<(KeyRecord, String), AuthError> {
        let record = self.get(id)?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked(id.to_owned()));
        }
        let (key, prefix) = new_key(record.kind);
        // The new secret's signing key: tokens signed with the old secret stop working too.
        let token_key = super::token::sealed_signing_key(&self.secret, id, record.kind, &key);
        self.connection
            .lock()
            .execute(
                "UPDATE keys SET hash = ?2, prefix = ?3, token_key = ?4 WHERE id = ?1",
                params![
                    id,
                    self.secret.key_hash(&key).as_slice(),
                    prefix,
                    token_key.as_ref().map(|sealed| sealed.as_slice())
                ],
            )
            .map_err(|err| self.error(err))?;
        Ok((self.get(id)?, key))
    }

    /// What `key` is worth at `now`. The lookup is by its HMAC, so its time says nothing about
    /// how close a guess came.
    pub fn verify(&self, key: &str, now: i64) -> Result<Verdict, AuthError> {
        if super::secret::kind_of(key).is_none() {
            return Ok(Verdict::Unknown);
        }
        let hash = self.secret.key_hash(key);
        let record = self
            .connection
            .lock()
            .query_row(&format!("SELECT {COLUMNS} FROM keys WHERE hash = ?1"), [hash.as_slice()], read_record)
            .optional()
            .map_err(|err| self.error(err))?;
        Ok(match record {
            None => Verdict::Unknown,
            Some(record) if record.revoked_at.is_some() => Verdict::Revoked,
            Some(record) if record.expires_at.is_some_and(|at| at <= now) => Verdict::Expired,
            Some(record) => Verdict::Valid(Arc::new(record)),
        })
    }
}

impl KeyStore {
    /// Every key with the HMAC it is found by (what [`super::cache::KeyCache`] holds).
    pub fn hashed(&self) -> Result<Vec<([u8; 32], KeyRecord)>, AuthError> {
        let connection = self.connection.lock();
        let mut statement =
            connection.prepare(&format!("SELECT {COLUMNS}, hash FROM keys")).map_err(|err| self.error(err))?;
        let rows = statement
            .query_map([], |row| {
                let record = read_record(row)?;
                let hash: Vec<u8> = row.get(14)?;
                let hash: [u8; 32] = hash.try_into().map_err(|_| {
                    rusqlite::Error::FromSqlConversionFailure(
                        14,
                        rusqlite::types::Type::Blob,
                        "not a 32-byte HMAC".into(),
                    )
                })?;
                Ok((hash, record))
            })
            .map_err(|err| self.error(err))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|err| self.error(err))
    }

    /// SQLite's `data_version`: it changes when another connection (the CLI, another server)
    /// commits to the table.
    pub fn data_version(&self) -> Result<i64, AuthError> {
        self.connection.lock().query_row("PRAGMA data_version", [], |row| row.get(0)).map_err(|err| self.error(err))
    }

    /// [`KeyStore::data_version`] without waiting: `None` while this store's connection is in
    /// use (a quota raise or the usage flush writing, an fsync included).
    pub fn try_data_version(&self) -> Result<Option<i64>, AuthError> {
        let Some(connection) = self.connection.try_lock() else { return Ok(None) };
        connection.query_row("PRAGMA data_version", [], |row| row.get(0)).map(Some).map_err(|err| self.error(err))
    }

    /// Records when keys were last used (unix seconds), for the usage flush: one transaction
    /// through this store's own connection, so the key cache, which watches for other
    /// connections' commits, does not reload. A time never goes back.
    pub fn touch(&self, used: &[(&str, i64)]) -> Result<(), AuthError> {
        if used.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection.lock();
        let transaction = connection.transaction().map_err(|err| self.error(err))?;
        {
            let mut update = transaction
                .prepare_cached(
                    "UPDATE keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                )
                .map_err(|err| self.error(err))?;
            for (id, at) in used {
                update.execute(params![id, at]).map_err(|err| self.error(err))?;
            }
        }
        transaction.commit().map_err(|err| self.error(err))
    }

    /// The token-signing key of every key that has one (secret keys created or rotated since
    /// tokens exist), unsealed with this store's secret.
    pub fn signing_keys(&self) -> Result<Vec<(String, super::token::SigningKey)>, AuthError> {
        let connection = self.connection.lock();
        let mut statement = connection
            .prepare("SELECT id, token_key FROM keys WHERE token_key IS NOT NULL")
            .map_err(|err| self.error(err))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
            .map_err(|err| self.error(err))?;
        let mut keys = Vec::new();
        for row in rows {
            let (id, sealed) = row.map_err(|err| self.error(err))?;
            let key = super::token::SigningKey::unseal(&self.secret, &id, &sealed).ok_or_else(|| AuthError::Store {
                path: self.path.display().to_string(),
                message: format!("key {id}: the sealed token-signing key is not 32 bytes"),
            })?;
            keys.push((id, key));
        }
        Ok(keys)
    }

    /// The HMAC of `key` under this store's secret.
    pub fn hash_of(&self, key: &str) -> [u8; 32] {
        self.secret.key_hash(key)
    }

    /// Runs `work` on the store's one connection, for the tables beside `keys` (the quota
    /// leases of [`super::quota`]). Writing through this connection, never another, keeps
    /// `data_version` (bumped by other connections' commits) a signal that keys changed.
    pub(crate) fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, AuthError> {
        work(&self.connection.lock()).map_err(|err| self.error(err))
    }
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let text_error = |idx: usize, message: String| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, message.into())
    };
    let kind = match row.get::<_, String>(2)?.as_str() {
        "secret" => KeyKind::Secret,
        "publishable" => KeyKind::Publishable,
        other => return Err(text_error(2, format!("unknown key kind {other:?}"))),
    };
    let scopes = parse_scopes(&row.get::<_, String>(4)?).map_err(|err| text_error(4, err.to_string()))?;
    let origins: Vec<String> =
        serde_json::from_str(&row.get::<_, String>(5)?).map_err(|err| text_error(5, err.to_string()))?;
    Ok(KeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        kind,
        prefix: row.get(3)?,
        scopes,
        origins,
        rate: row.get(6)?,
        burst: row.get(7)?,
        quota: row.get::<_, Option<i64>>(8)?.map(|q| q as u64),
        expires_at: row.get(9)?,
        created_at: row.get(10)?,
        last_used_at: row.get(11)?,
        revoked_at: row.get(12)?,
        owner: row.get(13)?,
    })
}

/// The key records of a data directory, read without the server secret (a usage export names
/// each key's owner; the secret may live in the server's environment only): none when the
/// directory has no key table.
pub fn records_in(data_dir: &Path) -> Result<Vec<KeyRecord>, AuthError> {
    let path = data_dir.join(KEYS_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let store_error =
        |err: rusqlite::Error| AuthError::Store { path: path.display().to_string(), message: err.to_string() };
    let connection =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(store_error)?;
    connection.busy_timeout(std::time::Duration::from_secs(10)).map_err(store_error)?;
    add_owner_column(&connection).map_err(store_error)?;
    let mut statement =
        connection.prepare(&format!("SELECT {COLUMNS} FROM keys ORDER BY created_at, id")).map_err(store_error)?;
    let rows = statement.query_map([], read_record).map_err(store_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(store_error)
}

/// Adds `owner` to a key table created before it existed (a column every new table has).
fn add_owner_column(connection: &Connection) -> rusqlite::Result<()> {
    let has_owner = connection.prepare("SELECT 1 FROM pragma_table_info('keys') WHERE name = 'owner'")?.exists([])?;
    if !has_owner {
        connection.execute_batch("ALTER TABLE keys ADD COLUMN owner TEXT")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn spec(kind: KeyKind, scopes: &[Scope], expires_at: Option<i64>) -> KeySpec {
        KeySpec {
            name: "partner".into(),
            kind,
            scopes: scopes.to_vec(),
            origins: Vec::new(),
            rate: None,
            burst: None,
            quota: None,
            expires_at,
            owner: None,
        }
    }

    fn store(dir: &Path) -> KeyStore {
        KeyStore::open(dir, MasterSecret::from_bytes(&[7; 32]).unwrap()).unwrap()
    }

    #[test]
    fn a_key_is_stored_as_its_hash_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        let (record, key) = keys.create(&spec(KeyKind::Secret, &[Scope::Search, Scope::Admin], None), 100).unwrap();
        assert_eq!(record.scopes, [Scope::Search, Scope::Admin]);
        assert_eq!(keys.verify(&key, 101).unwrap(), Verdict::Valid(Arc::new(record.clone())));
        // Nothing of the key but its display prefix is in the database file.
        drop(keys);
        let bytes = std::fs::read(dir.path().join(KEYS_FILE)).unwrap();
        let wal = std::fs::read(dir.path().join(format!("{KEYS_FILE}-wal"))).unwrap_or_default();
        for haystack in [&bytes, &wal] {
            assert!(!haystack.windows(20).any(|w| w == &key.as_bytes()[8..28]), "the key's secret part is stored");
        }
        // It survives a reopen; another server secret knows none of the keys.
        let keys = store(dir.path());
        assert!(matches!(keys.verify(&key, 101).unwrap(), Verdict::Valid(_)));
        let other = KeyStore::open(dir.path(), MasterSecret::from_bytes(&[8; 32]).unwrap()).unwrap();
        assert_eq!(other.verify(&key, 101).unwrap(), Verdict::Unknown);
    }

    #[test]
    fn bad_specs_are_refused_naming_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        let err = keys.create(&spec(KeyKind::Publishable, &[Scope::Search, Scope::Write], None), 0).unwrap_err();
        assert!(err.to_string().contains("write"), "{err}");
        let mut bad = spec(KeyKind::Publishable, &[Scope::Search], None);
        bad.origins = vec!["https://shop.example/path".into()];
        assert!(matches!(keys.create(&bad, 0), Err(AuthError::BadOrigin { .. })));
        bad.origins = vec!["https://shop.example".into(), "http://localhost:8080".into()];
        assert!(keys.create(&bad, 0).is_ok());
        assert!(matches!(parse_scopes("search,sudo"), Err(AuthError::UnknownScope { .. })));
        assert!(matches!(parse_scopes(" , "), Err(AuthError::NoScope)));
        assert_eq!(parse_scopes("suggest, search,search").unwrap(), [Scope::Search, Scope::Suggest]);
        assert!(matches!(keys.revoke("key_nope", 0), Err(AuthError::NoSuchKey(_))));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Create { expires_in: Option<i64> },
        Revoke(usize),
        Rotate(usize),
        Wait(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            proptest::option::of(1i64..50).prop_map(|expires_in| Op::Create { expires_in }),
            (0usize..8).prop_map(Op::Revoke),
            (0usize..8).prop_map(Op::Rotate),
            (1i64..30).prop_map(Op::Wait),
        ]
    }

    /// The model: per key, every secret it ever had, which one is current, revoked, expiry.
    #[derive(Debug)]
    struct Model {
        id: String,
        secrets: Vec<String>,
        revoked: bool,
        expires_at: Option<i64>,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// For any sequence of create, revoke, rotate and time passing, the store's verdict on
        /// every secret ever issued agrees with a simple model.
        #[test]
        fn the_verifier_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..24)) {
            let dir = tempfile::tempdir().unwrap();
            let keys = store(dir.path());
            let mut model: Vec<Model> = Vec::new();
            let mut now = 1_000;
            for op in ops {
                match op {
                    Op::Create { expires_in } => {
                        let expires_at = expires_in.map(|d| now + d);
                        let (record, key) = keys.create(&spec(KeyKind::Secret, &[Scope::Search], expires_at), now).unwrap();
                        model.push(Model { id: record.id, secrets: vec![key], revoked: false, expires_at });
                    }
                    Op::Revoke(i) if i < model.len() => {
                        keys.revoke(&model[i].id, now).unwrap();
                        model[i].revoked = true;
                    }
                    Op::Rotate(i) if i < model.len() => match keys.rotate(&model[i].id, now) {
                        Ok((_, key)) => {
                            prop_assert!(!model[i].revoked);
                            model[i].secrets.push(key);
                        }
                        Err(AuthError::Revoked(_)) => prop_assert!(model[i].revoked),
                        Err(err) => prop_assert!(false, "{err}"),
                    },
                    Op::Wait(d) => now += d,
                    _ => {}
                }
                for key in &model {
                    let (current, old) = key.secrets.split_last().unwrap();
                    for secret in old {
                        prop_assert_eq!(keys.verify(secret, now).unwrap(), Verdict::Unknown);
                    }
                    let verdict = keys.verify(current, now).unwrap();
                    let expected = if key.revoked {
                        "revoked"
                    } else if key.expires_at.is_some_and(|at| at <= now) {
                        "expired"
                    } else {
                        "valid"
                    };
                    let got = match &verdict {
                        Verdict::Valid(record) => { prop_assert_eq!(&record.id, &key.id); "valid" }
                        Verdict::Revoked => "revoked",
                        Verdict::Expired => "expired",
                        Verdict::Unknown => "unknown",
                    };
                    prop_assert_eq!(got, expected);
                }
            }
        }
    }
}
