//! Governed vocabularies of constraint values: materials (`schema/glossary/materials.ndjson`) and
//! certifications (`schema/glossary/certifications.ndjson`), each a tree of entries (a family and
//! its grades, a scheme and its scopes) with labels and aliases in French and English, compiled
//! to one FST and matched the same way in queries and in company records.
//!
//! One NDJSON line per entry: `{"id", "parent"?, "label", "label_en"?, "aliases"?,
//! "aliases_en"?, "cn"?, "excludes"?}`. A child's id starts with its family's (`inox.316l` under
//! `inox.316` under `inox`), and a parent comes before its children. `cn` lists Combined Nomenclature headings (the
//! provenance of a material family); `excludes` lists phrases that contain the entry's words
//! without naming it ("zinc-nickel" is a plating, not zinc): they are matched like aliases and
//! yield nothing, so their words name no entry.
//!
//! Matching. Names are keyed by [`Analyzer::phrase_key`] (French pipeline, like the glossary),
//! and a text is walked leftmost-longest word by word. Two rules keep the stems honest:
//! - the stem finds candidates, the written word confirms them: each word must be the alias's
//!   word up to a plural or feminine ending ([`same_word`]), so "composition" (stem "composit")
//!   is not "composite" and "cuivrage" (a plating, stem "cuivr") is not "cuivre";
//! - a designation may end inside a word where a digit meets a letter ("AS9100D", "9100D",
//!   "AlSi7Mg0,3"), see [`PhraseDict::ends_at`]. Names with digits are also keyed with their
//!   words run together ("ISO 9001" → "ISO9001", "Ti-6Al-4V" → "Ti6Al4V").
//!
//! A match made only of numbers is dropped before a unit ("316 pièces", "9100 mm"): that is a
//! quantity. A match whose last words begin a longer name of its family runs on to that name's
//! end ("304L stainless steel" is one grade, "qualifié NADCAP contrôle non destructif" one scope).

use std::collections::HashMap;

use serde::Deserialize;

use super::{MAX_PHRASE_WORDS, PhraseDict};
use crate::analysis::{Analyzer, Language, Token};

/// Folded words after which a number is a quantity, never a designation or a place code.
pub const UNIT_WORDS: &[&str] = &[
    "an",
    "ans",
    "axe",
    "axes",
    "bar",
    "bars",
    "c",
    "centimetre",
    "centimetres",
    "cm",
    "degre",
    "degres",
    "ex",
    "exemplaire",
    "exemplaires",
    "g",
    "h",
    "heure",
    "heures",
    "jour",
    "jours",
    "kg",
    "kilo",
    "kilos",
    "km",
    "kw",
    "litre",
    "litres",
    "lot",
    "lots",
    "m",
    "m2",
    "m3",
    "metre",
    "metres",
    "micron",
    "microns",
    "millimetre",
    "millimetres",
    "min",
    "minutes",
    "mm",
    "mois",
    "mpa",
    "piece",
    "pieces",
    "pcs",
    "semaine",
    "semaines",
    "t",
    "tonne",
    "tonnes",
    "unite",
    "unites",
    "um",
    "w",
];

/// Whether a folded word is a unit ("mm", "pièces", "jours").
pub fn is_unit_word(folded: &str) -> bool {
    UNIT_WORDS.contains(&folded)
}

/// One entry of a vocabulary file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Dotted id; below a family, the family's id and a dot (`inox.316l`).
    pub id: String,
    #[serde(default)]
    pub parent: Option<String>,
    /// French label.
    pub label: String,
    #[serde(default)]
    pub label_en: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub aliases_en: Vec<String>,
    /// Combined Nomenclature codes (4, 6 or 8 digits) the entry corresponds to.
    #[serde(default)]
    pub cn: Vec<String>,
    /// Phrases holding the entry's words that do not name it.
    #[serde(default)]
    pub excludes: Vec<String>,
}

/// An entry named in a text: its index and the tokens it covers (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VocabularyHit {
    pub entry: usize,
    pub first_token: usize,
    pub last_token: usize,
}

/// A compiled vocabulary.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
    parent: Vec<Option<usize>>,
    dict: PhraseDict,
    variants: Vec<Variant>,
}

/// One way of writing an entry (or an excluded phrase), as the FST's payload.
#[derive(Debug, Clone)]
struct Variant {
    /// `None` for an excluded phrase.
    entry: Option<usize>,
    /// The folded content words, as written in the name.
    words: Vec<String>,
    /// The stopword written just before the first content word ("en" of "EN 9100"): when the
    /// text has it too, the match covers it.
    lead: Option<String>,
}

/// A line of a vocabulary file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: field {field}: {message}")]
pub struct LineError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// Why a vocabulary could not be loaded: every problem, each with its line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file} is invalid:\n{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct VocabularyError {
    pub file: String,
    pub errors: Vec<LineError>,
}

impl Vocabulary {
    /// Reads a vocabulary from NDJSON (`file` names it in errors), checks every line and the
    /// tree, and compiles the FST.
    pub fn from_ndjson(file: &str, text: &str) -> Result<Vocabulary, VocabularyError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut parent: Vec<Option<usize>> = Vec::new();
        let mut errors = Vec::new();
        let analyzer = Analyzer::new(Language::French);
        let mut keyed: Vec<(String, u32)> = Vec::new();
        let mut variants: Vec<Variant> = Vec::new();
        for (line_idx, line) in text.lines().enumerate() {
            let line_no = line_idx as u64 + 1;
            let error = |field: &str, message: String| LineError { line: line_no, field: field.to_owned(), message };
            if line.trim().is_empty() {
                continue;
            }
            let entry: Entry = match serde_json::from_str(line) {
                Ok(entry) => entry,
                Err(err) => {
                    errors.push(error("(line)", err.to_string()));
                    continue;
                }
            };
            let before = errors.len();
            let well_formed_id = !entry.id.is_empty()
                && entry.id.split('.').all(|part| {
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                });
            if !well_formed_id {
                errors.push(error("id", format!("{:?} is not dotted lowercase ASCII words", entry.id)));
            }
            if by_id.contains_key(&entry.id) {
                errors.push(error("id", format!("{:?} is defined twice", entry.id)));
            }
            let parent_idx = match &entry.parent {
                None if entry.id.contains('.') => {
                    errors.push(error("parent", format!("{:?} has a dotted id but no parent", entry.id)));
                    None
                }
                None => None,
                Some(parent_id) => match by_id.get(parent_id) {
                    Some(&idx) => {
                        let family =
                            &entries[std::iter::successors(Some(idx), |&i| parent[i]).last().unwrap_or(idx)].id;
                        if !entry.id.strip_prefix(family.as_str()).is_some_and(|rest| rest.starts_with('.')) {
                            errors.push(error(
                                "id",
                                format!("{:?} does not start with its family's id {family:?}", entry.id),
                            ));
                        }
                        Some(idx)
                    }
                    None => {
                        errors.push(error("parent", format!("{parent_id:?} is not defined on an earlier line")));
                        None
                    }
                },
            };
            if entry.label.trim().is_empty() {
                errors.push(error("label", "is empty".to_owned()));
            }
            for code in &entry.cn {
                if !matches!(code.len(), 4 | 6 | 8) || !code.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(error("cn", format!("{code:?} is not a CN code of 4, 6 or 8 digits")));
                }
            }
            let idx = entries.len();
            let names = [("label", &entry.label)]
                .into_iter()
                .chain(entry.label_en.iter().map(|name| ("label_en", name)))
                .chain(entry.aliases.iter().map(|name| ("aliases", name)))
                .chain(entry.aliases_en.iter().map(|name| ("aliases_en", name)))
                .map(|(field, name)| (field, name, Some(idx)))
                .chain(entry.excludes.iter().map(|name| ("excludes", name, None)));
            let mut entry_variants = Vec::new();
            for (field, name, target) in names {
                let spellings = spellings(&analyzer, name);
                if spellings.is_empty() {
                    errors.push(error(field, format!("{name:?} has no word to match")));
                    continue;
                }
                for (key, variant) in spellings {
                    if key.split(' ').count() > MAX_PHRASE_WORDS {
                        errors.push(error(field, format!("{name:?} has more than {MAX_PHRASE_WORDS} words")));
                        break;
                    }
                    entry_variants.push((key, Variant { entry: target, ..variant }));
                }
            }
            if errors.len() > before {
                continue;
            }
            for (key, variant) in entry_variants {
                keyed.push((key, variants.len() as u32));
                variants.push(variant);
            }
            by_id.insert(entry.id.clone(), idx);
            parent.push(parent_idx);
            entries.push(entry);
        }
        if !errors.is_empty() {
            return Err(VocabularyError { file: file.to_owned(), errors });
        }
        Ok(Vocabulary { entries, by_id, parent, dict: PhraseDict::build(keyed), variants })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, idx: usize) -> &Entry {
        &self.entries[idx]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn parent(&self, idx: usize) -> Option<usize> {
        self.parent[idx]
    }

    /// The entry and its ancestors, nearest first.
    pub fn lineage(&self, idx: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(idx), |&current| self.parent[current])
    }

    /// Whether `ancestor` is a proper ancestor of `idx`.
    pub fn is_ancestor(&self, ancestor: usize, idx: usize) -> bool {
        self.lineage(idx).skip(1).any(|a| a == ancestor)
    }

    /// The family an entry belongs to: its root.
    pub fn root(&self, idx: usize) -> usize {
        self.lineage(idx).last().expect("the lineage starts with the entry")
    }

    /// Entries named in `text` (analysed with the French pipeline), in order.
    pub fn find_in_text(&self, text: &str) -> Vec<VocabularyHit> {
        let tokens = Analyzer::new(Language::French).analyze(text);
        self.find(&tokens, |_| true)
    }

    /// Entries named in analysed text, leftmost-longest. `usable(i)` says whether token `i` may be
    /// part of a match; an unusable word separates the text into stretches matched apart.
    pub fn find(&self, tokens: &[Token], usable: impl Fn(usize) -> bool) -> Vec<VocabularyHit> {
        let mut hits = Vec::new();
        let mut run: Vec<usize> = Vec::new();
        for idx in 0..=tokens.len() {
            let breaks = idx == tokens.len() || !usable(idx);
            if !breaks && !tokens[idx].is_stopword() {
                run.push(idx);
            }
            if breaks && !run.is_empty() {
                self.find_in_run(tokens, &run, &usable, &mut hits);
                run.clear();
            }
        }
        hits
    }

    /// Leftmost-longest over one stretch of content tokens (`run` holds their indices). A match
    /// whose last words begin a longer name of its own family runs on to that name's end: in
    /// "304L stainless steel" the grade "304L stainless" and the family "stainless steel" overlap,
    /// and "steel" is the family's word, not carbon steel; in "qualifié NADCAP contrôle non
    /// destructif" the scheme's "qualifié NADCAP" and its scope's "NADCAP contrôle non destructif"
    /// overlap, and the whole is the scope.
    fn find_in_run(
        &self,
        tokens: &[Token],
        run: &[usize],
        usable: &impl Fn(usize) -> bool,
        hits: &mut Vec<VocabularyHit>,
    ) {
        let stems: Vec<&str> = run.iter().map(|&i| tokens[i].stem.as_deref().unwrap_or("")).collect();
        let mut pos = 0;
        while pos < run.len() {
            let Some((end, confirmed)) = self.longest_at(tokens, run, &stems, pos) else {
                pos += 1;
                continue;
            };
            let entries: Vec<usize> = confirmed.iter().filter_map(|v| v.entry).collect();
            let (mut longest_end, mut confirmed) = (end, confirmed);
            for inner in pos + 1..end {
                let Some((inner_end, inner_confirmed)) = self.longest_at(tokens, run, &stems, inner) else { continue };
                if inner_end <= longest_end {
                    continue;
                }
                let inner_entries: Vec<usize> = inner_confirmed.iter().filter_map(|v| v.entry).collect();
                let is_family = |a: usize, b: usize| a == b || self.is_ancestor(a, b);
                let is_scope = |i: usize| entries.iter().any(|&e| self.is_ancestor(e, i));
                if inner_entries.iter().any(|&i| entries.iter().any(|&e| is_family(i, e))) {
                    // "304L stainless" + "stainless steel": the grade, over its family's words.
                    longest_end = inner_end;
                } else if inner_entries.iter().any(|&i| is_scope(i)) {
                    // "qualifié NADCAP" + "NADCAP contrôle non destructif": the scope, from the start.
                    longest_end = inner_end;
                    confirmed = inner_confirmed.into_iter().filter(|v| v.entry.is_some_and(is_scope)).collect();
                }
            }
            let end = longest_end;
            let first = run[pos];
            let last_token = run[end - 1];
            let n_before = hits.len();
            for variant in &confirmed {
                let Some(entry) = variant.entry else { continue };
                let lead_present = first > 0
                    && usable(first - 1)
                    && variant.lead.as_deref().is_some_and(|lead| tokens[first - 1].folded == lead);
                let first_token = if lead_present { first - 1 } else { first };
                // One hit per entry: the widest of its spellings ("EN ISO 9001" over "ISO 9001").
                match hits[n_before..].iter_mut().find(|h| h.entry == entry) {
                    Some(hit) => hit.first_token = hit.first_token.min(first_token),
                    None => hits.push(VocabularyHit { entry, first_token, last_token }),
                }
            }
            pos = end;
        }
    }

    /// The longest name starting at `run[pos]` that the written words confirm: where it ends
    /// (in `run`) and its variants.
    fn longest_at(
        &self,
        tokens: &[Token],
        run: &[usize],
        stems: &[&str],
        pos: usize,
    ) -> Option<(usize, Vec<&Variant>)> {
        for end in self.dict.ends_at(stems, pos, true).into_iter().rev() {
            let words = &run[pos..end.end];
            let last = tokens[words[words.len() - 1]].folded.as_str();
            let last_written = match end.partial {
                // The stem of a cut word must be its folded form for the cut to be meaningful.
                Some(cut) if stems[end.end - 1] == last => &last[..cut],
                Some(_) => continue,
                None => last,
            };
            let written = |n: usize| if n + 1 == words.len() { last_written } else { tokens[words[n]].folded.as_str() };
            let quantity = end.partial.is_none()
                && words.iter().all(|&i| tokens[i].folded.bytes().all(|b| b.is_ascii_digit()))
                && tokens.get(words[words.len() - 1] + 1).is_some_and(|next| is_unit_word(&next.folded));
            if quantity {
                continue;
            }
            let confirmed: Vec<&Variant> = end
                .payloads
                .iter()
                .map(|&v| &self.variants[v as usize])
                .filter(|variant| {
                    variant.words.len() == words.len()
                        && variant.words.iter().enumerate().all(|(n, word)| same_word(written(n), word))
                })
                .collect();
            if !confirmed.is_empty() {
                return Some((end.end, confirmed));
            }
        }
        None
    }

    /// Drops every hit whose entry is an ancestor of another hit's entry (a grade implies its
    /// family) and repeated entries; a family written just before its own grade ("titane TA6V",
    /// "EN 1090 EXC2"), or an entry said twice in a row ("silicone LSR"), makes one hit. Hits stay
    /// in text order.
    pub fn most_specific(&self, tokens: &[Token], hits: &[VocabularyHit]) -> Vec<VocabularyHit> {
        let only_stopwords_between = |before: &VocabularyHit, after: &VocabularyHit| {
            tokens[before.last_token + 1..after.first_token].iter().all(Token::is_stopword)
        };
        let mut kept: Vec<VocabularyHit> = Vec::new();
        for hit in hits {
            let superseded = hits.iter().any(|other| self.is_ancestor(hit.entry, other.entry));
            if superseded {
                continue;
            }
            if let Some(same) = kept.iter_mut().find(|k| k.entry == hit.entry) {
                // Said again right after ("silicone LSR", "POM polyacétal"): one span.
                if same.last_token < hit.first_token && only_stopwords_between(same, hit) {
                    same.last_token = hit.last_token;
                }
                continue;
            }
            let mut hit = *hit;
            // An ancestor right before it (only stopwords between) joins it.
            if let Some(ancestor) = hits.iter().find(|a| {
                a.last_token < hit.first_token
                    && self.is_ancestor(a.entry, hit.entry)
                    && only_stopwords_between(a, &hit)
            }) {
                hit.first_token = ancestor.first_token;
            }
            kept.push(hit);
        }
        kept
    }

    /// The entries named in `texts` and all their ancestors, as sorted unique ids.
    pub fn tag_all<'t>(&self, texts: impl IntoIterator<Item = &'t str>) -> Vec<String> {
        let mut found = vec![false; self.entries.len()];
        for text in texts {
            for hit in self.find_in_text(text) {
                for idx in self.lineage(hit.entry) {
                    found[idx] = true;
                }
            }
        }
        let mut ids: Vec<String> =
            found.iter().enumerate().filter(|&(_, &f)| f).map(|(idx, _)| self.entries[idx].id.clone()).collect();
        ids.sort_unstable();
        ids
    }
}

/// The ways a name is keyed: as written and, when it has digits and several words, run together
/// ("ISO 9001" → "iso9001"). Each is `(key, variant)`; the variant's entry is set by the caller.
fn spellings(analyzer: &Analyzer, name: &str) -> Vec<(String, Variant)> {
    let mut out: Vec<(String, Variant)> = Vec::new();
    let mut add = |text: &str| {
        let tokens = analyzer.analyze(text);
        let Some(first_content) = tokens.iter().position(|t| !t.is_stopword()) else { return };
        let key = analyzer.phrase_key(text);
        let words: Vec<String> = tokens.iter().filter(|t| !t.is_stopword()).map(|t| t.folded.clone()).collect();
        let lead = first_content.checked_sub(1).map(|i| tokens[i].folded.clone());
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, Variant { entry: None, words, lead }));
        }
    };
    add(name);
    let spans: Vec<(usize, usize)> = crate::analysis::word_spans(name).collect();
    let joined: String = spans.iter().map(|&(start, end)| &name[start..end]).collect();
    let has_digit = joined.bytes().any(|b| b.is_ascii_digit());
    let all_digits = joined.bytes().all(|b| b.is_ascii_digit());
    if (2..=4).contains(&spans.len()) && has_digit && !all_digits {
        add(&joined);
    }
    out
}

/// Whether a written word is the vocabulary's word up to an inflection: the same once a final
/// "s" or "x" (not "ss") and then final "e"s are dropped ("aciers" = "acier", "galvanisées" =
/// "galvanisé", "élastomères" = "elastomer", but "composition" ≠ "composite").
pub fn same_word(written: &str, word: &str) -> bool {
    fn base(word: &str) -> &str {
        let mut base = word;
        if base.len() > 3 && (base.ends_with('x') || (base.ends_with('s') && !base.ends_with("ss"))) {
            base = &base[..base.len() - 1];
        }
        while base.len() > 3 && base.ends_with('e') {
            base = &base[..base.len() - 1];
        }
        base
    }
    written == word || base(written) == base(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"id":"titane","label":"Titane","label_en":"Titanium","aliases":["alliage de titane"],"cn":["8108"]}
{"id":"titane.ta6v","parent":"titane","label":"TA6V","aliases":["Ti-6Al-4V","grade 5"]}
{"id":"cuivre","label":"Cuivre","excludes":["cuivre-phosphore"]}
{"id":"en9100","label":"EN 9100","aliases_en":["AS9100"]}
{"id":"composite","label":"Composite","aliases":["composites"]}
"#;

    fn small() -> Vocabulary {
        Vocabulary::from_ndjson("small.ndjson", SMALL).unwrap()
    }

    fn ids(vocabulary: &Vocabulary, text: &str) -> Vec<String> {
        vocabulary.find_in_text(text).into_iter().map(|h| vocabulary.entry(h.entry).id.clone()).collect()
    }

    #[test]
    fn aliases_spellings_and_words() {
        let v = small();
        assert_eq!(ids(&v, "usinage TA6V"), ["titane.ta6v"]);
        assert_eq!(ids(&v, "Ti6Al4V"), ["titane.ta6v"]);
        assert_eq!(ids(&v, "ti-6al-4v et alliages de titane"), ["titane.ta6v", "titane"]);
        assert_eq!(ids(&v, "certifié EN 9100:2018"), ["en9100"]);
        assert_eq!(ids(&v, "AS9100D"), ["en9100"]);
        assert_eq!(ids(&v, "as 9100d"), ["en9100"]);
        // Same stem, another word: not the entry.
        assert_eq!(ids(&v, "composition"), Vec::<String>::new());
        assert_eq!(ids(&v, "pièces composites"), ["composite"]);
        // An excluded phrase names nothing.
        assert_eq!(ids(&v, "brasage cuivre-phosphore"), Vec::<String>::new());
        assert_eq!(ids(&v, "tube cuivre"), ["cuivre"]);
        // A number before a unit is a quantity.
        assert_eq!(ids(&v, "lot de 9100 pièces"), Vec::<String>::new());
    }

    #[test]
    fn a_leading_stopword_of_the_name_joins_the_match() {
        let v = small();
        let text = "certifié EN 9100";
        let tokens = Analyzer::new(Language::French).analyze(text);
        let hits = v.find(&tokens, |_| true);
        assert_eq!(&text[tokens[hits[0].first_token].start..tokens[hits[0].last_token].end], "EN 9100");
    }

    #[test]
    fn a_grade_supersedes_its_family_and_joins_it_when_adjacent() {
        let v = small();
        for (text, expected) in [("titane TA6V", "titane TA6V"), ("titane de grade 5", "titane de grade 5")] {
            let tokens = Analyzer::new(Language::French).analyze(text);
            let hits = v.most_specific(&tokens, &v.find(&tokens, |_| true));
            assert_eq!(hits.len(), 1, "{text}");
            assert_eq!(v.entry(hits[0].entry).id, "titane.ta6v");
            assert_eq!(&text[tokens[hits[0].first_token].start..tokens[hits[0].last_token].end], expected);
        }
        assert_eq!(v.tag_all(["titane TA6V", "cuivre"]), ["cuivre", "titane", "titane.ta6v"]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_line() {
        let bad = concat!(
            "{\"id\":\"a\",\"label\":\"Alpha\"}\n",
            "{\"id\":\"b.c\",\"parent\":\"b\",\"label\":\"Gamma\"}\n",
            "{\"id\":\"a\",\"label\":\"Alpha again\"}\n",
            "{\"id\":\"d\",\"label\":\"Delta\",\"cn\":[\"12x\"]}\n",
            "{\"id\":\"e\",\"label\":\"le la\"}\n",
            "not json\n",
            "{\"id\":\"a.x\",\"parent\":\"a\",\"label\":\"Xi\",\"colour\":1}\n",
            "{\"id\":\"f\",\"parent\":\"a\",\"label\":\"Phi\"}\n",
        );
        let err = Vocabulary::from_ndjson("bad.ndjson", bad).unwrap_err();
        let lines: Vec<(u64, &str)> = err.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(lines, [(2, "parent"), (3, "id"), (4, "cn"), (5, "label"), (6, "(line)"), (7, "(line)"), (8, "id")]);
        assert!(err.to_string().starts_with("bad.ndjson is invalid:\nline 2: field parent:"), "{err}");
    }

    #[test]
    fn inflections() {
        for (a, b) in
            [("aciers", "acier"), ("galvanisees", "galvanise"), ("elastomeres", "elastomer"), ("alliages", "alliage")]
        {
            assert!(same_word(a, b), "{a} {b}");
        }
        for (a, b) in [("composition", "composite"), ("cuivrage", "cuivre"), ("bras", "brass")] {
            assert!(!same_word(a, b), "{a} {b}");
        }
    }
}
