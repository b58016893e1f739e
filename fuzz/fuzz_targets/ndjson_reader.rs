//! Fuzz target: arbitrary bytes through the NDJSON record reader (plain and gzip) never panic,
//! and every line is either a valid record or reported with at least one error.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use marketlounge_index::ndjson::{Parsed, RecordReader, UnpackLimits, open_reader};
use marketlounge_index::record::{Company, Concept, Record, Signal};
use marketlounge_index::refdata::RefData;

fn read_all<T: Record>(bytes: &[u8]) {
    let mut last_line = 0;
    for parsed in RecordReader::<_, T>::new(bytes, RefData::embedded()).with_max_line_bytes(4096) {
        let Ok(parsed) = parsed else { return };
        let line = match parsed {
            Parsed::Valid { line, .. } => line,
            Parsed::Invalid { line, errors } => {
                assert!(!errors.is_empty());
                line
            }
        };
        assert!(line > last_line, "line numbers increase");
        last_line = line;
    }
}

fuzz_target!(|bytes: &[u8]| {
    read_all::<Company>(bytes);
    read_all::<Concept>(bytes);
    read_all::<Signal>(bytes);
    // The gzip path: a corrupt stream, or one past its limits, is an I/O error, never a panic.
    let limits = UnpackLimits { max_unpacked_bytes: 1 << 20, max_ratio: 32 };
    if let Ok(reader) = open_reader(std::io::Cursor::new(bytes.to_vec()), limits) {
        for parsed in RecordReader::<_, Company>::new(reader, RefData::embedded()).with_max_line_bytes(4096) {
            if parsed.is_err() {
                break;
            }
        }
    }
});
