//! FST dictionaries of phrases: synonyms, glossary concepts and place names.
//!
//! Every dictionary maps a *phrase key* (the stems of a phrase's words, see
//! [`Analyzer::phrase_key`](crate::analysis::Analyzer::phrase_key)) to a group of payload ids,
//! and is searched by walking the FST word by word from each position of a query: a
//! leftmost-longest match over n-grams costs one FST transition per byte, whatever the size of
//! the dictionary.

pub mod gazetteer;
pub mod glossary;
pub mod lexicon;
pub mod synonyms;

use std::collections::BTreeMap;

use fst::raw::Output;

/// Longest phrase, in words, a dictionary entry may have.
pub const MAX_PHRASE_WORDS: usize = 8;

/// A phrase dictionary: key → group of payload ids.
#[derive(Debug, Clone)]
pub struct PhraseDict {
    fst: fst::Map<Vec<u8>>,
    groups: Vec<Vec<u32>>,
}

/// A dictionary match over `words[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseMatch<'d> {
    pub start: usize,
    pub end: usize,
    pub payloads: &'d [u32],
}

impl PhraseDict {
    /// Builds a dictionary from `(key, payload)` pairs. Empty keys and keys of more than
    /// [`MAX_PHRASE_WORDS`] words are skipped; several payloads may share a key.
    pub fn build(entries: impl IntoIterator<Item = (String, u32)>) -> PhraseDict {
        let mut by_key: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (key, payload) in entries {
            if key.is_empty() || key.split(' ').count() > MAX_PHRASE_WORDS {
                continue;
            }
            let group = by_key.entry(key).or_default();
            if !group.contains(&payload) {
                group.push(payload);
            }
        }
        let mut groups = Vec::with_capacity(by_key.len());
        let pairs: Vec<(String, u64)> = by_key
            .into_iter()
            .map(|(key, group)| {
                groups.push(group);
                (key, groups.len() as u64 - 1)
            })
            .collect();
        // Keys come sorted and unique from the BTreeMap, which is all the builder requires.
        let fst = fst::Map::from_iter(pairs).expect("sorted unique keys");
        PhraseDict { fst, groups }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Exact lookup of a phrase key.
    pub fn get(&self, key: &str) -> Option<&[u32]> {
        self.fst.get(key).map(|group| self.groups[group as usize].as_slice())
    }

    /// The longest entry that starts at `words[start]`, as `(end, payloads)`.
    pub fn longest_at<S: AsRef<str>>(&self, words: &[S], start: usize) -> Option<(usize, &[u32])> {
        let fst = self.fst.as_fst();
        let mut node = fst.root();
        let mut output = Output::zero();
        let mut best = None;
        for (offset, word) in words[start..].iter().take(MAX_PHRASE_WORDS).enumerate() {
            let separator = (offset > 0).then_some(b' ');
            for byte in separator.into_iter().chain(word.as_ref().bytes()) {
                let Some(idx) = node.find_input(byte) else { return best };
                let transition = node.transition(idx);
                output = output.cat(transition.out);
                node = fst.node(transition.addr);
            }
            if node.is_final() {
                let group = output.cat(node.final_output()).value() as usize;
                best = Some((start + offset + 1, self.groups[group].as_slice()));
            }
        }
        best
    }

    /// Leftmost-longest, non-overlapping matches over `words`.
    pub fn find_all<S: AsRef<str>>(&self, words: &[S]) -> Vec<PhraseMatch<'_>> {
        let mut matches = Vec::new();
        let mut start = 0;
        while start < words.len() {
            match self.longest_at(words, start) {
                Some((end, payloads)) => {
                    matches.push(PhraseMatch { start, end, payloads });
                    start = end;
                }
                None => start += 1,
            }
        }
        matches
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dict(keys: &[&str]) -> PhraseDict {
        PhraseDict::build(keys.iter().enumerate().map(|(idx, key)| (key.to_string(), idx as u32)))
    }

    #[test]
    fn leftmost_longest() {
        let d = dict(&["decoup", "decoup las", "decoup las fibr", "las", "inox"]);
        let words = ["decoup", "las", "inox", "pres"];
        let found: Vec<(usize, usize, Vec<u32>)> =
            d.find_all(&words).into_iter().map(|m| (m.start, m.end, m.payloads.to_vec())).collect();
        assert_eq!(found, vec![(0, 2, vec![1]), (2, 3, vec![4])]);
        // A longer key that is only a prefix of the input does not match.
        assert_eq!(d.longest_at(&["decoup", "las", "fib"], 0).map(|m| m.0), Some(2));
    }

    #[test]
    fn shared_keys_group_payloads() {
        let d = PhraseDict::build([("tig".to_string(), 3), ("tig".to_string(), 7), ("tig".to_string(), 3)]);
        assert_eq!(d.get("tig"), Some(&[3u32, 7][..]));
    }

    proptest! {
        /// The FST walk agrees with a naive scan of all n-grams against the key set.
        #[test]
        fn longest_at_matches_naive(
            keys in proptest::collection::vec(proptest::collection::vec("[abc]{1,3}", 1..4), 0..30),
            words in proptest::collection::vec("[abc]{1,3}", 0..8),
        ) {
            let keys: Vec<String> = keys.iter().map(|k| k.join(" ")).collect();
            let d = PhraseDict::build(keys.iter().cloned().enumerate().map(|(i, k)| (k, i as u32)));
            for start in 0..words.len() {
                let naive = (start + 1..=words.len().min(start + MAX_PHRASE_WORDS))
                    .rev()
                    .find(|&end| keys.contains(&words[start..end].join(" ")));
                prop_assert_eq!(d.longest_at(&words, start).map(|m| m.0), naive);
            }
        }
    }
}
