//! The shipped materials and certifications vocabularies, and the values a company record has in
//! them: what a query's material and certification constraints are checked against, tagged by
//! the same dictionaries that read the query, so that query and record cannot disagree.

use std::sync::LazyLock;

use serde::Serialize;

use super::vocabulary::Vocabulary;
use crate::record::Company;

const MATERIALS: &str = include_str!("../../../schema/glossary/materials.ndjson");
const CERTIFICATIONS: &str = include_str!("../../../schema/glossary/certifications.ndjson");

/// The materials and certifications vocabularies.
#[derive(Debug, Clone)]
pub struct Vocabularies {
    pub materials: Vocabulary,
    pub certifications: Vocabulary,
}

/// A company's constraint values: sorted, unique vocabulary ids, every ancestor included (a
/// company working "titane TA6V" has `titane` and `titane.ta6v`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompanyValues {
    pub materials: Vec<String>,
    pub certifications: Vec<String>,
}

/// The version of the rules that read values out of a text (`Vocabulary::tag_all`): bump it when
/// they change what a record is tagged with, so that stored facets are recomputed. 2: a match
/// extends to the end of a longer name of its family ("304L stainless steel" is one grade, not
/// the grade and carbon steel).
pub const TAGGING_VERSION: u32 = 2;

static EMBEDDED: LazyLock<Vocabularies> = LazyLock::new(|| {
    // Compiled-in data: a broken line is a bug that `the_shipped_vocabularies_load` catches in the
    // test suite, never a line silently left out.
    let load = |file: &str, text: &str| Vocabulary::from_ndjson(file, text).unwrap_or_else(|err| panic!("{err}"));
    Vocabularies {
        materials: load("schema/glossary/materials.ndjson", MATERIALS),
        certifications: load("schema/glossary/certifications.ndjson", CERTIFICATIONS),
    }
});

impl Vocabularies {
    /// The vocabularies of `schema/glossary/`, compiled once per process.
    pub fn embedded() -> &'static Vocabularies {
        &EMBEDDED
    }

    /// A fingerprint of the shipped vocabularies' data and of the tagging rules' version
    /// ([`TAGGING_VERSION`]): stored with what they tagged (segment facets), so that tags from
    /// other vocabularies or rules are recognised and recomputed.
    pub fn fingerprint(&self) -> u64 {
        let mut hash = crate::math::fnv1a64(0xcbf2_9ce4_8422_2325, &TAGGING_VERSION.to_le_bytes());
        for text in [MATERIALS, CERTIFICATIONS] {
            hash = crate::math::fnv1a64(hash, text.as_bytes());
            hash = crate::math::fnv1a64(hash, &[0xff]);
        }
        hash
    }

    /// The company's materials (from its `materials` and `capabilities`) and certifications (from
    /// its `certifications`).
    pub fn company_values(&self, company: &Company) -> CompanyValues {
        let material_texts = company.materials.iter().chain(&company.capabilities).map(String::as_str);
        CompanyValues {
            materials: self.materials.tag_all(material_texts),
            certifications: self.certifications.tag_all(company.certifications.iter().map(String::as_str)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The demo generator's vocabulary: material labels with their family, certification labels.
    const DATAGEN_VOCAB: &str = include_str!("../../../tools/datagen/vocab.json");

    fn datagen() -> serde_json::Value {
        serde_json::from_str(DATAGEN_VOCAB).unwrap()
    }

    fn roots(vocabulary: &Vocabulary, text: &str) -> BTreeSet<String> {
        vocabulary.find_in_text(text).iter().map(|h| vocabulary.entry(vocabulary.root(h.entry)).id.clone()).collect()
    }

    #[test]
    fn the_shipped_vocabularies_load() {
        let load = |file: &str, text: &str| Vocabulary::from_ndjson(file, text).unwrap_or_else(|err| panic!("{err}"));
        let materials = load("materials", MATERIALS);
        let certifications = load("certifications", CERTIFICATIONS);
        assert!(materials.len() >= 100, "{} materials", materials.len());
        assert!(certifications.len() >= 30, "{} certifications", certifications.len());
    }

    /// The CN codes of the materials are codes (or headings of codes) of the Combined
    /// Nomenclature 2023, as derived from the shared reference data by `tools/refdata/derive.py`.
    #[test]
    fn material_cn_codes_exist_in_the_combined_nomenclature() {
        const CN_CODES: &str = include_str!("../../../schema/ref/cn2023_material_codes.txt");
        let codes: Vec<&str> = CN_CODES.lines().filter(|line| !line.starts_with('#')).collect();
        assert!(codes.len() > 1000, "{} codes", codes.len());
        let materials = &Vocabularies::embedded().materials;
        let mut n_families_with_cn = 0;
        for entry in materials.entries() {
            for code in &entry.cn {
                assert!(codes.iter().any(|c| c.starts_with(code.as_str())), "{}: CN {code} does not exist", entry.id);
            }
            n_families_with_cn += usize::from(entry.parent.is_none() && !entry.cn.is_empty());
        }
        assert!(n_families_with_cn >= 12, "{n_families_with_cn} families have CN codes");
    }

    #[test]
    fn every_datagen_material_is_tagged_with_its_family_only() {
        let materials = &Vocabularies::embedded().materials;
        let vocab = datagen();
        let labels = vocab["materials"].as_array().unwrap();
        assert!(labels.len() >= 50);
        for material in labels {
            let (label, family) = (material["label"].as_str().unwrap(), material["family"].as_str().unwrap());
            assert_eq!(roots(materials, label), BTreeSet::from([family.to_owned()]), "{label}");
        }
    }

    #[test]
    fn every_datagen_certification_is_tagged() {
        let certifications = &Vocabularies::embedded().certifications;
        let expected = [
            ("ISO 9001", "iso9001"),
            ("EN 9100", "en9100"),
            ("IATF 16949", "iatf16949"),
            ("ISO 13485", "iso13485"),
            ("ISO 14001", "iso14001"),
            ("ISO 45001", "iso45001"),
            ("ISO 50001", "iso50001"),
            ("NADCAP traitements de surface", "nadcap.traitements-surface"),
            ("NADCAP traitements thermiques", "nadcap.traitements-thermiques"),
            ("NADCAP soudage", "nadcap.soudage"),
            ("NADCAP contrôles non destructifs", "nadcap.cnd"),
            ("ISO 3834-2", "iso3834.2"),
            ("EN 1090-2 EXC2", "en1090.exc2"),
            ("EN 1090-2 EXC3", "en1090.exc3"),
            ("EN 15085-2 (ferroviaire)", "en15085"),
            ("PED 2014/68/UE", "ped"),
            ("ATEX", "atex"),
            ("MASE", "mase"),
            ("IPC-A-610", "ipc-a-610"),
            ("IPC/WHMA-A-620", "ipc-whma-a-620"),
            ("agrément EASA Part 21G", "easa.part-21g"),
            ("qualification RCC-M", "rcc-m"),
            ("CEFRI", "cefri"),
            ("accréditation COFRAC ISO/IEC 17025", "iso17025"),
        ];
        let vocab = datagen();
        let labels: Vec<&str> =
            vocab["certifications"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        let listed: Vec<&str> = expected.iter().map(|(label, _)| *label).collect();
        assert_eq!(labels, listed, "the generator's certifications changed: list them here");
        for (label, id) in expected {
            let tokens = crate::analysis::Analyzer::new(crate::analysis::Language::French).analyze(label);
            let hits = certifications.most_specific(&tokens, &certifications.find(&tokens, |_| true));
            let ids: Vec<&str> = hits.iter().map(|h| certifications.entry(h.entry).id.as_str()).collect();
            assert_eq!(ids, [id], "{label}");
        }
    }

    #[test]
    fn grades_imply_their_family_and_aliases_work_in_both_languages() {
        let materials = &Vocabularies::embedded().materials;
        for (text, family) in [
            ("316L", "inox"),
            ("1.4404", "inox"),
            ("X2CrNiMo17-12-2", "inox"),
            ("AISI 316L", "inox"),
            ("stainless steel", "inox"),
            ("acier inoxydable", "inox"),
            ("17-4PH", "inox"),
            ("TA6V", "titane"),
            ("Ti6Al4V", "titane"),
            ("grade 5", "titane"),
            ("titanium", "titane"),
            ("aluminum 7075-T6", "aluminium"),
            ("alu", "aluminium"),
            ("brass", "cuivreux"),
            ("laiton", "cuivreux"),
            ("ductile iron", "fonte"),
            ("nickel alloy", "superalliage"),
            ("Stellite", "superalliage"),
            ("Viton", "elastomere"),
            ("rubber", "elastomere"),
            ("HDPE", "plastique"),
            ("Delrin", "plastique"),
            ("Kevlar", "composite"),
            ("carbon fibre", "composite"),
            ("S235JR", "acier"),
            ("mild steel", "acier"),
            ("Hardox 450", "acier"),
        ] {
            assert_eq!(roots(materials, text), BTreeSet::from([family.to_owned()]), "{text}");
        }
        for text in [
            "composition chimique",
            "cuivrage",
            "zinc nickel",
            "déformation plastique",
            "lot de 316 pièces",
            "programmation API",
        ] {
            assert!(materials.find_in_text(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn nickel_and_cobalt_alloys_are_superalloys_apart() {
        let materials = &Vocabularies::embedded().materials;
        let lineage = |text: &str| -> Vec<String> {
            let hits = materials.find_in_text(text);
            assert!(hits.iter().all(|h| h.entry == hits[0].entry), "{text}");
            materials.lineage(hits[0].entry).map(|idx| materials.entry(idx).id.clone()).collect()
        };
        assert_eq!(
            lineage("Inconel 718"),
            ["superalliage.inconel-718", "superalliage.inconel", "superalliage.nickel", "superalliage"]
        );
        assert_eq!(lineage("alliages base nickel"), ["superalliage.nickel", "superalliage"]);
        assert_eq!(
            lineage("cobalt-chrome CoCrMo"),
            ["superalliage.cobalt-chrome", "superalliage.cobalt", "superalliage"]
        );
    }

    #[test]
    fn a_company_gets_every_ancestor_from_its_fields() {
        let mut company: Company = serde_json::from_value(serde_json::json!({
            "id": "732829320", "name": "Test", "naf": "25.62B", "headcount": "10-19", "created": "2001-01-01",
            "address": {"postal_code": "69003", "commune": "Lyon"},
            "materials": ["titane TA6V", "acier inoxydable 316L"],
            "capabilities": ["découpe laser aluminium jusqu'à 10 mm", "soudage TIG"],
            "certifications": ["ISO 9001", "EN 1090-2 EXC2", "AS9100D"]
        }))
        .unwrap();
        let values = Vocabularies::embedded().company_values(&company);
        assert_eq!(values.materials, ["aluminium", "inox", "inox.316", "inox.316l", "titane", "titane.ta6v"]);
        // A higher execution class covers the lower ones.
        assert_eq!(values.certifications, ["en1090", "en1090.exc1", "en1090.exc2", "en9100", "iso9001"]);
        company.materials.clear();
        company.capabilities.clear();
        company.certifications.clear();
        assert_eq!(Vocabularies::embedded().company_values(&company), CompanyValues::default());
    }

    /// Every name of an entry reads as that entry alone: no two entries share a name (a family
    /// and its grade included), and no name is cut into other entries or shadowed by an exclusion.
    /// The dictionary decides, never the order of the lines. And no name is a bare year.
    #[test]
    fn every_name_means_its_entry_only() {
        let analyzer = crate::analysis::Analyzer::new(crate::analysis::Language::French);
        let vocabularies = Vocabularies::embedded();
        let mut problems = Vec::new();
        for vocabulary in [&vocabularies.materials, &vocabularies.certifications] {
            for entry in vocabulary.entries() {
                let names =
                    std::iter::once(&entry.label).chain(&entry.label_en).chain(&entry.aliases).chain(&entry.aliases_en);
                for name in names {
                    let tokens = analyzer.analyze(name);
                    let read: Vec<&str> = vocabulary
                        .find(&tokens, |_| true)
                        .iter()
                        .map(|h| vocabulary.entry(h.entry).id.as_str())
                        .collect();
                    if read != [entry.id.as_str()] {
                        problems.push(format!("{name:?} of {} reads as {read:?}", entry.id));
                    }
                    // A year is not a designation ("en 2024", "depuis 2017").
                    let year =
                        tokens.len() == 1 && tokens[0].folded.parse::<u32>().is_ok_and(|n| (1900..=2099).contains(&n));
                    if year {
                        problems.push(format!("{name:?} of {} is a year", entry.id));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
