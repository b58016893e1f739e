//! The manifest: the one file that names the live set. Publishing a new state means writing a new
//! manifest atomically (temp file, fsync, rename, fsync directory); whatever it does not name is
//! garbage.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::IndexError;
use crate::segment::files::{FileEntry, decode_bincode, read_framed, write_bincode};
use crate::storage::{FileKind, verify_footer};

pub const MANIFEST_FILE: &str = "MANIFEST";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases by one with every publish.
    pub generation: u64,
    /// Segment ids are never reused.
    pub next_segment_id: u64,
    /// Every write-ahead-log operation with a sequence number up to this one is in the segments.
    pub wal_checkpoint: u64,
    pub created_unix_ms: i64,
    pub segments: Vec<SegmentRef>,
}

/// One live segment and its sidecar files (in `live/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRef {
    pub id: u64,
    pub doc_count: u32,
    /// Tombstones; `None` when nothing is deleted.
    pub deletes: Option<FileEntry>,
    /// Refreshed prior columns; `None` when the segment's own apply.
    pub priors: Option<FileEntry>,
}

impl Manifest {
    pub fn empty() -> Manifest {
        Manifest { generation: 0, next_segment_id: 1, wal_checkpoint: 0, created_unix_ms: 0, segments: Vec::new() }
    }

    /// Reads the manifest of `root`; `Ok(None)` when there is none yet (a new data directory).
    pub fn read(root: &Path) -> Result<Option<Manifest>, IndexError> {
        let path = root.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let payload = read_framed(FileKind::Manifest, &path)?;
        let manifest: Manifest = decode_bincode(&path, &payload)?;
        manifest.check(&path)?;
        Ok(Some(manifest))
    }

    pub fn write(&self, root: &Path) -> Result<(), IndexError> {
        write_bincode(FileKind::Manifest, &root.join(MANIFEST_FILE), self)
    }

    /// Validates bytes as a manifest file (for fuzzing and tools).
    pub fn validate_bytes(bytes: &[u8]) -> Result<Manifest, IndexError> {
        let path = Path::new("<bytes>");
        let payload = verify_footer(FileKind::Manifest, path, bytes)?;
        let manifest: Manifest = decode_bincode(path, payload)?;
        manifest.check(path)?;
        Ok(manifest)
    }

    fn check(&self, path: &Path) -> Result<(), IndexError> {
        let mut ids: Vec<u64> = self.segments.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        let duplicate = ids.windows(2).any(|w| w[0] == w[1]);
        if duplicate || ids.last().is_some_and(|&max| max >= self.next_segment_id) {
            return Err(IndexError::Corrupt(format!(
                "{}: inconsistent segment ids; restore from a snapshot",
                path.display()
            )));
        }
        for segment in &self.segments {
            for entry in [&segment.deletes, &segment.priors].into_iter().flatten() {
                if entry.name.contains('/') || entry.name.contains("..") || entry.name.is_empty() {
                    return Err(IndexError::Corrupt(format!("{}: bad sidecar name {:?}", path.display(), entry.name)));
                }
            }
        }
        Ok(())
    }
}
