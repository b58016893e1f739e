//! The keys as a server checks them: a map from HMAC to record in memory (a check is a hash and
//! a map lookup, no SQLite), reloaded when the table changes: by this process (after its own
//! writes) or by another (the `keys` CLI), seen through SQLite's `data_version` at most once per
//! `refresh` interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use super::AuthError;
use super::secret::kind_of;
use super::store::{KeyRecord, KeyStore, Verdict};
use super::token::{Signer, SigningKey};

/// The key table in memory.
#[derive(Debug)]
pub struct KeyCache {
    store: KeyStore,
    keys: RwLock<Arc<HashMap<[u8; 32], Arc<KeyRecord>>>>,
    /// Every origin a live key lists: the origins a CORS preflight is answered for (a preflight
    /// carries no key, so the key's own origins are checked on the request itself).
    origins: RwLock<Arc<HashSet<String>>>,
    /// Every key by id, with its token-signing key when it has one ([`super::token`]).
    signers: RwLock<Arc<HashMap<String, Signer>>>,
    /// When the table's version was last looked at, and what it was.
    checked: Mutex<(Instant, i64)>,
    refresh: Duration,
}

impl KeyCache {
    pub fn new(store: KeyStore, refresh: Duration) -> Result<KeyCache, AuthError> {
        let version = store.data_version()?;
        let cache = KeyCache {
            store,
            keys: RwLock::new(Arc::new(HashMap::new())),
            origins: RwLock::new(Arc::new(HashSet::new())),
            signers: RwLock::new(Arc::new(HashMap::new())),
            checked: Mutex::new((Instant::now(), version)),
            refresh,
        };
        cache.reload()?;
        Ok(cache)
    }

    pub fn store(&self) -> &KeyStore {
        &self.store
    }

    /// Reads the whole table again (after this process changed it).
    pub fn reload(&self) -> Result<(), AuthError> {
        let keys: HashMap<[u8; 32], Arc<KeyRecord>> =
            self.store.hashed()?.into_iter().map(|(hash, record)| (hash, Arc::new(record))).collect();
        let now = jiff::Timestamp::now().as_second();
        let origins = keys
            .values()
            .filter(|record| record.revoked_at.is_none() && record.expires_at.is_none_or(|at| at > now))
            .flat_map(|record| record.origins.iter().cloned())
            .collect();
        let mut signing_keys: HashMap<String, SigningKey> = self.store.signing_keys()?.into_iter().collect();
        let signers = keys
            .values()
            .map(|record| {
                let signer = Signer { record: Arc::clone(record), key: signing_keys.remove(&record.id) };
                (record.id.clone(), signer)
            })
            .collect();
        *self.keys.write() = Arc::new(keys);
        *self.origins.write() = Arc::new(origins);
        *self.signers.write() = Arc::new(signers);
        Ok(())
    }

    /// Whether some live key lists `origin` (an expired key's origins go at the next reload).
    pub fn origin_known(&self, origin: &str) -> bool {
        self.origins.read().contains(origin)
    }

    /// The key `id` and its token-signing key, from memory.
    pub fn signer(&self, id: &str) -> Option<Signer> {
        self.signers.read().get(id).cloned()
    }

    /// Reloads when another connection changed the table, looking at most once per interval.
    /// Called on the request path, so it never waits: while another request is looking, or
    /// while this store's connection is busy writing (a quota raise, the usage flush, each with
    /// an fsync), the look is left to a later request.
    pub fn refresh_if_due(&self) -> Result<(), AuthError> {
        let Some(mut checked) = self.checked.try_lock() else { return Ok(()) };
        if checked.0.elapsed() < self.refresh {
            return Ok(());
        }
        let Some(version) = self.store.try_data_version()? else { return Ok(()) };
        let changed = version != checked.1;
        *checked = (Instant::now(), version);
        drop(checked);
        if changed {
            self.reload()?;
        }
        Ok(())
    }

    /// What `key` is worth at `now` (unix seconds), from memory.
    pub fn verify(&self, key: &str, now: i64) -> Verdict {
        if kind_of(key).is_none() {
            return Verdict::Unknown;
        }
        let hash = self.store.hash_of(key);
        let keys = Arc::clone(&self.keys.read());
        match keys.get(&hash) {
            None => Verdict::Unknown,
            Some(record) if record.revoked_at.is_some() => Verdict::Revoked,
            Some(record) if record.expires_at.is_some_and(|at| at <= now) => Verdict::Expired,
            Some(record) => Verdict::Valid(Arc::clone(record)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secret::MasterSecret;
    use crate::auth::store::KeySpec;
    use crate::auth::{KeyKind, Scope};

    fn open(dir: &std::path::Path) -> KeyStore {
        KeyStore::open(dir, MasterSecret::from_bytes(&[3; 32]).unwrap()).unwrap()
    }

    fn spec() -> KeySpec {
        KeySpec {
            name: "partner".into(),
            kind: KeyKind::Secret,
            scopes: vec![Scope::Search],
            origins: Vec::new(),
            rate: None,
            burst: None,
            quota: None,
            expires_at: Some(500),
            owner: None,
        }
    }

    /// Keys created and revoked by another connection (the CLI) are seen after a refresh;
    /// this process's own writes after a reload.
    #[test]
    fn the_cache_follows_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(open(dir.path()), Duration::ZERO).unwrap();
        let cli = open(dir.path());
        let (record, key) = cli.create(&spec(), 100).unwrap();
        assert_eq!(cache.verify(&key, 100), Verdict::Unknown, "seen before any refresh");
        cache.refresh_if_due().unwrap();
        assert_eq!(cache.verify(&key, 100), Verdict::Valid(Arc::new(record.clone())));
        assert_eq!(cache.verify(&key, 500), Verdict::Expired);
        cli.revoke(&record.id, 200).unwrap();
        cache.refresh_if_due().unwrap();
        assert_eq!(cache.verify(&key, 100), Verdict::Revoked);

        let (own, own_key) = cache.store().create(&spec(), 100).unwrap();
        cache.reload().unwrap();
        assert_eq!(cache.verify(&own_key, 100), Verdict::Valid(Arc::new(own)));
        assert_eq!(cache.verify("mlk_sec_nope", 100), Verdict::Unknown);
    }

    /// Preflights are answered for the origins of live keys only.
    #[test]
    fn origins_are_those_of_live_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(open(dir.path()), Duration::ZERO).unwrap();
        let browser = KeySpec {
            kind: KeyKind::Publishable,
            origins: vec!["https://shop.example".into()],
            expires_at: None,
            ..spec()
        };
        let (record, _) = cache.store().create(&browser, 100).unwrap();
        cache.reload().unwrap();
        assert!(cache.origin_known("https://shop.example"));
        assert!(!cache.origin_known("https://evil.example") && !cache.origin_known("https://shop.example:8443"));
        cache.store().revoke(&record.id, 200).unwrap();
        cache.reload().unwrap();
        assert!(!cache.origin_known("https://shop.example"));
    }

    /// A request never waits for the store: while its connection is busy (a quota raise or the
    /// usage flush, fsyncs included) the look is deferred, and the next request after it makes
    /// it.
    #[test]
    fn a_refresh_never_waits_for_a_busy_store() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(KeyCache::new(open(dir.path()), Duration::ZERO).unwrap());
        let (_, key) = open(dir.path()).create(&spec(), 100).unwrap();
        let (held, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let writer = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                cache.store().with_connection(|_| {
                    held.0.send(()).unwrap();
                    // Released by the test, or after 5 s if the refresh below waits for it.
                    let _ = release.1.recv_timeout(Duration::from_secs(5));
                    Ok(())
                })
            })
        };
        held.1.recv().unwrap();
        let started = Instant::now();
        cache.refresh_if_due().unwrap();
        let waited = started.elapsed();
        assert_eq!(cache.verify(&key, 100), Verdict::Unknown, "the look was deferred");
        release.0.send(()).unwrap();
        writer.join().unwrap().unwrap();
        assert!(waited < Duration::from_secs(1), "refresh_if_due waited {waited:?} for the store's connection");
        cache.refresh_if_due().unwrap();
        assert!(matches!(cache.verify(&key, 100), Verdict::Valid(_)), "the next request looks");
    }

    /// With a long interval, the table is not read again until it is due.
    #[test]
    fn refreshes_wait_for_their_interval() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(open(dir.path()), Duration::from_secs(3600)).unwrap();
        let (_, key) = open(dir.path()).create(&spec(), 100).unwrap();
        cache.refresh_if_due().unwrap();
        assert_eq!(cache.verify(&key, 100), Verdict::Unknown);
    }
}
