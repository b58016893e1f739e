//! Places: communes, départements and régions (with the former régions and common
//! abbreviations as aliases), for detecting locations in queries.

use std::collections::HashMap;

use serde::Serialize;

use super::PhraseDict;
use crate::analysis::{Analyzer, Language};
use crate::refdata::RefData;

/// Place names that are also ordinary French words ("tour", "lot", "coquille"), as name keys.
const COMMON_WORD_PLACES: &str = include_str!("../../../schema/ref/common_word_places.txt");

/// Former régions (before 2016), abbreviations buyers still use and the English names of
/// régions, with the current région.
const REGION_ALIASES: &[(&str, &str)] = &[
    ("Alsace", "Grand Est"),
    ("Lorraine", "Grand Est"),
    ("Champagne-Ardenne", "Grand Est"),
    ("Aquitaine", "Nouvelle-Aquitaine"),
    ("Limousin", "Nouvelle-Aquitaine"),
    ("Poitou-Charentes", "Nouvelle-Aquitaine"),
    ("Midi-Pyrénées", "Occitanie"),
    ("Languedoc-Roussillon", "Occitanie"),
    ("Rhône-Alpes", "Auvergne-Rhône-Alpes"),
    ("Auvergne", "Auvergne-Rhône-Alpes"),
    ("AURA", "Auvergne-Rhône-Alpes"),
    ("Bourgogne", "Bourgogne-Franche-Comté"),
    ("Franche-Comté", "Bourgogne-Franche-Comté"),
    ("Nord-Pas-de-Calais", "Hauts-de-France"),
    ("Picardie", "Hauts-de-France"),
    ("Basse-Normandie", "Normandie"),
    ("Haute-Normandie", "Normandie"),
    ("PACA", "Provence-Alpes-Côte d'Azur"),
    ("Provence", "Provence-Alpes-Côte d'Azur"),
    ("Côte d'Azur", "Provence-Alpes-Côte d'Azur"),
    ("IDF", "Île-de-France"),
    ("région parisienne", "Île-de-France"),
    ("Centre", "Centre-Val de Loire"),
    ("Réunion", "La Réunion"),
    ("Brittany", "Bretagne"),
    ("Normandy", "Normandie"),
    ("Lower Normandy", "Normandie"),
    ("Upper Normandy", "Normandie"),
    ("Burgundy", "Bourgogne-Franche-Comté"),
    ("Burgundy-Franche-Comté", "Bourgogne-Franche-Comté"),
    ("Corsica", "Corse"),
    ("Occitania", "Occitanie"),
    ("New Aquitaine", "Nouvelle-Aquitaine"),
    ("Picardy", "Hauts-de-France"),
    ("Loire Valley", "Centre-Val de Loire"),
    ("Centre-Loire Valley", "Centre-Val de Loire"),
    ("Paris region", "Île-de-France"),
    ("Greater Paris", "Île-de-France"),
    ("Paris area", "Île-de-France"),
    ("French Riviera", "Provence-Alpes-Côte d'Azur"),
    ("Rhone-Alps", "Auvergne-Rhône-Alpes"),
    ("Reunion Island", "La Réunion"),
    ("French Guiana", "Guyane"),
];

/// What a place is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    Commune,
    Departement,
    Region,
}

/// A place that can be named in a query.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Place {
    pub kind: PlaceKind,
    /// INSEE code for a commune, code for a département, name for a région.
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departement: Option<String>,
    pub region: String,
    /// Town hall for a commune; population-weighted centre for a département or région.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    pub population: u64,
    /// The name is also an ordinary word: it means the place only when clearly introduced.
    #[serde(skip)]
    pub common_word: bool,
}

/// Place names compiled to an FST, plus numeric codes.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    places: Vec<Place>,
    names: PhraseDict,
    departement_by_code: HashMap<String, usize>,
    communes_by_postal_code: HashMap<String, Vec<usize>>,
}

impl Gazetteer {
    pub fn build(refdata: &RefData) -> Gazetteer {
        let analyzer = Analyzer::new(Language::French);
        let common_words: std::collections::HashSet<&str> =
            COMMON_WORD_PLACES.lines().filter(|line| !line.starts_with('#') && !line.is_empty()).collect();
        let mut places = Vec::with_capacity(refdata.communes.len() + 200);
        let mut names = Vec::new();
        let mut communes_by_postal_code: HashMap<String, Vec<usize>> = HashMap::new();

        // Population-weighted centres of départements and régions, from their communes.
        let mut sums: HashMap<(PlaceKind, &str), (f64, f64, f64, u64)> = HashMap::new();
        for commune in &refdata.communes {
            let idx = places.len() as u32;
            let key = analyzer.name_key(&commune.name);
            let common_word = common_words.contains(key.as_str());
            names.push((key, idx));
            for postal_code in &commune.postal_codes {
                communes_by_postal_code.entry(postal_code.clone()).or_default().push(places.len());
            }
            let population = u64::from(commune.population);
            for key in
                [(PlaceKind::Departement, commune.departement.as_str()), (PlaceKind::Region, commune.region.as_str())]
            {
                let entry = sums.entry(key).or_default();
                if let (Some(lat), Some(lon)) = (commune.lat, commune.lon) {
                    let weight = population.max(1) as f64;
                    entry.0 += lat * weight;
                    entry.1 += lon * weight;
                    entry.2 += weight;
                }
                entry.3 += population;
            }
            places.push(Place {
                kind: PlaceKind::Commune,
                code: commune.code.clone(),
                name: commune.name.clone(),
                departement: Some(commune.departement.clone()),
                region: commune.region.clone(),
                lat: commune.lat,
                lon: commune.lon,
                population,
                common_word,
            });
        }
        let centre = |kind: PlaceKind, key: &str| -> (Option<f64>, Option<f64>, u64) {
            match sums.get(&(kind, key)) {
                Some(&(lat, lon, weight, population)) if weight > 0.0 => {
                    (Some(lat / weight), Some(lon / weight), population)
                }
                Some(&(_, _, _, population)) => (None, None, population),
                None => (None, None, 0),
            }
        };
        let mut departement_by_code = HashMap::new();
        for departement in &refdata.departements {
            let (lat, lon, population) = centre(PlaceKind::Departement, &departement.code);
            departement_by_code.insert(departement.code.to_ascii_lowercase(), places.len());
            let key = analyzer.name_key(&departement.name);
            let common_word = common_words.contains(key.as_str());
            names.push((key, places.len() as u32));
            places.push(Place {
                kind: PlaceKind::Departement,
                code: departement.code.clone(),
                name: departement.name.clone(),
                departement: Some(departement.code.clone()),
                region: departement.region.clone(),
                lat,
                lon,
                population,
                common_word,
            });
        }
        let mut region_idx = HashMap::new();
        for region in &refdata.regions {
            let (lat, lon, population) = centre(PlaceKind::Region, region);
            region_idx.insert(region.as_str(), places.len());
            names.push((analyzer.name_key(region), places.len() as u32));
            places.push(Place {
                kind: PlaceKind::Region,
                code: region.clone(),
                name: region.clone(),
                departement: None,
                region: region.clone(),
                lat,
                lon,
                population,
                common_word: false,
            });
        }
        for (alias, region) in REGION_ALIASES {
            let idx = region_idx[region];
            names.push((analyzer.name_key(alias), idx as u32));
        }
        Gazetteer { places, names: PhraseDict::build(names), departement_by_code, communes_by_postal_code }
    }

    pub fn place(&self, idx: usize) -> &Place {
        &self.places[idx]
    }

    pub fn names(&self) -> &PhraseDict {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// A département by code ("69", "2a", "974"), case-insensitive.
    pub fn departement_by_code(&self, code: &str) -> Option<usize> {
        self.departement_by_code.get(&code.to_ascii_lowercase()).copied()
    }

    /// The most populous commune with this postal code.
    pub fn commune_by_postal_code(&self, postal_code: &str) -> Option<usize> {
        self.communes_by_postal_code.get(postal_code)?.iter().copied().max_by_key(|&idx| self.places[idx].population)
    }

    /// Among places sharing a name, the one a buyer most likely means: a département or région
    /// before a commune of the same name ("Vienne", "Paris" aside), else the most populous.
    pub fn best_of(&self, candidates: &[u32]) -> usize {
        candidates
            .iter()
            .map(|&idx| idx as usize)
            .max_by_key(|&idx| {
                let place = &self.places[idx];
                let rank = match place.kind {
                    // A big city beats a homonymous département only when it is the
                    // département's own capital-sized city (Paris): population decides.
                    PlaceKind::Commune => place.population,
                    PlaceKind::Departement | PlaceKind::Region => 1_000_000,
                };
                (rank, std::cmp::Reverse(idx))
            })
            .expect("a dictionary group is never empty")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'g>(gazetteer: &'g Gazetteer, name: &str) -> &'g Place {
        let key = Analyzer::new(Language::French).name_key(name);
        gazetteer.place(gazetteer.best_of(gazetteer.names().get(&key).unwrap_or_else(|| panic!("{name} not found"))))
    }

    #[test]
    fn names_and_codes() {
        let gazetteer = Gazetteer::build(RefData::embedded());
        assert_eq!(lookup(&gazetteer, "lyon").code, "69123");
        assert_eq!(lookup(&gazetteer, "Saint-Étienne").departement.as_deref(), Some("42"));
        assert_eq!(lookup(&gazetteer, "Paris").kind, PlaceKind::Commune);
        assert_eq!(lookup(&gazetteer, "Haute Savoie").kind, PlaceKind::Departement);
        assert_eq!(lookup(&gazetteer, "rhone alpes").name, "Auvergne-Rhône-Alpes");
        assert_eq!(lookup(&gazetteer, "Grand Est").kind, PlaceKind::Region);
        for (english, region) in [
            ("Brittany", "Bretagne"),
            ("Normandy", "Normandie"),
            ("Burgundy", "Bourgogne-Franche-Comté"),
            ("Corsica", "Corse"),
            ("Occitania", "Occitanie"),
        ] {
            assert_eq!(lookup(&gazetteer, english).name, region, "{english}");
        }
        let rhone = gazetteer.place(gazetteer.departement_by_code("69").unwrap());
        assert_eq!(rhone.name, "Rhône");
        let (lat, lon) = (rhone.lat.unwrap(), rhone.lon.unwrap());
        assert!((45.5..46.3).contains(&lat) && (4.2..5.2).contains(&lon), "{lat} {lon}");
        assert_eq!(gazetteer.place(gazetteer.commune_by_postal_code("69003").unwrap()).name, "Lyon");
        assert!(lookup(&gazetteer, "Lot").common_word);
        assert!(!lookup(&gazetteer, "Grenoble").common_word);
        assert_eq!(lookup(&gazetteer, "Tours").code, "37261");
    }
}
