//! The analysis pipeline as tantivy tokenizers, so the index sees exactly the tokens the query
//! side computes.

use tantivy::tokenizer::{Token as TantivyToken, TokenStream, Tokenizer, TokenizerManager};

use super::Language;

/// French stems, stopwords removed (positions keep their gaps). For text fields.
pub const FRENCH_TOKENIZER: &str = "ml_fr";
/// English stems, stopwords removed.
pub const ENGLISH_TOKENIZER: &str = "ml_en";
/// Folded words, nothing removed, not stemmed. For prefix and fuzzy matching, where a stem would
/// hide the typed letters ("chaudronerie" is one edit from "chaudronnerie", not from its stem).
pub const FOLDED_TOKENIZER: &str = "ml_folded";

/// Registers the three tokenizers under their names.
pub fn register_tokenizers(manager: &TokenizerManager) {
    manager.register(FRENCH_TOKENIZER, MlTokenizer::Stemmed(Language::French));
    manager.register(ENGLISH_TOKENIZER, MlTokenizer::Stemmed(Language::English));
    manager.register(FOLDED_TOKENIZER, MlTokenizer::Folded);
}

/// A tantivy tokenizer running [`Analyzer`].
#[derive(Debug, Clone, Copy)]
pub enum MlTokenizer {
    Stemmed(Language),
    Folded,
}

/// The tokens of one text, computed one at a time into one reused token (no allocation per
/// word once the stem cache is warm).
#[derive(Debug)]
pub struct MlTokenStream<'a> {
    text: &'a str,
    spans: super::WordSpans<'a>,
    position: usize,
    language: Language,
    keep_stopwords: bool,
    folded: String,
    token: TantivyToken,
}

impl Tokenizer for MlTokenizer {
    type TokenStream<'a> = MlTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MlTokenStream<'a> {
        let (language, keep_stopwords) = match *self {
            MlTokenizer::Stemmed(language) => (language, false),
            MlTokenizer::Folded => (Language::French, true),
        };
        MlTokenStream {
            text,
            spans: super::word_spans(text),
            position: 0,
            language,
            keep_stopwords,
            folded: String::new(),
            token: TantivyToken::default(),
        }
    }
}

impl TokenStream for MlTokenStream<'_> {
    fn advance(&mut self) -> bool {
        for (start, end) in self.spans.by_ref() {
            let position = self.position;
            self.position += 1;
            let word = &self.text[start..end];
            if self.keep_stopwords {
                if !super::fold_word(word, &mut self.folded) {
                    continue;
                }
                self.token.text.clear();
                self.token.text.push_str(&self.folded);
            } else if !super::cached_word_into(self.language, word, &mut self.folded, &mut self.token.text) {
                continue;
            }
            self.token.offset_from = start;
            self.token.offset_to = end;
            self.token.position = position;
            self.token.position_length = 1;
            return true;
        }
        false
    }

    fn token(&self) -> &TantivyToken {
        &self.token
    }

    fn token_mut(&mut self) -> &mut TantivyToken {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::QueryParser;
    use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
    use tantivy::{Index, doc};

    use super::*;
    use crate::analysis::Analyzer;

    fn stream(tokenizer: MlTokenizer, text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut tokenizer = tokenizer;
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push((t.text.clone(), t.offset_from, t.offset_to, t.position));
        }
        out
    }

    proptest::proptest! {
        /// Index-time tokens are exactly the query-side analysis.
        #[test]
        fn streams_agree_with_the_analyzer(text in "[a-zA-Z0-9 ,.'’ÉéèêàçœŒ\u{301}\u{FB01}-]{0,60}") {
            let analyzer = Analyzer::new(Language::French);
            let expected: Vec<_> = analyzer
                .analyze(&text)
                .into_iter()
                .filter_map(|t| Some((t.stem?, t.start, t.end, t.position)))
                .collect();
            proptest::prop_assert_eq!(stream(MlTokenizer::Stemmed(Language::French), &text), expected);
            let folded: Vec<_> =
                analyzer.analyze(&text).into_iter().map(|t| (t.folded, t.start, t.end, t.position)).collect();
            proptest::prop_assert_eq!(stream(MlTokenizer::Folded, &text), folded);
        }
    }

    /// Words past the word cache's key limit, and the same word seen again (a cache hit), analyse
    /// exactly as the first time.
    #[test]
    fn cached_and_uncached_words_agree() {
        let long = "Décolletage".repeat(5);
        let text = format!("{long} découpe DÉCOUPE {long} découpe");
        let first = stream(MlTokenizer::Stemmed(Language::French), &text);
        let again = stream(MlTokenizer::Stemmed(Language::French), &text);
        assert_eq!(first, again);
        let expected: Vec<_> = Analyzer::new(Language::French)
            .analyze(&text)
            .into_iter()
            .filter_map(|t| Some((t.stem?, t.start, t.end, t.position)))
            .collect();
        assert_eq!(first, expected);
        assert_eq!(first.len(), 5);
        assert_eq!(first[1].0, "decoup");
    }

    /// The tokenizer works inside a real tantivy index: an unaccented, plural query finds the
    /// accented singular text.
    #[test]
    fn tantivy_index_uses_the_pipeline() {
        let mut builder = Schema::builder();
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(FRENCH_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let body = builder.add_text_field("body", TextOptions::default().set_indexing_options(indexing));
        let index = Index::create_in_ram(builder.build());
        register_tokenizers(index.tokenizers());
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer.add_document(doc!(body => "Découpe laser de l'acier inoxydable")).unwrap();
        writer.add_document(doc!(body => "Fonderie d'aluminium sous pression")).unwrap();
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let parser = QueryParser::for_index(&index, vec![body]);
        let hits = searcher
            .search(&parser.parse_query("decoupes aciers").unwrap(), &TopDocs::with_limit(10).order_by_score())
            .unwrap();
        assert_eq!(hits.len(), 1);
        let phrase = searcher
            .search(&parser.parse_query("\"acier inoxydable\"").unwrap(), &TopDocs::with_limit(10).order_by_score())
            .unwrap();
        assert_eq!(phrase.len(), 1);
    }
}
