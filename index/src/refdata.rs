//! Real reference data shipped in `schema/ref/`: NAF rév.2 codes, French communes with postal
//! codes and coordinates, départements and régions.
//!
//! The tables are compiled into the binary and parsed once, on first use (~30 ms). See
//! `schema/ref/README.md` for their provenance and `tools/refdata/derive.py` for how they are made.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;

const NAF_JSON: &str = include_str!("../../schema/ref/naf_rev2.json");
const COMMUNES_CSV: &str = include_str!("../../schema/ref/communes.csv");
const DEPARTEMENTS_CSV: &str = include_str!("../../schema/ref/departements.csv");

/// One NAF rév.2 sous-classe with its ancestors' labels.
#[derive(Debug, Clone)]
pub struct NafEntry {
    pub code: String,
    pub label: String,
    pub division_code: String,
    pub division_label: String,
    pub section_code: String,
    pub section_label: String,
}

/// A French commune.
#[derive(Debug, Clone)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub population: u32,
    pub departement: String,
    pub region: String,
    pub postal_codes: Vec<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// A French département.
#[derive(Debug, Clone)]
pub struct Departement {
    pub code: String,
    pub name: String,
    pub region: String,
}

/// All reference tables, indexed for lookups.
#[derive(Debug)]
pub struct RefData {
    pub naf: BTreeMap<String, NafEntry>,
    pub communes: Vec<Commune>,
    pub departements: Vec<Departement>,
    /// Région names, sorted.
    pub regions: Vec<String>,
    commune_by_code: HashMap<String, usize>,
    communes_by_postal_code: HashMap<String, Vec<usize>>,
    departement_by_code: HashMap<String, usize>,
}

static EMBEDDED: LazyLock<RefData> = LazyLock::new(|| {
    // The embedded tables are part of the build: failing to parse them is a bug, caught by tests.
    RefData::parse(NAF_JSON, COMMUNES_CSV, DEPARTEMENTS_CSV).expect("embedded reference data is valid")
});

#[derive(Deserialize)]
struct RawNaf {
    code: String,
    description: String,
    division: RawNafLevel,
    section: RawNafLevel,
}

#[derive(Deserialize)]
struct RawNafLevel {
    code: String,
    description: String,
}

#[derive(Deserialize)]
struct RawCommune {
    code_insee: String,
    nom: String,
    population: u32,
    departement: String,
    region: String,
    codes_postaux: String,
    lat: Option<f64>,
    lon: Option<f64>,
}

#[derive(Deserialize)]
struct RawDepartement {
    code: String,
    nom: String,
    region: String,
}

/// Error while parsing reference tables.
#[derive(Debug, thiserror::Error)]
pub enum RefDataError {
    #[error("naf table: {0}")]
    Naf(#[from] serde_json::Error),
    #[error("{table} table: {source}")]
    Csv { table: &'static str, source: csv::Error },
}

impl RefData {
    /// The tables compiled into the binary.
    pub fn embedded() -> &'static RefData {
        &EMBEDDED
    }

    pub fn parse(naf_json: &str, communes_csv: &str, departements_csv: &str) -> Result<RefData, RefDataError> {
        let raw_naf: BTreeMap<String, RawNaf> = serde_json::from_str(naf_json)?;
        let naf = raw_naf
            .into_values()
            .map(|raw| {
                let entry = NafEntry {
                    code: raw.code,
                    label: raw.description,
                    division_code: raw.division.code,
                    division_label: raw.division.description,
                    section_code: raw.section.code,
                    section_label: raw.section.description,
                };
                (entry.code.clone(), entry)
            })
            .collect();

        let mut communes = Vec::new();
        for row in csv::Reader::from_reader(communes_csv.as_bytes()).deserialize::<RawCommune>() {
            let raw = row.map_err(|source| RefDataError::Csv { table: "communes", source })?;
            communes.push(Commune {
                code: raw.code_insee,
                name: raw.nom,
                population: raw.population,
                departement: raw.departement,
                region: raw.region,
                postal_codes: raw.codes_postaux.split_whitespace().map(str::to_owned).collect(),
                // Unknown coordinates must be absent, never NaN: distances would silently poison.
                lat: raw.lat.filter(|x| x.is_finite()),
                lon: raw.lon.filter(|x| x.is_finite()),
            });
        }
        let mut departements = Vec::new();
        for row in csv::Reader::from_reader(departements_csv.as_bytes()).deserialize::<RawDepartement>() {
            let raw = row.map_err(|source| RefDataError::Csv { table: "departements", source })?;
            departements.push(Departement { code: raw.code, name: raw.nom, region: raw.region });
        }

        let commune_by_code = communes.iter().enumerate().map(|(idx, c)| (c.code.clone(), idx)).collect();
        let mut communes_by_postal_code: HashMap<String, Vec<usize>> = HashMap::new();
        for (idx, commune) in communes.iter().enumerate() {
            for postal_code in &commune.postal_codes {
                communes_by_postal_code.entry(postal_code.clone()).or_default().push(idx);
            }
        }
        let departement_by_code = departements.iter().enumerate().map(|(idx, d)| (d.code.clone(), idx)).collect();
        let mut regions: Vec<String> = departements.iter().map(|d| d.region.clone()).collect();
        regions.sort();
        regions.dedup();
        Ok(RefData {
            naf,
            communes,
            departements,
            regions,
            commune_by_code,
            communes_by_postal_code,
            departement_by_code,
        })
    }

    pub fn naf(&self, code: &str) -> Option<&NafEntry> {
        self.naf.get(code)
    }

    pub fn commune(&self, insee_code: &str) -> Option<&Commune> {
        self.commune_by_code.get(insee_code).map(|&idx| &self.communes[idx])
    }

    /// The communes served by a postal code (several communes often share one).
    pub fn communes_for_postal_code(&self, postal_code: &str) -> impl Iterator<Item = &Commune> {
        self.communes_by_postal_code.get(postal_code).into_iter().flatten().map(|&idx| &self.communes[idx])
    }

    pub fn departement(&self, code: &str) -> Option<&Departement> {
        self.departement_by_code.get(code).map(|&idx| &self.departements[idx])
    }

    pub fn is_region(&self, name: &str) -> bool {
        self.regions.binary_search_by(|r| r.as_str().cmp(name)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_parse_and_link() {
        let refdata = RefData::embedded();
        assert_eq!(refdata.naf.len(), 732);
        assert_eq!(refdata.naf("25.62B").unwrap().division_code, "25");
        assert!(refdata.communes.len() > 34_000);
        assert_eq!(refdata.departements.len(), 101);
        assert_eq!(refdata.regions.len(), 18);
        let lyon = refdata.commune("69123").unwrap();
        assert_eq!(lyon.name, "Lyon");
        assert!(refdata.communes_for_postal_code("69003").any(|c| c.code == "69123"));
        assert!(refdata.communes_for_postal_code("75116").any(|c| c.name == "Paris"));
        for commune in &refdata.communes {
            assert!(
                commune.lat.is_none_or(f64::is_finite) && commune.lon.is_none_or(f64::is_finite),
                "{}",
                commune.name
            );
            let departement = refdata.departement(&commune.departement).expect("every commune has a known département");
            assert_eq!(departement.region, commune.region, "{}", commune.name);
        }
    }
}
