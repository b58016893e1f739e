//! Fuzz target: arbitrary text through analysis and interpretation never panics, every span it
//! reports lies on character boundaries of the input, and constraints of different kinds never
//! overlap.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use marketlounge_index::analysis::{Analyzer, Language};
use marketlounge_index::interpret::Interpreter;

static INTERPRETER: LazyLock<Interpreter> =
    LazyLock::new(|| Interpreter::embedded().expect("embedded dictionaries load"));

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    for language in [Language::French, Language::English] {
        for token in Analyzer::new(language).analyze(text) {
            assert!(token.start < token.end && text.is_char_boundary(token.start) && text.is_char_boundary(token.end));
        }
    }
    let interpretation = INTERPRETER.interpret(text);
    for [start, end] in interpretation
        .concepts
        .iter()
        .map(|c| c.span)
        .chain(interpretation.synonyms.iter().map(|s| s.span))
        .chain(interpretation.locations.iter().map(|l| l.span))
        .chain(interpretation.constraints.iter().map(|c| c.span))
    {
        assert!(start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end));
    }
    // Constraints slice the text to what they matched, and two of different kinds never overlap.
    let constraints = &interpretation.constraints;
    for (idx, hit) in constraints.iter().enumerate() {
        assert_eq!(&text[hit.span[0]..hit.span[1]], hit.matched);
        for other in &constraints[idx + 1..] {
            let overlap = hit.span[0] < other.span[1] && other.span[0] < hit.span[1];
            assert!(!overlap || hit.constraint.kind() == other.constraint.kind(), "{hit:?} overlaps {other:?}");
        }
    }
    assert!(interpretation.text_query.len() <= text.len());
});
