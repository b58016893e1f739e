//! Files written by earlier builds, one per on-disk format version, must keep opening: a format
//! change that breaks them needs a new version number (and this test tells you so).

use std::path::Path;

use marketlounge_index::storage::ColumnsReader;

#[test]
fn columns_v1_still_opens() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frozen/columns-v1.cols");
    let reader = ColumnsReader::open(&path).unwrap();
    assert_eq!(reader.n_docs(), 3);
    assert_eq!(reader.column("opportunity").unwrap(), [0.1, 0.5, 0.9]);
}
