//! Text analysis: the one pipeline shared by indexing, querying and every dictionary.
//!
//! `text → words (alphanumeric runs, apostrophes and hyphens split) → NFKC + lowercase →
//! accent folding → stopwords → Snowball stem`. Folding happens *before* stemming so that a
//! query typed without accents ("decoupe") analyses exactly like the accented text ("découpe").
//! Elided articles (`l'`, `d'`, `qu'`) become one-letter words that the stopword list removes.
//!
//! Invariant: analysis does no IO. Besides its output it allocates only into two bounded
//! per-thread memo caches (folded word → stem, raw word → folded stem; at most
//! `STEM_CACHE_CAPACITY` entries per thread and language, cleared when full, words over
//! `WORD_CACHE_MAX_KEY` bytes never cached), which change no result: a cached and an uncached
//! analysis give the same tokens.

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
pub fn word_spans(text: &str) -> WordSpans<'_> {
    WordSpans { text, pos: 0 }
}

/// The iterator of [`word_spans`]: scans bytes, decoding a character only outside ASCII.
#[derive(Debug, Clone)]
pub struct WordSpans<'a> {
    text: &'a str,
    pos: usize,
}

impl WordSpans<'_> {
    /// The character at byte `at` (a character boundary) and its length.
    fn char_at(&self, at: usize) -> (char, usize) {
        let c = self.text[at..].chars().next().expect("at < len, on a boundary");
        (c, c.len_utf8())
    }
}

impl Iterator for WordSpans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut at = self.pos;
        while at < bytes.len() {
            if bytes[at] < 0x80 {
                if bytes[at].is_ascii_alphanumeric() {
                    break;
                }
                at += 1;
            } else {
                let (c, len) = self.char_at(at);
                if c.is_alphanumeric() {
                    break;
                }
                at += len;
            }
        }
        if at >= bytes.len() {
            self.pos = bytes.len();
            return None;
        }
        let start = at;
        while at < bytes.len() {
            if bytes[at] < 0x80 {
                if !bytes[at].is_ascii_alphanumeric() {
                    break;
                }
                at += 1;
            } else {
                let (c, len) = self.char_at(at);
                if !(c.is_alphanumeric() || is_combining_mark(c)) {
                    break;
                }
                at += len;
            }
        }
        self.pos = at;
        Some((start, at))
    }
}

/// Lowercases and removes diacritics: "Ébavurage" → "ebavurage", "Œuvre" → "oeuvre".
/// Compatibility characters are normalised first (NFKC), so "ﬁ" → "fi" and "２" → "2".
/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn prefix_within(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

/// [`fold`] into a reused buffer (cleared first).
pub fn fold_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        // NFKC leaves ASCII alone: the common case needs no normalisation pass.
        out.push_str(text);
        out.make_ascii_lowercase();
        return;
    }
    // Precomposed Latin-1 letters and œ are already NFKC: French text skips the normalisation
    // pass (and its allocations) too.
    let latin1 = text.chars().all(|c| c.is_ascii() || ('\u{C0}'..='\u{FF}').contains(&c) || c == 'œ' || c == 'Œ');
    if latin1 {
        text.chars().flat_map(char::to_lowercase).for_each(|c| push_folded(out, c));
    } else {
        text.nfkc().flat_map(char::to_lowercase).for_each(|c| push_folded(out, c));
    }
}

/// [`fold`] without the fast paths: NFKC first, whatever the text.
#[cfg(test)]
fn fold_normalising(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text.nfkc().flat_map(char::to_lowercase).for_each(|c| push_folded(&mut out, c));
    out
}

fn push_folded(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c);
        return;
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

/// An ASCII identifier from a name: folded, alphanumeric runs joined by `separator`
/// ("Techni-Tôle & Fils", '-' → "techni-tole-fils").
pub fn slug(text: &str, separator: char) -> String {
    let folded = fold(text);
    let mut slug = String::with_capacity(folded.len());
    for c in folded.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with(separator) {
            slug.push(separator);
        }
    }
    slug.trim_end_matches(separator).to_owned()
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
        let mut tokens = Vec::new();
        self.for_each_word(text, |position, start, end, folded, stem| {
            tokens.push(Token { start, end, position, folded: folded.to_owned(), stem: stem.map(str::to_owned) });
        });
        tokens
    }

    /// Calls `f(position, start, end, folded, stem)` for each word of `text` (stem `None` for a
    /// stopword), reusing two buffers: the one walk behind [`Self::analyze`] and
    /// [`Self::for_each_stem`].
    fn for_each_word(&self, text: &str, mut f: impl FnMut(usize, usize, usize, &str, Option<&str>)) {
        let (mut folded, mut stem) = (String::new(), String::new());
        for (position, (start, end)) in word_spans(text).enumerate() {
            if fold_word(&text[start..end], &mut folded) {
                let stemmed = cached_stem_into(self.language, &folded, &mut stem);
                f(position, start, end, &folded, stemmed.then_some(stem.as_str()));
            }
        }
    }

    /// Calls `f(start, end, stem)` for each non-stopword word of `text`, in order: what
    /// [`Self::analyze`] finds, without a string per token (for scanning many texts).
    pub fn for_each_stem(&self, text: &str, mut f: impl FnMut(usize, usize, &str)) {
        self.for_each_word(text, |_, start, end, _, stem| {
            if let Some(stem) = stem {
                f(start, end, stem);
            }
        });
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

/// Word → its analysed form (`None`: no token).
type WordMap = rustc_hash::FxHashMap<Box<str>, Option<Box<str>>>;

/// One language's stemmer and its memory: folded word → stem (`None` for a stopword).
type StemCache = (Option<frostem::Stemmer>, WordMap);

/// Distinct words kept per thread and language before the stem cache starts over (a few MB).
const STEM_CACHE_CAPACITY: usize = 1 << 18;

thread_local! {
    /// Stemming is most of the cost of indexing, and industrial text reuses a small vocabulary:
    /// each thread remembers the stems it computed.
    static STEM_CACHE: std::cell::RefCell<[StemCache; 2]> =
        std::cell::RefCell::new([(None, rustc_hash::FxHashMap::default()), (None, rustc_hash::FxHashMap::default())]);
}

/// Raw words longer than this (in bytes) skip the word cache: rare, and hostile input must not
/// fill the cache with huge keys.
const WORD_CACHE_MAX_KEY: usize = 48;

thread_local! {
    /// Raw word (as it appears in the text) → its indexed form (`None`: dropped or a stopword).
    /// Indexing sees the same few thousand spellings over and over: one probe replaces folding,
    /// the stopword check and the stem lookup.
    static WORD_CACHE: std::cell::RefCell<[WordMap; 2]> =
        std::cell::RefCell::new([WordMap::default(), WordMap::default()]);
}

/// The indexed form of one raw word (folded, stopword-filtered, stemmed) into `out`, through the
/// per-thread word cache; `folded` is scratch space. Returns `false` (and leaves `out` empty)
/// when the word yields no token. Same result as [`fold_word`] then [`cached_stem_into`].
pub(crate) fn cached_word_into(language: Language, word: &str, folded: &mut String, out: &mut String) -> bool {
    let analyse = |folded: &mut String, out: &mut String| {
        out.clear();
        fold_word(word, folded) && cached_stem_into(language, folded, out)
    };
    if word.len() > WORD_CACHE_MAX_KEY {
        return analyse(folded, out);
    }
    WORD_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let words = &mut cache[language as usize];
        if let Some(found) = words.get(word) {
            out.clear();
            return match found {
                Some(token) => {
                    out.push_str(token);
                    true
                }
                None => false,
            };
        }
        let is_token = analyse(folded, out);
        if words.len() >= STEM_CACHE_CAPACITY {
            words.clear();
        }
        words.insert(word.into(), is_token.then(|| out.as_str().into()));
        is_token
    })
}

/// Folds one word into `out`; `false` when the word is dropped (empty once folded, or longer
/// than [`MAX_TOKEN_BYTES`]). The one per-word rule shared by [`Analyzer::analyze`] and the
/// tantivy tokenizers.
pub(crate) fn fold_word(word: &str, out: &mut String) -> bool {
    fold_into(word, out);
    !out.is_empty() && out.len() <= MAX_TOKEN_BYTES
}

/// The stem of a folded word through the per-thread cache, into `out` (cleared first); returns
/// `false` (and leaves `out` empty) for a stopword. One hash probe per word once warm.
pub(crate) fn cached_stem_into(language: Language, folded: &str, out: &mut String) -> bool {
    out.clear();
    STEM_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (stemmer, stems) = &mut cache[language as usize];
        if let Some(found) = stems.get(folded) {
            return match found {
                Some(stem) => {
                    out.push_str(stem);
                    true
                }
                None => false,
            };
        }
        let computed = if language.is_stopword(folded) {
            None
        } else {
            let stemmer = stemmer.get_or_insert_with(|| frostem::Stemmer::new(language.algorithm()));
            Some(stem(language, stemmer, folded).into_boxed_str())
        };
        let is_word = computed.is_some();
        if let Some(stem) = &computed {
            out.push_str(stem);
        }
        if stems.len() >= STEM_CACHE_CAPACITY {
            stems.clear();
        }
        stems.insert(folded.into(), computed);
        is_word
    })
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

    /// The plain definition of a word span, to check the byte scanner against.
    fn reference_spans(text: &str) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut start = None;
        for (idx, c) in text.char_indices() {
            let inside = c.is_alphanumeric() || (start.is_some() && is_combining_mark(c));
            match (inside, start) {
                (true, None) => start = Some(idx),
                (false, Some(s)) => {
                    spans.push((s, idx));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push((s, text.len()));
        }
        spans
    }

    proptest::proptest! {
        #[test]
        fn word_spans_match_the_definition(text in "[a-z0-9 ,.'’éÉœ\u{301}\u{2019}\u{00A0}一-]{0,40}") {
            proptest::prop_assert_eq!(word_spans(&text).collect::<Vec<_>>(), reference_spans(&text));
        }

        #[test]
        fn stems_without_tokens_are_the_analysed_stems(
            words in proptest::collection::vec("(les|de|découpes|laser|usinage|Précision|l'acier|5|axes|œuvre|[a-zé]{1,6})[ ,.']{0,2}", 0..12)
        ) {
            let text = words.concat();
            for language in [Language::French, Language::English] {
                let analyzer = Analyzer::new(language);
                let mut streamed = Vec::new();
                analyzer.for_each_stem(&text, |start, end, stem| streamed.push((start, end, stem.to_owned())));
                let analysed: Vec<_> =
                    analyzer.analyze(&text).into_iter().filter_map(|t| Some((t.start, t.end, t.stem?))).collect();
                proptest::prop_assert_eq!(streamed, analysed);
            }
        }

        #[test]
        fn the_per_thread_caches_change_no_result(
            words in proptest::collection::vec("(les|de|Découpes|usinage|aciers|acier|œuvre|[a-zéA-Z]{1,12}|[a-z]{45,60})", 1..24)
        ) {
            // Each word twice: the first analysis fills the caches, the second reads them.
            for language in [Language::French, Language::English] {
                let stemmer = frostem::Stemmer::new(language.algorithm());
                let (mut folded, mut cached) = (String::new(), String::new());
                for word in words.iter().chain(&words) {
                    let mut uncached_folded = String::new();
                    let uncached = (fold_word(word, &mut uncached_folded) && !language.is_stopword(&uncached_folded))
                        .then(|| stem(language, &stemmer, &uncached_folded));
                    let is_token = cached_word_into(language, word, &mut folded, &mut cached);
                    proptest::prop_assert_eq!(is_token.then(|| cached.clone()), uncached);
                }
            }
        }

        #[test]
        fn fast_folding_paths_agree_with_normalising_first(text in "[a-zA-Z0-9 'ÀÉÈÊËÎÏÔÙÛÜÇàâäéèêëîïôöùûüçÿœŒæß\u{301}\u{FB01}²ªſ]{0,24}") {
            proptest::prop_assert_eq!(fold(&text), fold_normalising(&text));
        }
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
