//! The one error type of the segment layer and the engine above it. Every variant names the file
//! or the record concerned and, where the operator can act, says what to do.

use std::path::PathBuf;

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: lexical index: {source}; restore from a snapshot or rebuild the index")]
    Lexical { path: PathBuf, source: tantivy::TantivyError },
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
    #[error("record {id:?}: {message}")]
    Record { id: String, message: String },
    /// A request the index cannot honour as asked (bad input, existing destination…).
    #[error("{0}")]
    Invalid(String),
    /// Work in progress forbids this now (e.g. a reindex is already running).
    #[error("{0}")]
    Busy(String),
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

    pub(crate) fn lexical(path: impl Into<PathBuf>) -> impl FnOnce(tantivy::TantivyError) -> IndexError {
        let path = path.into();
        move |source| IndexError::Lexical { path, source }
    }

    /// A stable, machine-readable code for logs and HTTP answers.
    pub fn code(&self) -> &'static str {
        match self {
            IndexError::Storage(StorageError::Io { .. }) | IndexError::Io { .. } => "index_io",
            IndexError::Storage(StorageError::UnsupportedVersion { .. }) => "index_version_unsupported",
            IndexError::SchemaMismatch { .. } => "index_schema_mismatch",
            IndexError::ModelMismatch { .. } => "index_model_mismatch",
            IndexError::Record { .. } | IndexError::Invalid(_) => "invalid_record",
            IndexError::Busy(_) => "busy",
            IndexError::ShrinkRefused { .. } => "shrink_refused",
            IndexError::Embedding(_) => "embedding_failed",
            IndexError::Storage(_)
            | IndexError::Corrupt(_)
            | IndexError::Lexical { .. }
            | IndexError::Vectors { .. }
            | IndexError::Dictionary { .. }
            | IndexError::FileSize { .. }
            | IndexError::FileChecksum { .. } => "index_corrupt",
        }
    }
}
