//! The generator's vocabulary (`vocab.json`, hand-curated): machines by métier, materials,
//! certifications, sectors, name parts and sentence templates.

use std::collections::BTreeMap;

use serde::Deserialize;

const VOCAB_JSON: &str = include_str!("../vocab.json");
const ROME_JSON: &str = include_str!("../../../schema/ref/rome_by_naf_division.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocab {
    pub machines: BTreeMap<String, Vec<String>>,
    pub materials: Vec<Material>,
    pub certifications: Vec<String>,
    pub sectors: Vec<String>,
    pub name_parts: NameParts,
    pub templates: Templates,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub label: String,
    pub family: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameParts {
    pub prefixes: Vec<String>,
    pub cores: Vec<String>,
    pub suffixes: Vec<String>,
    pub family_names: Vec<String>,
    pub legal_forms: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    pub intro: Vec<String>,
    pub capability: Vec<String>,
    pub equipment: Vec<String>,
    pub quality: Vec<String>,
    pub markets: Vec<String>,
    pub closing: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RomeDivision {
    codes_rome: Vec<RomeJob>,
}

#[derive(Debug, Deserialize)]
struct RomeJob {
    libelle: String,
}

impl Vocab {
    pub fn load() -> anyhow::Result<Vocab> {
        let vocab: Vocab = serde_json::from_str(VOCAB_JSON)?;
        anyhow::ensure!(!vocab.materials.is_empty() && !vocab.certifications.is_empty(), "vocab.json: empty lists");
        Ok(vocab)
    }
}

/// Job titles (masculine form) by NAF division ("25"), from ROME 4.0.
pub fn job_titles_by_division() -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let raw: BTreeMap<String, RomeDivision> = serde_json::from_str(ROME_JSON)?;
    Ok(raw
        .into_iter()
        .map(|(division, jobs)| {
            let titles = jobs
                .codes_rome
                .into_iter()
                .map(|job| job.libelle.split(" / ").next().unwrap_or(&job.libelle).trim().to_owned())
                .collect();
            (format!("{:0>2}", division), titles)
        })
        .collect())
}
