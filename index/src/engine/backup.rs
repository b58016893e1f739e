//! Backups and restore: a consistent copy of the published state (files hard-linked when
//! possible, since they never change) that appears under its final name only once complete, and
//! its restore into a new data directory after every file is verified.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Engine, LIVE_DIR, Manifest, SEGMENTS_DIR, Snapshot, WAL_DIR, open_live_segment};
use crate::IndexError;
use crate::segment::{CompanyFields, OpenOptions};
use crate::storage::fsync_dir;

impl Engine {
    /// Writes a consistent copy of the published state (after publishing pending writes) into
    /// `dest`, which must not exist. Files are hard-linked when possible (they never change).
    pub fn backup(&self, dest: &Path) -> Result<Manifest, IndexError> {
        self.flush()?;
        let snapshot = self.snapshot();
        if dest.exists() {
            return Err(IndexError::Target { path: dest.to_owned(), problem: "already exists" });
        }
        let tmp = unique_temp_dir(dest)?;
        if let Err(err) = copy_state(&self.root, &snapshot.files(&self.root), &tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(err);
        }
        snapshot.manifest.write(&tmp)?;
        fsync_tree(&tmp)?;
        std::fs::rename(&tmp, dest).map_err(IndexError::io(dest))?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent).map_err(IndexError::io(parent))?;
        }
        Ok(snapshot.manifest.clone())
    }
}

/// Restores a backup into `target`, which must not exist or be empty: every file is verified
/// (full checksums) before anything is written, and the copy appears under its final name only
/// once complete.
pub fn restore(backup: &Path, target: &Path) -> Result<Manifest, IndexError> {
    let manifest = Manifest::read(backup)?.ok_or_else(|| IndexError::NotABackup { path: backup.to_owned() })?;
    let fields = Arc::new(CompanyFields::new());
    let options = OpenOptions { verify_checksums: true, expected_model: None, search_threads: 1 };
    let segments = manifest
        .segments
        .iter()
        .map(|entry| open_live_segment(backup, entry, &fields, &options))
        .collect::<Result<Vec<_>, _>>()?;
    let files = Snapshot { manifest: manifest.clone(), segments }.files(backup);
    let is_empty = |p: &Path| std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(false);
    if target.exists() && !is_empty(target) {
        return Err(IndexError::Target {
            path: target.to_owned(),
            problem: "is not empty; restore into a new directory (stop the server, move the old one away)",
        });
    }
    let tmp = unique_temp_dir(target)?;
    if let Err(err) = copy_state(backup, &files, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err);
    }
    for dir in [SEGMENTS_DIR, LIVE_DIR, WAL_DIR] {
        std::fs::create_dir_all(tmp.join(dir)).map_err(IndexError::io(tmp.join(dir)))?;
    }
    manifest.write(&tmp)?;
    fsync_tree(&tmp)?;
    if target.exists() {
        std::fs::remove_dir(target).map_err(IndexError::io(target))?;
    }
    std::fs::rename(&tmp, target).map_err(IndexError::io(target))?;
    if let Some(parent) = target.parent() {
        fsync_dir(parent).map_err(IndexError::io(parent))?;
    }
    Ok(manifest)
}

/// Creates a fresh, exclusively owned temporary directory beside `dest`.
fn unique_temp_dir(dest: &Path) -> Result<PathBuf, IndexError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp =
        dest.with_file_name(format!(".{name}.tmp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    if let Some(parent) = tmp.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(IndexError::io(parent))?;
    }
    std::fs::create_dir(&tmp).map_err(IndexError::io(&tmp))?;
    Ok(tmp)
}

fn copy_state(root: &Path, files: &[PathBuf], dest: &Path) -> Result<(), IndexError> {
    for relative in files {
        let from = root.join(relative);
        let to = dest.join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(IndexError::io(parent))?;
        }
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(IndexError::io(&from))?;
            std::fs::File::open(&to).and_then(|f| f.sync_all()).map_err(IndexError::io(&to))?;
        }
    }
    Ok(())
}

fn fsync_tree(dir: &Path) -> Result<(), IndexError> {
    for entry in std::fs::read_dir(dir).map_err(IndexError::io(dir))? {
        let entry = entry.map_err(IndexError::io(dir))?;
        if entry.file_type().map_err(IndexError::io(entry.path()))?.is_dir() {
            fsync_tree(&entry.path())?;
        }
    }
    fsync_dir(dir).map_err(IndexError::io(dir))
}
