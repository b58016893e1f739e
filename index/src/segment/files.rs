//! The small files of a segment and of the live set: segment metadata, the ordinal → id table,
//! tombstones. Each is a payload behind the common checksummed footer (`storage::footer`).

use std::io::Read;
use std::path::{Path, PathBuf};

use bincode::config;
use serde::{Deserialize, Serialize};

use crate::IndexError;
use crate::record::format_id;
use crate::storage::{FOOTER_LEN, FileKind, StorageError, append_footer, verify_footer, write_atomically};

/// Memory-maps a published segment file (read-only).
pub(crate) fn map_segment_file(path: &Path) -> Result<memmap2::Mmap, IndexError> {
    let file = std::fs::File::open(path).map_err(IndexError::io(path))?;
    // SAFETY: published segment files are never modified or truncated in place: a segment is
    // written in a temporary directory renamed into place, single files are replaced by
    // `write_atomically`'s rename, and a removed file's inode lives on while it is mapped, so the
    // map stays valid and unchanged. Each caller checks the bytes (footer, tables, checksum)
    // before trusting them.
    unsafe { memmap2::Mmap::map(&file) }.map_err(IndexError::io(path))
}

/// Reads a whole small file and checks its footer.
pub(crate) fn read_framed(kind: FileKind, path: &Path) -> Result<Vec<u8>, IndexError> {
    let bytes = std::fs::read(path).map_err(IndexError::io(path))?;
    let payload_len = verify_footer(kind, path, &bytes)?.len();
    let mut bytes = bytes;
    bytes.truncate(payload_len);
    Ok(bytes)
}

/// Encodes `value` with bincode, frames it and publishes it atomically at `path`.
pub(crate) fn write_bincode<T: Serialize>(kind: FileKind, path: &Path, value: &T) -> Result<(), IndexError> {
    let mut bytes = bincode::serde::encode_to_vec(value, config::standard())
        .map_err(|err| IndexError::Corrupt(format!("{}: cannot encode: {err}", path.display())))?;
    append_footer(kind, &mut bytes);
    write_atomically(path, &bytes).map_err(IndexError::io(path))
}

/// Decodes a bincode payload; every byte must be used.
pub(crate) fn decode_bincode<T: for<'de> Deserialize<'de>>(path: &Path, payload: &[u8]) -> Result<T, IndexError> {
    let corrupt = |reason: String| StorageError::Corrupt { path: path.to_owned(), reason };
    // A corrupt length prefix must not make the decoder allocate gigabytes.
    let config = config::standard().with_limit::<{ 64 << 20 }>();
    let (value, used) =
        bincode::serde::decode_from_slice(payload, config).map_err(|err| corrupt(format!("cannot decode: {err}")))?;
    if used != payload.len() {
        return Err(corrupt(format!("{} trailing bytes", payload.len() - used)).into());
    }
    Ok(value)
}

/// Size and CRC-32 of one file, as recorded in segment metadata and in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the segment directory, with `/` separators.
    pub name: String,
    pub len: u64,
    pub crc32: u32,
}

impl FileEntry {
    /// Reads `dir/name`, makes it durable, and records its size and checksum.
    pub fn compute(dir: &Path, name: &str) -> Result<FileEntry, IndexError> {
        let path = dir.join(name);
        let (len, crc32) = checksum_file(&path)?;
        std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(IndexError::io(&path))?;
        Ok(FileEntry { name: name.to_owned(), len, crc32 })
    }

    /// Checks that `dir/name` still has the recorded size (a truncated or missing file).
    pub fn verify_size(&self, dir: &Path) -> Result<(), IndexError> {
        let found = std::fs::metadata(dir.join(&self.name)).map(|m| m.len()).unwrap_or(0);
        if found != self.len {
            return Err(IndexError::FileSize {
                path: dir.to_owned(),
                file: self.name.clone(),
                found,
                expected: self.len,
            });
        }
        Ok(())
    }

    /// Checks that `dir/name` still has the recorded size and checksum.
    pub fn verify(&self, dir: &Path) -> Result<(), IndexError> {
        self.verify_size(dir)?;
        let path = dir.join(&self.name);
        let (_, crc32) = checksum_file(&path)?;
        if crc32 != self.crc32 {
            return Err(IndexError::FileChecksum { path: dir.to_owned(), file: self.name.clone() });
        }
        Ok(())
    }
}

/// Runs `work(i)` for every `i < sizes.len()` on two threads, balancing the bytes (largest first,
/// each to the lighter thread); returns the results in index order, or the first error.
pub(crate) fn on_two_threads<T: Send>(
    sizes: &[u64],
    work: impl Fn(usize) -> Result<T, IndexError> + Sync,
) -> Result<Vec<T>, IndexError> {
    let mut by_size: Vec<(u64, usize)> = sizes.iter().copied().zip(0..).collect();
    by_size.sort_unstable_by(|a, b| b.cmp(a));
    let mut lists: [(u64, Vec<usize>); 2] = [(0, Vec::new()), (0, Vec::new())];
    for (size, idx) in by_size {
        let lighter = usize::from(lists[0].0 > lists[1].0);
        lists[lighter].0 += size;
        lists[lighter].1.push(idx);
    }
    let work = &work;
    let results: Vec<Result<Vec<(usize, T)>, IndexError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lists
            .iter()
            .map(|(_, list)| scope.spawn(move || list.iter().map(|&idx| Ok((idx, work(idx)?))).collect()))
            .collect();
        handles.into_iter().map(|h| h.join().expect("file workers do not panic")).collect()
    });
    let mut slots: Vec<Option<T>> = std::iter::repeat_with(|| None).take(sizes.len()).collect();
    for result in results {
        for (idx, value) in result? {
            slots[idx] = Some(value);
        }
    }
    Ok(slots.into_iter().map(|v| v.expect("every index done")).collect())
}

/// Streams a file through CRC-32 with `read` (not a map: checking must not grow the resident set).
pub(crate) fn checksum_file(path: &Path) -> Result<(u64, u32), IndexError> {
    let mut file = std::fs::File::open(path).map_err(IndexError::io(path))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(IndexError::Io { path: path.to_owned(), source: err }),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finalize()))
}

/// How a segment's vectors are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorInfo {
    /// Fingerprint of the embedding model (or `provided:<dims>` for caller-supplied vectors).
    pub model: String,
    pub dims: u32,
    /// usearch scalar kind: "f32", "f16" or "i8".
    pub quantization: String,
    /// Number of documents with a vector.
    pub count: u32,
}

/// The metadata file of a hybrid segment (`meta.bin`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub segment_id: u64,
    pub doc_count: u32,
    pub schema_hash: u64,
    pub created_unix_ms: i64,
    pub vectors: Option<VectorInfo>,
    /// Every file of the segment but `meta.bin` itself, sorted by name.
    pub files: Vec<FileEntry>,
}

pub const META_FILE: &str = "meta.bin";

impl SegmentMeta {
    pub fn read(dir: &Path) -> Result<SegmentMeta, IndexError> {
        let path = dir.join(META_FILE);
        let payload = read_framed(FileKind::SegmentMeta, &path)?;
        decode_bincode(&path, &payload)
    }

    pub fn write(&self, dir: &Path) -> Result<(), IndexError> {
        write_bincode(FileKind::SegmentMeta, &dir.join(META_FILE), self)
    }

    /// Validates bytes as a metadata file (for fuzzing).
    pub fn validate_bytes(bytes: &[u8]) -> Result<SegmentMeta, IndexError> {
        let path = Path::new("<bytes>");
        let payload = verify_footer(FileKind::SegmentMeta, path, bytes)?;
        decode_bincode(path, payload)
    }
}

/// The ordinal → id table: one `u32` per document (ids are 9-digit SIRENs).
#[derive(Debug)]
pub struct IdTable {
    ids: Vec<u32>,
}

impl IdTable {
    /// The file bytes of an id table.
    pub fn encode(ids: &[u32]) -> Vec<u8> {
        encode_per_doc(FileKind::Ids, ids.iter().map(|id| id.to_le_bytes()))
    }

    pub fn read(path: &Path, expected_docs: u32) -> Result<IdTable, IndexError> {
        let ids = read_per_doc(FileKind::Ids, path, expected_docs)?.into_iter().map(u32::from_le_bytes).collect();
        Ok(IdTable { ids })
    }

    /// The id of the document at `ord`, as its 9-digit string.
    pub fn id(&self, ord: u32) -> Option<String> {
        self.ids.get(ord as usize).map(|&id| format_id(id))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.ids.iter().enumerate().map(|(ord, &id)| (ord as u32, id))
    }
}

/// Per-document content hashes (what each vector was computed from), for reuse by later builds.
pub fn encode_hashes(hashes: &[u64]) -> Vec<u8> {
    encode_per_doc(FileKind::Hashes, hashes.iter().map(|hash| hash.to_le_bytes()))
}

pub fn read_hashes(path: &Path, expected_docs: u32) -> Result<Vec<u64>, IndexError> {
    Ok(read_per_doc(FileKind::Hashes, path, expected_docs)?.into_iter().map(u64::from_le_bytes).collect())
}

/// A file of one fixed-width little-endian value per document, behind the footer.
fn encode_per_doc<const N: usize>(kind: FileKind, values: impl ExactSizeIterator<Item = [u8; N]>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * N + FOOTER_LEN);
    values.for_each(|value| bytes.extend_from_slice(&value));
    append_footer(kind, &mut bytes);
    bytes
}

/// Reads a file written by [`encode_per_doc`], checking it holds exactly `expected_docs` values.
fn read_per_doc<const N: usize>(kind: FileKind, path: &Path, expected_docs: u32) -> Result<Vec<[u8; N]>, IndexError> {
    let payload = read_framed(kind, path)?;
    if payload.len() != expected_docs as usize * N {
        return Err(StorageError::Corrupt {
            path: path.to_owned(),
            reason: format!("{} bytes for {expected_docs} documents", payload.len()),
        }
        .into());
    }
    Ok(payload.chunks_exact(N).map(|c| c.try_into().expect("N bytes")).collect())
}

/// Deleted ordinals of one segment, as a bitset. Immutable once published: a new deletion
/// writes a new file named by the next manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstones {
    n_docs: u32,
    words: Vec<u64>,
    deleted: u32,
}

impl Tombstones {
    pub fn none(n_docs: u32) -> Tombstones {
        Tombstones { n_docs, words: vec![0; (n_docs as usize).div_ceil(64)], deleted: 0 }
    }

    pub fn is_deleted(&self, ord: u32) -> bool {
        let ord = ord as usize;
        self.words.get(ord / 64).is_some_and(|w| w & (1 << (ord % 64)) != 0)
    }

    /// Marks `ord` deleted; returns whether it was live.
    pub fn delete(&mut self, ord: u32) -> bool {
        if ord >= self.n_docs || self.is_deleted(ord) {
            return false;
        }
        self.words[ord as usize / 64] |= 1 << (ord % 64);
        self.deleted += 1;
        true
    }

    pub fn deleted_count(&self) -> u32 {
        self.deleted
    }

    pub fn live_count(&self) -> u32 {
        self.n_docs - self.deleted
    }

    pub fn n_docs(&self) -> u32 {
        self.n_docs
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(8 + self.words.len() * 8 + 32);
        bytes.extend_from_slice(&self.n_docs.to_le_bytes());
        bytes.extend_from_slice(&self.deleted.to_le_bytes());
        for word in &self.words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        append_footer(FileKind::Deletes, &mut bytes);
        bytes
    }

    pub fn decode(path: &Path, bytes: &[u8]) -> Result<Tombstones, IndexError> {
        let corrupt = |reason: &str| StorageError::Corrupt { path: path.to_owned(), reason: reason.to_owned() };
        let payload = verify_footer(FileKind::Deletes, path, bytes)?;
        if payload.len() < 8 {
            return Err(corrupt("header is cut short").into());
        }
        let n_docs = u32::from_le_bytes(payload[0..4].try_into().expect("4 bytes"));
        let deleted = u32::from_le_bytes(payload[4..8].try_into().expect("4 bytes"));
        let words: Vec<u64> =
            payload[8..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect();
        if payload.len() != 8 + (n_docs as usize).div_ceil(64) * 8 {
            return Err(corrupt("bitset size does not match the document count").into());
        }
        let counted: u32 = words.iter().map(|w| w.count_ones()).sum();
        let stray = (n_docs % 64 != 0) && words.last().is_some_and(|w| w >> (n_docs % 64) != 0);
        if counted != deleted || stray {
            return Err(corrupt("deleted count does not match the bitset").into());
        }
        Ok(Tombstones { n_docs, words, deleted })
    }

    pub fn read(path: &Path) -> Result<Tombstones, IndexError> {
        let bytes = std::fs::read(path).map_err(IndexError::io(path))?;
        Tombstones::decode(path, &bytes)
    }
}

/// A file owned by the live set that is deleted once no snapshot uses it and a newer manifest
/// no longer names it.
#[derive(Debug)]
pub struct OwnedPath {
    path: PathBuf,
    obsolete: std::sync::atomic::AtomicBool,
}

impl OwnedPath {
    pub fn new(path: PathBuf) -> OwnedPath {
        OwnedPath { path, obsolete: std::sync::atomic::AtomicBool::new(false) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the file (or directory) when the last reference is dropped.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for OwnedPath {
    fn drop(&mut self) {
        if self.obsolete.load(std::sync::atomic::Ordering::Acquire) {
            let result =
                if self.path.is_dir() { std::fs::remove_dir_all(&self.path) } else { std::fs::remove_file(&self.path) };
            if let Err(err) = result
                && err.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot remove obsolete {}: {err}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_round_trip_and_reject_corruption() {
        let mut t = Tombstones::none(130);
        assert!(t.delete(0));
        assert!(t.delete(129));
        assert!(!t.delete(129));
        assert!(!t.delete(130));
        assert_eq!(t.live_count(), 128);
        let path = Path::new("x.del");
        let bytes = t.encode();
        assert_eq!(Tombstones::decode(path, &bytes).unwrap(), t);
        let mut bad = bytes.clone();
        bad[9] ^= 1;
        assert!(Tombstones::decode(path, &bad).is_err());
        assert!(Tombstones::decode(path, &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn meta_round_trip_and_bad_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let meta = SegmentMeta {
            segment_id: 7,
            doc_count: 3,
            schema_hash: 42,
            created_unix_ms: 1,
            vectors: None,
            files: vec![FileEntry { name: "ids.bin".into(), len: 36, crc32: 9 }],
        };
        meta.write(dir.path()).unwrap();
        assert_eq!(SegmentMeta::read(dir.path()).unwrap(), meta);
        let bytes = std::fs::read(dir.path().join(META_FILE)).unwrap();
        assert!(SegmentMeta::validate_bytes(&bytes).is_ok());
        assert!(SegmentMeta::validate_bytes(&bytes[1..]).is_err());
        let mut framed = vec![0xff; 12];
        append_footer(FileKind::SegmentMeta, &mut framed);
        assert!(SegmentMeta::validate_bytes(&framed).is_err());
    }
}
