//! Fuzz target: arbitrary bytes as a prior-columns file never panic the validator. Each input is
//! tried as a whole file, then as a payload behind a correct footer, so that the header parser
//! behind the checksum is exercised too.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use marketlounge_index::storage::{ColumnsReader, FileKind, append_footer};

fuzz_target!(|bytes: &[u8]| {
    let _ = ColumnsReader::validate_bytes(bytes);
    let mut framed = bytes.to_vec();
    append_footer(FileKind::Columns, &mut framed);
    let _ = ColumnsReader::validate_bytes(&framed);
});
