//! The write-ahead log: an acknowledged upsert or delete is in here, fsynced, before the caller
//! hears "ok"; it leaves once a published manifest's checkpoint covers it.
//!
//! Files `wal/wal-<first seq>.log`, each a sequence of records
//! `len: u32 | crc32(body): u32 | body`, body = `seq: u64 | op: u8 | payload` (op 1 = upsert with
//! the record's JSON, op 2 = delete with the id). A record cut short at the end of the newest file
//! is a write that was never acknowledged: it is dropped on replay. Anything else that fails its
//! checksum is corruption and stops the open with an error naming the file and offset.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::IndexError;
use crate::record::Company;
use crate::storage::fsync_dir;

const OP_UPSERT: u8 = 1;
const OP_DELETE: u8 = 2;
/// No single record is larger (a company is limited to 1 MiB of JSON on input).
const MAX_RECORD_BYTES: u32 = 16 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum WalOp {
    Upsert(Box<Company>),
    Delete(String),
}

impl WalOp {
    pub fn id(&self) -> &str {
        match self {
            WalOp::Upsert(company) => &company.id,
            WalOp::Delete(id) => id,
        }
    }
}

#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    /// (first sequence number, path) of every file, oldest first; the last one is open.
    files: Vec<(u64, PathBuf)>,
    current: File,
    /// Length of the current file: where the next append starts.
    current_len: u64,
    last_seq: u64,
    buf: Vec<u8>,
    /// Set when a failed append could not be cut off cleanly: no later append may follow a torn
    /// record, so writes are refused until the log is reopened (replay drops the torn tail).
    broken: Option<String>,
}

impl Wal {
    /// Opens the log in `dir`, returning it and every operation after `checkpoint`, in order.
    pub fn open(dir: &Path, checkpoint: u64) -> Result<(Wal, Vec<(u64, WalOp)>), IndexError> {
        std::fs::create_dir_all(dir).map_err(IndexError::io(dir))?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(IndexError::io(dir))? {
            let entry = entry.map_err(IndexError::io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(seq) =
                name.strip_prefix("wal-").and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok())
            {
                files.push((seq, entry.path()));
            } else if name.starts_with(".wal-") {
                // A rotation that did not finish.
                std::fs::remove_file(entry.path()).map_err(IndexError::io(entry.path()))?;
            }
        }
        files.sort();
        let mut ops = Vec::new();
        let mut last_seq = checkpoint;
        let n_files = files.len();
        for (idx, (_, path)) in files.iter().enumerate() {
            let is_newest = idx + 1 == n_files;
            let valid_len = replay_file(path, is_newest, &mut |seq, op| {
                if seq > last_seq {
                    last_seq = seq;
                }
                if seq > checkpoint {
                    ops.push((seq, op));
                }
            })?;
            if is_newest {
                let file = std::fs::OpenOptions::new().write(true).open(path).map_err(IndexError::io(path))?;
                file.set_len(valid_len).map_err(IndexError::io(path))?;
                file.sync_all().map_err(IndexError::io(path))?;
            }
        }
        let current = match files.last() {
            Some((_, path)) => std::fs::OpenOptions::new().append(true).open(path).map_err(IndexError::io(path))?,
            None => {
                let (file, path) = create_log(dir, last_seq + 1)?;
                files.push((last_seq + 1, path));
                file
            }
        };
        let current_len = current.metadata().map_err(IndexError::io(dir))?.len();
        let wal = Wal { dir: dir.to_owned(), files, current, current_len, last_seq, buf: Vec::new(), broken: None };
        Ok((wal, ops))
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Appends operations and makes them durable; returns the sequence number of the last one.
    pub fn append(&mut self, ops: &[WalOp]) -> Result<u64, IndexError> {
        if let Some(why) = &self.broken {
            return Err(IndexError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(format!(
                    "write-ahead log unusable after a failed write ({why}); restart the server"
                )),
            });
        }
        self.buf.clear();
        let mut seq = self.last_seq;
        for op in ops {
            seq += 1;
            let mut body = Vec::with_capacity(256);
            body.extend_from_slice(&seq.to_le_bytes());
            match op {
                WalOp::Upsert(company) => {
                    body.push(OP_UPSERT);
                    serde_json::to_writer(&mut body, company)
                        .map_err(|err| IndexError::Record { id: company.id.clone(), message: err.to_string() })?;
                }
                WalOp::Delete(id) => {
                    body.push(OP_DELETE);
                    body.extend_from_slice(id.as_bytes());
                }
            }
            if body.len() > MAX_RECORD_BYTES as usize {
                return Err(IndexError::Record { id: op.id().to_owned(), message: "record is too large".into() });
            }
            self.buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            self.buf.extend_from_slice(&body);
        }
        let path = self.files.last().expect("a current file").1.clone();
        let start = self.current_len;
        let result = self.current.write_all(&self.buf).and_then(|()| self.current.sync_data());
        if let Err(source) = result {
            // Whatever part of this batch reached the file is not acknowledged: cut the file back
            // to where the batch started, so that no later record follows a torn one. Earlier
            // records are acknowledged and stay.
            if let Err(cut) = self.current.set_len(start).and_then(|()| self.current.sync_data()) {
                self.broken = Some(format!("{}: cannot cut a failed write back: {cut}", path.display()));
            }
            return Err(IndexError::Io { path, source });
        }
        self.current_len = start + self.buf.len() as u64;
        self.last_seq = seq;
        Ok(seq)
    }

    /// Starts a new file: every operation so far is in older files.
    pub fn rotate(&mut self) -> Result<(), IndexError> {
        if self.files.last().is_some_and(|(seq, _)| *seq == self.last_seq + 1) {
            // Nothing was written since the last rotation: keep the (empty) current file.
            return Ok(());
        }
        let (file, path) = create_log(&self.dir, self.last_seq + 1)?;
        self.current_len = file.metadata().map_err(IndexError::io(&path))?.len();
        self.current = file;
        self.files.push((self.last_seq + 1, path));
        Ok(())
    }

    /// Removes the files whose every operation is covered by `checkpoint`.
    pub fn truncate_upto(&mut self, checkpoint: u64) -> Result<(), IndexError> {
        let mut removed = false;
        while self.files.len() > 1 && self.files[1].0 <= checkpoint + 1 {
            let (first, path) = self.files.remove(0);
            removed = true;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    // Keep listing it: the next truncation retries.
                    self.files.insert(0, (first, path.clone()));
                    return Err(IndexError::Io { path, source });
                }
            }
        }
        if removed {
            fsync_dir(&self.dir).map_err(IndexError::io(&self.dir))?;
        }
        Ok(())
    }

    /// Number of log files (for tests and metrics).
    pub fn file_count(&self) -> usize {
        self.files.len()
    }
}

fn create_log(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), IndexError> {
    let path = dir.join(format!("wal-{first_seq:020}.log"));
    if path.exists() {
        let file = std::fs::OpenOptions::new().append(true).open(&path).map_err(IndexError::io(&path))?;
        return Ok((file, path));
    }
    let file = std::fs::OpenOptions::new().append(true).create_new(true).open(&path).map_err(IndexError::io(&path))?;
    fsync_dir(dir).map_err(IndexError::io(dir))?;
    Ok((file, path))
}

/// Reads every record of `path`; returns the length of the valid prefix.
fn replay_file(path: &Path, is_newest: bool, apply: &mut dyn FnMut(u64, WalOp)) -> Result<u64, IndexError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(IndexError::io(path))?;
    let mut offset = 0usize;
    let corrupt = |offset: usize, why: &str| {
        IndexError::Corrupt(format!(
            "{}: write-ahead log is corrupt at byte {offset} ({why}); restore from a snapshot, or move the file away to accept losing the operations in it",
            path.display()
        ))
    };
    while offset < bytes.len() {
        let header = bytes.get(offset..offset + 8);
        let Some(header) = header else {
            if is_newest {
                break;
            }
            return Err(corrupt(offset, "record header cut short"));
        };
        let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let body = bytes.get(offset + 8..offset + 8 + len as usize);
        let Some(body) = body.filter(|_| (9..=MAX_RECORD_BYTES).contains(&len)) else {
            if is_newest && offset + 8 + (len as usize) > bytes.len() {
                break;
            }
            return Err(corrupt(offset, "bad record length"));
        };
        if crc32fast::hash(body) != crc {
            if is_newest && offset + 8 + len as usize == bytes.len() {
                break;
            }
            return Err(corrupt(offset, "checksum mismatch"));
        }
        let seq = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
        let payload = &body[9..];
        let op = match body[8] {
            OP_UPSERT => {
                let company: Company =
                    serde_json::from_slice(payload).map_err(|_| corrupt(offset, "undecodable record"))?;
                WalOp::Upsert(Box::new(company))
            }
            OP_DELETE => {
                WalOp::Delete(String::from_utf8(payload.to_vec()).map_err(|_| corrupt(offset, "undecodable id"))?)
            }
            _ => return Err(corrupt(offset, "unknown operation")),
        };
        apply(seq, op);
        offset += 8 + len as usize;
    }
    Ok(offset as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_replay_torn_tail_rotate_truncate() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, ops) = Wal::open(dir.path(), 0).unwrap();
        assert!(ops.is_empty());
        wal.append(&[WalOp::Delete("000000001".into()), WalOp::Delete("000000002".into())]).unwrap();
        wal.rotate().unwrap();
        wal.append(&[WalOp::Delete("000000003".into())]).unwrap();
        drop(wal);
        // A torn write at the end of the newest file is dropped.
        let newest = dir.path().join(format!("wal-{:020}.log", 3));
        let mut file = std::fs::OpenOptions::new().append(true).open(&newest).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
        drop(file);
        let (mut wal, ops) = Wal::open(dir.path(), 1).unwrap();
        let seqs: Vec<u64> = ops.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(wal.last_seq(), 3);
        assert_eq!(wal.append(&[WalOp::Delete("000000004".into())]).unwrap(), 4);
        wal.truncate_upto(2).unwrap();
        assert_eq!(wal.file_count(), 1);
        drop(wal);
        let (_, ops) = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(ops.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn truncation_tolerates_files_already_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 0).unwrap();
        for id in ["000000001", "000000002", "000000003"] {
            wal.append(&[WalOp::Delete(id.into())]).unwrap();
            wal.rotate().unwrap();
        }
        std::fs::remove_file(dir.path().join(format!("wal-{:020}.log", 2))).unwrap();
        wal.truncate_upto(3).unwrap();
        assert_eq!(wal.file_count(), 1);
        assert_eq!(wal.append(&[WalOp::Delete("000000004".into())]).unwrap(), 4);
    }

    #[test]
    fn corruption_in_an_old_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), 0).unwrap();
        wal.append(&[WalOp::Delete("000000001".into())]).unwrap();
        wal.rotate().unwrap();
        wal.append(&[WalOp::Delete("000000002".into())]).unwrap();
        drop(wal);
        let oldest = dir.path().join(format!("wal-{:020}.log", 1));
        let mut bytes = std::fs::read(&oldest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&oldest, &bytes).unwrap();
        let err = Wal::open(dir.path(), 0).unwrap_err();
        assert!(err.to_string().contains("corrupt at byte 0"), "{err}");
    }
}
