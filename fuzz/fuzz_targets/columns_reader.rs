//! Fuzz target: arbitrary bytes as a prior-columns file never panic the validator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketlounge_index::storage::ColumnsReader;

fuzz_target!(|bytes: &[u8]| {
    let _ = ColumnsReader::validate_bytes(bytes);
});
