//! One synthetic company profile: name, texts, capabilities, machines, location.

use jiff::civil::Date;
use marketlounge_index::record::{ActivationSource, Address, Company, ConceptActivation, HeadcountBand};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::text::{
    capitalize_first, fix_french_contractions, join_list, lowercase_label, with_definite_article,
    with_indefinite_article,
};
use crate::world::{World, weighted_index};

/// A generated company with the latent traits the activity process needs.
#[derive(Debug)]
pub struct GeneratedCompany {
    pub company: Company,
    pub metier_idx: usize,
    pub headcount: u32,
    pub city: String,
}

/// Share of companies per headcount band (INSEE's distribution for industrial SMEs, rounded).
const HEADCOUNT_WEIGHTS: [(HeadcountBand, f64); 12] = [
    (HeadcountBand::From1To2, 6.0),
    (HeadcountBand::From3To5, 9.0),
    (HeadcountBand::From6To9, 12.0),
    (HeadcountBand::From10To19, 24.0),
    (HeadcountBand::From20To49, 27.0),
    (HeadcountBand::From50To99, 11.0),
    (HeadcountBand::From100To199, 5.5),
    (HeadcountBand::From200To249, 1.5),
    (HeadcountBand::From250To499, 2.0),
    (HeadcountBand::From500To999, 1.0),
    (HeadcountBand::From1000To1999, 0.5),
    (HeadcountBand::From2000To4999, 0.2),
];

/// A SIREN-like id for company number `n`: a bijective scramble of `n` over 8 digits (so ids
/// are unique and do not follow the generation order) plus the Luhn check digit.
pub fn siren_for(n: u64, seed: u64) -> String {
    // 7_919_351 is odd and not a multiple of 5, so multiplication is a bijection mod 10^8.
    let body = (n.wrapping_mul(7_919_351).wrapping_add(seed.wrapping_mul(104_729))) % 100_000_000;
    marketlounge_index::record::siren_with_check_digit(body as u32)
}

pub fn generate(world: &World, rng: &mut impl Rng, id: String, as_of: Date) -> GeneratedCompany {
    let metier_idx = world.sample_metier(rng);
    let metier = &world.metiers[metier_idx];
    let vocab = &world.vocab;

    // Capabilities: 2–6 concepts of the trade, sometimes one from another trade.
    let n_capabilities = rng.random_range(2..=6).min(metier.concepts.len());
    let mut concept_ids: Vec<usize> = metier.concepts.choose_multiple(rng, n_capabilities).copied().collect();
    if rng.random_bool(0.25) {
        let other = &world.metiers[world.sample_metier(rng)];
        if let Some(&extra) = other.concepts.choose(rng)
            && !concept_ids.contains(&extra)
        {
            concept_ids.push(extra);
        }
    }
    let capability_phrases: Vec<String> = concept_ids
        .iter()
        .map(|&idx| {
            let concept = world.glossary.concept(idx);
            // Companies describe themselves in their own words: a synonym a third of the time.
            match concept.synonyms.choose(rng) {
                Some(synonym) if rng.random_bool(0.33) => lowercase_label(synonym),
                _ => lowercase_label(&concept.label),
            }
        })
        .collect();

    let machine_pool = &vocab.machines[&metier.id];
    let machines: Vec<String> = pick_some(rng, machine_pool, 1..=4);
    let families = material_families(&metier.id);
    let material_labels: Vec<String> =
        vocab.materials.iter().filter(|m| families.contains(&m.family.as_str())).map(|m| m.label.clone()).collect();
    let materials: Vec<String> = pick_some(rng, &material_labels, 1..=4);
    let mut certifications: Vec<String> = Vec::new();
    if rng.random_bool(0.6) {
        certifications.push("ISO 9001".to_owned());
    }
    for certification in pick_some(rng, &vocab.certifications, 0..=2) {
        if !certifications.contains(&certification) {
            certifications.push(certification);
        }
    }
    let sectors: Vec<String> = pick_some(rng, &vocab.sectors, 1..=4);

    let band_weights: Vec<f64> = HEADCOUNT_WEIGHTS.iter().map(|(_, w)| *w).collect();
    let band = HEADCOUNT_WEIGHTS[weighted_index(rng, &band_weights)].0;
    let (low, high) = band.bounds();
    let headcount = rng.random_range(low..=high.min(9_999));
    // Ages skew young: half the companies are under 20 years old.
    let age_years = (rng.random::<f64>().powf(1.6) * 70.0) as i16 + 1;
    let created =
        Date::new(as_of.year() - age_years, rng.random_range(1..=12), rng.random_range(1..=28)).unwrap_or(as_of);

    let commune = world.sample_commune(rng);
    let departement_name = world.refdata.departement(&commune.departement).map(|d| d.name.clone()).unwrap_or_default();
    let naf = if rng.random_bool(0.7) {
        metier.naf_codes[0].clone()
    } else {
        metier.naf_codes.choose(rng).cloned().unwrap_or_default()
    };
    let name = company_name(world, rng, &metier.label, &departement_name);

    let slots = Slots {
        name: &name,
        city: &commune.name,
        departement: &departement_name,
        region: &commune.region,
        year: created.year(),
        headcount,
        capabilities: &capability_phrases,
        materials: &materials,
        machines: &machines,
        sectors: &sectors,
        certifications: &certifications,
        metier: &lowercase_label(&metier.label),
    };
    let description = describe(world, rng, &slots);

    let (lat, lon) = match (commune.lat, commune.lon) {
        // Spread companies around the town hall (±~1.5 km) so they do not share one point.
        (Some(lat), Some(lon)) => {
            (Some(round5(lat + rng.random_range(-0.013..0.013))), Some(round5(lon + rng.random_range(-0.018..0.018))))
        }
        _ => (None, None),
    };
    let mut concepts: Vec<ConceptActivation> = concept_ids
        .iter()
        .map(|&idx| ConceptActivation {
            id: world.glossary.concept(idx).id.clone(),
            weight: round2(rng.random_range(0.6..=1.0)),
            source: ActivationSource::Declared,
        })
        .collect();
    concepts.push(ConceptActivation { id: metier.id.clone(), weight: 0.5, source: ActivationSource::Inferred });

    let company = Company {
        id,
        name: name.clone(),
        description,
        capabilities: capability_phrases,
        machines,
        certifications,
        materials,
        naf,
        headcount: band,
        created,
        address: Address {
            street: Some(street(rng)),
            postal_code: commune.postal_codes.first().cloned().unwrap_or_default(),
            commune: commune.name.clone(),
            commune_code: Some(commune.code.clone()),
            departement: Some(commune.departement.clone()),
            region: Some(commune.region.clone()),
            lat,
            lon,
        },
        website: Some(format!("https://www.{}.fr", marketlounge_index::analysis::slug(&name, '-'))),
        vector: None,
        concepts,
    };
    GeneratedCompany { company, metier_idx, headcount, city: commune.name.clone() }
}

/// Material families a trade works, so that a rubber moulder does not list titanium.
fn material_families(metier_id: &str) -> &'static [&'static str] {
    const METALS: &[&str] =
        &["acier", "inox", "aluminium", "titane", "cuivreux", "fonte", "superalliage", "magnesium", "zinc"];
    match metier_id {
        "plasturgie" => &["plastique"],
        "caoutchouc" => &["elastomere"],
        "composites" => &["composite", "plastique"],
        "fabrication-additive" => &["plastique", "titane", "inox", "aluminium", "superalliage"],
        "electronique" | "cablage" => &["cuivreux", "plastique"],
        "fonderie" => &["fonte", "aluminium", "cuivreux", "acier", "zinc", "magnesium"],
        _ => METALS,
    }
}

/// A random count in `range` of distinct items of `pool`.
fn pick_some(rng: &mut impl Rng, pool: &[String], range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    let n = rng.random_range(range);
    pool.choose_multiple(rng, n).cloned().collect()
}

struct Slots<'a> {
    name: &'a str,
    city: &'a str,
    departement: &'a str,
    region: &'a str,
    year: i16,
    headcount: u32,
    capabilities: &'a [String],
    materials: &'a [String],
    machines: &'a [String],
    sectors: &'a [String],
    certifications: &'a [String],
    metier: &'a str,
}

/// A description of 3 to 6 sentences, one template from each of several categories, in an
/// order that reads naturally (introduction first, closing last).
fn describe<'a>(world: &'a World, rng: &mut impl Rng, slots: &Slots<'_>) -> String {
    let templates = &world.vocab.templates;
    let mut sentences: Vec<&String> = Vec::new();
    let mut push = |pool: &'a Vec<String>, probability: f64, rng: &mut dyn rand::RngCore| {
        if rng.random_bool(probability)
            && let Some(template) = pool.choose(rng)
        {
            sentences.push(template);
        }
    };
    push(&templates.intro, 1.0, rng);
    push(&templates.capability, 1.0, rng);
    push(&templates.equipment, 0.7, rng);
    if !slots.certifications.is_empty() {
        push(&templates.quality, 0.6, rng);
    }
    push(&templates.markets, 0.7, rng);
    push(&templates.closing, 0.5, rng);
    let text = sentences.iter().map(|template| fill(template, slots, rng)).collect::<Vec<_>>().join(" ");
    fix_french_contractions(&text)
}

fn fill(template: &str, slots: &Slots<'_>, rng: &mut impl Rng) -> String {
    let capability = slots.capabilities.first().cloned().unwrap_or_default();
    let capability2 = slots.capabilities.get(1).cloned().unwrap_or_else(|| capability.clone());
    let value = |name: &str, rng: &mut dyn rand::RngCore| -> String {
        match name {
            "name" => slots.name.to_owned(),
            "city" => slots.city.to_owned(),
            "departement" => slots.departement.to_owned(),
            "region" => slots.region.to_owned(),
            "year" => slots.year.to_string(),
            "headcount" => slots.headcount.max(2).to_string(),
            "capability" => capability.clone(),
            "capability2" => capability2.clone(),
            "capabilities" => join_list(slots.capabilities),
            "material" => slots.materials.choose(rng).map(|m| lowercase_label(m)).unwrap_or_default(),
            "materials" => join_list(&slots.materials.iter().map(|m| with_definite_article(m)).collect::<Vec<_>>()),
            "machine" => slots.machines.choose(rng).map(|m| with_indefinite_article(m)).unwrap_or_default(),
            "machines" => join_list(&slots.machines.iter().map(|m| with_indefinite_article(m)).collect::<Vec<_>>()),
            "sector" => slots.sectors.choose(rng).cloned().unwrap_or_default(),
            "sectors" => join_list(slots.sectors),
            "certification" => slots.certifications.choose(rng).cloned().unwrap_or_else(|| "ISO 9001".to_owned()),
            "certifications" => {
                if slots.certifications.is_empty() {
                    "ISO 9001".to_owned()
                } else {
                    join_list(slots.certifications)
                }
            }
            "metier" => slots.metier.to_owned(),
            other => format!("{{{other}}}"),
        }
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        out.push_str(&value(&rest[open + 1..open + close], rng));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    capitalize_first(&out)
}

fn company_name(world: &World, rng: &mut impl Rng, metier_label: &str, departement: &str) -> String {
    let parts = &world.vocab.name_parts;
    let pick = |list: &Vec<String>, rng: &mut dyn rand::RngCore| list.choose(rng).cloned().unwrap_or_default();
    let family = pick(&parts.family_names, rng);
    let mut name = match rng.random_range(0..7) {
        0 => format!("{} {family}", pick(&parts.prefixes, rng)),
        1 => format!("{} {} {family}", pick(&parts.prefixes, rng), pick(&parts.cores, rng)),
        2 => format!("{} {}", pick(&parts.cores, rng), pick(&parts.suffixes, rng)),
        3 if !departement.is_empty() => format!("{} {departement}", pick(&parts.cores, rng)),
        4 => {
            let letters: String =
                (0..rng.random_range(2..=4)).map(|_| char::from(b'A' + rng.random_range(0..26u8))).collect();
            format!("{letters} {}", pick(&parts.suffixes, rng))
        }
        5 => format!("{metier_label} {family}"),
        _ => format!("{} {family} {}", pick(&parts.prefixes, rng), pick(&parts.suffixes, rng)),
    };
    if rng.random_bool(0.3) {
        name.push(' ');
        name.push_str(&pick(&parts.legal_forms, rng));
    }
    name
}

fn street(rng: &mut impl Rng) -> String {
    const KINDS: [&str; 6] = ["rue", "avenue", "chemin", "boulevard", "impasse", "route"];
    const NAMES: [&str; 12] = [
        "de l'Industrie",
        "des Artisans",
        "Pasteur",
        "Jean Jaurès",
        "du Stade",
        "de la Gare",
        "des Forges",
        "Gustave Eiffel",
        "des Métiers",
        "Ampère",
        "de la Zone Artisanale",
        "Victor Hugo",
    ];
    format!(
        "{} {} {}",
        rng.random_range(1..=180),
        KINDS.choose(rng).unwrap_or(&"rue"),
        NAMES.choose(rng).unwrap_or(&"Pasteur")
    )
}

fn round2(x: f32) -> f32 {
    (x * 100.0).round() / 100.0
}

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sirens_are_valid_and_unique() {
        let ids: std::collections::HashSet<String> = (0..100_000).map(|n| siren_for(n, 7)).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.iter().all(|id| marketlounge_index::record::is_valid_siren(id)));
    }

    #[test]
    fn slugs() {
        assert_eq!(
            marketlounge_index::analysis::slug("Mécanique Précision Durand SAS", '-'),
            "mecanique-precision-durand-sas"
        );
        assert_eq!(marketlounge_index::analysis::slug("Techni-Tôle & Fils", '-'), "techni-tole-fils");
    }
}
