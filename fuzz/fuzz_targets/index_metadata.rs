//! Fuzz target: arbitrary bytes as a segment's `meta.bin`, as a `MANIFEST`, as a tombstones file
//! and as a write-ahead log never panic. Each input is tried raw and behind a valid footer, so the
//! decoders behind the checksum are reached too.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use marketlounge_index::engine::{Manifest, Wal};
use marketlounge_index::segment::{SegmentMeta, Tombstones};
use marketlounge_index::storage::{FileKind, append_footer};

fuzz_target!(|bytes: &[u8]| {
    let path = std::path::Path::new("fuzz.del");
    let _ = SegmentMeta::validate_bytes(bytes);
    let _ = Manifest::validate_bytes(bytes);
    let _ = Tombstones::decode(path, bytes);
    for kind in [FileKind::SegmentMeta, FileKind::Manifest, FileKind::Deletes] {
        let mut framed = bytes.to_vec();
        append_footer(kind, &mut framed);
        let _ = SegmentMeta::validate_bytes(&framed);
        let _ = Manifest::validate_bytes(&framed);
        let _ = Tombstones::decode(path, &framed);
    }
    // The same bytes as the newest write-ahead-log file: replay either stops at a torn tail or
    // reports corruption, never panics.
    if let Ok(dir) = tempfile_dir() {
        let _ = std::fs::write(dir.join("wal-00000000000000000001.log"), bytes);
        let _ = Wal::open(&dir, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("ml-fuzz-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
