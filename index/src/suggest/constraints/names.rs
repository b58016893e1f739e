//! The names constraint completions offer: the materials' and certifications' labels and
//! aliases, the size phrases, each kept only when the interpreter reads it back as its own
//! constraint; and which of their words another follows (where a head may merge with a name).

use std::collections::{HashMap, HashSet};

use super::super::{Entry, Kind, SuggestIndex, normalise};
use super::constraint_id;
use crate::analysis::{Analyzer, Language};
use crate::dict::company_values::Vocabularies;
use crate::dict::vocabulary::Vocabulary;
use crate::interpret::{ConstraintKind, Interpreter};

/// Named sizes offered, as the interpreter reads them (`interpret/size.rs`).
const NAMED_SIZES: &[(&str, Language)] = &[
    ("PME", Language::French),
    ("TPE", Language::French),
    ("ETI", Language::French),
    ("PMI", Language::French),
    ("grand groupe", Language::French),
    ("grande entreprise", Language::French),
    ("moyenne entreprise", Language::French),
    ("petite entreprise", Language::French),
    ("micro-entreprise", Language::French),
    ("SME", Language::English),
    ("mid-size company", Language::English),
    ("large company", Language::English),
    ("small business", Language::English),
];
/// Headcount comparators and nouns, and the thresholds offered: INSEE's band bounds.
const THRESHOLDS: &[(&str, &str, &[u32], Language)] = &[
    ("plus de", "salariés", &[10, 20, 50, 100, 250, 500, 1000, 5000], Language::French),
    ("moins de", "salariés", &[10, 20, 50, 100, 250, 500], Language::French),
    ("au moins", "salariés", &[10, 20, 50, 100, 250], Language::French),
    ("more than", "employees", &[10, 20, 50, 100, 250, 500, 1000, 5000], Language::English),
    ("over", "employees", &[10, 20, 50, 100, 250, 500, 1000, 5000], Language::English),
    ("fewer than", "employees", &[10, 20, 50, 100, 250, 500], Language::English),
    ("less than", "employees", &[10, 20, 50, 100, 250, 500], Language::English),
    ("under", "employees", &[10, 20, 50, 100, 250, 500], Language::English),
];
/// Weight of a size name (a named size or a threshold).
const SIZE_WEIGHT: f32 = 0.8;

/// What a name of the index stands for, besides its entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct NameInfo {
    pub(super) kind: ConstraintKind,
    /// Normalised bytes the tail must hold for the name to be offered.
    pub(super) min_typed: usize,
}

/// The names of one language (designations such as "EN 9100" or "316L" are in both), so that
/// a head's own language gets its best names whatever the other language holds.
pub(super) struct Names {
    pub(super) index: SuggestIndex,
    pub(super) info: Vec<NameInfo>,
    /// Per entry, the stem of its first word (French pipeline, as vocabularies are keyed).
    pub(super) first_stems: Vec<String>,
}

impl Names {
    fn build(names: Vec<(Entry, NameInfo)>) -> Names {
        let analyzer = Analyzer::new(Language::French);
        let first_stems = names
            .iter()
            .map(|(entry, _)| analyzer.phrase_key(&entry.text).split(' ').next().unwrap_or_default().to_owned())
            .collect();
        let (entries, info) = names.into_iter().unzip();
        Names { index: SuggestIndex::build_from_start(entries), info, first_stems }
    }
}

pub(super) fn language_slot(language: Language) -> usize {
    match language {
        Language::French => 0,
        Language::English => 1,
    }
}

/// The names of both languages, and those left out (name, why).
pub(super) fn all_names(interpreter: &Interpreter) -> ([Names; 2], Vec<(String, String)>) {
    let mut by_language: [Vec<(Entry, NameInfo)>; 2] = Default::default();
    let mut dropped = Vec::new();
    let mut add = |text: String, id: String, weight: f32, language: Option<Language>, info: NameInfo| {
        let slots = match language {
            Some(language) => vec![language_slot(language)],
            None => vec![0, 1],
        };
        for slot in slots {
            let entry = Entry { text: text.clone(), kind: Kind::Constraint, id: Some(id.clone()), weight };
            by_language[slot].push((entry, info));
        }
    };
    let vocabularies = interpreter.vocabularies();
    for (vocabulary, kind) in [
        (&vocabularies.materials, ConstraintKind::Material),
        (&vocabularies.certifications, ConstraintKind::Certification),
    ] {
        for (name, id, weight, language) in vocabulary_names(vocabulary, kind) {
            match reads_back(interpreter, &name, kind, &id) {
                Ok(()) => add(name, id, weight, language, NameInfo { kind, min_typed: 0 }),
                Err(reason) => {
                    tracing::debug!(%name, %id, %reason, "constraint name left out of typeahead: read otherwise");
                    dropped.push((name, reason));
                }
            }
        }
    }
    for (name, language, min_typed) in size_names() {
        let interpretation = interpreter.interpret(&name);
        match interpretation.constraints.as_slice() {
            [only] if only.constraint.kind() == ConstraintKind::Size => {
                let id = constraint_id(&only.constraint);
                add(name, id, SIZE_WEIGHT, Some(language), NameInfo { kind: ConstraintKind::Size, min_typed });
            }
            other => dropped.push((name, format!("read as {} constraints", other.len()))),
        }
    }
    let [french, english] = by_language;
    ([Names::build(french), Names::build(english)], dropped)
}

/// Which stems of the materials' and certifications' names of several words (excluded phrases
/// included) another stem follows: a head ending with the first and a name starting with the
/// second may be read as one longer name ("alliage à base de" + "nickel silver" is "alliage à
/// base de nickel" then "silver").
#[derive(Debug, Default)]
pub(super) struct Joining {
    next: HashMap<String, HashSet<String>>,
}

impl Joining {
    pub(super) fn build(vocabularies: &Vocabularies) -> Joining {
        let analyzer = Analyzer::new(Language::French);
        let mut next: HashMap<String, HashSet<String>> = HashMap::new();
        for vocabulary in [&vocabularies.materials, &vocabularies.certifications] {
            for entry in vocabulary.entries() {
                let names = std::iter::once(&entry.label)
                    .chain(&entry.label_en)
                    .chain(&entry.aliases)
                    .chain(&entry.aliases_en)
                    .chain(&entry.excludes);
                for name in names {
                    let key = analyzer.phrase_key(name);
                    let words: Vec<&str> = key.split(' ').collect();
                    for pair in words.windows(2) {
                        next.entry(pair[0].to_owned()).or_default().insert(pair[1].to_owned());
                    }
                }
            }
        }
        Joining { next }
    }

    /// Whether a name starting with the stem `first` may be read as part of a longer name after
    /// a head whose last content word has the stem `last`. A designation may end where a digit
    /// meets a letter ("9100" of "9100D"), so `first` cut there counts too.
    pub(super) fn may_join(&self, last: Option<&str>, first: &str) -> bool {
        let Some(next) = last.and_then(|last| self.next.get(last)) else { return false };
        let cut = first
            .char_indices()
            .zip(first.chars().skip(1))
            .find(|((_, a), b)| a.is_ascii_digit() != b.is_ascii_digit())
            .map(|((at, a), _)| &first[..at + a.len_utf8()]);
        std::iter::once(first).chain(cut).any(|stem| next.contains(stem))
    }
}

/// Whether the interpreter reads `name` alone as exactly the constraint `(kind, id)`; else why
/// not.
fn reads_back(interpreter: &Interpreter, name: &str, kind: ConstraintKind, id: &str) -> Result<(), String> {
    let interpretation = interpreter.interpret(name);
    match interpretation.constraints.as_slice() {
        [only] if only.constraint.kind() == kind && constraint_id(&only.constraint) == id => Ok(()),
        found => Err(format!(
            "read as [{}]",
            found
                .iter()
                .map(|c| format!("{}:{}", c.constraint.kind().as_str(), constraint_id(&c.constraint)))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Every name of a vocabulary's entries as `(name shown, id, weight, language)`: a family before
/// its grades, the label before the aliases, the query's language before the other (`None`: a
/// designation, the same in both). A certification's English label is a description
/// ("ISO 9001 quality management"), not a name: left out.
fn vocabulary_names(vocabulary: &Vocabulary, kind: ConstraintKind) -> Vec<(String, String, f32, Option<Language>)> {
    let mut out = Vec::new();
    let has_children: HashSet<usize> = (0..vocabulary.len()).filter_map(|idx| vocabulary.parent(idx)).collect();
    for (idx, entry) in vocabulary.entries().iter().enumerate() {
        // The more general, the likelier meant: a family, its grades, then deeper grades, those
        // with grades of their own first ("Inconel" before "Inconel 718").
        let depth_weight = match (vocabulary.lineage(idx).count(), has_children.contains(&idx)) {
            (1, _) => 1.0,
            (2, _) => 0.85,
            (_, true) => 0.8,
            (_, false) => 0.7,
        };
        let label_en = if kind == ConstraintKind::Material { entry.label_en.as_ref() } else { None };
        let names = std::iter::once((&entry.label, 1.0, Language::French))
            .chain(label_en.map(|l| (l, 1.0, Language::English)))
            .chain(entry.aliases.iter().map(|a| (a, 0.9, Language::French)))
            .chain(entry.aliases_en.iter().map(|a| (a, 0.9, Language::English)));
        let mut seen: Vec<String> = Vec::new();
        for (name, weight, language) in names {
            let shown = if kind == ConstraintKind::Material { common_noun(name) } else { name.clone() };
            let key = normalise(&shown).0;
            if key.is_empty() || seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let language = if is_designation(&shown) { None } else { Some(language) };
            out.push((shown, entry.id.clone(), depth_weight * weight, language));
        }
    }
    out
}

/// Whether a name is the same in French and English: none of its words is a lowercase word of
/// four letters or more ("EN 9100", "NADCAP", "316L", "Ti-6Al-4V"; not "titanium grade 2" nor
/// "Pressure Equipment Directive").
fn is_designation(name: &str) -> bool {
    !name
        .split(|c: char| !c.is_alphabetic())
        .any(|word| word.chars().count() >= 4 && word.chars().any(char::is_lowercase))
}

/// A material name as written in a query: a capitalised common word in lower case ("Titane" →
/// "titane", "Acier inoxydable" → "acier inoxydable"), designations as they are ("TA6V",
/// "Ti-6Al-4V", "PEEK").
fn common_noun(name: &str) -> String {
    let first_word: &str = name.split(|c: char| !c.is_alphabetic()).next().unwrap_or("");
    let mut chars = first_word.chars();
    let capitalised = chars.next().is_some_and(char::is_uppercase)
        && first_word.chars().count() >= 3
        && chars.all(char::is_lowercase);
    if !capitalised {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name.chars();
    if let Some(first) = rest.next() {
        out.extend(first.to_lowercase());
    }
    out.extend(rest);
    out
}

/// The size names: `(name, language, normalised bytes of its comparator that must be typed)`.
fn size_names() -> Vec<(String, Language, usize)> {
    let mut out: Vec<(String, Language, usize)> =
        NAMED_SIZES.iter().map(|&(name, language)| (name.to_owned(), language, 0)).collect();
    for &(comparator, noun, thresholds, language) in THRESHOLDS {
        for threshold in thresholds {
            out.push((format!("{comparator} {threshold} {noun}"), language, comparator.len()));
        }
    }
    out
}
