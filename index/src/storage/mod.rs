//! On-disk primitives shared by every index file: a checksummed footer, atomic publication, and
//! the memory-mapped prior-columns file. See `README.md` beside this file for the byte layouts.
//!
//! Invariant: a published file is never modified in place (a memory map of it would see the
//! change, or die of SIGBUS on truncation); it is replaced by writing a new file and renaming it.

mod atomic;
mod columns;
mod footer;

pub use atomic::{fsync_dir, write_atomically};
pub use columns::{ColumnsReader, write_columns};
pub use footer::{FOOTER_LEN, FileKind, FramedWriter, append_footer, check_footer, verify_footer};

use std::path::PathBuf;

/// Why an index file could not be used. Every variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: file is truncated ({len} bytes); restore it from a snapshot or rebuild the index")]
    Truncated { path: PathBuf, len: u64 },
    #[error("{path}: not a {expected} file (magic {found:?}); the data directory holds a foreign file")]
    BadMagic { path: PathBuf, expected: &'static str, found: [u8; 8] },
    #[error(
        "{path}: format version {found} is not supported (this build reads version {supported}); rebuild the index with this version"
    )]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },
    #[error("{path}: checksum mismatch, the file is corrupt; restore it from a snapshot or rebuild the index")]
    ChecksumMismatch { path: PathBuf },
    #[error("{path}: corrupt: {reason}; restore it from a snapshot or rebuild the index")]
    Corrupt { path: PathBuf, reason: String },
}
