//! Constraint completions: what a buyer typing a need then a constraint is offered, and the
//! contract with the query path (a suggestion's text reads as the constraint it names).

use std::sync::{Arc, LazyLock};

use proptest::prelude::*;

use super::*;
use crate::suggest::sources::location_entries;

struct Fixture {
    source: ConstraintSource,
    locations: SuggestIndex,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let interpreter = Arc::new(Interpreter::embedded().unwrap());
    let locations = SuggestIndex::build(location_entries(&interpreter));
    Fixture { source: ConstraintSource::build(interpreter), locations }
});

/// As the suggester asks: exact completions, then typo-tolerant ones when fewer than `k`.
fn suggest(query: &str, k: usize) -> Vec<Suggestion> {
    let fixture = &*FIXTURE;
    let typed = Typed::new(query);
    let mut heads = Heads::default();
    let exact = fixture.source.suggest(query, &typed, k, false, &fixture.locations, &mut heads);
    if exact.len() >= k {
        return exact;
    }
    fixture.source.suggest(query, &typed, k, true, &fixture.locations, &mut heads)
}

/// "text kind:id" of each suggestion.
fn shown(query: &str, k: usize) -> Vec<String> {
    suggest(query, k)
        .into_iter()
        .map(|s| format!("{} {}:{}", s.text, s.constraint.unwrap().as_str(), s.id.unwrap()))
        .collect()
}

/// The first suggestions of `query` are `expected`, in this order.
fn check(query: &str, expected: &[&str]) {
    let found = shown(query, 8);
    assert!(found.len() >= expected.len() && found[..expected.len()] == *expected, "{query}: {found:#?}");
}

fn offers(query: &str, expected: &str) -> bool {
    shown(query, 8).iter().any(|s| s == expected)
}

#[test]
fn a_need_then_the_start_of_a_constraint() {
    check("usinage ti", &["usinage · titane material:titane", "usinage · Ti-6Al-4V material:titane.ta6v"]);
    check("découpe laser in", &["découpe laser · inox material:inox"]);
    check("fraisage EN 91", &["fraisage · EN 9100 certification:en9100"]);
    check("usinage iso 13", &["usinage · ISO 13485 certification:iso13485"]);
    check("usinage iso 90", &["usinage · ISO 9001 certification:iso9001"]);
    check("usinage acier in", &["usinage · acier inoxydable material:inox"]);
    check("soudage acier s3", &["soudage · acier S355 material:acier.s355"]);
    // English heads get English names; a head ending with a stopword takes no separator.
    check("machining ti", &["machining · titanium material:titane"]);
    check("turning stainl", &["turning · stainless steel material:inox"]);
    check("usinage en ti", &["usinage en titane material:titane"]);
    // What is typed before stays as typed, earlier constraints included.
    check("Usinage · titane iso 9", &["Usinage · titane · ISO 9001 certification:iso9001"]);
}

#[test]
fn sizes_once_their_comparator_is_typed_and_named_sizes() {
    check("usinage plus de 5", &["usinage · plus de 50 salariés size:50-", "usinage · plus de 500 salariés size:500-"]);
    assert_eq!(shown("usinage plus de", 8).len(), 8, "the thresholds");
    check(
        "CNC machining over 2",
        &["CNC machining · over 20 employees size:20-", "CNC machining · over 250 employees size:250-"],
    );
    assert!(offers("usinage pm", "usinage · PME size:-249"));
    assert!(offers("tôlerie eti", "tôlerie · ETI size:250-4999"));
    // "pl" is as likely a material ("plastique") as "plus de …": no guessed headcount.
    assert!(shown("usinage pl", 8).iter().all(|s| !s.contains("size:")), "{:?}", shown("usinage pl", 8));
    assert!(shown("usinage plus d", 8).iter().all(|s| !s.contains("size:")));
}

#[test]
fn places_after_a_location_word() {
    check("chaudronnerie près de ly", &["chaudronnerie · près de Lyon place:69123"]);
    check("chaudronnerie en bre", &["chaudronnerie · en Bretagne place:Bretagne"]);
    check("tôlerie dans le rh", &["tôlerie · dans le Rhône place:69"]);
    check("usinage à gre", &["usinage · à Grenoble place:38185"]);
    // No place without a location word, nor from a number ("EN 91" is not the Essonne).
    assert!(shown("chaudronnerie lyo", 8).iter().all(|s| !s.contains("place:")));
    assert!(shown("fraisage EN 91", 8).iter().all(|s| !s.contains("place:")));
    // A bare "près de" completes to no place.
    assert!(shown("chaudronnerie près de", 8).is_empty());
    // Homonyms share a text: each is checked as itself (the one the interpreter picks is kept).
    for query in ["usinage près de Saint", "usinage près de Bret"] {
        assert_contract(query, 8, true);
    }
}

#[test]
fn nothing_without_a_need_or_with_too_little_typed() {
    for query in [
        "ti",
        "titane",
        "Ateliers Morel ti",
        "usinage t",
        "usinage de",
        "découpe la",
        "usinage en",
        "usinage zzq",
        "usinage ",
        "  · ti",
    ] {
        assert_eq!(shown(query, 8), Vec::<String>::new(), "{query}");
    }
}

#[test]
fn typos_in_the_last_word_only_and_never_in_numbers() {
    check("usinage titnae", &["usinage · titane material:titane"]);
    assert_eq!(suggest("usinage titnae", 8)[0].edits, 1);
    check("usinage inconnel", &["usinage · inconel material:superalliage.inconel"]);
    // "ISO 13" is not one edit from "ISO 14001", nor "plus de 5" from "plus de 10".
    assert_eq!(shown("usinage iso 13", 8), ["usinage · ISO 13485 certification:iso13485"]);
    assert!(suggest("usinage plus de 5", 8).iter().all(|s| s.edits == 0));
}

#[test]
fn the_longest_tail_typed_wins() {
    // "iso 90" is being typed: not "usinage iso" then "904L".
    assert_eq!(shown("usinage iso 90", 8), ["usinage · ISO 9001 certification:iso9001"]);
    check("usinage inox 31", &["usinage · inox 316 material:inox.316"]);
}

#[test]
fn a_constraint_the_head_has_is_not_offered_again() {
    assert!(shown("usinage titane ti", 8).iter().all(|s| !s.ends_with("material:titane")));
    assert!(shown("usinage près de Lyon près de ly", 8).iter().all(|s| !s.ends_with("place:69123")));
    // Nor the family of a grade it has: "titane" after "TA6V" would be dropped as implied.
    assert!(shown("usinage TA6V ti", 8).iter().all(|s| !s.ends_with("material:titane")));
}

#[test]
fn a_name_the_head_would_swallow_is_not_offered() {
    // "alliage à base de nickel" is a nickel-based superalloy: "nickel silver" after it is not
    // read as nickel silver.
    let found = shown("usinage alliage à base de ni", 8);
    assert!(found.iter().all(|s| !s.ends_with("material:cuivreux.maillechort")), "{found:#?}");
}

#[test]
fn one_family_does_not_fill_the_list() {
    let found = shown("usinage in", 8);
    assert!(found.iter().filter(|s| s.contains("material:inox")).count() <= 4, "{found:#?}");
    assert!(found.iter().any(|s| s.ends_with("material:superalliage.inconel")), "{found:#?}");
}

#[test]
fn highlights_cover_the_typed_words_and_the_name_start() {
    let cases: [(&str, &[&str]); 4] = [
        ("usinage ti", &["usinage", "ti"]),
        ("fraisage EN 91", &["fraisage", "EN", "91"]),
        ("usinage en ti", &["usinage", "en", "ti"]),
        ("chaudronnerie près de ly", &["chaudronnerie", "près", "de", "Ly"]),
    ];
    for (query, words) in cases {
        let first = &suggest(query, 8)[0];
        let marked: Vec<&str> = first.highlight.iter().map(|&[s, e]| &first.text[s..e]).collect();
        assert_eq!(marked, words, "{query}: {}", first.text);
    }
}

#[test]
fn every_name_reads_back_but_a_few() {
    let source = &FIXTURE.source;
    let dropped = source.dropped();
    // Names the interpreter reads as something else (a place, a named size) are left out; they
    // should stay rare, or the vocabularies and the interpreter disagree.
    assert!(dropped.len() * 100 <= source.len(), "{} of {} left out: {dropped:#?}", dropped.len(), source.len());
    assert!(source.len() > 1000, "{} names", source.len());
}

/// The heads the contract is checked with: needs in French and English, with and without
/// constraints of their own (a grade, whose family would then be dropped), ending with a
/// stopword, with words a longer name continues from, with location words.
const HEADS: [&str; 12] = [
    "usinage",
    "découpe laser",
    "CNC machining",
    "tournage de",
    "fraisage 5 axes · titane",
    "chaudronnerie en Normandie",
    "soudage PME",
    "welding",
    "usinage inox 316L",
    "usinage alliage à base de",
    "usinage près de",
    "tôlerie en",
];

/// Every suggestion of `query` (the first `k`, exact and typo-tolerant when `fuzzy`) reads, as a
/// whole, as the constraint it names, and its highlights are ordered ranges of its text on
/// character boundaries.
fn assert_contract(query: &str, k: usize, fuzzy: bool) {
    let interpreter = &FIXTURE.source.interpreter;
    for fuzzy in [false, fuzzy] {
        let typed = Typed::new(query);
        let found = FIXTURE.source.suggest(query, &typed, k, fuzzy, &FIXTURE.locations, &mut Heads::default());
        for s in found {
            assert_eq!(s.kind, Kind::Constraint);
            let (kind, id) = (s.constraint.unwrap(), s.id.clone().unwrap());
            let read = interpreter.interpret(&s.text);
            assert!(
                read.constraints.iter().any(|c| c.constraint.kind() == kind && constraint_id(&c.constraint) == id),
                "{query:?} → {:?} is {}:{id}, but reads as {:?}",
                s.text,
                kind.as_str(),
                read.constraints
                    .iter()
                    .map(|c| (c.constraint.kind(), constraint_id(&c.constraint)))
                    .collect::<Vec<_>>()
            );
            let mut end = 0;
            for &[from, to] in &s.highlight {
                assert!(end <= from && from < to && to <= s.text.len(), "{:?} {:?}", s.text, s.highlight);
                assert!(s.text.is_char_boundary(from) && s.text.is_char_boundary(to));
                end = to;
            }
        }
    }
}

/// The contract over every name of the index, typed in full after each head.
#[test]
fn every_name_after_every_head_reads_as_its_constraint() {
    let names: Vec<&str> =
        FIXTURE.source.names.iter().flat_map(|n| n.index.entries().iter().map(|e| e.text.as_str())).collect();
    for head in HEADS {
        for name in &names {
            assert_contract(&format!("{head} {name}"), 8, false);
        }
    }
}

fn name_prefix() -> impl Strategy<Value = String> {
    let names: Vec<String> =
        FIXTURE.source.names.iter().flat_map(|n| n.index.entries().iter().map(|e| e.text.clone())).collect();
    (prop::sample::select(names), 2usize..20).prop_map(|(name, cut)| name.chars().take(cut).collect())
}

fn place_prefix() -> impl Strategy<Value = String> {
    let words = vec!["près de", "autour de", "near", "en", "dans le", "à", "proche de"];
    let places = vec!["Lyon", "Bretagne", "Rhône", "Saint-Étienne", "Annecy", "Normandie", "Nantes", "Vienne", "Tours"];
    (prop::sample::select(words), prop::sample::select(places), 2usize..10)
        .prop_map(|(word, place, cut)| format!("{word} {}", place.chars().take(cut).collect::<String>()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever is typed after a need — part of a name, of a place after a location word, with
    /// a typo — every constraint suggestion reads as its constraint.
    #[test]
    fn suggestions_read_as_their_constraint(
        head in prop::sample::select(HEADS.to_vec()),
        tail in prop_oneof![name_prefix(), place_prefix()],
        typo in prop::option::of((0usize..20, prop::sample::select(vec!['e', 'a', 'x', 'é']))),
    ) {
        let mut chars: Vec<char> = tail.chars().collect();
        if let Some((at, c)) = typo {
            let at = at % chars.len();
            chars[at] = c;
        }
        let tail: String = chars.into_iter().collect();
        assert_contract(&format!("{head} {tail}"), TOP_MAX, true);
    }
}
