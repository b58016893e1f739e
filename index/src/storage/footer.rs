//! The footer every index file ends with: what the file is, which format version wrote it, how
//! long its payload is, and a CRC-32 of the payload. Readers check all four before trusting a
//! byte of the payload.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::StorageError;

/// Length of the footer in bytes: magic (8) + version (4) + payload length (8) + CRC-32 (4).
pub const FOOTER_LEN: usize = 24;

/// The kinds of index file, each with its magic and current format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Prior columns (per-document f32 values).
    Columns,
    /// A hybrid segment's metadata (bincode).
    SegmentMeta,
    /// The manifest naming the live segment set (bincode).
    Manifest,
    /// A segment's tombstones (bitset over document ordinals).
    Deletes,
    /// A segment's ordinal → id table (u32 per document).
    Ids,
    /// A segment's content hashes (u64 per document), for vector reuse.
    Hashes,
    /// A segment's capability vectors (f16, several per document).
    Chunks,
    /// A segment's forward lists (term ordinals and frequencies per document and field).
    Forward,
    /// A segment's constraint facets (materials, certifications, size, place per document).
    Facets,
}

impl FileKind {
    pub fn magic(self) -> [u8; 8] {
        match self {
            FileKind::Columns => *b"MLCOLUMN",
            FileKind::SegmentMeta => *b"MLSEGMET",
            FileKind::Manifest => *b"MLMANIFT",
            FileKind::Deletes => *b"MLDELETE",
            FileKind::Ids => *b"MLIDSORD",
            FileKind::Hashes => *b"MLHASHES",
            FileKind::Chunks => *b"MLCHUNKV",
            FileKind::Forward => *b"MLFORWRD",
            FileKind::Facets => *b"MLFACETS",
        }
    }

    pub fn version(self) -> u32 {
        match self {
            FileKind::Columns
            | FileKind::SegmentMeta
            | FileKind::Manifest
            | FileKind::Deletes
            | FileKind::Ids
            | FileKind::Hashes
            | FileKind::Chunks
            | FileKind::Forward
            | FileKind::Facets => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Columns => "prior columns",
            FileKind::SegmentMeta => "segment metadata",
            FileKind::Manifest => "manifest",
            FileKind::Deletes => "tombstones",
            FileKind::Ids => "id table",
            FileKind::Hashes => "content hashes",
            FileKind::Chunks => "capability vectors",
            FileKind::Forward => "forward lists",
            FileKind::Facets => "constraint facets",
        }
    }
}

/// The footer of a `kind` file whose payload has `payload_len` bytes and CRC-32 `crc`.
fn footer(kind: FileKind, payload_len: u64, crc: u32) -> [u8; FOOTER_LEN] {
    let mut footer = [0u8; FOOTER_LEN];
    footer[..8].copy_from_slice(&kind.magic());
    footer[8..12].copy_from_slice(&kind.version().to_le_bytes());
    footer[12..20].copy_from_slice(&payload_len.to_le_bytes());
    footer[20..24].copy_from_slice(&crc.to_le_bytes());
    footer
}

/// Appends the footer of `kind` for the payload already in `bytes`.
pub fn append_footer(kind: FileKind, bytes: &mut Vec<u8>) {
    let footer = footer(kind, bytes.len() as u64, crc32fast::hash(bytes));
    bytes.extend_from_slice(&footer);
}

/// A `kind` file written as a stream of payload bytes (buffered, CRC-32 computed on the way),
/// then its footer: for files too large to build in memory. The caller fsyncs.
#[derive(Debug)]
pub struct FramedWriter {
    kind: FileKind,
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    crc: crc32fast::Hasher,
    written: u64,
}

impl FramedWriter {
    pub fn create(kind: FileKind, path: &Path) -> Result<FramedWriter, StorageError> {
        let io = |source| StorageError::Io { path: path.to_owned(), source };
        let file = std::fs::File::create(path).map_err(io)?;
        Ok(FramedWriter {
            kind,
            path: path.to_owned(),
            out: std::io::BufWriter::with_capacity(1 << 20, file),
            crc: crc32fast::Hasher::new(),
            written: 0,
        })
    }

    /// Appends payload bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.crc.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes).map_err(|source| StorageError::Io { path: self.path.clone(), source })
    }

    /// Payload bytes written so far (the position of the next one).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes the footer and flushes.
    pub fn finish(mut self) -> Result<(), StorageError> {
        let footer = footer(self.kind, self.written, self.crc.clone().finalize());
        let io = |source| StorageError::Io { path: self.path.clone(), source };
        self.out.write_all(&footer).map_err(io)?;
        self.out.flush().map_err(io)
    }
}

/// Checks the footer of `bytes` (the whole file): magic, version and payload length, not the
/// CRC (for memory-mapped files whose checksum the segment metadata verifies), and returns the
/// payload.
pub fn check_footer<'a>(kind: FileKind, path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], StorageError> {
    let truncated = || StorageError::Truncated { path: path.to_owned(), len: bytes.len() as u64 };
    let footer_start = bytes.len().checked_sub(FOOTER_LEN).ok_or_else(truncated)?;
    let footer = &bytes[footer_start..];
    let magic: [u8; 8] = footer[..8].try_into().expect("8 bytes");
    if magic != kind.magic() {
        return Err(StorageError::BadMagic { path: path.to_owned(), expected: kind.name(), found: magic });
    }
    let version = u32::from_le_bytes(footer[8..12].try_into().expect("4 bytes"));
    if version != kind.version() {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_owned(),
            found: version,
            supported: kind.version(),
        });
    }
    let payload_len = u64::from_le_bytes(footer[12..20].try_into().expect("8 bytes"));
    if payload_len != footer_start as u64 {
        return Err(truncated());
    }
    Ok(&bytes[..footer_start])
}

/// Checks the footer of `bytes` (the whole file) and returns the payload.
pub fn verify_footer<'a>(kind: FileKind, path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], StorageError> {
    let payload = check_footer(kind, path, bytes)?;
    let footer = &bytes[payload.len()..];
    let crc = u32::from_le_bytes(footer[20..24].try_into().expect("4 bytes"));
    if crc32fast::hash(payload) != crc {
        return Err(StorageError::ChecksumMismatch { path: path.to_owned() });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8]) -> Vec<u8> {
        let mut bytes = payload.to_vec();
        append_footer(FileKind::Columns, &mut bytes);
        bytes
    }

    #[test]
    fn round_trip_and_every_failure() {
        let path = Path::new("x.cols");
        let bytes = framed(b"hello");
        assert_eq!(verify_footer(FileKind::Columns, path, &bytes).unwrap(), b"hello");
        assert_eq!(verify_footer(FileKind::Columns, path, &framed(b"")).unwrap(), b"");

        let mut corrupt = bytes.clone();
        corrupt[1] ^= 1;
        assert!(matches!(verify_footer(FileKind::Columns, path, &corrupt), Err(StorageError::ChecksumMismatch { .. })));
        assert!(matches!(verify_footer(FileKind::Columns, path, &bytes[1..]), Err(StorageError::Truncated { .. })));
        assert!(matches!(verify_footer(FileKind::Columns, path, &bytes[..10]), Err(StorageError::Truncated { .. })));
        let mut foreign = bytes.clone();
        let magic_at = foreign.len() - FOOTER_LEN;
        foreign[magic_at] = b'X';
        assert!(matches!(verify_footer(FileKind::Columns, path, &foreign), Err(StorageError::BadMagic { .. })));
        let mut future = bytes.clone();
        future[magic_at + 8] = 99;
        let err = verify_footer(FileKind::Columns, path, &future).unwrap_err();
        assert!(err.to_string().contains("rebuild the index"), "{err}");
    }
}
