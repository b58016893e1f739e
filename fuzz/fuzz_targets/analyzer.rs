//! Fuzz target: arbitrary text through analysis and interpretation never panics, and every span
//! it reports lies on character boundaries of the input.
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
    {
        assert!(start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end));
    }
    assert!(interpretation.text_query.len() <= text.len());
});
