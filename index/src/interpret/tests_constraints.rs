//! Tests of the constraints an interpretation reads: each kind, how they share the words, their
//! spans, and what any text does to them.

use std::sync::LazyLock;

use proptest::prelude::*;

use super::*;
use crate::dict::gazetteer::PlaceKind;
use crate::record::HeadcountBand;

static INTERPRETER: LazyLock<Interpreter> = LazyLock::new(|| Interpreter::embedded().unwrap());

/// The constraints of a query as short strings: "process:usinage.fraisage", "material:titane",
/// "size:50-", "place:commune:Lyon:30".
fn constraints(query: &str) -> Vec<String> {
    INTERPRETER.interpret(query).constraints.iter().map(|c| short(&c.constraint)).collect()
}

fn short(constraint: &Constraint) -> String {
    let bound = |b: Option<u32>| b.map_or(String::new(), |b| b.to_string());
    match constraint {
        Constraint::Process { id, .. } | Constraint::Material { id, .. } | Constraint::Certification { id, .. } => {
            format!("{}:{id}", constraint.kind().as_str())
        }
        Constraint::Size { min, max, .. } => format!("size:{}-{}", bound(*min), bound(*max)),
        Constraint::Place { place_kind, name, radius_km, .. } => {
            let kind = serde_json::to_value(place_kind).unwrap();
            let radius = radius_km.map_or(String::new(), |r| format!(":{r}"));
            format!("place:{}:{name}{radius}", kind.as_str().unwrap())
        }
    }
}

fn check(query: &str, expected: &[&str]) {
    assert_eq!(constraints(query), expected, "{query}");
}

#[test]
fn each_kind_in_french_and_english() {
    check("fraisage titane", &["process:usinage.fraisage", "material:titane"]);
    check("turning titanium", &["process:usinage.tournage", "material:titane"]);
    check(
        "tournage inconel certifié EN 9100",
        &["process:usinage.tournage", "material:superalliage.inconel", "certification:en9100"],
    );
    check("découpe laser inox près de Lyon", &["process:decoupe.laser", "material:inox", "place:commune:Lyon"]);
    check(
        "chaudronnerie plus de 50 salariés en Normandie",
        &["process:chaudronnerie", "size:50-", "place:region:Normandie"],
    );
    check(
        "CNC machining stainless steel 316L AS9100D",
        &["process:usinage", "material:inox.316l", "certification:en9100"],
    );
    check(
        "welding ISO 3834-2 SME in Brittany",
        &["process:soudage", "certification:iso3834.2", "size:-249", "place:region:Bretagne"],
    );
    check(
        "usinage Ti-6Al-4V IATF 16949 ETI",
        &["process:usinage", "material:titane.ta6v", "certification:iatf16949", "size:250-4999"],
    );
}

#[test]
fn the_most_specific_process_and_material_win() {
    let interpretation = INTERPRETER.interpret("usinage fraisage titane TA6V");
    let shorts: Vec<String> = interpretation.constraints.iter().map(|c| short(&c.constraint)).collect();
    assert_eq!(shorts, ["process:usinage.fraisage", "material:titane.ta6v"]);
    // The ancestor stays a concept.
    let concepts: Vec<&str> = interpretation.concepts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(concepts, ["usinage", "usinage.fraisage"]);
    // The family written before its grade is part of the grade's span.
    assert_eq!(interpretation.constraints[1].matched, "titane TA6V");
}

#[test]
fn stainless_is_not_carbon_steel() {
    check("acier inoxydable 316L", &["material:inox.316l"]);
    check("acier 316L", &["material:inox.316l"]);
    check("acier S355", &["material:acier.s355"]);
    check("tôle acier", &["process:tolerie", "material:acier"]);
}

#[test]
fn a_material_inside_a_process_phrase_keeps_its_words() {
    // "soudage inox" is a glossary concept: the material is its own constraint and the process is
    // what "soudage" alone names (an ancestor of the phrase's concept).
    check("soudage inox", &["process:soudage", "material:inox"]);
    check("fonderie aluminium", &["process:fonderie", "material:aluminium"]);
    // With another process named, a material phrase only says what the parts are made of.
    check("découpe composite", &["process:decoupe", "material:composite"]);
    // Platings are processes, not materials.
    check("cuivrage", &["process:traitement-surface.galvanoplastie.cuivrage"]);
    check("zinc nickel", &["process:traitement-surface.galvanoplastie.zinc-nickel"]);
}

/// A material word that is part of a process's name is the process's, in both languages: the
/// buyer's material is the one named outside it.
#[test]
fn a_material_word_of_a_process_name_is_no_material() {
    // "moulage" alone does not name rubber moulding: the phrase is the process, as "plasturgie" is.
    let interpretation = INTERPRETER.interpret("moulage caoutchouc");
    let shorts: Vec<String> = interpretation.constraints.iter().map(|c| short(&c.constraint)).collect();
    assert_eq!(shorts, ["process:caoutchouc.moulage"]);
    assert_eq!(interpretation.constraints[0].matched, "moulage caoutchouc");
    check("rubber moulding", &["process:caoutchouc.moulage"]);
    check("plasturgie acier", &["process:plasturgie", "material:acier"]);
    check("plastics processing steel", &["process:plasturgie", "material:acier"]);
    check("transformation des plastiques en acier", &["process:plasturgie", "material:acier"]);
    check("stainless steel rubber moulding", &["material:inox", "process:caoutchouc.moulage"]);
    check("composite manufacturing copper", &["process:composites", "material:cuivreux"]);
    check("technical rubber copper", &["process:caoutchouc", "material:cuivreux"]);
    check("superalloys cast steel", &["material:superalliage", "process:fonderie.acier"]);
    // A material's name alone stays the material, and a shared stem is no process's name.
    check("cast steel", &["material:acier.moule"]);
    check("caoutchouc", &["material:elastomere"]);
    check("cuivre titane", &["material:cuivreux", "material:titane"]);
    check("fraisage titane élastomère", &["process:usinage.fraisage", "material:titane", "material:elastomere"]);
    // The other words still name a process: the material is the buyer's.
    check("usinage plastique", &["process:plasturgie.usinage-plastiques", "material:plastique"]);
    // The phrase's other words name the process, but the buyer's material is named apart.
    check("grey iron casting brass", &["process:fonderie.fonte.grise", "material:cuivreux.laiton"]);
    check("chaudronnier inox titane", &["process:chaudronnerie.chaudronnerie-fine.inox", "material:titane"]);
}

/// A named size glued to another word by a hyphen is part of a designation.
#[test]
fn a_hyphenated_grade_is_no_size() {
    check("surmoulage TPE-E", &["process:plasturgie.injection.surmoulage", "material:elastomere.tpe"]);
    check("surmoulage TPE", &["process:plasturgie.injection.surmoulage", "size:-9"]);
    check("mid-size company", &["size:250-4999"]);
}

/// A material's name is no place unless the query clearly says one.
#[test]
fn a_material_name_is_no_place() {
    check("découpe EPS", &["process:decoupe", "material:plastique.ps"]);
    check("EPS", &["material:plastique.ps"]);
    check("usinage argentan", &["process:usinage", "material:cuivreux.maillechort"]);
    check("rectification sur fontes", &["process:rectification", "material:fonte"]);
    check("surface treatment in cast iron", &["process:traitement-surface", "material:fonte"]);
    // Introduced and written as a name, or by a strong location phrase: the place.
    check("usinage à Argentan", &["process:usinage", "place:commune:Argentan"]);
    check("usinage près d'Argentan", &["process:usinage", "place:commune:Argentan"]);
}

/// A name that ends inside a longer name of its family (a grade in its family's name, a scheme
/// in its scope's) runs on to that name's end.
#[test]
fn a_grade_runs_on_over_its_family_name() {
    check(
        "industrial packaging of 304L stainless steel parts",
        &["process:assemblage.conditionnement", "material:inox.304l"],
    );
    check(
        "cintrage qualifié NADCAP contrôle non destructif",
        &["process:tolerie.cintrage", "certification:nadcap.cnd"],
    );
    let interpretation = INTERPRETER.interpret("304L stainless steel");
    assert_eq!(interpretation.constraints.len(), 1);
    assert_eq!(interpretation.constraints[0].matched, "304L stainless steel");
}

#[test]
fn certifications_as_people_write_them() {
    for (query, id) in [
        ("EN 9100:2018", "en9100"),
        ("EN9100", "en9100"),
        ("certifié EN 9100", "en9100"),
        ("AS 9100D", "en9100"),
        ("ISO9001", "iso9001"),
        ("iso 9001 v2015", "iso9001"),
        ("ISO 9001:2015", "iso9001"),
        ("ISO/TS 16949", "iatf16949"),
        ("OHSAS 18001", "iso45001"),
        ("Part 21G", "easa.part-21g"),
        ("EN 1090-2 EXC3", "en1090.exc3"),
        ("NADCAP heat treating", "nadcap.traitements-thermiques"),
        ("accréditation COFRAC", "iso17025"),
        ("IPC-A-610H", "ipc-a-610"),
    ] {
        check(query, &[&format!("certification:{id}")]);
    }
    let interpretation = INTERPRETER.interpret("certifié EN 9100");
    assert_eq!(interpretation.constraints[0].matched, "EN 9100");
}

#[test]
fn sizes_leave_the_text_query_and_are_not_places() {
    let interpretation = INTERPRETER.interpret("chaudronnerie plus de 50 salariés en Normandie");
    assert_eq!(interpretation.text_query, "chaudronnerie");
    // 50 is the Manche's code, 69 the Rhône's: here they count employees.
    check("usinage moins de 69 personnes", &["process:usinage", "size:-68"]);
    check("usinage au moins 50 salariés", &["process:usinage", "size:50-"]);
    // A quantity stays a quantity and a word to search.
    let interpretation = INTERPRETER.interpret("plus de 50 pièces");
    assert!(interpretation.constraints.iter().all(|c| c.constraint.kind() != ConstraintKind::Size));
    assert_eq!(interpretation.text_query, "plus de 50 pièces");
    // A year is not an alloy.
    assert!(INTERPRETER.interpret("livraison en 2024").constraints.is_empty());
    // Materials and certifications stay words to search.
    assert_eq!(INTERPRETER.interpret("usinage titane EN 9100").text_query, "usinage titane EN 9100");
}

#[test]
fn distances_around_a_place() {
    for (query, place, km, text) in [
        ("usinage dans un rayon de 30 km autour de Lyon", "Lyon", Some(30.0), "usinage"),
        ("usinage à moins de 40 km de Lyon", "Lyon", Some(40.0), "usinage"),
        ("machining within 30 km of Lyon", "Lyon", Some(30.0), "machining"),
        ("machining 30 km around Lyon", "Lyon", Some(30.0), "machining"),
        ("tôlerie à 25km de Grenoble", "Grenoble", Some(25.0), "tôlerie"),
        ("tôlerie à 2,5 km de Grenoble", "Grenoble", Some(2.5), "tôlerie"),
        ("soudure à 20 km de Vienne", "Vienne", Some(20.0), "soudure"),
        ("fraisage dans les 30 km autour de Bordeaux", "Bordeaux", Some(30.0), "fraisage"),
        ("usinage près de Lyon", "Lyon", None, "usinage"),
        ("usinage autour de Lyon", "Lyon", None, "usinage"),
        ("machining near Lyon", "Lyon", None, "machining"),
    ] {
        let interpretation = INTERPRETER.interpret(query);
        let locations: Vec<(&str, Option<f32>)> =
            interpretation.locations.iter().map(|l| (l.place.name.as_str(), l.radius_km)).collect();
        assert_eq!(locations, [(place, km)], "{query}");
        assert_eq!(interpretation.text_query, text, "{query}");
    }
    // A distance is not a quantity of pieces nor a place code.
    assert!(INTERPRETER.interpret("découpe 30 km").locations.is_empty());
}

#[test]
fn english_region_names() {
    check("machining in Brittany", &["process:usinage", "place:region:Bretagne"]);
    check("welding Normandy", &["process:soudage", "place:region:Normandie"]);
    check("usinage Occitania", &["process:usinage", "place:region:Occitanie"]);
}

#[test]
fn spans_slice_the_query_to_what_matched() {
    for query in [
        "Tournage inconel 718 certifié EN 9100 près de Toulouse, plus de 20 salariés",
        "découpe laser acier inoxydable 316L dans un rayon de 50 km autour de Lyon",
        "CNC milling of PEEK and PA66 for a SME within 30 km of Grenoble",
    ] {
        let interpretation = INTERPRETER.interpret(query);
        assert!(interpretation.constraints.len() >= 3, "{query}: {:?}", interpretation.constraints);
        for hit in &interpretation.constraints {
            assert_eq!(&query[hit.span[0]..hit.span[1]], hit.matched, "{query}");
        }
    }
}

#[test]
fn constraints_serialise_with_their_kind() {
    let interpretation = INTERPRETER.interpret("fraisage titane à 30 km de Lyon");
    let json = serde_json::to_value(&interpretation.constraints).unwrap();
    assert_eq!(json[0]["kind"], "process");
    assert_eq!(json[0]["id"], "usinage.fraisage");
    assert_eq!(json[1]["kind"], "material");
    assert_eq!(json[1]["matched"], "titane");
    assert_eq!(json[2]["kind"], "place");
    assert_eq!(json[2]["place_kind"], "commune");
    assert_eq!(json[2]["radius_km"], 30.0);
    assert_eq!(json[2]["span"], serde_json::json!([16, 32]));
    let size = serde_json::to_value(&INTERPRETER.interpret("PME").constraints[0]).unwrap();
    assert_eq!(
        size,
        serde_json::json!({"kind": "size", "min": null, "max": 249, "label": "PME (au plus 249 salariés)", "matched": "PME", "span": [0, 3]})
    );
}

#[test]
fn size_allows_whole_bands_only() {
    assert!(size_allows(Some(50), None, HeadcountBand::From50To99));
    assert!(!size_allows(Some(51), None, HeadcountBand::From50To99));
    assert!(size_allows(None, Some(249), HeadcountBand::From200To249));
    assert!(!size_allows(None, Some(249), HeadcountBand::From250To499));
    assert!(size_allows(None, Some(9), HeadcountBand::None));
    assert!(size_allows(Some(10_000), None, HeadcountBand::From10000));
    assert!(!size_allows(Some(5000), Some(20_000), HeadcountBand::From10000));
}

/// Fragments queries are built from in the properties: constraint words and traps.
const FRAGMENTS: &[&str] = &[
    "usinage",
    "fraisage",
    "titane",
    "TA6V",
    "acier inoxydable 316L",
    "inox",
    "EN 9100",
    "AS9100D",
    "ISO 3834-2",
    "plus de 50 salariés",
    "PME",
    "près de Lyon",
    "à 30 km de",
    "dans le 69",
    "en Bretagne",
    "soudage",
    "lot de 50 pièces",
    "de",
    "à",
    "l'",
    "-",
    "/",
    "2,5",
    "km",
    "Ti-6Al-4V",
    "moins de",
    "entre",
    "et",
    "100",
    "EXC2",
    "NADCAP",
    "zinc nickel",
];

proptest! {
    /// Any text: no panic, spans on character boundaries inside the query, slicing to `matched`,
    /// and constraints of different kinds (a process and a material too) never overlap.
    #[test]
    fn interpretation_never_panics_and_spans_hold(
        pieces in proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
                "\\PC{0,6}",
                "[0-9]{1,5}",
            ],
            0..10,
        ),
    ) {
        let query = pieces.join(" ");
        let interpretation = INTERPRETER.interpret(&query);
        let all_spans = interpretation
            .constraints
            .iter()
            .map(|c| (c.span, c.matched.as_str()))
            .chain(interpretation.locations.iter().map(|l| (l.span, "")))
            .chain(interpretation.concepts.iter().map(|c| (c.span, c.matched.as_str())));
        for ([start, end], matched) in all_spans {
            prop_assert!(start <= end && end <= query.len(), "{query:?}");
            prop_assert!(query.is_char_boundary(start) && query.is_char_boundary(end), "{query:?}");
            if !matched.is_empty() {
                prop_assert_eq!(&query[start..end], matched);
            }
        }
        let hits = &interpretation.constraints;
        for (a_idx, a) in hits.iter().enumerate() {
            for b in &hits[a_idx + 1..] {
                let overlap = a.span[0] < b.span[1] && b.span[0] < a.span[1];
                prop_assert!(
                    !overlap || a.constraint.kind() == b.constraint.kind(),
                    "{query:?}: {a:?} overlaps {b:?}"
                );
            }
        }
    }

    /// Arbitrary Unicode, whatever it is.
    #[test]
    fn arbitrary_unicode_never_panics(query in "\\PC{0,40}") {
        let interpretation = INTERPRETER.interpret(&query);
        for hit in &interpretation.constraints {
            prop_assert!(query.is_char_boundary(hit.span[0]) && query.is_char_boundary(hit.span[1]));
            prop_assert_eq!(&query[hit.span[0]..hit.span[1]], hit.matched.as_str());
        }
    }

    /// A band said to meet a size holds only headcounts inside it, and a band inside the size
    /// meets it: checked on headcounts drawn at random and the bands' own bounds.
    #[test]
    fn size_allows_agrees_with_the_band_bounds(
        min in proptest::option::of(0u32..20_000),
        max in proptest::option::of(0u32..20_000),
        headcount in 0u32..30_000,
    ) {
        let inside = |n: u32| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
        let band = HeadcountBand::for_headcount(headcount);
        if size_allows(min, max, band) {
            prop_assert!(inside(headcount), "{band:?} allowed for {min:?}..{max:?} but holds {headcount}");
        }
        for band in HeadcountBand::ALL {
            let (low, high) = band.bounds();
            prop_assert_eq!(size_allows(min, max, band), inside(low) && inside(high), "{:?}", band);
        }
        let range = SizeRange { min, max };
        prop_assert_eq!(range.allows(band), size_allows(min, max, band));
    }
}

#[test]
fn place_constraint_codes() {
    let interpretation = INTERPRETER.interpret("usinage dans le 69");
    let place = interpretation.constraints.iter().find(|c| c.constraint.kind() == ConstraintKind::Place).unwrap();
    assert_eq!(
        place.constraint,
        Constraint::Place {
            place_kind: PlaceKind::Departement,
            code: "69".to_owned(),
            name: "Rhône".to_owned(),
            radius_km: None,
        }
    );
    assert_eq!(place.matched, "dans le 69");
    assert_eq!(place.span, interpretation.locations[0].span);
}
