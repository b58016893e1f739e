//! The analysis pipeline as tantivy tokenizers, so the index sees exactly the tokens the query
//! side computes.

use tantivy::tokenizer::{Token as TantivyToken, TokenStream, Tokenizer, TokenizerManager};

use super::{Analyzer, Language};

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

/// The tokens of one text, computed up front.
#[derive(Debug)]
pub struct MlTokenStream {
    tokens: Vec<TantivyToken>,
    next: usize,
}

impl Tokenizer for MlTokenizer {
    type TokenStream<'a> = MlTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MlTokenStream {
        let (language, keep_stopwords) = match *self {
            MlTokenizer::Stemmed(language) => (language, false),
            MlTokenizer::Folded => (Language::French, true),
        };
        let tokens = Analyzer::new(language)
            .analyze(text)
            .into_iter()
            .filter_map(|token| {
                let text = if keep_stopwords { Some(token.folded) } else { token.stem }?;
                Some(TantivyToken {
                    offset_from: token.start,
                    offset_to: token.end,
                    position: token.position,
                    text,
                    position_length: 1,
                })
            })
            .collect();
        MlTokenStream { tokens, next: 0 }
    }
}

impl TokenStream for MlTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &TantivyToken {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut TantivyToken {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::TopDocs;
    use tantivy::query::QueryParser;
    use tantivy::schema::{IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
    use tantivy::{Index, doc};

    use super::*;

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
