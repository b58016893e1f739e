//! Typeahead: the fast structure against a naive scan, and the matching people expect.

use marketlounge_index::suggest::{self, Entry, Kind, SCAN_MAX, SuggestIndex, TOP_MAX};
use proptest::prelude::*;

#[path = "support/hashed_engine.rs"]
mod hashed_engine;

fn entry(text: &str, weight: f32) -> Entry {
    Entry { text: text.to_owned(), kind: Kind::Concept, id: None, weight }
}

fn texts(index: &SuggestIndex, query: &str, k: usize, fuzzy: bool) -> Vec<String> {
    index.suggest(query, k, fuzzy).into_iter().map(|s| s.text).collect()
}

const WORDS: [&str; 12] = [
    "découpe",
    "laser",
    "usinage",
    "précision",
    "tôlerie",
    "soudure",
    "inox",
    "acier",
    "décolletage",
    "fraisage",
    "dé",
    "a",
];

fn phrase() -> impl Strategy<Value = String> {
    (prop::collection::vec(0usize..WORDS.len(), 1..4), prop::bool::ANY).prop_map(|(idx, dashes)| {
        idx.into_iter().map(|i| WORDS[i]).collect::<Vec<_>>().join(if dashes { " - " } else { " " })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the prefix's length — heavy prefixes served from their stored top lists, light
    /// ones scanned — the fast path returns exactly the naive scan's top k.
    #[test]
    fn fast_top_k_equals_a_naive_scan(
        phrases in prop::collection::vec((phrase(), 0u32..1000), 1..1200),
        query_idx in 0usize..1200,
        cut in 1usize..20,
        k in 1usize..60,
        deleted_share in prop::sample::select(vec![0u32, 10, 60, 95]),
    ) {
        let entries: Vec<Entry> = phrases.iter().map(|(t, w)| entry(t, *w as f32 / 10.0)).collect();
        let index = SuggestIndex::build(entries.clone());
        let source = &phrases[query_idx % phrases.len()].0;
        let query: String = source.chars().take(cut).collect();
        // Deleted entries (a segment's tombstones): some of every stored top list may be gone.
        let keep = |e: u32| (e.wrapping_mul(2_654_435_761) >> 7) % 100 >= deleted_share;
        prop_assert_eq!(index.complete(&query, k, &keep), suggest::scan(&entries, &query, k, &keep), "query {:?}", query);
        // Prefixes of a few letters are heavy with enough entries: both paths are exercised.
        prop_assert_eq!(index.complete("d", k, &keep), suggest::scan(&entries, "d", k, &keep));
        let all = |_: u32| true;
        prop_assert_eq!(index.complete(&query, k, &all), suggest::scan(&entries, &query, k, &all));
    }
}

/// A query typed from a phrase, with one edit (substitution, deletion, insertion or swap) or
/// two.
fn typed_with_typos() -> impl Strategy<Value = (usize, usize, Vec<(u8, usize, char)>)> {
    (
        0usize..1200,
        3usize..16,
        prop::collection::vec((0u8..4, 0usize..16, prop::sample::select(vec!['e', 'a', 'x', 'é', 's'])), 1..3),
    )
}

fn apply_typos(text: &str, typos: &[(u8, usize, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(kind, at, c) in typos {
        if chars.len() < 2 {
            break;
        }
        let at = at % chars.len();
        match kind {
            0 => chars[at] = c,
            1 => {
                chars.remove(at);
            }
            2 => chars.insert(at, c),
            _ => {
                let at = at.min(chars.len() - 2);
                chars.swap(at, at + 1);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With typo tolerance, the fast path — exact completions, then the automaton's walk over
    /// the keys with stored top lists — returns exactly the naive reference's list: every
    /// entry at its smallest distance over its word starts and their prefixes, closest first,
    /// then heaviest.
    #[test]
    fn fuzzy_top_k_equals_a_naive_scan(
        phrases in prop::collection::vec((phrase(), 0u32..1000), 1..1200),
        (query_idx, cut, typos) in typed_with_typos(),
        k in 1usize..20,
        deleted_share in prop::sample::select(vec![0u32, 10, 60]),
    ) {
        let entries: Vec<Entry> = phrases.iter().map(|(t, w)| entry(t, *w as f32 / 10.0)).collect();
        let index = SuggestIndex::build(entries.clone());
        let source: String = phrases[query_idx % phrases.len()].0.chars().take(cut).collect();
        let query = apply_typos(&source, &typos);
        let keep = |e: u32| (e.wrapping_mul(2_654_435_761) >> 7) % 100 >= deleted_share;
        let fast: Vec<(u32, u8)> = index
            .candidates(&suggest::Typed::new(&query), k, true, &keep)
            .into_iter()
            .map(|c| (c.entry_index(), c.edits))
            .collect();
        prop_assert_eq!(fast, suggest::scan_fuzzy(&entries, &query, k, &keep), "query {:?}", query);
    }
}

#[test]
fn prefix_distance_counts_the_closest_prefix_and_swaps_as_one() {
    assert_eq!(suggest::prefix_distance("usinnage", "usinage de precision", 2), Some(1));
    assert_eq!(suggest::prefix_distance("lsaer", "laser cutting", 1), Some(1));
    assert_eq!(suggest::prefix_distance("decoupe", "decoupe laser", 0), Some(0));
    assert_eq!(suggest::prefix_distance("xecoupe", "decoupe", 2), None, "the first byte as typed");
    assert_eq!(suggest::prefix_distance("decolltaeg", "decolletage", 1), None);
    assert_eq!(suggest::prefix_distance("decolltaeg", "decolletage", 2), Some(2));
}

#[test]
fn heavy_prefixes_exist_at_scale() {
    let entries: Vec<Entry> = (0..5000).map(|i| entry(&format!("découpe {i}"), (i % 97) as f32)).collect();
    let index = SuggestIndex::build(entries.clone());
    assert!(index.heavy_prefixes() > 0);
    for query in ["d", "de", "dec", "découpe", "découpe 1", "découpe 12", "découpe 123"] {
        let all = |_: u32| true;
        assert_eq!(index.complete(query, TOP_MAX, &all), suggest::scan(&entries, query, TOP_MAX, &all), "{query}");
        let odd = |e: u32| e % 2 == 1;
        assert_eq!(index.complete(query, TOP_MAX, &odd), suggest::scan(&entries, query, TOP_MAX, &odd), "{query}");
    }
    assert!(suggest::scan(&entries, "d", usize::MAX, &|_| true).len() <= TOP_MAX);
    assert!(entries.len() > SCAN_MAX);
}

fn demo() -> SuggestIndex {
    SuggestIndex::build(vec![
        entry("Découpe laser", 9.0),
        entry("Découpe jet d'eau", 8.0),
        entry("Décolletage", 7.0),
        entry("Usinage de précision", 6.0),
        entry("Tôlerie fine", 5.0),
        entry("Laser cutting", 4.0),
        entry("Soudure TIG", 3.0),
        entry("Électroérosion à fil", 2.0),
    ])
}

#[test]
fn accents_case_and_punctuation_fold() {
    let index = demo();
    assert_eq!(texts(&index, "decoupe", 8, false), ["Découpe laser", "Découpe jet d'eau"]);
    assert_eq!(texts(&index, "DÉCOUPE", 8, false), ["Découpe laser", "Découpe jet d'eau"]);
    assert_eq!(texts(&index, "electro", 8, false), ["Électroérosion à fil"]);
    assert_eq!(texts(&index, "jet d eau", 8, false), ["Découpe jet d'eau"]);
}

#[test]
fn earlier_words_complete_last_word_prefix() {
    let index = demo();
    assert_eq!(texts(&index, "decoupe las", 8, false), ["Découpe laser"]);
    assert_eq!(texts(&index, "usinage de p", 8, false), ["Usinage de précision"]);
    assert!(texts(&index, "decoupe x", 8, false).is_empty());
}

#[test]
fn word_starts_inside_the_text_match() {
    let index = demo();
    assert_eq!(texts(&index, "laser", 8, false), ["Découpe laser", "Laser cutting"]);
    assert_eq!(texts(&index, "precision", 8, false), ["Usinage de précision"]);
    // Inside a word is not a word start.
    assert!(texts(&index, "aser", 8, false).is_empty());
}

#[test]
fn typos_one_edit_from_four_two_from_eight_exact_first() {
    let index = demo();
    // 3 characters: no typo allowed.
    assert!(texts(&index, "lsa", 8, true).is_empty());
    // Transposition, 5 characters: one edit.
    assert_eq!(texts(&index, "lsaer", 8, true), ["Découpe laser", "Laser cutting"]);
    // Substitution.
    assert_eq!(texts(&index, "soudyre", 8, true), ["Soudure TIG"]);
    // Two edits need 8 characters.
    assert!(texts(&index, "decolltaeg", 8, false).is_empty());
    assert_eq!(texts(&index, "decolltaeg", 8, true), ["Décolletage"]);
    // Exact matches first, then the fuzzy ones, which say how far they are.
    let results: Vec<(String, u8)> = index.suggest("decol", 8, true).into_iter().map(|s| (s.text, s.edits)).collect();
    let expected = [("Décolletage", 0), ("Découpe laser", 1), ("Découpe jet d'eau", 1)];
    assert_eq!(results, expected.map(|(t, e)| (t.to_owned(), e)));
    // Without typo tolerance, only the exact one.
    assert_eq!(texts(&index, "decol", 8, false), ["Décolletage"]);
}

#[test]
fn one_character_returns_the_heaviest_at_once() {
    let index = demo();
    assert_eq!(texts(&index, "d", 2, false), ["Découpe laser", "Découpe jet d'eau"]);
    assert_eq!(texts(&index, "d", 8, false).len(), 4, "découpe ×2, décolletage, de précision");
}

#[test]
fn highlights_cover_the_matched_words_in_the_original_text() {
    let index = demo();
    let s = &index.suggest("decoupe las", 1, false)[0];
    assert_eq!(s.text, "Découpe laser");
    let covered: Vec<&str> = s.highlight.iter().map(|[a, b]| &s.text[*a..*b]).collect();
    assert_eq!(covered, ["Découpe", "las"]);
    // A fuzzy match highlights the word it is closest to.
    let s = &index.suggest("lsaer", 1, true)[0];
    assert_eq!((s.text.as_str(), s.edits), ("Découpe laser", 1));
    assert_eq!(&s.text[s.highlight[0][0]..s.highlight[0][1]], "laser");
    let s = &index.suggest("electro", 1, false)[0];
    assert_eq!(&s.text[s.highlight[0][0]..s.highlight[0][1]], "Électro");
}

#[test]
fn bad_queries_return_nothing_without_panicking() {
    let index = demo();
    assert!(index.suggest("", 8, true).is_empty());
    assert!(index.suggest("  ,;!  ", 8, true).is_empty());
    assert!(index.suggest("decoupe", 0, true).is_empty());
    assert!(index.suggest("d", usize::MAX, true).len() <= TOP_MAX);
    let long = "é".repeat(5000);
    assert!(index.suggest(&long, 8, true).is_empty());
    assert!(index.suggest("\u{0}\u{1}\u{7f}", 8, true).is_empty());
    // Weights that are not finite count as zero.
    let odd = SuggestIndex::build(vec![entry("laser a", f32::NAN), entry("laser b", -1.0), entry("laser c", 1.0)]);
    assert_eq!(texts(&odd, "laser", 3, false)[0], "laser c");
}

/// Keystroke saving over the glossary's labels (the floors: 0.6 typing exactly, 0.5 with
/// one typo in what is typed).
#[test]
fn keystroke_saving_over_concept_labels() {
    let interpreter = marketlounge_index::interpret::Interpreter::embedded().unwrap();
    let suggester = suggest::Suggester::new(std::sync::Arc::new(interpreter));
    let exact = suggester.keystroke_saving(5, false);
    let typo = suggester.keystroke_saving(5, true);
    eprintln!("keystroke saving: exact {exact:.3}, one typo {typo:.3}");
    assert!(exact >= 0.6, "exact typing saves {exact:.3}");
    assert!(typo >= 0.5, "one typo saves {typo:.3}");
}

/// Company suggestions within the documents a signed token's filters allow: only those, and an
/// allowed company outside a heavy prefix's stored top list is still found (the prefix is
/// scanned instead), while concepts are not filtered.
#[test]
fn company_suggestions_within_filters_reach_past_a_heavy_prefixs_top_list() {
    use marketlounge_index::record::{Company, siren_with_check_digit as siren};
    use marketlounge_index::search::{Filters, Matcher, SearchConfig};
    use marketlounge_index::suggest::SuggestRequest;

    let record = |n: u32, name: String, place: (&str, &str, &str)| -> Company {
        serde_json::from_value(serde_json::json!({
            "id": siren(n),
            "name": name,
            "description": "Usinage de pièces.",
            "naf": "25.62B",
            "headcount": "20-49",
            "created": "1990-01-01",
            "address": {"commune_code": place.0, "postal_code": place.1, "commune": place.2}
        }))
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = hashed_engine::hashed_engine(dir.path());
    // More companies under "usinage" than a prefix scans: its heaviest are stored, and the
    // one in Bretagne (named last, added last) is not among them.
    let mut companies: Vec<Company> =
        (1..=400).map(|n| record(n, format!("Usinage {n:03}"), ("69123", "69001", "Lyon"))).collect();
    companies.push(record(401, "Usinage zz Rennais".into(), ("35238", "35000", "Rennes")));
    engine.upsert(companies).unwrap();
    engine.flush().unwrap();
    let snapshot = engine.snapshot();
    let interpreter = std::sync::Arc::new(marketlounge_index::interpret::Interpreter::embedded().unwrap());
    let matcher = Matcher::new(std::sync::Arc::clone(&interpreter), SearchConfig::default());
    let suggester = suggest::Suggester::new(interpreter);
    let request = |kinds: Vec<Kind>| SuggestRequest { q: "usinage".into(), k: suggest::TOP_MAX, kinds, fuzzy: true };
    let companies_of = |found: &suggest::Suggestions| -> Vec<String> {
        found.suggestions.iter().filter(|s| s.kind == Kind::Company).filter_map(|s| s.id.clone()).collect()
    };
    let plain = suggester.suggest(&snapshot, &request(vec![Kind::Company])).unwrap();
    assert_eq!(plain.suggestions.len(), suggest::TOP_MAX);
    assert!(!companies_of(&plain).contains(&siren(401)), "the test needs it outside the top list");

    let bretagne = Filters { region: vec!["Bretagne".into()], ..Filters::default() };
    let allowed = matcher.allowed(&snapshot, &bretagne).unwrap();
    let within = suggester.suggest_within(&snapshot, &request(vec![Kind::Company]), &allowed).unwrap();
    assert_eq!(companies_of(&within), [siren(401)]);
    let every_kind = suggester.suggest_within(&snapshot, &request(Vec::new()), &allowed).unwrap();
    assert_eq!(companies_of(&every_kind), [siren(401)]);
    assert!(every_kind.suggestions.iter().any(|s| s.kind == Kind::Concept), "concepts are not filtered");
    // Allowed sets of another snapshot name other documents: no company is kept.
    let other = engine.snapshot();
    engine.upsert(vec![record(402, "Usinage Brestois".into(), ("29019", "29200", "Brest"))]).unwrap();
    engine.flush().unwrap();
    let newer = engine.snapshot();
    if newer.segments.len() != other.segments.len() {
        let stale = suggester.suggest_within(&newer, &request(vec![Kind::Company]), &allowed).unwrap();
        assert!(companies_of(&stale).is_empty());
    }
}
