//! The library's one error type, for every layer from the on-disk files to the query path.
//! Every variant names the file, the record or the request concerned and, where someone can act,
//! says what to do; the variants a caller tells apart (the caller's fault, work in progress, a
//! refused reindex, a broken index) are distinct types, never a message to parse.

use std::path::PathBuf;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The lexical index of a segment cannot be opened: corrupt or unreadable files.
    #[error("{path}: lexical index: {source}; restore from a snapshot or rebuild the index")]
    LexicalOpen { path: PathBuf, source: tantivy::TantivyError },
    /// Building a segment's lexical index failed (disk full, I/O error…): nothing was published.
    #[error("{path}: writing the lexical index failed: {source}")]
    LexicalWrite { path: PathBuf, source: tantivy::TantivyError },
    /// Reading an open segment's lexical index failed while serving (a query, a stored record):
    /// an I/O error, or corruption that the background checksum scrub reports in `/health`.
    #[error("{path}: reading the lexical index failed: {source}")]
    LexicalRead { path: PathBuf, source: tantivy::TantivyError },
    #[error("{path}: vector index: {message}; restore from a snapshot or rebuild the index")]
    Vectors { path: PathBuf, message: String },
    #[error("{path}: dictionary: {message}; restore from a snapshot or rebuild the index")]
    Dictionary { path: PathBuf, message: String },
    #[error(
        "{path}: file {file} is missing or has the wrong size ({found} bytes, expected {expected}); restore from a snapshot or rebuild the index"
    )]
    FileSize { path: PathBuf, file: String, found: u64, expected: u64 },
    #[error("{path}: checksum mismatch in {file}, the file is corrupt; restore from a snapshot or rebuild the index")]
    FileChecksum { path: PathBuf, file: String },
    #[error(
        "{path}: built with a different document schema or analysis (hash {found:016x}, this build uses {expected:016x}); rebuild the index with `marketlounge index build`"
    )]
    SchemaMismatch { path: PathBuf, found: u64, expected: u64 },
    #[error(
        "{path}: vectors come from embedding model {found:?} but the server is configured for {expected:?}; rebuild the index with `marketlounge index build` or configure the same model"
    )]
    ModelMismatch { path: PathBuf, found: String, expected: String },
    /// One record cannot be stored as given (the caller's fault).
    #[error("record {id:?}: {message}")]
    Record { id: String, message: String },
    /// The records given to a build are invalid: `message` lists the first errors by line and
    /// field (the caller's fault; nothing was published).
    #[error("{count} invalid record error(s); nothing was published:\n{message}")]
    InvalidRecords { count: usize, message: String },
    /// The records given to a build could not be read (a truncated gzip stream, an I/O error).
    #[error("reading the input: {source}")]
    Input { source: std::io::Error },
    /// The index-wide term statistics of a query could not be read (BM25 over every segment).
    #[error("reading term statistics failed: {source}")]
    Statistics { source: tantivy::TantivyError },
    /// A query vector whose dimension is not the index's.
    #[error("the query vector has {found} dimensions, the index's vectors {expected}")]
    QueryDimensions { found: usize, expected: usize },
    /// A backup or restore target that would overwrite something.
    #[error("{path} {problem}")]
    Target { path: PathBuf, problem: &'static str },
    /// A directory given as a backup holds none.
    #[error("{path}: no MANIFEST; not a backup")]
    NotABackup { path: PathBuf },
    /// A reindex is already running: one at a time.
    #[error("a reindex is already running")]
    ReindexRunning,
    /// A segment would exceed what its file formats can address (`what` says which limit).
    #[error("segment too large: {what}")]
    Limit { what: &'static str },
    /// The embedding model failed on a document (the message says why and what to do).
    #[error("{0}")]
    Embedding(String),
    /// Index files disagree with each other: the message names them and says what to do.
    #[error("{0}")]
    Corrupt(String),
    /// A reindex would have dropped more of the live documents than allowed (shares from 0 to
    /// 1); nothing was published.
    #[error(
        "reindex refused: the new generation has {new_docs} documents where {live_docs} are live, \
         it would drop {dropped:.1} % of them and index.reindex_max_drop_share allows {allowed:.1} %; \
         the live index is unchanged. If the input is right, say so: POST /admin/reindex?allow_shrink=true \
         or `marketlounge index build --allow-shrink`",
        dropped = .drop_share * 100.0,
        allowed = .max_drop_share * 100.0
    )]
    ShrinkRefused { live_docs: u64, new_docs: u64, drop_share: f64, max_drop_share: f64 },
}

impl IndexError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IndexError {
        let path = path.into();
        move |source| IndexError::Io { path, source }
    }

    /// Opening a segment's lexical index failed.
    pub(crate) fn lexical_open(path: impl Into<PathBuf>) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
        let path = path.into();
        move |source| IndexError::LexicalOpen { path, source }
    }

    /// Building a segment's lexical index (or what is derived from it) failed.
    pub(crate) fn lexical_write(path: impl Into<PathBuf>) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
        let path = path.into();
        move |source| IndexError::LexicalWrite { path, source }
    }

    /// Reading an open segment's lexical index failed while serving.
    pub(crate) fn lexical_read(path: impl Into<PathBuf>) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
        let path = path.into();
        move |source| IndexError::LexicalRead { path, source }
    }

    /// A stable, machine-readable code for logs and answers.
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::Storage(StorageError::Io { .. }) | IndexError::Io { .. } => "index_io",
            IndexError::Storage(StorageError::UnsupportedVersion { .. }) => "index_version_unsupported",
            IndexError::SchemaMismatch { .. } => "index_schema_mismatch",
            IndexError::ModelMismatch { .. } => "index_model_mismatch",
            IndexError::Record { .. } | IndexError::InvalidRecords { .. } => "invalid_record",
            IndexError::Input { .. } => "unreadable_input",
            IndexError::QueryDimensions { .. } => "invalid_query",
            IndexError::Target { .. } | IndexError::NotABackup { .. } => "invalid_target",
            IndexError::ReindexRunning => "busy",
            IndexError::ShrinkRefused { .. } => "shrink_refused",
            IndexError::Embedding(_) => "embedding_failed",
            IndexError::LexicalWrite { .. } | IndexError::LexicalRead { .. } | IndexError::Statistics { .. } => {
                "index_io"
            }
            IndexError::Limit { .. } => "index_limit",
            IndexError::Storage(_)
            | IndexError::Corrupt(_)
            | IndexError::LexicalOpen { .. }
            | IndexError::Vectors { .. }
            | IndexError::Dictionary { .. }
            | IndexError::FileSize { .. }
            | IndexError::FileChecksum { .. } => "index_corrupt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_opening_a_segment_advises_a_rebuild() {
        let source = || tantivy::TantivyError::InternalError("boom".into());
        let read = IndexError::lexical_read("/data/segments/s1/tantivy")(source()).to_string();
        let write = IndexError::lexical_write("/data/segments/s1.tmp/tantivy")(source()).to_string();
        let open = IndexError::lexical_open("/data/segments/s1/tantivy")(source()).to_string();
        assert!(!read.contains("rebuild") && !read.contains("restore"), "{read}");
        assert!(!write.contains("rebuild") && !write.contains("restore"), "{write}");
        assert!(open.contains("rebuild the index"), "{open}");
    }
}
