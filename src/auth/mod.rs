//! Access control (issue 21), first layer: API keys. A key is `mlk_sec_…` (server side) or
//! `mlk_pub_…` (publishable, for browsers) followed by 43 random base62 characters (≥ 256 bits).
//! The server keeps only `HMAC-SHA256(server secret, key)` and an 8-character display prefix
//! ([`secret`]); keys live in an embedded SQLite table under the data directory ([`store`]).
//!
//! What a copy of the key database alone gives an attacker: the keys' names, scopes, origins,
//! limits and display prefixes, HMACs of the keys under a secret that is not in the database
//! (it comes from `MARKETLOUNGE_MASTER_KEY` or `master.key`, mode 0600), and the secret keys'
//! token-signing keys sealed under that secret ([`token`]): no key can be recovered or tested
//! offline, and no token forged, without that secret. With the secret too, tokens can be forged.

pub mod backup;
pub mod cache;
pub mod limits;
pub mod proxies;
pub mod quota;
pub mod routes;
pub mod secret;
pub mod store;
pub mod token;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a key may do. Each route needs exactly one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `/api/v1/match`.
    Search,
    /// `/api/v1/suggest`.
    Suggest,
    /// Companies and opportunities, read.
    Read,
    /// Companies, signals, articles, outcomes: written.
    Write,
    /// Search events and feedback.
    Feedback,
    Analytics,
    /// Reindex, tasks, snapshots, priors, scoring, keys, usage.
    Admin,
    /// `/metrics` (admin also may).
    Metrics,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::Search,
        Scope::Suggest,
        Scope::Read,
        Scope::Write,
        Scope::Feedback,
        Scope::Analytics,
        Scope::Admin,
        Scope::Metrics,
    ];

    /// The scopes a publishable (browser) key may hold.
    pub const PUBLISHABLE: [Scope; 3] = [Scope::Search, Scope::Suggest, Scope::Feedback];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Search => "search",
            Scope::Suggest => "suggest",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Feedback => "feedback",
            Scope::Analytics => "analytics",
            Scope::Admin => "admin",
            Scope::Metrics => "metrics",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = AuthError;

    fn from_str(text: &str) -> Result<Scope, AuthError> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text.trim()).ok_or_else(|| AuthError::UnknownScope {
            scope: text.trim().to_owned(),
            known: Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// Parses a comma-separated list of scopes ("search,suggest"), sorted and without repeats.
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, AuthError> {
    let mut scopes =
        text.split(',').filter(|s| !s.trim().is_empty()).map(Scope::from_str).collect::<Result<Vec<_>, _>>()?;
    scopes.sort_unstable();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(AuthError::NoScope);
    }
    Ok(scopes)
}

/// Server-side or publishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    /// The text every key of this kind starts with.
    pub fn marker(self) -> &'static str {
        match self {
            KeyKind::Secret => "mlk_sec_",
            KeyKind::Publishable => "mlk_pub_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }
}

/// Why a key could not be created, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("unknown scope {scope:?} (scopes: {known})")]
    UnknownScope { scope: String, known: String },
    #[error("a key needs at least one scope")]
    NoScope,
    #[error("a publishable key may hold only search, suggest and feedback, not {0}")]
    ScopeNotPublishable(Scope),
    #[error("origin {origin:?} is not an origin (scheme://host[:port], no path)")]
    BadOrigin { origin: String },
    #[error("{field} must be 1 to {max} characters, not blank, without control characters")]
    BadText { field: &'static str, max: usize },
    #[error("{field} must be positive, got {value}")]
    NotPositive { field: &'static str, value: f64 },
    #[error("no key with id {0:?}")]
    NoSuchKey(String),
    #[error("key {0} is revoked")]
    Revoked(String),
    #[error("server secret: {0}")]
    Secret(String),
    #[error("key store {path}: {message}")]
    Store { path: String, message: String },
}
