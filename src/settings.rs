//! Server settings: fields and their weights, analysis options, fusion weights, limits.
//!
//! The defaults live in `schema/settings.default.json` (compiled in); `--settings FILE` replaces
//! them. Unknown keys are errors, so a typo never silently falls back to a default.

use std::path::Path;

use anyhow::Context;
use marketlounge_index::ndjson::UnpackLimits;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const DEFAULT_SETTINGS: &str = include_str!("../schema/settings.default.json");

/// All settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Settings")]
pub struct Settings {
    /// Administration: where `/admin/reindex` may read files.
    #[serde(default)]
    pub admin: AdminSettings,
    pub analysis: AnalysisSettings,
    /// Access control: which `Host` names the server answers, rate limits, metering.
    #[serde(default)]
    pub auth: AuthSettings,
    /// Scheduled backups.
    #[serde(default)]
    pub backup: BackupSettings,
    pub embedding: EmbeddingSettings,
    /// Searchable company fields and their BM25 boosts.
    pub fields: FieldWeights,
    pub fusion: FusionWeights,
    pub index: IndexSettings,
    pub limits: Limits,
    /// `GET /metrics` (Prometheus).
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// The opportunity scorer.
    pub scoring: ScoringSettings,
}

/// Scheduled backups: a consistent snapshot of the index and the access state every
/// `interval_hours`, into `dir`, keeping the newest `keep`. Each restores with
/// `marketlounge restore --backup DIR/NAME --data NEW_DIR`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Hours between two backups (fractions allowed: 0.25 is every 15 minutes); the first one
    /// is one interval after the server starts. Absent: no scheduled backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_hours: Option<f64>,
    /// How many scheduled backups are kept: after each new one, the oldest beyond this count
    /// are deleted.
    #[serde(default = "default_backup_keep")]
    #[schemars(range(min = 1))]
    pub keep: usize,
    /// Where they go (a relative path is taken inside the data directory; another disk is
    /// better). Absent: the data directory's `backups/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<std::path::PathBuf>,
}

impl Default for BackupSettings {
    fn default() -> BackupSettings {
        BackupSettings { interval_hours: None, keep: default_backup_keep(), dir: None }
    }
}

fn default_backup_keep() -> usize {
    7
}

/// Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Record requests, search phases, typeahead kinds, flushes and merges as they happen. Off,
    /// `GET /metrics` still serves what is read from the server's state at each scrape (index
    /// size, checksum scrub, scoring model, process, build).
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

impl Default for MetricsSettings {
    fn default() -> MetricsSettings {
        MetricsSettings { enabled: true }
    }
}

/// Administration settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// The only directory `/admin/reindex`'s `companies_path` may name a file in (a relative
    /// path is taken inside it; `..` and symbolic links out of it are refused). Absent: the
    /// data directory's `import/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_dir: Option<std::path::PathBuf>,
    /// How many snapshots `POST /admin/snapshot` keeps under `DATA/snapshots/`: after each new
    /// one, the oldest beyond this count are deleted.
    #[serde(default = "default_snapshot_retention")]
    #[schemars(range(min = 1))]
    pub snapshot_retention: usize,
    /// `POST /admin/snapshot` is refused (507 `insufficient_storage`) when the data
    /// directory's file system has less free space than this, in MiB, so a snapshot never
    /// fills the disk the index and its write-ahead log need.
    #[serde(default = "default_snapshot_min_free_mb")]
    pub snapshot_min_free_mb: u64,
}

impl Default for AdminSettings {
    fn default() -> AdminSettings {
        AdminSettings {
            import_dir: None,
            snapshot_retention: default_snapshot_retention(),
            snapshot_min_free_mb: default_snapshot_min_free_mb(),
        }
    }
}

fn default_snapshot_retention() -> usize {
    10
}

fn default_snapshot_min_free_mb() -> u64 {
    1024
}

/// Access control (API keys are in the data directory's `keys.sqlite`, see `marketlounge keys`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The `Host` names the server answers (any port): a request naming another host is
    /// refused 421 `host_not_allowed`, so that a page whose DNS name was rebound to this
    /// server's address cannot drive it. `"*"` answers every name (behind a proxy that checks
    /// it). A request without `Host` (not from a browser) is answered. Default: the loopback
    /// names.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// Requests per second a secret key without a `rate` of its own may make. Absent: no limit
    /// (a server-side key's owner is trusted with its traffic unless the key says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.000001, max = 1000000000.0))]
    pub default_rate: Option<f64>,
    /// Requests at once above `default_rate`. Absent: one second's worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub default_burst: Option<u32>,
    /// Requests per second a publishable key without a `rate` of its own may make, from all the
    /// browsers that use it together.
    #[serde(default = "default_publishable_rate")]
    #[schemars(range(min = 0.000001, max = 1000000000.0))]
    pub publishable_rate: f64,
    /// Requests at once above `publishable_rate`.
    #[serde(default = "default_publishable_burst")]
    #[schemars(range(min = 1))]
    pub publishable_burst: u32,
    /// Requests per second one client address (an IPv6 address's /64) may make with publishable
    /// keys: a browser key is public, so this keeps one client from spending its owner's rate and
    /// quota.
    #[serde(default = "default_per_ip_rate")]
    #[schemars(range(min = 0.000001, max = 1000000000.0))]
    pub per_ip_rate: f64,
    /// Requests at once above `per_ip_rate`.
    #[serde(default = "default_per_ip_burst")]
    #[schemars(range(min = 1))]
    pub per_ip_burst: u32,
    /// Failed key checks (an unknown, revoked or expired key) per second one client address may
    /// make once `failed_auth_burst` is spent; past them, every request from it that presents a
    /// key is answered 429 before any check. Requests with a valid key spend nothing.
    #[serde(default = "default_failed_auth_rate")]
    #[schemars(range(min = 0.000001, max = 1000000000.0))]
    pub failed_auth_rate: f64,
    /// Failed key checks one client address may make at once.
    #[serde(default = "default_failed_auth_burst")]
    #[schemars(range(min = 1))]
    pub failed_auth_burst: u32,
    /// Proxies in front of the server (addresses or networks: `127.0.0.1`, `10.0.0.0/8`):
    /// a request from one of them is from the last address of its `X-Forwarded-For` that is not
    /// one of them, for the limits per client address and the caller's recorded address.
    /// Empty: every request is from its TCP peer (behind an unlisted proxy, all clients share
    /// the proxy's address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    /// Days an audit entry is kept (it names a key and the caller's IP prefix): older ones are
    /// deleted within the hour. The CNIL's guidance for such logs is six months to a year.
    /// Usage counts (per key and hour, no address) are billing records and are kept.
    #[serde(default = "default_audit_retention_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub audit_retention_days: u32,
}

fn default_audit_retention_days() -> u32 {
    365
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            allowed_hosts: default_allowed_hosts(),
            default_rate: None,
            default_burst: None,
            publishable_rate: default_publishable_rate(),
            publishable_burst: default_publishable_burst(),
            per_ip_rate: default_per_ip_rate(),
            per_ip_burst: default_per_ip_burst(),
            failed_auth_rate: default_failed_auth_rate(),
            failed_auth_burst: default_failed_auth_burst(),
            trusted_proxies: Vec::new(),
            audit_retention_days: default_audit_retention_days(),
        }
    }
}

// Publishable keys: 100/s for a whole site's visitors, bursts of 200; one visitor's address
// 10/s with bursts of 50 (typing and paging, with a margin for a shared office address).
fn default_publishable_rate() -> f64 {
    100.0
}

fn default_publishable_burst() -> u32 {
    200
}

fn default_per_ip_rate() -> f64 {
    10.0
}

fn default_per_ip_burst() -> u32 {
    50
}

// Failed key checks: 20 at once, then one every 10 s (a mistyped key is noticed long before; a
// guesser gets 8,640 tries a day against keys of 256 random bits).
fn default_failed_auth_rate() -> f64 {
    0.1
}

fn default_failed_auth_burst() -> u32 {
    20
}

fn default_allowed_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec()
}

/// How the opportunity model's probabilities are calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Calibration {
    /// Isotonic with at least 1000 calibration rows and 50 of each class, else Platt.
    Auto,
    Platt,
    Isotonic,
}

/// The opportunity scorer: features, model and calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoringSettings {
    /// Feature parameters; they are part of the feature schema a model is trained on.
    pub features: marketlounge_index::score::features::FeatureSettings,
    /// Inverse L2 regularisation strength of the logistic regression (scikit-learn's `C`).
    #[schemars(range(min = 0.000001))]
    pub c: f64,
    /// Weight classes inversely to their frequency instead of resampling.
    pub balance_classes: bool,
    pub calibration: Calibration,
    /// Days between the last as-of date a model learns from and the date it is tested or used
    /// at (never less than the outcome horizon).
    #[schemars(range(min = 0))]
    pub gap_days: i32,
    /// Threads for bulk scoring.
    #[schemars(range(min = 1, max = 64))]
    pub threads: usize,
}

/// Where document vectors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EmbedderKind {
    /// multilingual-e5-small run by ONNX Runtime.
    Onnx,
    /// A distilled token-table embedder built from the same model.
    Static,
    /// Vectors supplied in the records' `vector` field (dimension-checked).
    Provided,
    /// Feature hashing of French stems: fast, lexical-level similarity only (benchmarks, fallback).
    Hashed,
    /// No vectors: lexical and concept retrieval only.
    None,
}

/// Index building and life cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexSettings {
    /// Source of document vectors (`marketlounge index build --embedder` overrides it).
    pub embedder: EmbedderKind,
    /// Dimensions of `provided` and `hashed` vectors (the model embedders have their own: 384 for
    /// `onnx`, 256 for `static`).
    #[schemars(range(min = 1, max = 4096))]
    pub vector_dims: u32,
    /// Storage of vectors in the HNSW index.
    pub vector_quantization: marketlounge_index::segment::Quantization,
    /// tantivy indexing threads for bulk builds.
    #[schemars(range(min = 1, max = 8))]
    pub indexing_threads: usize,
    /// Indexing memory budget in MiB (across threads).
    #[schemars(range(min = 32))]
    pub memory_budget_mb: usize,
    /// The merge policy keeps at most this many segments.
    #[schemars(range(min = 1))]
    pub max_segments: usize,
    /// Pause between flushes of incremental writes, in milliseconds: a write is searchable once
    /// the next flush has published it, within the `visible_within_ms` its answer promises (the
    /// pause plus the flushes' own time, which grows with what they carry).
    #[schemars(range(min = 10, max = 1000))]
    pub flush_interval_ms: u64,
    /// Checksum every byte of every segment file before the server opens the index. When false
    /// (the default), sizes and small files are checked on open and every byte right after, in
    /// the background (`/health` reports it), so a large index serves at once.
    pub verify_checksums_on_open: bool,
    /// Largest share of the live documents a reindex (`POST /admin/reindex`, `marketlounge
    /// index build`) may drop: a new generation that loses more is refused and the live index
    /// stays as it was, unless the request says `allow_shrink` (an empty or truncated input
    /// would otherwise publish an empty index). 0 refuses any loss, 1 allows any; an empty
    /// index can always be filled. Settings files written before this field get 0.5.
    #[serde(default = "default_reindex_max_drop_share")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub reindex_max_drop_share: f64,
}

fn default_reindex_max_drop_share() -> f64 {
    0.5
}

/// The embedding models (`index.embedder` chooses which one documents use).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingSettings {
    /// Directory of the model files ("": `$MARKETLOUNGE_MODELS`, else
    /// `${XDG_CACHE_HOME:-~/.cache}/marketlounge/models`, where `tools/setup-model` installs).
    pub model_dir: String,
    /// ONNX Runtime's shared library ("": `$ORT_DYLIB_PATH`, else the one in `model_dir`).
    pub runtime_library: String,
    /// ONNX sessions run in parallel (0: one per core).
    #[schemars(range(max = 64))]
    pub sessions: usize,
    /// Documents embedded per model run.
    #[schemars(range(min = 1, max = 256))]
    pub batch_size: usize,
    /// Longest passage in model tokens; longer ones are truncated (part of the model fingerprint).
    #[schemars(range(min = 16, max = 512))]
    pub max_tokens: usize,
    /// Query vectors kept in the LRU cache (0: none).
    pub query_cache_entries: usize,
    /// Directory of the persistent document-vector cache ("": `vector-cache/` in the data
    /// directory).
    pub vector_cache_dir: String,
}

/// Text analysis options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Language of the documents (stemmer and stopwords at index time).
    pub document_language: marketlounge_index::analysis::Language,
    /// Whether queries detected as English are also analysed with the English pipeline.
    pub detect_query_language: bool,
    /// Weight of a synonym expansion relative to the user's own words (times the entry's weight).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub synonym_weight: f32,
    /// Weight of the labels of a detected concept relative to the user's own words.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub concept_label_weight: f32,
    /// Weight of the French translations of an English query's words (times the lexicon's
    /// alignment strength).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub translation_weight: f32,
    /// Weight of two of the user's words found together in order (a phrase: "découpe laser")
    /// relative to the words themselves; scored on candidates only.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub phrase_weight: f32,
}

/// BM25 boosts per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldWeights {
    #[schemars(range(min = 0.0))]
    pub name: f32,
    #[schemars(range(min = 0.0))]
    pub capabilities: f32,
    #[schemars(range(min = 0.0))]
    pub description: f32,
    #[schemars(range(min = 0.0))]
    pub machines: f32,
    #[schemars(range(min = 0.0))]
    pub materials: f32,
    #[schemars(range(min = 0.0))]
    pub certifications: f32,
}

/// Weights of the score components fused into one ranking score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FusionWeights {
    #[schemars(range(min = 0.0))]
    pub lexical: f32,
    #[schemars(range(min = 0.0))]
    pub vector: f32,
    #[schemars(range(min = 0.0))]
    pub concept: f32,
    #[schemars(range(min = 0.0))]
    pub geo: f32,
    /// Weight of the opportunity prior (clipped log-odds of the calibrated probability).
    #[schemars(range(min = 0.0))]
    pub prior: f32,
    /// Distance at which the geo component halves, in km.
    #[schemars(range(min = 1.0))]
    pub geo_half_distance_km: f32,
    /// Radius of "près de X" / "near X" when the query gives no distance, in km: the place
    /// constraint is met within it (and a place used as a filter keeps it).
    #[schemars(range(min = 1.0, max = 1000.0))]
    pub near_radius_km: f32,
    /// The k of reciprocal rank fusion, for `rrf` mode.
    #[schemars(range(min = 1.0))]
    pub rrf_k: f32,
    /// Base rate of the opportunity probability: the prior is the clipped log-odds relative to it.
    #[schemars(range(min = 0.001, max = 0.999))]
    pub prior_base_rate: f32,
    /// Candidates each retriever (lexical, vector, concept) contributes to fusion at least;
    /// result pages up to this depth come from one candidate pool.
    #[schemars(range(min = 10, max = 10000))]
    pub candidates: usize,
}

/// Limits that protect the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body, in bytes: an NDJSON batch (companies, signals, articles,
    /// outcomes, priors, a reindex body). Smaller bodies have their own limits:
    /// `max_line_bytes` and `max_json_body_bytes`.
    #[schemars(range(min = 1024))]
    pub max_body_bytes: usize,
    /// Longest accepted NDJSON line, in bytes; also the largest body of one JSON record (a
    /// record is one line).
    #[schemars(range(min = 1024))]
    pub max_line_bytes: usize,
    /// Longest accepted query text, in bytes.
    #[schemars(range(min = 16))]
    pub max_query_bytes: usize,
    /// Time after which a request is answered 408, in milliseconds.
    #[schemars(range(min = 1))]
    pub request_timeout_ms: u64,
    /// Longest a `/api/v1/match` query waits for a search slot, in milliseconds. Past it, the
    /// query is answered 503 `overloaded` with `Retry-After`: under more load than the machine
    /// can answer, late answers are shed instead of queued up to the request timeout. When even
    /// the shortest wait for a slot has stayed above the sojourn target (8 mean query times, at
    /// least 20 ms) for 100 ms (a standing queue, not a burst nor a few clients keeping every
    /// slot busy), the wait drops to that target, so that the queries served are served
    /// promptly. Settings files written before this field get 1000.
    #[serde(default = "default_queue_timeout_ms")]
    #[schemars(range(min = 1))]
    pub queue_timeout_ms: u64,
    /// Longest the server waits for a request's line and headers, in milliseconds, counted from
    /// when it starts waiting for them: the connection's opening or the previous answer. A
    /// client slower than that (a slow-headers attack) is disconnected without an answer. It
    /// also bounds how long an idle connection stays open. Settings files written before this
    /// field get 10000.
    #[serde(default = "default_header_read_timeout_ms")]
    #[schemars(range(min = 1))]
    pub header_read_timeout_ms: u64,
    /// How long a keep-alive connection may stay idle (no request under way, nothing received)
    /// before the server closes it, in milliseconds. Settings files written before this field
    /// get 5000.
    #[serde(default = "default_keep_alive_timeout_ms")]
    #[schemars(range(min = 1))]
    pub keep_alive_timeout_ms: u64,
    /// Most connections open at once. A connection over it is answered 503
    /// `too_many_connections` with `Retry-After` and closed. Settings files written before this
    /// field get 512.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1, max = 1000000))]
    pub max_connections: usize,
    /// Largest JSON body that is not records, in bytes: a `/api/v1/match` query (a `vector` of
    /// 4096 dimensions is about 60 KB of JSON) and the parameters of the admin tasks. Settings
    /// files written before this field get 262144.
    #[serde(default = "default_max_json_body_bytes")]
    #[schemars(range(min = 1024))]
    pub max_json_body_bytes: usize,
    /// Most bytes gzip input read by the server (an `/admin/reindex` body or file) may unpack
    /// to. Files given on the command line are the operator's: only `max_unpack_ratio` applies
    /// to them. Settings files written before this field get 1073741824 (1 GiB).
    #[serde(default = "default_max_unpacked_bytes")]
    #[schemars(range(min = 1024))]
    pub max_unpacked_bytes: u64,
    /// Most bytes gzip input may unpack to per compressed byte, checked once 8 MiB are
    /// unpacked, wherever gzip is read (command line included): the demo companies compress
    /// about 5 times, their signals, articles and outcomes 13 times, a gzip bomb of zeros or of
    /// `{}` lines 1000 times. Settings files written before this field get 32.
    #[serde(default = "default_max_unpack_ratio")]
    #[schemars(range(min = 2))]
    pub max_unpack_ratio: u64,
    /// Errors listed in the answer to a body of invalid records (`error.details.errors`, in
    /// order); `error.details.error_count` counts them all. Settings files written before this
    /// field get 100.
    #[serde(default = "default_max_listed_errors")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_listed_errors: usize,
}

fn default_queue_timeout_ms() -> u64 {
    1000
}

fn default_header_read_timeout_ms() -> u64 {
    10_000
}

fn default_keep_alive_timeout_ms() -> u64 {
    5_000
}

fn default_max_connections() -> usize {
    512
}

fn default_max_json_body_bytes() -> usize {
    256 << 10
}

fn default_max_unpacked_bytes() -> u64 {
    1 << 30
}

fn default_max_unpack_ratio() -> u64 {
    32
}

fn default_max_listed_errors() -> usize {
    100
}

impl Limits {
    /// The bounds on gzip input the server reads: `/admin/reindex` bodies and files.
    pub fn server_unpack_limits(&self) -> UnpackLimits {
        UnpackLimits { max_unpacked_bytes: self.max_unpacked_bytes, max_ratio: self.max_unpack_ratio }
    }

    /// The bounds on gzip files given on the command line: the expansion ratio only (their
    /// size is the operator's choice, a bomb is not).
    pub fn file_unpack_limits(&self) -> UnpackLimits {
        UnpackLimits { max_unpacked_bytes: u64::MAX, max_ratio: self.max_unpack_ratio }
    }
}

impl Settings {
    /// The compiled-in defaults.
    pub fn default_settings() -> Settings {
        // The default file is part of the build and checked by a test.
        Settings::from_json(DEFAULT_SETTINGS).expect("schema/settings.default.json is valid")
    }

    pub fn from_json(text: &str) -> anyhow::Result<Settings> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let settings: Settings = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|err| anyhow::anyhow!("settings field {}: {}", err.path(), err.inner()))?;
        settings.check()?;
        Ok(settings)
    }

    pub fn load(path: Option<&Path>) -> anyhow::Result<Settings> {
        match path {
            None => Ok(Settings::default_settings()),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading settings {}", path.display()))?;
                Settings::from_json(&text).with_context(|| format!("settings file {}", path.display()))
            }
        }
    }

    /// Range checks the JSON Schema states, for values serde accepts.
    fn check(&self) -> anyhow::Result<()> {
        let non_negative = [
            ("fields.name", self.fields.name),
            ("fields.capabilities", self.fields.capabilities),
            ("fields.description", self.fields.description),
            ("fields.machines", self.fields.machines),
            ("fields.materials", self.fields.materials),
            ("fields.certifications", self.fields.certifications),
            ("fusion.lexical", self.fusion.lexical),
            ("fusion.vector", self.fusion.vector),
            ("fusion.concept", self.fusion.concept),
            ("fusion.geo", self.fusion.geo),
            ("fusion.prior", self.fusion.prior),
        ];
        for (field, value) in non_negative {
            anyhow::ensure!(
                value.is_finite() && value >= 0.0,
                "settings field {field}: {value} must be a finite number ≥ 0"
            );
        }
        for (field, value) in [
            ("analysis.synonym_weight", self.analysis.synonym_weight),
            ("analysis.concept_label_weight", self.analysis.concept_label_weight),
            ("analysis.translation_weight", self.analysis.translation_weight),
            ("analysis.phrase_weight", self.analysis.phrase_weight),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&value), "settings field {field}: {value} must be within [0, 1]");
        }
        anyhow::ensure!(
            self.fusion.geo_half_distance_km >= 1.0,
            "settings field fusion.geo_half_distance_km: must be ≥ 1"
        );
        anyhow::ensure!(
            (1.0..=1000.0).contains(&self.fusion.near_radius_km),
            "settings field fusion.near_radius_km: must be from 1 to 1000"
        );
        if let Some(hours) = self.backup.interval_hours {
            // From about a second (tests) to a year.
            anyhow::ensure!(
                hours.is_finite() && (0.0002..=8760.0).contains(&hours),
                "settings field backup.interval_hours: {hours} must be within [0.0002, 8760] hours"
            );
        }
        anyhow::ensure!(self.backup.keep >= 1, "settings field backup.keep: must be ≥ 1");
        anyhow::ensure!(
            (1..=3650).contains(&self.auth.audit_retention_days),
            "settings field auth.audit_retention_days: must be within [1, 3650]"
        );
        anyhow::ensure!(self.admin.snapshot_retention >= 1, "settings field admin.snapshot_retention: must be ≥ 1");
        let scoring = &self.scoring;
        anyhow::ensure!(
            scoring.c.is_finite() && scoring.c >= 1e-6,
            "settings field scoring.c: {} must be a finite number ≥ 0.000001",
            scoring.c
        );
        anyhow::ensure!(scoring.gap_days >= 0, "settings field scoring.gap_days: must be ≥ 0");
        anyhow::ensure!((1..=64).contains(&scoring.threads), "settings field scoring.threads: must be within [1, 64]");
        let features = &scoring.features;
        for (field, value) in [
            ("scoring.features.positive_half_life_days", features.positive_half_life_days),
            ("scoring.features.red_flag_half_life_days", features.red_flag_half_life_days),
        ] {
            anyhow::ensure!(value.is_finite() && value >= 1.0, "settings field {field}: {value} must be ≥ 1");
        }
        anyhow::ensure!(
            features.recency_cap_days >= 1,
            "settings field scoring.features.recency_cap_days: must be ≥ 1"
        );
        anyhow::ensure!(self.fusion.rrf_k >= 1.0, "settings field fusion.rrf_k: must be ≥ 1");
        anyhow::ensure!(
            (0.001..=0.999).contains(&self.fusion.prior_base_rate),
            "settings field fusion.prior_base_rate: must be within [0.001, 0.999]"
        );
        anyhow::ensure!(
            (10..=10_000).contains(&self.fusion.candidates),
            "settings field fusion.candidates: must be within [10, 10000]"
        );
        let index = &self.index;
        anyhow::ensure!(
            (1..=4096).contains(&index.vector_dims),
            "settings field index.vector_dims: must be within [1, 4096]"
        );
        anyhow::ensure!(
            (1..=8).contains(&index.indexing_threads),
            "settings field index.indexing_threads: must be within [1, 8]"
        );
        anyhow::ensure!(index.memory_budget_mb >= 32, "settings field index.memory_budget_mb: must be ≥ 32");
        anyhow::ensure!(index.max_segments >= 1, "settings field index.max_segments: must be ≥ 1");
        anyhow::ensure!(
            (0.0..=1.0).contains(&index.reindex_max_drop_share),
            "settings field index.reindex_max_drop_share: {} must be within [0, 1]",
            index.reindex_max_drop_share
        );
        anyhow::ensure!(
            (10..=1000).contains(&index.flush_interval_ms),
            "settings field index.flush_interval_ms: must be within [10, 1000]"
        );
        let embedding = &self.embedding;
        anyhow::ensure!(embedding.sessions <= 64, "settings field embedding.sessions: must be within [0, 64]");
        anyhow::ensure!(
            (1..=256).contains(&embedding.batch_size),
            "settings field embedding.batch_size: must be within [1, 256]"
        );
        anyhow::ensure!(
            (16..=512).contains(&embedding.max_tokens),
            "settings field embedding.max_tokens: must be within [16, 512] (the model reads at most 512)"
        );
        anyhow::ensure!(self.limits.max_body_bytes >= 1024, "settings field limits.max_body_bytes: must be ≥ 1024");
        anyhow::ensure!(self.limits.max_line_bytes >= 1024, "settings field limits.max_line_bytes: must be ≥ 1024");
        anyhow::ensure!(self.limits.max_query_bytes >= 16, "settings field limits.max_query_bytes: must be ≥ 16");
        anyhow::ensure!(self.limits.request_timeout_ms >= 1, "settings field limits.request_timeout_ms: must be ≥ 1");
        anyhow::ensure!(self.limits.queue_timeout_ms >= 1, "settings field limits.queue_timeout_ms: must be ≥ 1");
        anyhow::ensure!(
            self.limits.header_read_timeout_ms >= 1,
            "settings field limits.header_read_timeout_ms: must be ≥ 1"
        );
        anyhow::ensure!(
            self.limits.keep_alive_timeout_ms >= 1,
            "settings field limits.keep_alive_timeout_ms: must be ≥ 1"
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.limits.max_connections),
            "settings field limits.max_connections: must be within [1, 1000000]"
        );
        anyhow::ensure!(
            self.limits.max_json_body_bytes >= 1024,
            "settings field limits.max_json_body_bytes: must be ≥ 1024"
        );
        anyhow::ensure!(
            self.limits.max_unpacked_bytes >= 1024,
            "settings field limits.max_unpacked_bytes: must be ≥ 1024"
        );
        anyhow::ensure!(self.limits.max_unpack_ratio >= 2, "settings field limits.max_unpack_ratio: must be ≥ 2");
        anyhow::ensure!(
            (1..=10_000).contains(&self.limits.max_listed_errors),
            "settings field limits.max_listed_errors: must be within [1, 10000]"
        );
        let auth = &self.auth;
        for (field, rate) in [
            ("auth.default_rate", auth.default_rate),
            ("auth.publishable_rate", Some(auth.publishable_rate)),
            ("auth.per_ip_rate", Some(auth.per_ip_rate)),
            ("auth.failed_auth_rate", Some(auth.failed_auth_rate)),
        ] {
            if let Some(rate) = rate {
                anyhow::ensure!(
                    (1e-6..=1e9).contains(&rate),
                    "settings field {field}: {rate} requests/s must be within [0.000001, 1000000000]"
                );
            }
        }
        for (field, burst) in [
            ("auth.default_burst", auth.default_burst),
            ("auth.publishable_burst", Some(auth.publishable_burst)),
            ("auth.per_ip_burst", Some(auth.per_ip_burst)),
            ("auth.failed_auth_burst", Some(auth.failed_auth_burst)),
        ] {
            anyhow::ensure!(burst != Some(0), "settings field {field}: must be ≥ 1");
        }
        crate::auth::proxies::TrustedProxies::parse(&auth.trusted_proxies)
            .map_err(|message| anyhow::anyhow!("settings field {message}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let settings = Settings::default_settings();
        assert!(settings.fusion.lexical > 0.0);
    }

    #[test]
    fn errors_name_the_field() {
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        value["fusion"]["lexicall"] = serde_json::json!(1.0);
        let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
        assert!(err.contains("fusion.lexicall"), "{err}");
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        value["fusion"]["geo"] = serde_json::json!(-1.0);
        let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
        assert!(err.contains("fusion.geo"), "{err}");
        value["fusion"]["geo"] = serde_json::json!("high");
        let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
        assert!(err.contains("fusion.geo"), "{err}");
    }

    /// A settings file written before the connection limits existed still loads, with the
    /// defaults; a zero is refused by name.
    #[test]
    fn files_without_the_connection_limits_get_the_defaults() {
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        let limits = value["limits"].as_object_mut().unwrap();
        for field in ["header_read_timeout_ms", "keep_alive_timeout_ms", "max_connections"] {
            limits.remove(field).unwrap();
        }
        let loaded = Settings::from_json(&value.to_string()).unwrap().limits;
        assert_eq!(
            (loaded.header_read_timeout_ms, loaded.keep_alive_timeout_ms, loaded.max_connections),
            (10_000, 5_000, 512)
        );
        assert_eq!(loaded, Settings::default_settings().limits, "the default file says the same");
        for field in ["header_read_timeout_ms", "keep_alive_timeout_ms", "max_connections"] {
            let mut broken = value.clone();
            broken["limits"][field] = serde_json::json!(0);
            let err = Settings::from_json(&broken.to_string()).unwrap_err().to_string();
            assert!(err.contains(&format!("limits.{field}")), "{err}");
        }
    }

    /// A settings file written before `limits.queue_timeout_ms` existed still loads, with the
    /// default; a zero is refused by name.
    #[test]
    fn files_without_the_queue_timeout_get_the_default() {
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        value["limits"].as_object_mut().unwrap().remove("queue_timeout_ms").unwrap();
        assert_eq!(Settings::from_json(&value.to_string()).unwrap().limits.queue_timeout_ms, 1000);
        value["limits"]["queue_timeout_ms"] = serde_json::json!(0);
        let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
        assert!(err.contains("limits.queue_timeout_ms"), "{err}");
    }

    /// A settings file written before `index.reindex_max_drop_share` existed still loads, with
    /// the default; a share outside [0, 1] is refused by name.
    #[test]
    fn files_without_the_reindex_drop_share_get_the_default() {
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        value["index"].as_object_mut().unwrap().remove("reindex_max_drop_share").unwrap();
        assert_eq!(Settings::from_json(&value.to_string()).unwrap().index.reindex_max_drop_share, 0.5);
        for wrong in [-0.1, 1.5] {
            value["index"]["reindex_max_drop_share"] = serde_json::json!(wrong);
            let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
            assert!(err.contains("index.reindex_max_drop_share") && err.contains("[0, 1]"), "{err}");
        }
    }

    /// The body and unpacking limits have defaults for older settings files, the same as the
    /// default file's, and an out-of-range value is refused by name.
    #[test]
    fn files_without_the_body_limits_get_the_defaults() {
        let defaults = Settings::default_settings().limits;
        let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
        let fields = ["max_json_body_bytes", "max_unpacked_bytes", "max_unpack_ratio", "max_listed_errors"];
        for field in fields {
            value["limits"].as_object_mut().unwrap().remove(field).unwrap();
        }
        assert_eq!(Settings::from_json(&value.to_string()).unwrap().limits, defaults);
        for field in fields {
            let mut value: serde_json::Value = serde_json::from_str(DEFAULT_SETTINGS).unwrap();
            value["limits"][field] = serde_json::json!(0);
            let err = Settings::from_json(&value.to_string()).unwrap_err().to_string();
            assert!(err.contains(&format!("limits.{field}")), "{err}");
        }
    }
}
