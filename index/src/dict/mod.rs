//! FST dictionaries of phrases: synonyms, glossary concepts, place names, and the materials and
//! certifications vocabularies.
//!
//! Every dictionary maps a *phrase key* (the stems of a phrase's words, see
//! [`Analyzer::phrase_key`](crate::analysis::Analyzer::phrase_key)) to a group of payload ids,
//! and is searched by walking the FST word by word from each position of a query: a
//! leftmost-longest match over n-grams costs one FST transition per byte, whatever the size of
//! the dictionary.

pub mod company_values;
pub mod gazetteer;
pub mod glossary;
pub mod lexicon;
pub mod synonyms;
pub mod vocabulary;

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

/// Where a dictionary entry that starts at a given word ends (see [`PhraseDict::ends_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseEnd<'d> {
    /// One past the last word the entry covers.
    pub end: usize,
    /// `Some(n)`: the entry covers only the first `n` bytes of its last word, which go on past a
    /// boundary between a digit and a letter ("9100" in "9100d", "alsi7mg" in "alsi7mg0").
    pub partial: Option<usize>,
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

    /// Every entry that starts at `words[start]`, shortest first. With `split_designations`, an
    /// entry may also end inside its last word where a digit meets a letter: designations carry
    /// suffixes buyers add or drop ("AS9100D" for "AS9100", "AlSi7Mg0,3" for "AlSi7Mg"), and
    /// the word before such a boundary is what the dictionary can know.
    pub fn ends_at<S: AsRef<str>>(&self, words: &[S], start: usize, split_designations: bool) -> Vec<PhraseEnd<'_>> {
        let fst = self.fst.as_fst();
        let mut node = fst.root();
        let mut output = Output::zero();
        let mut ends = Vec::new();
        for (offset, word) in words[start..].iter().take(MAX_PHRASE_WORDS).enumerate() {
            if offset > 0 {
                let Some(idx) = node.find_input(b' ') else { return ends };
                let transition = node.transition(idx);
                output = output.cat(transition.out);
                node = fst.node(transition.addr);
            }
            let bytes = word.as_ref().as_bytes();
            for (at, &byte) in bytes.iter().enumerate() {
                if split_designations && at > 0 && node.is_final() && is_designation_boundary(bytes[at - 1], byte) {
                    let group = output.cat(node.final_output()).value() as usize;
                    ends.push(PhraseEnd {
                        end: start + offset + 1,
                        partial: Some(at),
                        payloads: self.groups[group].as_slice(),
                    });
                }
                let Some(idx) = node.find_input(byte) else { return ends };
                let transition = node.transition(idx);
                output = output.cat(transition.out);
                node = fst.node(transition.addr);
            }
            if node.is_final() {
                let group = output.cat(node.final_output()).value() as usize;
                ends.push(PhraseEnd {
                    end: start + offset + 1,
                    partial: None,
                    payloads: self.groups[group].as_slice(),
                });
            }
        }
        ends
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

/// Whether a word may be cut between these two bytes: a digit next to a letter (ASCII).
fn is_designation_boundary(before: u8, after: u8) -> bool {
    (before.is_ascii_digit() && after.is_ascii_alphabetic()) || (before.is_ascii_alphabetic() && after.is_ascii_digit())
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

    #[test]
    fn ends_inside_a_word_only_at_a_digit_letter_boundary() {
        let d = dict(&["as9100", "9100", "alsi7mg", "iso", "iso 9001"]);
        let ends = |words: &[&str], split: bool| -> Vec<(usize, Option<usize>, Vec<u32>)> {
            d.ends_at(words, 0, split).into_iter().map(|e| (e.end, e.partial, e.payloads.to_vec())).collect()
        };
        assert_eq!(ends(&["as9100d"], true), [(1, Some(6), vec![0])]);
        assert_eq!(ends(&["as9100d"], false), []);
        assert_eq!(ends(&["alsi7mg0", "3"], true), [(1, Some(7), vec![2])]);
        // "iso" then "isox": a letter follows a letter, no boundary.
        assert_eq!(ends(&["isox"], true), []);
        assert_eq!(ends(&["iso", "9001"], true), [(1, None, vec![3]), (2, None, vec![4])]);
        assert_eq!(ends(&["iso", "9001a"], true), [(1, None, vec![3]), (2, Some(4), vec![4])]);
    }

    proptest! {
        /// `ends_at` lists exactly the keys that are a run of words from `start`, or such a run
        /// whose last word is cut at a digit/letter boundary.
        #[test]
        fn ends_at_matches_naive(
            keys in proptest::collection::vec(proptest::collection::vec("[a1]{1,3}", 1..4), 0..30),
            words in proptest::collection::vec("[a1]{1,4}", 0..6),
        ) {
            let keys: Vec<String> = keys.iter().map(|k| k.join(" ")).collect();
            let d = PhraseDict::build(keys.iter().cloned().enumerate().map(|(i, k)| (k, i as u32)));
            for start in 0..words.len() {
                let mut naive = Vec::new();
                for end in start + 1..=words.len().min(start + MAX_PHRASE_WORDS) {
                    let last = words[end - 1].as_bytes();
                    for cut in 1..last.len() {
                        if is_designation_boundary(last[cut - 1], last[cut]) {
                            let mut phrase = words[start..end - 1].to_vec();
                            phrase.push(words[end - 1][..cut].to_owned());
                            if keys.contains(&phrase.join(" ")) {
                                naive.push((end, Some(cut)));
                            }
                        }
                    }
                    if keys.contains(&words[start..end].join(" ")) {
                        naive.push((end, None));
                    }
                }
                let found: Vec<(usize, Option<usize>)> = d.ends_at(&words, start, true).into_iter().map(|e| (e.end, e.partial)).collect();
                prop_assert_eq!(found, naive);
            }
        }


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
