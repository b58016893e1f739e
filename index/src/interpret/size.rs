//! Company size in a query, French or English: "plus de 50 salariés", "entre 20 et 100
//! personnes", "50 salariés et plus", "PME", "ETI", "grand groupe", "over 200 employees",
//! "fewer than 20 staff", "SME", "mid-size" → a range of employees ([`SizeRange`]).
//!
//! "Plus de N" reads as N or more and "moins de N" as N − 1 or fewer, as INSEE's categories do
//! ("50 salariés ou plus", "moins de 50 salariés"): headcounts are known only as bands whose
//! bounds are these thresholds.
//!
//! A named size glued by a hyphen to another word ("TPE-E", a material grade) is not a size.
//!
//! A number is a headcount only with a headcount word after it ("salariés", "employees",
//! "personnes"…) or "effectif"/"headcount" before it: "plus de 50 pièces" is a quantity, and a
//! size phrase is read before places, so its number is never a département code.

use super::constraints::SizeRange;
use crate::analysis::Token;
use crate::dict::vocabulary::same_word;

/// A size phrase: its range, a label, and the tokens it covers (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SizeHit {
    pub range: SizeRange,
    pub label: String,
    pub first_token: usize,
    pub last_token: usize,
}

/// Words that make a number a headcount (folded, compared up to plural and feminine endings).
const HEADCOUNT_NOUNS: &[&str] = &[
    "collaborateur",
    "collaboratrice",
    "emploi",
    "employe",
    "employee",
    "etp",
    "fte",
    "ouvrier",
    "people",
    "person",
    "personne",
    "personnel",
    "salarie",
    "staff",
    "worker",
];
/// Words before a comparator that make what follows a headcount ("effectif de plus de 50").
const HEADCOUNT_SUBJECTS: &[&str] = &["effectif", "effectifs", "headcount", "workforce"];

/// How a comparator bounds the number after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// More than N, read as N or more: headcounts are only known as INSEE bands, whose bounds
    /// are the thresholds buyers write, and "plus de 50 salariés" is INSEE's "50 salariés ou
    /// plus" (the band 50–99 meets it).
    Above,
    /// At least N.
    AtLeast,
    /// Fewer than N: at most N − 1.
    Below,
    /// At most N.
    AtMost,
}

/// Comparators before a number, longest first where one extends another.
const COMPARATORS: &[(&[&str], Bound)] = &[
    (&["de", "plus", "de"], Bound::Above),
    (&["plus", "de"], Bound::Above),
    (&["au", "dela", "de"], Bound::Above),
    (&["superieur", "a"], Bound::Above),
    (&["superieure", "a"], Bound::Above),
    (&["more", "than"], Bound::Above),
    (&["greater", "than"], Bound::Above),
    (&["over"], Bound::Above),
    (&["above"], Bound::Above),
    (&["pas", "moins", "de"], Bound::AtLeast),
    (&["au", "moins"], Bound::AtLeast),
    (&["a", "partir", "de"], Bound::AtLeast),
    (&["minimum"], Bound::AtLeast),
    (&["min"], Bound::AtLeast),
    (&["at", "least"], Bound::AtLeast),
    (&["no", "fewer", "than"], Bound::AtLeast),
    (&["no", "less", "than"], Bound::AtLeast),
    (&["de", "moins", "de"], Bound::Below),
    (&["moins", "de"], Bound::Below),
    (&["inferieur", "a"], Bound::Below),
    (&["inferieure", "a"], Bound::Below),
    (&["en", "dessous", "de"], Bound::Below),
    (&["fewer", "than"], Bound::Below),
    (&["less", "than"], Bound::Below),
    (&["under"], Bound::Below),
    (&["below"], Bound::Below),
    (&["pas", "plus", "de"], Bound::AtMost),
    (&["au", "plus"], Bound::AtMost),
    (&["au", "maximum"], Bound::AtMost),
    (&["jusqu", "a"], Bound::AtMost),
    (&["maximum"], Bound::AtMost),
    (&["max"], Bound::AtMost),
    (&["at", "most"], Bound::AtMost),
    (&["no", "more", "than"], Bound::AtMost),
    (&["up", "to"], Bound::AtMost),
];

/// Words after "N salariés" that bound it ("50 salariés et plus").
const SUFFIXES: &[(&[&str], Bound)] = &[
    (&["et", "plus"], Bound::AtLeast),
    (&["ou", "plus"], Bound::AtLeast),
    (&["au", "moins"], Bound::AtLeast),
    (&["minimum"], Bound::AtLeast),
    (&["min"], Bound::AtLeast),
    (&["or", "more"], Bound::AtLeast),
    (&["and", "more"], Bound::AtLeast),
    (&["and", "above"], Bound::AtLeast),
    (&["and", "over"], Bound::AtLeast),
    (&["at", "least"], Bound::AtLeast),
    (&["ou", "moins"], Bound::AtMost),
    (&["au", "plus"], Bound::AtMost),
    (&["maximum"], Bound::AtMost),
    (&["max"], Bound::AtMost),
    (&["or", "fewer"], Bound::AtMost),
    (&["or", "less"], Bound::AtMost),
    (&["at", "most"], Bound::AtMost),
];

/// A named size: its words, its name, its employees (inclusive).
type NamedSize = (&'static [&'static str], &'static str, Option<u32>, Option<u32>);

/// Named sizes (EU and INSEE categories: micro < 10, small < 50, SME < 250, mid-cap 250–4999,
/// large ≥ 5000), longest first where one extends another.
const NAMED: &[NamedSize] = &[
    (&["petite", "et", "moyenne", "entreprise"], "PME", None, Some(249)),
    (&["petites", "et", "moyennes", "entreprises"], "PME", None, Some(249)),
    (&["small", "and", "medium", "sized", "enterprises"], "SME", None, Some(249)),
    (&["small", "and", "medium", "sized", "enterprise"], "SME", None, Some(249)),
    (&["small", "and", "medium", "enterprises"], "SME", None, Some(249)),
    (&["small", "and", "medium", "businesses"], "SME", None, Some(249)),
    (&["tpe", "pme"], "TPE/PME", None, Some(249)),
    (&["pme", "pmi"], "PME", None, Some(249)),
    (&["pme"], "PME", None, Some(249)),
    (&["pmi"], "PMI", None, Some(249)),
    (&["sme"], "SME", None, Some(249)),
    (&["smes"], "SME", None, Some(249)),
    (&["tres", "petite", "entreprise"], "TPE", None, Some(9)),
    (&["tres", "petites", "entreprises"], "TPE", None, Some(9)),
    (&["tpe"], "TPE", None, Some(9)),
    (&["micro", "entreprise"], "micro-entreprise", None, Some(9)),
    (&["micro", "entreprises"], "micro-entreprise", None, Some(9)),
    (&["microentreprise"], "micro-entreprise", None, Some(9)),
    (&["micro", "enterprise"], "micro-enterprise", None, Some(9)),
    (&["micro", "business"], "micro-enterprise", None, Some(9)),
    (&["petite", "entreprise"], "petite entreprise", None, Some(49)),
    (&["petites", "entreprises"], "petite entreprise", None, Some(49)),
    (&["small", "business"], "small business", None, Some(49)),
    (&["small", "businesses"], "small business", None, Some(49)),
    (&["small", "company"], "small company", None, Some(49)),
    (&["small", "companies"], "small company", None, Some(49)),
    (&["moyenne", "entreprise"], "moyenne entreprise", Some(50), Some(249)),
    (&["moyennes", "entreprises"], "moyenne entreprise", Some(50), Some(249)),
    (&["entreprise", "de", "taille", "intermediaire"], "ETI", Some(250), Some(4999)),
    (&["entreprises", "de", "taille", "intermediaire"], "ETI", Some(250), Some(4999)),
    (&["eti"], "ETI", Some(250), Some(4999)),
    (&["mid", "sized"], "mid-size", Some(250), Some(4999)),
    (&["mid", "size"], "mid-size", Some(250), Some(4999)),
    (&["midsize"], "mid-size", Some(250), Some(4999)),
    (&["midsized"], "mid-size", Some(250), Some(4999)),
    (&["mid", "cap"], "mid-cap", Some(250), Some(4999)),
    (&["midcap"], "mid-cap", Some(250), Some(4999)),
    (&["mid", "market"], "mid-market", Some(250), Some(4999)),
    (&["grand", "groupe"], "grand groupe", Some(5000), None),
    (&["grands", "groupes"], "grand groupe", Some(5000), None),
    (&["grande", "entreprise"], "grande entreprise", Some(5000), None),
    (&["grandes", "entreprises"], "grande entreprise", Some(5000), None),
    (&["large", "company"], "large company", Some(5000), None),
    (&["large", "companies"], "large company", Some(5000), None),
    (&["large", "enterprise"], "large company", Some(5000), None),
    (&["large", "enterprises"], "large company", Some(5000), None),
    (&["large", "corporation"], "large company", Some(5000), None),
    (&["large", "corporations"], "large company", Some(5000), None),
];
/// Words a named size may take after it ("mid-size company", "SME suppliers" stop before it).
const COMPANY_WORDS: &[&str] =
    &["business", "businesses", "companies", "company", "enterprise", "enterprises", "firm", "firms"];

/// Largest headcount read from a query.
const MAX_HEADCOUNT: u32 = 10_000_000;

/// The size phrases of a query, in order, not overlapping.
pub(super) fn find_sizes(query: &str, tokens: &[Token]) -> Vec<SizeHit> {
    let mut hits = Vec::new();
    let mut idx = 0;
    while idx < tokens.len() {
        match size_at(query, tokens, idx) {
            Some(hit) => {
                idx = hit.last_token + 1;
                hits.push(hit);
            }
            None => idx += 1,
        }
    }
    hits
}

/// A size phrase that starts at `tokens[idx]`.
fn size_at(query: &str, tokens: &[Token], idx: usize) -> Option<SizeHit> {
    let words_at = |at: usize, words: &[&str]| -> bool {
        at + words.len() <= tokens.len() && words.iter().enumerate().all(|(n, w)| tokens[at + n].folded == *w)
    };
    let hit = |range: SizeRange, first: usize, last: usize| SizeHit {
        label: range.label(),
        range,
        first_token: first,
        last_token: last,
    };

    // A named size glued by a hyphen to a word outside it is part of another designation: the
    // thermoplastic elastomer grade "TPE-E" is no very small company.
    let hyphen_between = |before: usize, after: usize| {
        let between = &query[tokens[before].end..tokens[after].start];
        !between.is_empty() && between.chars().all(|c| matches!(c, '-' | '\u{2010}' | '\u{2011}'))
    };
    for &(words, name, min, max) in NAMED {
        if words_at(idx, words) {
            let mut last = idx + words.len() - 1;
            let glued = (idx > 0 && hyphen_between(idx - 1, idx))
                || (last + 1 < tokens.len() && hyphen_between(last, last + 1));
            if glued {
                continue;
            }
            if tokens.get(last + 1).is_some_and(|t| COMPANY_WORDS.contains(&t.folded.as_str())) {
                last += 1;
            }
            let range = SizeRange { min, max };
            return Some(SizeHit {
                label: format!("{name} ({})", range.label()),
                range,
                first_token: idx,
                last_token: last,
            });
        }
    }

    // "effectif de plus de 50", "headcount over 200": the headcount word may come first.
    let subject = HEADCOUNT_SUBJECTS.contains(&tokens[idx].folded.as_str());
    let start =
        if subject { idx + 1 + usize::from(words_at(idx + 1, &["de"]) || words_at(idx + 1, &["of"])) } else { idx };

    // Ranges: "entre 20 et 100 salariés", "de 10 à 50 personnes", "between 50 and 200 employees",
    // "from 10 to 50 staff", "20 à 100 salariés", "20-100 salariés".
    let opener = ["entre", "between", "de", "from"].iter().any(|w| words_at(start, &[w]));
    let first_number_at = if opener { start + 1 } else { start };
    if let Some((low, low_last)) = number_at(query, tokens, first_number_at) {
        let joined =
            ["et", "and", "a", "to"].iter().find(|w| words_at(low_last + 1, &[w])).map(|_| low_last + 2).or_else(
                || {
                    let next = tokens.get(low_last + 1)?;
                    let between = query[tokens[low_last].end..next.start].trim();
                    (between == "-" || between == "–" || between == "/").then_some(low_last + 1)
                },
            );
        if let Some((high, high_last)) = joined.and_then(|at| number_at(query, tokens, at))
            && let Some(noun_last) = headcount_noun_after(tokens, high_last, subject)
        {
            let (low, high) = (low.min(high), low.max(high));
            return Some(hit(SizeRange::new(Some(low), Some(high)), idx, noun_last));
        }
    }

    // Comparators: "plus de 50 salariés", "at least 100 people", "> 50 salariés".
    let comparator = COMPARATORS.iter().find(|(words, _)| words_at(start, words));
    let (bound, number_start) = match comparator {
        Some((words, bound)) => (Some(*bound), start + words.len()),
        None => (None, start),
    };
    let (value, number_last) = number_at(query, tokens, number_start)?;
    let before = &query[number_start.checked_sub(1).map_or(0, |i| tokens[i].end)..tokens[number_start].start];
    let after = tokens
        .get(number_last + 1)
        .map_or(&query[tokens[number_last].end..], |next| &query[tokens[number_last].end..next.start]);
    let symbol = if before.contains(">=") || before.contains('≥') {
        Some(Bound::AtLeast)
    } else if before.contains('>') {
        Some(Bound::Above)
    } else if before.contains("<=") || before.contains('≤') {
        Some(Bound::AtMost)
    } else if before.contains('<') {
        Some(Bound::Below)
    } else if before.trim_end().ends_with('+') || after.trim_start().starts_with('+') {
        Some(Bound::AtLeast)
    } else {
        None
    };
    let noun_last = headcount_noun_after(tokens, number_last, subject)?;
    let suffix = SUFFIXES.iter().find(|(words, _)| words_at(noun_last + 1, words));
    let (bound, last) = match (bound.or(symbol), suffix) {
        (Some(bound), _) => (bound, noun_last),
        (None, Some((words, bound))) => (*bound, noun_last + words.len()),
        (None, None) => return None,
    };
    let range = match bound {
        Bound::Above | Bound::AtLeast => SizeRange::new(Some(value), None),
        Bound::Below => SizeRange::new(None, Some(value.checked_sub(1)?)),
        Bound::AtMost => SizeRange::new(None, Some(value)),
    };
    Some(hit(range, idx, last))
}

/// A whole number at `tokens[at]`, thousands groups included ("1 000", "1.000"): its value and
/// last token.
fn number_at(query: &str, tokens: &[Token], at: usize) -> Option<(u32, usize)> {
    let digits = |token: &Token| !token.folded.is_empty() && token.folded.bytes().all(|b| b.is_ascii_digit());
    let first = tokens.get(at).filter(|t| digits(t) && t.folded.len() <= 8)?;
    let mut value: u64 = first.folded.parse().ok()?;
    let mut last = at;
    if first.folded.len() <= 3 {
        while let Some(next) = tokens.get(last + 1) {
            let between = &query[tokens[last].end..next.start];
            let separator = matches!(between, " " | "." | "\u{a0}" | "\u{202f}");
            if !(separator && next.folded.len() == 3 && digits(next)) {
                break;
            }
            value = value * 1000 + next.folded.parse::<u64>().ok()?;
            last += 1;
        }
    }
    (value <= u64::from(MAX_HEADCOUNT)).then_some((value as u32, last))
}

/// The headcount word right after `tokens[at]` ("salariés"), its index; with a headcount subject
/// before the comparator the word is optional (then `at` itself is the end).
fn headcount_noun_after(tokens: &[Token], at: usize, optional: bool) -> Option<usize> {
    match tokens.get(at + 1) {
        Some(next) if HEADCOUNT_NOUNS.iter().any(|noun| same_word(&next.folded, noun)) => Some(at + 1),
        _ if optional => Some(at),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Analyzer, Language};

    fn size(query: &str) -> Option<(Option<u32>, Option<u32>, String)> {
        let tokens = Analyzer::new(Language::French).analyze(query);
        let hits = find_sizes(query, &tokens);
        assert!(hits.len() <= 1, "{query}: {hits:?}");
        hits.into_iter().next().map(|h| {
            let matched = query[tokens[h.first_token].start..tokens[h.last_token].end].to_owned();
            (h.range.min, h.range.max, matched)
        })
    }

    #[test]
    fn size_phrases_french_and_english() {
        let n = Some;
        for (query, min, max, matched) in [
            ("chaudronnerie plus de 50 salariés en Normandie", n(50), None, "plus de 50 salariés"),
            ("usinage au moins 20 employés", n(20), None, "au moins 20 employés"),
            ("soudure moins de 20 personnes", None, n(19), "moins de 20 personnes"),
            ("entre 50 et 200 salariés", n(50), n(200), "entre 50 et 200 salariés"),
            ("de 10 à 49 salariés", n(10), n(49), "de 10 à 49 salariés"),
            ("20-99 salariés", n(20), n(99), "20-99 salariés"),
            ("100 salariés et plus", n(100), None, "100 salariés et plus"),
            ("50 collaborateurs minimum", n(50), None, "50 collaborateurs minimum"),
            ("jusqu'à 9 salariés", None, n(9), "jusqu'à 9 salariés"),
            ("effectif supérieur à 250", n(250), None, "effectif supérieur à 250"),
            ("effectif de plus de 1 000 salariés", n(1000), None, "effectif de plus de 1 000 salariés"),
            ("> 50 salariés", n(50), None, "50 salariés"),
            ("50+ employees", n(50), None, "50+ employees"),
            ("TPE", None, n(9), "TPE"),
            ("sous-traitant PME", None, n(249), "PME"),
            ("une ETI", n(250), n(4999), "ETI"),
            ("grand groupe", n(5000), None, "grand groupe"),
            ("grandes entreprises", n(5000), None, "grandes entreprises"),
            ("over 200 employees", n(200), None, "over 200 employees"),
            ("more than 50 staff", n(50), None, "more than 50 staff"),
            ("at least 100 people", n(100), None, "at least 100 people"),
            ("fewer than 20 employees", None, n(19), "fewer than 20 employees"),
            ("less than 10 workers", None, n(9), "less than 10 workers"),
            ("under 50 employees", None, n(49), "under 50 employees"),
            ("between 50 and 200 employees", n(50), n(200), "between 50 and 200 employees"),
            ("SME", None, n(249), "SME"),
            ("SMEs in Brittany", None, n(249), "SMEs"),
            ("large company", n(5000), None, "large company"),
            ("mid-size company", n(250), n(4999), "mid-size company"),
            ("midcap", n(250), n(4999), "midcap"),
            ("PME/PMI", None, n(249), "PME/PMI"),
        ] {
            assert_eq!(size(query), Some((min, max, matched.to_owned())), "{query}");
        }
    }

    #[test]
    fn quantities_are_not_sizes() {
        for query in [
            "plus de 50 pièces",
            "lot de 20 pièces",
            "moins de 10 mm",
            "équipe de 20 personnes",
            "moins de 0 salarié",
            "50 salariés",
        ] {
            assert_eq!(size(query), None, "{query}");
        }
    }
}
