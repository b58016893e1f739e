//! Golden stems: the analyzer's output for a few hundred French and English words (industrial
//! vocabulary from the glossary and the demo generator, common words, plurals, accents, `-age`
//! nouns, stopwords) against `tests/data/golden_stems.tsv`.
//!
//! Indexed tokens are stems: when they change (a new `frostem`, a change to the pipeline), an
//! index built before no longer matches the queries analysed after, and only
//! `ANALYSIS_VERSION` makes such an index refuse to open instead of silently missing matches.
//! This test is what notices the change.
//!
//! The file: `#` comment lines, a `# analysis_version N` line (the version its stems were made
//! with), then `language<TAB>word<TAB>stem` lines, `-` as the stem of a stopword. To add a word,
//! add a line with an empty stem and regenerate:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test --release --workspace --test golden_stems
//! ```
//!
//! Regenerating rewrites every stem, but it refuses while a stem already in the file would
//! change under the same `ANALYSIS_VERSION`: bump the version first.

use std::fmt::Write as _;
use std::path::PathBuf;

use marketlounge_index::analysis::{Analyzer, Language};
use marketlounge_index::segment::schema::ANALYSIS_VERSION;

/// The stem column of a stopword (a stem is alphanumeric, so it can never be `-`).
const STOPWORD: &str = "-";
const VERSION_PREFIX: &str = "# analysis_version ";

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden_stems.tsv")
}

/// One line of the file.
struct Entry {
    language: Language,
    word: String,
    /// Empty for a word added by hand and not generated yet.
    stem: String,
}

struct Golden {
    /// The comment lines before the version line, kept as they are on regeneration.
    header: Vec<String>,
    version: u32,
    entries: Vec<Entry>,
}

fn parse(text: &str) -> Golden {
    let (mut header, mut version, mut entries) = (Vec::new(), None, Vec::new());
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if let Some(number) = line.strip_prefix(VERSION_PREFIX) {
            version = Some(number.trim().parse().unwrap_or_else(|_| panic!("golden_stems.tsv:{line_no}: bad version")));
        } else if line.starts_with('#') {
            if version.is_none() {
                header.push(line.to_owned());
            }
        } else if !line.trim().is_empty() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [language, word, stem] = fields[..] else {
                panic!("golden_stems.tsv:{line_no}: expected language, word and stem separated by tabs, got {line:?}")
            };
            let language = match language {
                "french" => Language::French,
                "english" => Language::English,
                other => panic!("golden_stems.tsv:{line_no}: unknown language {other:?} (french or english)"),
            };
            entries.push(Entry { language, word: word.to_owned(), stem: stem.to_owned() });
        }
    }
    let version = version.unwrap_or_else(|| panic!("golden_stems.tsv: no `{VERSION_PREFIX}N` line"));
    Golden { header, version, entries }
}

/// What the analyzer makes of one word, in the file's notation; `Err` when the word is not
/// exactly one word for the analyzer (the file must hold single words).
fn analyse(language: Language, word: &str) -> Result<String, String> {
    let tokens = Analyzer::new(language).analyze(word);
    match &tokens[..] {
        [token] => Ok(token.stem.clone().unwrap_or_else(|| STOPWORD.to_owned())),
        _ => Err(format!("{word:?} is {} words for the analyzer, not one", tokens.len())),
    }
}

fn language_name(language: Language) -> &'static str {
    match language {
        Language::French => "french",
        Language::English => "english",
    }
}

#[test]
fn stems_match_the_golden_file() {
    let path = golden_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let golden = parse(&text);
    assert!(golden.entries.len() >= 300, "the golden file should hold a few hundred words");

    let mut changed = Vec::new();
    let mut new_words = 0;
    let mut actual = Vec::with_capacity(golden.entries.len());
    for entry in &golden.entries {
        let stem = analyse(entry.language, &entry.word).unwrap_or_else(|err| panic!("golden_stems.tsv: {err}"));
        if entry.stem.is_empty() {
            new_words += 1;
        } else if entry.stem != stem {
            changed.push(format!(
                "  {} {:?}: file {:?}, analyzer {:?}",
                language_name(entry.language),
                entry.word,
                entry.stem,
                stem
            ));
        }
        actual.push(stem);
    }

    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|value| value == "1") {
        assert!(
            changed.is_empty() || golden.version != ANALYSIS_VERSION,
            "refusing to regenerate {}: {} stems would change under the same ANALYSIS_VERSION ({}). Bump \
             ANALYSIS_VERSION in index/src/segment/schema.rs first, so that indexes built with the old \
             stems refuse to open instead of missing matches.\n{}",
            path.display(),
            changed.len(),
            ANALYSIS_VERSION,
            changed.join("\n")
        );
        let mut out = String::new();
        for line in &golden.header {
            writeln!(out, "{line}").unwrap();
        }
        writeln!(out, "{VERSION_PREFIX}{ANALYSIS_VERSION}").unwrap();
        for (entry, stem) in golden.entries.iter().zip(&actual) {
            writeln!(out, "{}\t{}\t{stem}", language_name(entry.language), entry.word).unwrap();
        }
        std::fs::write(&path, out).unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        return;
    }

    assert!(
        changed.is_empty(),
        "{} of {} golden stems changed (index/tests/data/golden_stems.tsv):\n{}\n\
         Indexed tokens are stems: an index built before this change would silently miss matches. If the \
         change is intended (a new frostem, a pipeline change), bump ANALYSIS_VERSION in \
         index/src/segment/schema.rs (now {}) and regenerate the file with\n  \
         UPDATE_GOLDEN=1 cargo test --release --workspace --test golden_stems",
        changed.len(),
        golden.entries.len(),
        changed.join("\n"),
        ANALYSIS_VERSION
    );
    assert_eq!(
        golden.version, ANALYSIS_VERSION,
        "golden_stems.tsv was made with ANALYSIS_VERSION {} but the analyzer is at {}: regenerate it with \
         UPDATE_GOLDEN=1 cargo test --release --workspace --test golden_stems",
        golden.version, ANALYSIS_VERSION
    );
    assert_eq!(
        new_words, 0,
        "golden_stems.tsv has {new_words} words without a stem: fill them in with \
         UPDATE_GOLDEN=1 cargo test --release --workspace --test golden_stems"
    );
}
