//! Prior columns: per-document `f32` values (opportunity probability, popularity…) aligned with
//! the segment's dense document ordinals, read straight from a memory map.
//!
//! Layout (little-endian), then the footer (`footer.rs`):
//! `n_docs: u32 | n_columns: u32 | n_columns × (name_len: u16, name: UTF-8) | zero padding to a
//! multiple of 4 | n_columns × n_docs × f32`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::footer::{FileKind, append_footer, verify_footer};
use super::{StorageError, write_atomically};

#[cfg(not(target_endian = "little"))]
compile_error!("prior columns are read in place as little-endian f32");

/// Writes a prior-columns file atomically. Every column must have `n_docs` values.
pub fn write_columns(path: &Path, n_docs: u32, columns: &[(&str, &[f32])]) -> Result<(), StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt { path: path.to_owned(), reason };
    let mut bytes = Vec::with_capacity(16 + columns.len() * (n_docs as usize * 4 + 32));
    bytes.extend_from_slice(&n_docs.to_le_bytes());
    bytes.extend_from_slice(
        &u32::try_from(columns.len()).map_err(|_| corrupt("too many columns".into()))?.to_le_bytes(),
    );
    for (name, values) in columns {
        if values.len() != n_docs as usize {
            return Err(corrupt(format!("column {name:?} has {} values for {n_docs} documents", values.len())));
        }
        let name_len = u16::try_from(name.len()).map_err(|_| corrupt(format!("column name {name:?} is too long")))?;
        bytes.extend_from_slice(&name_len.to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
    }
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    for (_, values) in columns {
        for value in *values {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    append_footer(FileKind::Columns, &mut bytes);
    write_atomically(path, &bytes).map_err(|source| StorageError::Io { path: path.to_owned(), source })
}

/// A validated, memory-mapped prior-columns file.
#[derive(Debug)]
pub struct ColumnsReader {
    path: PathBuf,
    mmap: Mmap,
    n_docs: u32,
    /// Column name → byte offset of its first value.
    offsets: HashMap<String, usize>,
}

impl ColumnsReader {
    /// Opens and validates the file: footer, checksum, header, sizes.
    pub fn open(path: &Path) -> Result<ColumnsReader, StorageError> {
        let io = |source| StorageError::Io { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: published index files are never modified or truncated in place (they are
        // replaced by rename, see `write_atomically`), so the mapped bytes stay valid and
        // unchanged for the life of the map.
        let mmap = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (n_docs, offsets) = parse(path, &mmap)?;
        // Every column must be readable in place: `column` relies on this check.
        for &offset in offsets.values() {
            column_values(&mmap, offset, n_docs).map_err(|err| StorageError::Corrupt {
                path: path.to_owned(),
                reason: format!("a column cannot be read in place as f32 values ({err})"),
            })?;
        }
        Ok(ColumnsReader { path: path.to_owned(), mmap, n_docs, offsets })
    }

    /// Validates a whole file's bytes without keeping them (for fuzzing and tools).
    pub fn validate_bytes(bytes: &[u8]) -> Result<(), StorageError> {
        parse(Path::new("<bytes>"), bytes).map(|_| ())
    }

    pub fn n_docs(&self) -> u32 {
        self.n_docs
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.offsets.keys().map(String::as_str)
    }

    /// The values of a column, indexed by document ordinal.
    pub fn column(&self, name: &str) -> Option<&[f32]> {
        let &offset = self.offsets.get(name)?;
        Some(column_values(&self.mmap, offset, self.n_docs).expect("every column is checked on open"))
    }
}

/// The `n_docs` values of the column at `offset`, read in place. The map starts on a page
/// boundary and the writer pads the header to a multiple of 4, so a valid file's columns are
/// aligned for f32; the values are little-endian (this crate only builds little-endian). A
/// misaligned or short column is an error, never a panic or a copy.
fn column_values(bytes: &[u8], offset: usize, n_docs: u32) -> Result<&[f32], bytemuck::PodCastError> {
    let column = (n_docs as usize)
        .checked_mul(4)
        .and_then(|len| offset.checked_add(len))
        .and_then(|end| bytes.get(offset..end))
        .ok_or(bytemuck::PodCastError::SizeMismatch)?;
    bytemuck::try_cast_slice(column)
}

/// Checks the footer and the header of a whole file; returns the document count and each
/// column's byte offset.
fn parse(path: &Path, bytes: &[u8]) -> Result<(u32, HashMap<String, usize>), StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt { path: path.to_owned(), reason: reason.to_owned() };
    let payload = verify_footer(FileKind::Columns, path, bytes)?;
    let read_u32 = |at: usize| -> Result<u32, StorageError> {
        let bytes = payload.get(at..at + 4).ok_or_else(|| corrupt("header is cut short"))?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    };
    let n_docs = read_u32(0)?;
    let n_columns = read_u32(4)? as usize;
    let mut cursor = 8;
    let mut names = Vec::with_capacity(n_columns.min(1024));
    for _ in 0..n_columns {
        let len_bytes = payload.get(cursor..cursor + 2).ok_or_else(|| corrupt("column names are cut short"))?;
        let len = usize::from(u16::from_le_bytes(len_bytes.try_into().expect("2 bytes")));
        let name_bytes =
            payload.get(cursor + 2..cursor + 2 + len).ok_or_else(|| corrupt("column names are cut short"))?;
        let name = std::str::from_utf8(name_bytes).map_err(|_| corrupt("a column name is not UTF-8"))?;
        names.push(name.to_owned());
        cursor += 2 + len;
    }
    let data_start = cursor.next_multiple_of(4);
    let column_bytes = n_docs as usize * 4;
    let expected_len = n_columns.checked_mul(column_bytes).and_then(|n| n.checked_add(data_start));
    if expected_len != Some(payload.len()) {
        return Err(corrupt("data size does not match the header"));
    }
    let mut offsets = HashMap::with_capacity(names.len());
    for (idx, name) in names.into_iter().enumerate() {
        if offsets.insert(name, data_start + idx * column_bytes).is_some() {
            return Err(corrupt("a column name appears twice"));
        }
    }
    Ok((n_docs, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_odd_name_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("priors.cols");
        let prior = [0.1_f32, 0.5, 0.9];
        let popularity = [3.0_f32, 0.0, -1.5];
        write_columns(&path, 3, &[("opportunity", &prior), ("pop", &popularity)]).unwrap();
        let reader = ColumnsReader::open(&path).unwrap();
        assert_eq!(reader.n_docs(), 3);
        assert_eq!(reader.column("opportunity").unwrap(), prior);
        assert_eq!(reader.column("pop").unwrap(), popularity);
        assert!(reader.column("missing").is_none());
    }

    #[test]
    fn a_misaligned_or_short_column_is_an_error() {
        let values = [1.0_f32, 2.0, 3.0];
        let bytes: &[u8] = bytemuck::cast_slice(&values);
        assert_eq!(column_values(bytes, 4, 2).unwrap(), &values[1..]);
        assert_eq!(
            column_values(&bytes[1..], 0, 2).unwrap_err(),
            bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned
        );
        assert_eq!(column_values(bytes, 4, 3).unwrap_err(), bytemuck::PodCastError::SizeMismatch);
        assert_eq!(column_values(bytes, usize::MAX, 1).unwrap_err(), bytemuck::PodCastError::SizeMismatch);
    }

    #[test]
    fn empty_and_mismatched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.cols");
        write_columns(&path, 0, &[("opportunity", &[])]).unwrap();
        assert_eq!(ColumnsReader::open(&path).unwrap().column("opportunity").unwrap(), &[] as &[f32]);
        assert!(write_columns(&path, 2, &[("opportunity", &[1.0])]).is_err());
    }

    #[test]
    fn corruption_is_detected_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("priors.cols");
        write_columns(&path, 4, &[("opportunity", &[0.1, 0.2, 0.3, 0.4])]).unwrap();
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[20] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let err = ColumnsReader::open(&path).unwrap_err();
        assert!(matches!(err, StorageError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("priors.cols"));
        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(ColumnsReader::open(&path).is_err());
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(ColumnsReader::open(&path).unwrap_err(), StorageError::Truncated { .. }));
    }
}
