//! Persistent document vectors by content hash, so a vector computed once is never computed
//! again: not after a reindex, not after a document was deleted and re-added, not in a new index
//! built from the same texts (`marketlounge eval` builds temporary indexes).
//!
//! One append-only file per model: header `MLVC`, version u32, dims u32, fingerprint length u32
//! and bytes; then records `hash u64, dims × f32, crc32 u32` (little endian, the CRC over hash
//! and vector). Opening scans the file into an in-memory map hash → offset; a torn or corrupt
//! tail (a crash mid-append) is cut off. It is a cache: losing it costs time, never correctness,
//! and a vector read back is checked against its CRC.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

const MAGIC: &[u8; 4] = b"MLVC";
const VERSION: u32 = 1;

/// See the module documentation.
#[derive(Debug)]
pub struct VectorCache {
    path: PathBuf,
    dims: u32,
    file: File,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    offsets: rustc_hash::FxHashMap<u64, u64>,
    end: u64,
}

impl VectorCache {
    /// Opens (or creates) the cache of model `fingerprint` in `dir`.
    pub fn open(dir: &Path, fingerprint: &str, dims: u32) -> std::io::Result<VectorCache> {
        std::fs::create_dir_all(dir)?;
        let name: String =
            fingerprint.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let path = dir.join(format!("{name}-{:08x}.vectors", crc32fast::hash(fingerprint.as_bytes())));
        let file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        let mut header = Vec::with_capacity(16 + fingerprint.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&dims.to_le_bytes());
        header.extend_from_slice(&(fingerprint.len() as u32).to_le_bytes());
        header.extend_from_slice(fingerprint.as_bytes());
        let len = file.metadata()?.len();
        let mut existing = vec![0u8; header.len()];
        let valid_header =
            len >= header.len() as u64 && file.read_exact_at(&mut existing, 0).is_ok() && existing == header;
        if !valid_header {
            // Empty, foreign or from another model: start over.
            file.set_len(0)?;
            (&file).write_all(&header)?;
        }
        let cache = VectorCache {
            path,
            dims,
            file,
            state: Mutex::new(State { offsets: Default::default(), end: header.len() as u64 }),
        };
        cache.scan(header.len() as u64)?;
        Ok(cache)
    }

    fn record_len(&self) -> u64 {
        8 + 4 * u64::from(self.dims) + 4
    }

    /// Reads every whole, valid record; cuts the file after the last one.
    fn scan(&self, start: u64) -> std::io::Result<()> {
        let record_len = self.record_len() as usize;
        let mut reader = BufReader::with_capacity(1 << 20, &self.file);
        reader.seek(SeekFrom::Start(start))?;
        let mut record = vec![0u8; record_len];
        let mut state = self.state.lock();
        let mut at = start;
        loop {
            match reader.read_exact(&mut record) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(err) => return Err(err),
            }
            let (body, crc) = record.split_at(record_len - 4);
            if crc32fast::hash(body).to_le_bytes() != crc {
                break;
            }
            let hash = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
            state.offsets.insert(hash, at);
            at += record_len as u64;
        }
        if self.file.metadata()?.len() != at {
            tracing::warn!(path = %self.path.display(), valid_bytes = at, "vector cache: cutting a torn tail");
            self.file.set_len(at)?;
        }
        state.end = at;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.state.lock().offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector stored for `hash`, if any (and intact).
    pub fn get(&self, hash: u64) -> Option<Vec<f32>> {
        let offset = *self.state.lock().offsets.get(&hash)?;
        let mut record = vec![0u8; self.record_len() as usize];
        self.file.read_exact_at(&mut record, offset).ok()?;
        let (body, crc) = record.split_at(record.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc || body[..8] != hash.to_le_bytes() {
            return None;
        }
        Some(body[8..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// Appends vectors (those already present are skipped). Vectors of the wrong dimension are
    /// an error.
    pub fn put_many<'a>(&self, vectors: impl IntoIterator<Item = (u64, &'a [f32])>) -> std::io::Result<usize> {
        let mut state = self.state.lock();
        let mut buffer = Vec::new();
        let mut added = Vec::new();
        let mut at = state.end;
        for (hash, vector) in vectors {
            if vector.len() != self.dims as usize {
                return Err(std::io::Error::other(format!(
                    "vector cache: a vector of {} dimensions for a {}-dimension model",
                    vector.len(),
                    self.dims
                )));
            }
            if state.offsets.contains_key(&hash) || added.iter().any(|(h, _)| *h == hash) {
                continue;
            }
            let start = buffer.len();
            buffer.extend_from_slice(&hash.to_le_bytes());
            vector.iter().for_each(|v| buffer.extend_from_slice(&v.to_le_bytes()));
            let crc = crc32fast::hash(&buffer[start..]);
            buffer.extend_from_slice(&crc.to_le_bytes());
            added.push((hash, at));
            at += self.record_len();
        }
        if buffer.is_empty() {
            return Ok(0);
        }
        if let Err(err) = (&self.file).write_all(&buffer) {
            // Leave no half record behind.
            let _ = self.file.set_len(state.end);
            return Err(err);
        }
        state.end = at;
        let count = added.len();
        state.offsets.extend(added);
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let cache = VectorCache::open(dir.path(), "model-a", 3).unwrap();
        assert_eq!(
            cache.put_many([(1, &[1.0, 2.0, 3.0][..]), (2, &[4.0, 5.0, 6.0][..]), (1, &[9.0; 3][..])]).unwrap(),
            2
        );
        assert_eq!(cache.get(1), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(cache.get(3), None);
        assert!(cache.put_many([(4, &[1.0][..])]).is_err(), "wrong dimension");
        let path = cache.path().to_owned();
        drop(cache);
        // A torn append: half a record at the end.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[7u8; 10]).unwrap();
        drop(file);
        let cache = VectorCache::open(dir.path(), "model-a", 3).unwrap();
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(2), Some(vec![4.0, 5.0, 6.0]));
        cache.put_many([(5, &[0.5; 3][..])]).unwrap();
        drop(cache);
        let cache = VectorCache::open(dir.path(), "model-a", 3).unwrap();
        assert_eq!(cache.get(5), Some(vec![0.5; 3]));
        assert_eq!(cache.len(), 3);
        // Another model: its own file, nothing shared.
        let other = VectorCache::open(dir.path(), "model-b", 3).unwrap();
        assert!(other.is_empty());
    }

    #[test]
    fn a_corrupt_record_is_never_returned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = VectorCache::open(dir.path(), "m", 2).unwrap();
        cache.put_many([(1, &[1.0, 2.0][..]), (2, &[3.0, 4.0][..])]).unwrap();
        let path = cache.path().to_owned();
        drop(cache);
        // Flip a byte of the first record's vector.
        let file = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let header = 16 + 1;
        file.write_all_at(&[0xff], header + 9).unwrap();
        drop(file);
        // The scan stops at the corrupt record: both it and what follows are dropped.
        let cache = VectorCache::open(dir.path(), "m", 2).unwrap();
        assert_eq!(cache.get(1), None);
        assert_eq!(cache.len(), 0);
    }
}
