//! Snapshot tests of `marketlounge analyze` on French and English queries: stemming, elision,
//! accents, synonyms, concepts and locations. Review changes with `cargo insta review`.

mod common;

const QUERIES: &[(&str, &str)] = &[
    ("laser_lyon", "découpe laser inox près de Lyon"),
    ("precision", "usinage de précision"),
    ("no_accents", "decoupe laser acier inoxydable"),
    ("elision", "l'anodisation d'aluminium et l’électroérosion"),
    ("plural", "Pièces usinées en aciers inoxydables"),
    ("departement_code", "chaudronnerie dans le 69"),
    ("region", "traitement thermique Auvergne-Rhône-Alpes"),
    ("departement_name", "soudure TIG en Haute-Savoie"),
    ("quantity_not_place", "lot de 10000 pièces décolletées"),
    ("english", "CNC machining of titanium parts"),
    ("english_laser", "laser cutting stainless steel near Grenoble"),
    ("fuzzy_ascii", "TRAITEMENT DE SURFACE zingage"),
    ("multiword", "fraisage 5 axes aluminium"),
    ("postal_code", "peinture poudre à 42000"),
    ("empty", ""),
];

#[test]
fn analyze_snapshots() {
    for (name, query) in QUERIES {
        let output = common::run(&["analyze", query]);
        assert!(output.status.success(), "{query}: {}", String::from_utf8_lossy(&output.stderr));
        insta::assert_snapshot!(*name, String::from_utf8(output.stdout).unwrap());
    }
}

#[test]
fn analyze_json_is_the_interpretation() {
    let output = common::run(&["analyze", "--json", "découpe laser près de Lyon"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["locations"][0]["name"], "Lyon");
    assert_eq!(value["text_query"], "découpe laser");
}
