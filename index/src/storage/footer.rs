//! The footer every index file ends with: what the file is, which format version wrote it, how
//! long its payload is, and a CRC-32 of the payload. Readers check all four before trusting a
//! byte of the payload.

use std::path::Path;

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
            | FileKind::Forward => 1,
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
        }
    }
}

/// Appends the footer of `kind` for the payload already in `bytes`.
pub fn append_footer(kind: FileKind, bytes: &mut Vec<u8>) {
    let payload_len = bytes.len() as u64;
    let crc = crc32fast::hash(bytes);
    bytes.extend_from_slice(&kind.magic());
    bytes.extend_from_slice(&kind.version().to_le_bytes());
    bytes.extend_from_slice(&payload_len.to_le_bytes());
    bytes.extend_from_slice(&crc.to_le_bytes());
}

/// Checks the footer of `bytes` (the whole file) and returns the payload.
pub fn verify_footer<'a>(kind: FileKind, path: &Path, bytes: &'a [u8]) -> Result<&'a [u8], StorageError> {
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
    let payload = &bytes[..footer_start];
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
