//! Signed short-lived tokens (issue 21): a partner's back end holding a secret key issues, without
//! calling us, a token for one of its users that carries an expiry and filters the server ANDs
//! into every `/match` and `/suggest` query of that token.
//!
//! ```text
//! mlt_<key id>.<base64url(payload JSON)>.<base64url(HMAC-SHA256(signing key, everything before the last "."))>
//! signing key = HMAC-SHA256(key = the secret key's text, message = "marketlounge token v1")
//! payload     = {"exp": unix seconds, "filters"?: {…/match's filters…}, "scopes"?: [...], "user"?: "…"}
//! ```
//!
//! The server never keeps a key in clear, so it cannot derive the signing key at verification
//! time: it derives it when it sees the key, at creation and rotation, and stores it *sealed*,
//! XORed with `HMAC-SHA256(server secret, "seal token-signing key " + key id)`. A copy of
//! `keys.sqlite` alone holds only sealed signing keys, which are uniformly random bytes without
//! the server secret; the server secret and the database together unseal them, and so let their
//! holder forge tokens (never recover a key: the signing key is an HMAC of it).
//!
//! Verification checks the signature (constant time) before it reads anything of the payload,
//! and says why a token is refused (`details.reason`) only in terms that help no forger: whether
//! it parses at all, and, once the signature holds, what is wrong with it.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use marketlounge_index::refdata::RefData;
use marketlounge_index::search::Filters;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::secret::MasterSecret;
use super::store::KeyRecord;
use super::{KeyKind, Scope};

/// What every token starts with (a key starts with `mlk_`).
pub const TOKEN_MARKER: &str = "mlt_";
/// Longest token accepted, in bytes: a payload with a few hundred filter values fits, and a
/// header of megabytes is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Furthest a token's `exp` may be from now: a token is a session's, not a key's.
pub const MAX_LIFETIME_SECONDS: i64 = 30 * 86_400;
/// The message of a key's signing key (the key's text is the HMAC key).
pub const SIGNING_CONTEXT: &str = "marketlounge token v1";
/// The message of the mask a signing key is sealed with, followed by the key's id.
const SEAL_CONTEXT: &str = "seal token-signing key ";
/// Longest `user` accepted, in bytes.
pub const MAX_USER_BYTES: usize = 256;
/// Longest key id in a token (ids are `key_` and 16 base62 characters).
const MAX_KEY_ID_BYTES: usize = 64;
/// Characters of a payload error quoted in a message.
const MAX_MESSAGE_CHARS: usize = 200;

/// The key a secret key's tokens are signed with. Never logged (its `Debug` shows nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// `HMAC-SHA256(key = secret_key, message = "marketlounge token v1")`: what the issuer
    /// computes from the key it holds.
    pub fn of_key(secret_key: &str) -> SigningKey {
        SigningKey(hmac(secret_key.as_bytes(), SIGNING_CONTEXT.as_bytes()))
    }

    /// The signing key XOR the mask only the server secret gives: what the table stores.
    pub fn seal(&self, master: &MasterSecret, key_id: &str) -> [u8; 32] {
        xor(&self.0, &seal_mask(master, key_id))
    }

    /// The signing key a sealed value holds (`None` unless it is 32 bytes).
    pub fn unseal(master: &MasterSecret, key_id: &str, sealed: &[u8]) -> Option<SigningKey> {
        let sealed: [u8; 32] = sealed.try_into().ok()?;
        Some(SigningKey(xor(&sealed, &seal_mask(master, key_id))))
    }

    /// The signature of the signed part of a token (`mlt_<id>.<payload>`).
    pub fn sign(&self, signed: &str) -> [u8; 32] {
        hmac(&self.0, signed.as_bytes())
    }
}

/// The sealed signing key to store for a new secret of a key; publishable keys sign nothing
/// (their text is in every page that uses them).
pub(crate) fn sealed_signing_key(master: &MasterSecret, key_id: &str, kind: KeyKind, key: &str) -> Option<[u8; 32]> {
    (kind == KeyKind::Secret).then(|| SigningKey::of_key(key).seal(master, key_id))
}

/// Adds the sealed signing key's column to a key table made before tokens existed. Keys of such
/// a table have none: their tokens are refused until the key is rotated.
pub(crate) fn migrate(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has_column = |connection: &rusqlite::Connection| -> rusqlite::Result<bool> {
        connection.query_row("SELECT COUNT(*) FROM pragma_table_info('keys') WHERE name = 'token_key'", [], |row| {
            row.get::<_, i64>(0).map(|n| n > 0)
        })
    };
    if has_column(connection)? {
        return Ok(());
    }
    // Another process (the CLI, a second server) may add it at the same time: the write lock
    // orders them, and the second finds it there.
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let added = (|| {
        if !has_column(connection)? {
            connection.execute_batch("ALTER TABLE keys ADD COLUMN token_key BLOB")?;
        }
        connection.execute_batch("COMMIT")
    })();
    if added.is_err() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    added
}

/// A key and its signing key (none for publishable keys and keys older than tokens), as the
/// key cache keeps them by id.
#[derive(Debug, Clone)]
pub struct Signer {
    pub record: Arc<KeyRecord>,
    pub key: Option<SigningKey>,
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenClaims {
    /// The key that signed it.
    pub key_id: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Forced on every query (`None`: the payload restricts nothing).
    pub filters: Option<Filters>,
    /// At most search, suggest and feedback, and at most the key's.
    pub scopes: Vec<Scope>,
    /// The issuer's opaque id of its user.
    pub user: Option<String>,
}

/// The payload, exactly: any other field refuses the token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    exp: i64,
    #[serde(default)]
    filters: Filters,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
    #[serde(default)]
    user: Option<String>,
}

/// Why a token is refused (always 401 `invalid_api_key`).
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Not shaped like a token: the reason says which part.
    Malformed(&'static str),
    /// The key id is unknown or the signature is wrong (which one is not said).
    Signature,
    /// A publishable key's id: those keys sign nothing.
    NotSecretKey,
    /// The key was made before tokens existed and has no signing key stored.
    LegacyKey(String),
    KeyRevoked,
    KeyExpired,
    Expired,
    /// `exp` is further than [`MAX_LIFETIME_SECONDS`] ahead.
    TooLong,
    /// The signature holds, the payload is wrong: the message names the field.
    Payload(String),
}

impl Rejection {
    /// `details.reason` of the 401.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Signature => "signature",
            Rejection::NotSecretKey => "not_a_secret_key",
            Rejection::LegacyKey(_) => "key_needs_rotation",
            Rejection::KeyRevoked => "key_revoked",
            Rejection::KeyExpired => "key_expired",
            Rejection::Expired => "expired",
            Rejection::TooLong => "lifetime_too_long",
            Rejection::Payload(_) => "payload",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Rejection::Malformed(what) => format!("the token is malformed: {what}"),
            Rejection::Signature => "the token's signature does not match a key".to_owned(),
            Rejection::NotSecretKey => {
                "tokens are signed with a secret key (mlk_sec_…), not a publishable one".to_owned()
            }
            Rejection::LegacyKey(id) => format!(
                "key {id} was created before signed tokens and cannot sign them: rotate it (`marketlounge keys rotate {id} --data DIR`) and sign with the new secret"
            ),
            Rejection::KeyRevoked => "the token's key is revoked".to_owned(),
            Rejection::KeyExpired => "the token's key is expired".to_owned(),
            Rejection::Expired => "the token is expired (its exp is past)".to_owned(),
            Rejection::TooLong => format!(
                "the token's exp is more than {} days ahead: issue short-lived tokens",
                MAX_LIFETIME_SECONDS / 86_400
            ),
            Rejection::Payload(message) => format!("the token's payload is invalid: {message}"),
        }
    }
}

/// Whether a presented credential is a token rather than a key.
pub fn is_token(text: &str) -> bool {
    text.starts_with(TOKEN_MARKER)
}

/// What `token` grants at `now`, its key found by `signer_of(key id)`.
pub fn verify(
    token: &str,
    now: i64,
    signer_of: impl FnOnce(&str) -> Option<Signer>,
) -> Result<(Arc<KeyRecord>, TokenClaims), Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::Malformed("longer than 4096 bytes"));
    }
    let rest = token.strip_prefix(TOKEN_MARKER).ok_or(Rejection::Malformed("no mlt_ marker"))?;
    let (signed_rest, signature) = rest.rsplit_once('.').ok_or(Rejection::Malformed("no signature part"))?;
    let (key_id, payload) = signed_rest.split_once('.').ok_or(Rejection::Malformed("no payload part"))?;
    if key_id.is_empty()
        || key_id.len() > MAX_KEY_ID_BYTES
        || !key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Rejection::Malformed("the key id is not a key id"));
    }
    let signature =
        URL_SAFE_NO_PAD.decode(signature).map_err(|_| Rejection::Malformed("the signature is not base64url"))?;
    if signature.len() != 32 {
        return Err(Rejection::Malformed("the signature is not 32 bytes"));
    }
    let Signer { record, key } = signer_of(key_id).ok_or(Rejection::Signature)?;
    if record.kind != KeyKind::Secret {
        return Err(Rejection::NotSecretKey);
    }
    let key = key.ok_or_else(|| Rejection::LegacyKey(record.id.clone()))?;
    let signed = &token[..TOKEN_MARKER.len() + signed_rest.len()];
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature).map_err(|_| Rejection::Signature)?;
    // From here on the sender holds the key: reasons help them, not a forger.
    if record.revoked_at.is_some() {
        return Err(Rejection::KeyRevoked);
    }
    if record.expires_at.is_some_and(|at| at <= now) {
        return Err(Rejection::KeyExpired);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejection::Payload("the payload part is not base64url (no padding)".into()))?;
    // serde reads a struct from an array too: the format says an object.
    if !payload.trim_ascii_start().starts_with(b"{") {
        return Err(Rejection::Payload("must be a JSON object".into()));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&payload);
    let payload: Payload = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let message = match err.path().to_string().as_str() {
            "." => err.inner().to_string(),
            path => format!("{path}: {}", err.inner()),
        };
        Rejection::Payload(crate::error::truncated(&message, MAX_MESSAGE_CHARS).into_owned())
    })?;
    deserializer.end().map_err(|_| Rejection::Payload("more than one JSON value".into()))?;
    claims(&record, payload, now).map(|claims| (record, claims))
}

/// Checks a parsed payload against the key and the clock.
fn claims(record: &KeyRecord, payload: Payload, now: i64) -> Result<TokenClaims, Rejection> {
    if payload.exp <= now {
        return Err(Rejection::Expired);
    }
    if payload.exp - now > MAX_LIFETIME_SECONDS {
        return Err(Rejection::TooLong);
    }
    let token_scope = |scope: &Scope| Scope::PUBLISHABLE.contains(scope);
    let mut scopes = match payload.scopes {
        None => record.scopes.iter().copied().filter(token_scope).collect::<Vec<_>>(),
        Some(asked) => {
            if asked.is_empty() {
                return Err(Rejection::Payload("scopes: is empty (leave it out for all of the key's)".into()));
            }
            if let Some(scope) = asked.iter().find(|s| !token_scope(s)) {
                return Err(Rejection::Payload(format!(
                    "scopes: {scope} is not a token scope (search, suggest, feedback)"
                )));
            }
            // A scope the key lacks is not granted: the route needing it answers 403 naming it.
            asked.into_iter().filter(|scope| record.scopes.contains(scope)).collect()
        }
    };
    scopes.sort_unstable();
    scopes.dedup();
    payload.filters.check(RefData::embedded()).map_err(|err| {
        Rejection::Payload(
            crate::error::truncated(&format!("{}: {}", err.field, err.message), MAX_MESSAGE_CHARS).into_owned(),
        )
    })?;
    if let Some(user) = &payload.user
        && (user.len() > MAX_USER_BYTES || user.chars().any(char::is_control))
    {
        return Err(Rejection::Payload(format!(
            "user: must be at most {MAX_USER_BYTES} bytes without control characters"
        )));
    }
    Ok(TokenClaims {
        key_id: record.id.clone(),
        expires_at: payload.exp,
        filters: (!payload.filters.is_empty()).then_some(payload.filters),
        scopes,
        user: payload.user,
    })
}

/// A token's `Origin` rule: a request without `Origin` (a back end) passes; a browser's must be
/// one of the signing key's origins (a secret key lists the pages its tokens are used from).
pub fn origin_allowed(record: &KeyRecord, origin: Option<&str>) -> bool {
    origin.is_none_or(|origin| record.origins.iter().any(|allowed| allowed == origin))
}

/// A token signed with `secret_key` (whose id is `key_id`) for `payload` (JSON): what an
/// issuer does (the README's examples do the same in Python and JavaScript).
pub fn issue(secret_key: &str, key_id: &str, payload: &str) -> String {
    let signed = format!("{TOKEN_MARKER}{key_id}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = SigningKey::of_key(secret_key).sign(&signed);
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn seal_mask(master: &MasterSecret, key_id: &str) -> [u8; 32] {
    master.mac(format!("{SEAL_CONTEXT}{key_id}").as_bytes())
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::auth::cache::KeyCache;
    use crate::auth::store::{KeySpec, KeyStore};

    const NOW: i64 = 1_800_000_000;

    fn spec(kind: KeyKind, scopes: &[Scope]) -> KeySpec {
        KeySpec {
            name: "partner".into(),
            owner: None,
            kind,
            scopes: scopes.to_vec(),
            origins: vec!["https://shop.example".into()],
            rate: None,
            burst: None,
            quota: None,
            expires_at: None,
        }
    }

    fn master() -> MasterSecret {
        MasterSecret::from_bytes(&[5; 32]).unwrap()
    }

    /// A key table with one secret key (search, suggest, read) and its cache.
    fn keys(dir: &std::path::Path) -> (KeyCache, KeyRecord, String) {
        let store = KeyStore::open(dir, master()).unwrap();
        let (record, key) =
            store.create(&spec(KeyKind::Secret, &[Scope::Search, Scope::Suggest, Scope::Read]), 0).unwrap();
        (KeyCache::new(store, std::time::Duration::ZERO).unwrap(), record, key)
    }

    fn check(cache: &KeyCache, token: &str) -> Result<TokenClaims, Rejection> {
        verify(token, NOW, |id| cache.signer(id)).map(|(_, claims)| claims)
    }

    fn payload(exp: i64) -> String {
        format!(r#"{{"exp": {exp}, "filters": {{"region": ["Bretagne"], "naf": ["25"]}}, "user": "u-42"}}"#)
    }

    #[test]
    fn an_issued_token_grants_its_filters_and_the_token_scopes_of_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        let token = issue(&key, &record.id, &payload(NOW + 600));
        assert!(is_token(&token) && token.len() < 300, "{token}");
        let claims = check(&cache, &token).unwrap();
        assert_eq!(claims.key_id, record.id);
        assert_eq!(claims.expires_at, NOW + 600);
        // `read` is the key's but no token's.
        assert_eq!(claims.scopes, [Scope::Search, Scope::Suggest]);
        let filters = claims.filters.unwrap();
        assert_eq!((filters.region, filters.naf), (vec!["Bretagne".to_owned()], vec!["25".to_owned()]));
        assert_eq!(claims.user.as_deref(), Some("u-42"));
        // Narrowed scopes; a scope the key lacks is not granted; an empty payload forces nothing.
        let narrowed =
            issue(&key, &record.id, &format!(r#"{{"exp": {}, "scopes": ["suggest", "feedback"]}}"#, NOW + 5));
        let claims = check(&cache, &narrowed).unwrap();
        assert_eq!(claims.scopes, [Scope::Suggest]);
        assert_eq!(claims.filters, None);
    }

    #[test]
    fn forged_tampered_expired_and_overlong_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        let (_, other_key) = crate::auth::secret::new_key(KeyKind::Secret);
        let forged = issue(&other_key, &record.id, &payload(NOW + 600));
        assert_eq!(check(&cache, &forged), Err(Rejection::Signature));
        // The payload changed (another région), the signature kept.
        let token = issue(&key, &record.id, &payload(NOW + 600));
        let (_, signature) = token.rsplit_once('.').unwrap();
        let widened = issue(&key, &record.id, &payload(NOW + 600).replace("Bretagne", "Normandie"));
        let (signed, _) = widened.rsplit_once('.').unwrap();
        assert_eq!(check(&cache, &format!("{signed}.{signature}")), Err(Rejection::Signature));
        // An unknown key id reads as a wrong signature.
        assert_eq!(check(&cache, &token.replacen(&record.id, "key_AAAAAAAAAAAAAAAA", 1)), Err(Rejection::Signature));
        assert_eq!(check(&cache, &issue(&key, &record.id, &payload(NOW))), Err(Rejection::Expired));
        let too_long = issue(&key, &record.id, &payload(NOW + MAX_LIFETIME_SECONDS + 1));
        assert_eq!(check(&cache, &too_long), Err(Rejection::TooLong));
        assert!(check(&cache, &issue(&key, &record.id, &payload(NOW + MAX_LIFETIME_SECONDS))).is_ok());
    }

    #[test]
    fn bad_payloads_are_refused_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        let exp = NOW + 60;
        for (payload, says) in [
            (format!(r#"{{"exp": {exp}, "admin": true}}"#), "unknown field `admin`"),
            (r#"{"filters": {}}"#.to_owned(), "missing field `exp`"),
            (format!(r#"{{"exp": {exp}.5}}"#), "exp: invalid type"),
            (format!(r#"{{"exp": {exp}, "filters": {{"region": ["Atlantis"]}}}}"#), "filters.region[0]: \"Atlantis\""),
            (format!(r#"{{"exp": {exp}, "filters": {{"naf": ["99.99Z"]}}}}"#), "filters.naf[0]"),
            (format!(r#"{{"exp": {exp}, "filters": {{"siren": ["1"]}}}}"#), "filters.siren: unknown field `siren`"),
            (format!(r#"{{"exp": {exp}, "scopes": ["admin"]}}"#), "admin is not a token scope"),
            (format!(r#"{{"exp": {exp}, "scopes": []}}"#), "scopes: is empty"),
            (format!(r#"{{"exp": {exp}, "user": "{}"}}"#, "u".repeat(300)), "user: must be at most 256 bytes"),
            (format!(r#"{{"exp": {exp}}} {{}}"#), "more than one JSON value"),
            (format!("[{exp}]"), "must be a JSON object"),
            ("null".to_owned(), "must be a JSON object"),
        ] {
            match check(&cache, &issue(&key, &record.id, &payload)) {
                Err(Rejection::Payload(message)) => assert!(message.contains(says), "{payload}: {message}"),
                other => panic!("{payload}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_tokens_are_refused_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        let token = issue(&key, &record.id, &payload(NOW + 60));
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let huge = format!("{signed}.{}", "A".repeat(MAX_TOKEN_BYTES));
        for (text, reason) in [
            ("", "malformed"),
            ("mlt_", "malformed"),
            ("mlt_key_x", "malformed"),
            ("mlt_key_x.e30", "malformed"),
            ("mlt_.e30.AAAA", "malformed"),
            ("mlt_key/x.e30.AAAA", "malformed"),
            (&format!("{signed}.{signature}="), "malformed"),
            (&format!("{signed}.{}", &signature[1..]), "malformed"),
            (&format!("{signed}.!{}", &signature[1..]), "malformed"),
            (&huge, "malformed"),
            (&format!("{signed}x.{signature}"), "signature"),
            (&format!("mlt_{}.%%%.{signature}", record.id), "signature"),
        ] {
            let refused = check(&cache, text).expect_err(text);
            assert_eq!(refused.reason(), reason, "{text}: {refused:?}");
        }
        // A signed payload that is not base64url is the signer's mistake, named as such.
        let signed = format!("mlt_{}.%%%", record.id);
        let bad = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(SigningKey::of_key(&key).sign(&signed)));
        assert!(matches!(check(&cache, &bad), Err(Rejection::Payload(m)) if m.contains("base64url")));
    }

    #[test]
    fn revoked_expired_publishable_and_legacy_keys_sign_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        let token = issue(&key, &record.id, &payload(NOW + 60));
        // A rotation gives a new signing key: the old secret's tokens die with it.
        let (_, rotated) = cache.store().rotate(&record.id, 0).unwrap();
        cache.reload().unwrap();
        assert_eq!(check(&cache, &token), Err(Rejection::Signature));
        let token = issue(&rotated, &record.id, &payload(NOW + 60));
        assert!(check(&cache, &token).is_ok());
        cache.store().revoke(&record.id, 0).unwrap();
        cache.reload().unwrap();
        assert_eq!(check(&cache, &token), Err(Rejection::KeyRevoked));

        let mut expiring = spec(KeyKind::Secret, &[Scope::Search]);
        expiring.expires_at = Some(NOW);
        let (expiring, expiring_key) = cache.store().create(&expiring, 0).unwrap();
        let (publishable, publishable_key) =
            cache.store().create(&spec(KeyKind::Publishable, &[Scope::Search]), 0).unwrap();
        cache.reload().unwrap();
        assert_eq!(check(&cache, &issue(&expiring_key, &expiring.id, &payload(NOW + 60))), Err(Rejection::KeyExpired));
        let from_publishable = issue(&publishable_key, &publishable.id, &payload(NOW + 60));
        assert_eq!(check(&cache, &from_publishable), Err(Rejection::NotSecretKey));
        assert!(Rejection::NotSecretKey.message().contains("publishable"));
    }

    /// A key table made before tokens gets the column on open; its keys have no signing key and
    /// their tokens are refused with a message saying to rotate; a rotation gives them one.
    #[test]
    fn keys_older_than_tokens_are_refused_until_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        drop(cache);
        {
            let connection = rusqlite::Connection::open(dir.path().join(crate::auth::store::KEYS_FILE)).unwrap();
            connection.execute_batch("ALTER TABLE keys DROP COLUMN token_key").unwrap();
        }
        let cache = KeyCache::new(KeyStore::open(dir.path(), master()).unwrap(), std::time::Duration::ZERO).unwrap();
        let refused = check(&cache, &issue(&key, &record.id, &payload(NOW + 60))).unwrap_err();
        assert_eq!(refused, Rejection::LegacyKey(record.id.clone()));
        assert!(refused.message().contains(&format!("keys rotate {}", record.id)), "{}", refused.message());
        // Opening again (another process) finds the column there.
        drop(KeyStore::open(dir.path(), master()).unwrap());
        let (_, rotated) = cache.store().rotate(&record.id, 0).unwrap();
        cache.reload().unwrap();
        assert!(check(&cache, &issue(&rotated, &record.id, &payload(NOW + 60))).is_ok());
    }

    /// The table holds the signing key sealed: not in clear, and another server secret unseals
    /// it to something else (whose tokens are refused).
    #[test]
    fn signing_keys_are_stored_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, record, key) = keys(dir.path());
        drop(cache);
        let signing = SigningKey::of_key(&key);
        let mut bytes = std::fs::read(dir.path().join(crate::auth::store::KEYS_FILE)).unwrap();
        bytes.extend(std::fs::read(dir.path().join("keys.sqlite-wal")).unwrap_or_default());
        assert!(!bytes.windows(32).any(|w| w == signing.0), "the signing key is stored in clear");
        assert!(bytes.windows(32).any(|w| w == signing.seal(&master(), &record.id)), "the sealed key is stored");
        let other = MasterSecret::from_bytes(&[6; 32]).unwrap();
        let cache = KeyCache::new(KeyStore::open(dir.path(), other).unwrap(), std::time::Duration::ZERO).unwrap();
        assert_eq!(cache.signer(&record.id).unwrap().key.map(|k| k == signing), Some(false));
        assert_eq!(check(&cache, &issue(&key, &record.id, &payload(NOW + 60))), Err(Rejection::Signature));
        assert_eq!(format!("{signing:?}"), "SigningKey(…)");
    }

    #[test]
    fn a_token_needs_its_origin_only_from_a_browser() {
        let dir = tempfile::tempdir().unwrap();
        let (_, record, _) = keys(dir.path());
        assert!(origin_allowed(&record, None));
        assert!(origin_allowed(&record, Some("https://shop.example")));
        assert!(!origin_allowed(&record, Some("https://evil.example")));
        assert!(!origin_allowed(&record, Some("")));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any single-byte change to a valid token (to any printable ASCII byte) makes it
        /// invalid: the signed part is what the HMAC covers, and the signature's base64 is
        /// decoded canonically (no two texts give the same bytes).
        #[test]
        fn any_single_byte_change_invalidates_a_token(at in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
            static KEYS: std::sync::OnceLock<(tempfile::TempDir, KeyCache, String)> = std::sync::OnceLock::new();
            let (_, cache, token) = KEYS.get_or_init(|| {
                let dir = tempfile::tempdir().unwrap();
                let (cache, record, key) = keys(dir.path());
                let token = issue(&key, &record.id, &payload(NOW + 600));
                (dir, cache, token)
            });
            prop_assert!(check(cache, token).is_ok());
            let at = at.index(token.len());
            prop_assume!(token.as_bytes()[at] != byte);
            let mut changed = token.clone().into_bytes();
            changed[at] = byte;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(check(cache, &changed).is_err(), "{changed} was accepted");
        }
    }
}
