//! Text analysis: the one pipeline shared by indexing, querying and every dictionary.
//!
//! `text → words (alphanumeric runs, apostrophes and hyphens split) → NFKC + lowercase →
//! accent folding → stopwords → Snowball stem`. Folding happens *before* stemming so that a
//! query typed without accents ("decoupe") analyses exactly like the accented text ("découpe").
//! Elided articles (`l'`, `d'`, `qu'`) become one-letter words that the stopword list removes.
//!
//! Invariant: analysis does no IO and allocates only its output.

mod stopwords;
pub mod tokenizer;

pub use tokenizer::{ENGLISH_TOKENIZER, FOLDED_TOKENIZER, FRENCH_TOKENIZER, MlTokenizer, register_tokenizers};

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words longer than this (in bytes, after folding) are dropped: they are never real words, and
/// hostile input should not bloat the index or the dictionaries.
pub const MAX_TOKEN_BYTES: usize = 64;

/// Analysis language: picks the stemmer and the stopword list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    French,
    English,
}

impl Language {
    fn algorithm(self) -> frostem::Algorithm {
        match self {
            Language::French => frostem::Algorithm::French,
            Language::English => frostem::Algorithm::English,
        }
    }

    pub fn is_stopword(self, folded: &str) -> bool {
        match self {
            Language::French => stopwords::FRENCH.binary_search(&folded).is_ok(),
            Language::English => stopwords::ENGLISH.binary_search(&folded).is_ok(),
        }
    }
}

/// One word of analysed text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Byte range in the original text (for highlights and for removing spans from a query).
    pub start: usize,
    pub end: usize,
    /// Index of the word in the text, stopwords included (phrase queries keep the gaps).
    pub position: usize,
    /// Lowercased, accent-folded form ("découpe" → "decoupe").
    pub folded: String,
    /// Stem of the folded form; `None` for a stopword.
    pub stem: Option<String>,
}

impl Token {
    pub fn is_stopword(&self) -> bool {
        self.stem.is_none()
    }
}

/// Splits `text` into words: maximal runs of alphanumeric characters and combining marks.
/// Returns byte ranges into `text`.
pub fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, _) = chars.find(|&(_, c)| c.is_alphanumeric())?;
        let mut end = text.len();
        while let Some(&(idx, c)) = chars.peek() {
            if c.is_alphanumeric() || is_combining_mark(c) {
                chars.next();
            } else {
                end = idx;
                break;
            }
        }
        Some((start, end))
    })
}

/// Lowercases and removes diacritics: "Ébavurage" → "ebavurage", "Œuvre" → "oeuvre".
/// Compatibility characters are normalised first (NFKC), so "ﬁ" → "fi" and "２" → "2".
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        match c {
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            'ø' => out.push('o'),
            'ł' => out.push('l'),
            'đ' | 'ð' => out.push('d'),
            'þ' => out.push_str("th"),
            'ı' => out.push('i'),
            _ => out.extend(std::iter::once(c).nfd().filter(|&d| !is_combining_mark(d))),
        }
    }
    out
}

/// The analysis pipeline for one language.
#[derive(Debug, Clone, Copy)]
pub struct Analyzer {
    language: Language,
}

impl Analyzer {
    pub fn new(language: Language) -> Analyzer {
        Analyzer { language }
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// Analyses `text` into tokens (stopwords kept, with `stem: None`).
    pub fn analyze(&self, text: &str) -> Vec<Token> {
        let stemmer = frostem::Stemmer::new(self.language.algorithm());
        let mut tokens = Vec::new();
        for (position, (start, end)) in word_spans(text).enumerate() {
            let folded = fold(&text[start..end]);
            if folded.is_empty() || folded.len() > MAX_TOKEN_BYTES {
                continue;
            }
            let stem =
                if self.language.is_stopword(&folded) { None } else { Some(stem(self.language, &stemmer, &folded)) };
            tokens.push(Token { start, end, position, folded, stem });
        }
        tokens
    }

    /// The dictionary key of a phrase: the stems of its non-stopword words, space-separated.
    /// Synonyms, glossary labels and place names are all keyed this way, and queries are looked
    /// up the same way, so "Découpes au laser" finds the entry "découpe laser".
    pub fn phrase_key(&self, text: &str) -> String {
        let mut key = String::new();
        for token in self.analyze(text) {
            if let Some(stem) = token.stem {
                if !key.is_empty() {
                    key.push(' ');
                }
                key.push_str(&stem);
            }
        }
        key
    }

    /// The key of a proper name: its folded, *unstemmed* non-stopword words ("Le Havre" →
    /// "havre"). Place names are not stemmed: "Tours" must not meet "tour", nor "Sers" "série".
    pub fn name_key(&self, text: &str) -> String {
        let words: Vec<String> =
            self.analyze(text).into_iter().filter(|t| !t.is_stopword()).map(|t| t.folded).collect();
        words.join(" ")
    }
}

/// Stems a folded word.
///
/// Snowball is applied until the word stops changing: on folded text the French stemmer is not
/// idempotent ("aciers" → "acier" but "acier" → "aci"), and a stem must not depend on whether
/// the word was plural. French process nouns in `-age` then lose that suffix, so that the
/// process and its participle meet: "usinage"/"usinées" → "usin", "découpage"/"découpe" →
/// "decoup", "emballage"/"emballer" → "emball". The remaining stem keeps at least three letters
/// ("page", "image" are left alone).
fn stem(language: Language, stemmer: &frostem::Stemmer, folded: &str) -> String {
    let mut current = folded.to_owned();
    for _ in 0..3 {
        let next = stemmer.stem(&current);
        if next == current {
            break;
        }
        current = next.into_owned();
    }
    if language == Language::French && current.len() >= 5 && current.ends_with("ag") {
        current.truncate(current.len() - 2);
    }
    current
}

/// Guesses whether a short query is English rather than French, from stopwords and typical
/// English endings. French wins ties: it is the main language of the users and the documents.
pub fn detect_language(text: &str) -> Language {
    let mut english = 0i32;
    let mut french = 0i32;
    for (start, end) in word_spans(text) {
        let folded = fold(&text[start..end]);
        if stopwords::ENGLISH_MARKERS.binary_search(&folded.as_str()).is_ok() {
            english += 2;
        }
        if Language::French.is_stopword(&folded) || stopwords::FRENCH_MARKERS.binary_search(&folded.as_str()).is_ok() {
            french += 2;
        }
        if folded.len() > 5 && (folded.ends_with("ing") || folded.ends_with("ed")) {
            english += 1;
        }
        if folded.len() > 4 && folded.ends_with("age") {
            french += 1;
        }
        if text[start..end].chars().any(|c| matches!(c, 'é' | 'è' | 'ê' | 'à' | 'ç' | 'ù' | 'â' | 'ô' | 'î' | 'û'))
        {
            french += 2;
        }
    }
    if english > french { Language::English } else { Language::French }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(language: Language, text: &str) -> Vec<String> {
        Analyzer::new(language).analyze(text).into_iter().filter_map(|t| t.stem).collect()
    }

    #[test]
    fn folding() {
        assert_eq!(fold("Ébavurage"), "ebavurage");
        assert_eq!(fold("ŒUVRE"), "oeuvre");
        assert_eq!(fold("ﬁnition"), "finition");
        assert_eq!(fold("Straße"), "strasse");
        assert_eq!(fold("ＣＮＣ"), "cnc");
    }

    #[test]
    fn words_split_on_apostrophes_and_hyphens_and_keep_combining_marks() {
        let text = "l’usinage d'Saint-Étienne de\u{301}coupe";
        let words: Vec<&str> = word_spans(text).map(|(s, e)| &text[s..e]).collect();
        assert_eq!(words, ["l", "usinage", "d", "Saint", "Étienne", "de\u{301}coupe"]);
    }

    #[test]
    fn accents_do_not_change_stems() {
        assert_eq!(stems(Language::French, "découpe"), stems(Language::French, "decoupe"));
        assert_eq!(stems(Language::French, "Décolletage"), stems(Language::French, "decolletage"));
        assert_eq!(stems(Language::French, "de\u{301}coupe"), stems(Language::French, "découpe"));
    }

    #[test]
    fn elision_and_stopwords() {
        assert_eq!(stems(Language::French, "l'usinage de l'inox"), stems(Language::French, "usinage inox"));
        assert!(stems(Language::French, "de la et le").is_empty());
    }

    #[test]
    fn plural_and_singular_share_a_stem() {
        assert_eq!(stems(Language::French, "aciers inoxydables"), stems(Language::French, "acier inoxydable"));
        assert_eq!(stems(Language::French, "usinage"), stems(Language::French, "usinées"));
        assert_eq!(stems(Language::French, "découpage"), stems(Language::French, "découpe"));
        assert_eq!(stems(Language::French, "page"), ["pag"]);
        assert_eq!(stems(Language::French, "pièces usinées"), stems(Language::French, "pièce usinée"));
        assert_eq!(stems(Language::English, "milling machines"), stems(Language::English, "milling machine"));
    }

    #[test]
    fn long_words_are_dropped_and_positions_kept() {
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        let tokens = Analyzer::new(Language::French).analyze(&format!("découpe {long} laser"));
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[1].position, 2);
    }

    #[test]
    fn language_detection() {
        assert_eq!(detect_language("CNC machining of titanium parts"), Language::English);
        assert_eq!(detect_language("laser cutting stainless steel"), Language::English);
        assert_eq!(detect_language("découpe laser inox près de Lyon"), Language::French);
        assert_eq!(detect_language("usinage de précision"), Language::French);
        assert_eq!(detect_language("fraisage 5 axes"), Language::French);
    }
}
