//! The documentation names what the tree holds: the fuzz targets listed in `ARCHITECTURE.md` are
//! exactly the ones `fuzz/Cargo.toml` builds, each has its source and seed corpus, and
//! `tools/test` replays every one of them.

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}

/// The first backticked name of each row of the Markdown table whose header starts with
/// `header_start`.
fn table_names(markdown: &str, header_start: &str) -> BTreeSet<String> {
    let mut lines = markdown.lines().skip_while(|line| !line.starts_with(header_start));
    assert!(lines.next().is_some(), "no table starting with {header_start:?}");
    lines
        .skip(1) // the |---| line
        .take_while(|line| line.starts_with('|'))
        .map(|row| {
            let cell = row.split('|').nth(1).unwrap().trim();
            cell.trim_matches('`').to_owned()
        })
        .collect()
}

/// The `name`s of the `[[bin]]` sections of a Cargo manifest.
fn cargo_bins(manifest: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name = ") {
            names.insert(value.trim_matches('"').to_owned());
        }
    }
    names
}

fn file_stems(dir: &str, keep: impl Fn(&std::fs::DirEntry) -> bool) -> BTreeSet<String> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    std::fs::read_dir(&full)
        .unwrap_or_else(|err| panic!("{}: {err}", full.display()))
        .map(Result::unwrap)
        .filter(keep)
        .map(|entry| Path::new(&entry.file_name()).file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_documented_fuzz_targets_are_the_built_ones() {
    let documented = table_names(&read("ARCHITECTURE.md"), "| fuzz target |");
    let built = cargo_bins(&read("fuzz/Cargo.toml"));
    assert!(!built.is_empty());
    assert_eq!(documented, built, "ARCHITECTURE.md's fuzz table against fuzz/Cargo.toml");

    let sources = file_stems("fuzz/fuzz_targets", |e| e.path().extension().is_some_and(|x| x == "rs"));
    assert_eq!(sources, built, "fuzz/fuzz_targets/*.rs against fuzz/Cargo.toml");
    let seeds = file_stems("fuzz/seeds", |e| e.path().is_dir());
    assert_eq!(seeds, built, "fuzz/seeds/ against fuzz/Cargo.toml");

    let test_script = read("tools/test");
    let replayed: BTreeSet<String> = test_script
        .lines()
        .find_map(|line| line.trim().strip_prefix("for target in ")?.strip_suffix("; do").map(str::to_owned))
        .expect("tools/test replays the fuzz seeds in a `for target in …; do` loop")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(replayed, built, "tools/test's replay loop against fuzz/Cargo.toml");
}
