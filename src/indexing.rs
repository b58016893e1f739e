//! What the CLI and the HTTP admin endpoints share to build indexes: engine options from the
//! settings, a company source that validates every line and reports every error, and the data
//! directory lock.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use marketlounge_index::IndexError;
use marketlounge_index::embed::{Embedder, HashedEmbedder, ModelPaths, OnnxEmbedder, OnnxOptions, StaticEmbedder};
use marketlounge_index::engine::{DropLimit, EngineOptions};
use marketlounge_index::ndjson::{Parsed, RecordReader, UnpackLimits};
use marketlounge_index::record::{Company, FieldError, ValidationCode, shown};

use marketlounge_index::refdata::RefData;
use marketlounge_index::segment::VectorOptions;

use crate::settings::{EmbedderKind, Settings};

/// The embedder of kind `kind` (`None` for `none` and `provided`, which compute nothing).
/// Loading a model takes a second or two; failures say what to do (run `tools/setup-model`…).
pub fn open_embedder(settings: &Settings, kind: EmbedderKind) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let embedding = &settings.embedding;
    let paths = || ModelPaths::resolve(&embedding.model_dir, &embedding.runtime_library);
    Ok(match kind {
        EmbedderKind::None | EmbedderKind::Provided => None,
        EmbedderKind::Hashed => Some(Arc::new(HashedEmbedder::new(settings.index.vector_dims))),
        EmbedderKind::Onnx => {
            let options = OnnxOptions {
                sessions: embedding.sessions,
                batch_size: embedding.batch_size,
                max_tokens: embedding.max_tokens,
            };
            Some(Arc::new(OnnxEmbedder::open(&paths(), options)?))
        }
        EmbedderKind::Static => Some(Arc::new(StaticEmbedder::open(&paths())?)),
    })
}

/// Engine options for `settings`, with the embedder chosen (settings or a command-line override).
pub fn engine_options(settings: &Settings, kind: EmbedderKind) -> anyhow::Result<EngineOptions> {
    let index = &settings.index;
    let embedder = open_embedder(settings, kind)?;
    let vectors = match (&embedder, kind) {
        (_, EmbedderKind::None) => None,
        (None, _) => Some(VectorOptions {
            model: format!("provided:{}", index.vector_dims),
            dims: index.vector_dims,
            quantization: index.vector_quantization,
        }),
        (Some(embedder), _) => Some(VectorOptions {
            model: embedder.fingerprint().to_owned(),
            dims: embedder.dims(),
            quantization: index.vector_quantization,
        }),
    };
    let cache_dir = &settings.embedding.vector_cache_dir;
    Ok(EngineOptions {
        threads: index.indexing_threads,
        memory_budget_bytes: index.memory_budget_mb << 20,
        vectors,
        embedder,
        verify_checksums: index.verify_checksums_on_open,
        max_segments: index.max_segments,
        search_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        vector_cache: (!cache_dir.is_empty()).then(|| cache_dir.into()),
    })
}

/// How much of the live index a reindex may drop: `index.reindex_max_drop_share`, or anything
/// when the request says so explicitly (`allow_shrink`).
pub fn drop_limit(settings: &Settings, allow_shrink: bool) -> DropLimit {
    if allow_shrink { DropLimit::Unlimited } else { DropLimit::Share(settings.index.reindex_max_drop_share) }
}

/// Reads companies from NDJSON, validating each line. Invalid lines are skipped and remembered;
/// once the input is exhausted, the source yields one final error listing them, so a build fails
/// before it publishes anything while still reporting every bad line.
pub struct CompanySource<R: BufRead> {
    reader: RecordReader<'static, R, Company>,
    errors: Vec<String>,
    error_count: usize,
    done: bool,
    /// Whether error messages may quote the input (a client's own body) or only name lines,
    /// schema fields and codes (a file on the server: its values may be anyone's secrets).
    quote_values: bool,
}

/// At most this many error lines are kept for the final report.
const MAX_REPORTED_ERRORS: usize = 50;

impl<R: BufRead> std::fmt::Debug for CompanySource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanySource")
            .field("lines_read", &self.lines_read())
            .field("errors", &self.error_count)
            .finish()
    }
}

impl<R: BufRead> CompanySource<R> {
    pub fn new(input: R, max_line_bytes: usize) -> Self {
        CompanySource {
            reader: RecordReader::new(input, RefData::embedded()).with_max_line_bytes(max_line_bytes),
            errors: Vec::new(),
            error_count: 0,
            done: false,
            quote_values: true,
        }
    }

    /// Errors name the line, the field (when it is a schema field name) and the error's code,
    /// never a value or an unknown key of the input: for files read on the server's side.
    pub fn without_quoting(mut self) -> Self {
        self.quote_values = false;
        self
    }

    pub fn lines_read(&self) -> u64 {
        self.reader.lines_read()
    }
}

impl CompanySource<Box<dyn BufRead + Send>> {
    pub fn open(path: &Path, max_line_bytes: usize, unpack: UnpackLimits) -> anyhow::Result<Self> {
        let input = marketlounge_index::ndjson::open_path(path, unpack)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(CompanySource::new(input, max_line_bytes))
    }
}

impl<R: BufRead> Iterator for CompanySource<R> {
    type Item = Result<Company, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.reader.next() {
                Some(Ok(Parsed::Valid { record, .. })) => return Some(Ok(record)),
                Some(Ok(Parsed::Invalid { line, errors })) => {
                    self.error_count += errors.len();
                    for error in errors {
                        if self.errors.len() < MAX_REPORTED_ERRORS {
                            self.errors.push(if self.quote_values {
                                format!("line {line}: field {}: {}", error.field, error.message)
                            } else {
                                format!("line {line}: field {}: {}", schema_path(&error.field), error.code.as_str())
                            });
                        }
                    }
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(IndexError::Input { source: err }));
                }
                None => {
                    self.done = true;
                    if self.error_count == 0 {
                        return None;
                    }
                    let more = self.error_count - self.errors.len();
                    let mut message = self.errors.join("\n");
                    if more > 0 {
                        message.push_str(&format!("\n… and {more} more"));
                    }
                    return Some(Err(IndexError::InvalidRecords { count: self.error_count, message }));
                }
            }
        }
    }
}

/// `field` when it is a path of schema field names and indexes (`address.postal_code`,
/// `capabilities[2]`), else `?`: a path can only quote the input through a key the schema does
/// not have, and such a key is not shown.
fn schema_path(field: &str) -> &str {
    let plain = field.len() <= 64
        && field.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.[]$".contains(&b));
    if plain { field } else { "?" }
}

/// A prior read from NDJSON: `{"id": "…", "opportunity": p}`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorLine {
    id: String,
    opportunity: f32,
}

/// Reads opportunity priors, one `{"id", "opportunity"}` object per line: every valid value,
/// and each invalid line to `on_error` (its number and its errors) as it is met, so that a
/// caller decides how many to keep. Only reading the input can fail.
pub fn read_priors(
    input: impl BufRead,
    mut on_error: impl FnMut(u64, &[FieldError]),
) -> std::io::Result<std::collections::HashMap<String, f32>> {
    let mut values = std::collections::HashMap::new();
    for (idx, line) in input.split(b'\n').enumerate() {
        let line_no = idx as u64 + 1;
        let line = line?;
        let Ok(text) = std::str::from_utf8(&line) else {
            on_error(line_no, &[FieldError::new("$", ValidationCode::InvalidUtf8, "invalid UTF-8")]);
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let prior: PriorLine = match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(prior) => prior,
            Err(err) => {
                let path = err.path().to_string();
                on_error(line_no, &[marketlounge_index::ndjson::classify_error(path, err.into_inner())]);
                continue;
            }
        };
        let mut errors = Vec::new();
        if marketlounge_index::record::parse_id(&prior.id).is_none() {
            let message = format!("{} is not a 9-digit id", shown(&prior.id));
            errors.push(FieldError::new("id", ValidationCode::InvalidId, message));
        }
        if !(0.0..=1.0).contains(&prior.opportunity) {
            let message = format!("{} is not within [0, 1]", prior.opportunity);
            errors.push(FieldError::new("opportunity", ValidationCode::InvalidValue, message));
        }
        if errors.is_empty() {
            values.insert(prior.id, prior.opportunity);
        } else {
            on_error(line_no, &errors);
        }
    }
    Ok(values)
}

/// Counts the bytes read through it (for progress and ETA of a reindex).
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R, count: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// An exclusive lock on a data directory: one process writes it at a time.
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

impl DataDirLock {
    pub fn acquire(data: &Path) -> anyhow::Result<DataDirLock> {
        std::fs::create_dir_all(data).with_context(|| format!("creating data directory {}", data.display()))?;
        let path = data.join("LOCK");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.try_lock().map_err(|_| {
            anyhow::anyhow!(
                "data directory {} is used by another marketlounge process (lock held on {}); \
                 stop it, or use its HTTP admin endpoints",
                data.display(),
                path.display()
            )
        })?;
        Ok(DataDirLock { _file: file, path })
    }
}
