//! Everything the generator draws from, prepared once: the glossary grouped by métier, the
//! communes weighted by population, the vocabulary.

use std::collections::BTreeMap;

use marketlounge_index::dict::glossary::Glossary;
use marketlounge_index::record::ConceptLevel;
use marketlounge_index::refdata::{Commune, RefData};
use rand::Rng;

use crate::vocab::{Vocab, job_titles_by_division};

/// One métier of the glossary with what a company of that trade draws from.
#[derive(Debug)]
pub struct Metier {
    pub id: String,
    pub label: String,
    /// Glossary indices of the opérations and variantes below it.
    pub concepts: Vec<usize>,
    /// NAF codes of the métier and its concepts, most frequent first.
    pub naf_codes: Vec<String>,
}

#[derive(Debug)]
pub struct World {
    pub glossary: Glossary,
    pub metiers: Vec<Metier>,
    /// Relative share of companies per métier (how common the trade is in French industry).
    pub metier_weights: Vec<f64>,
    pub vocab: Vocab,
    pub job_titles: BTreeMap<String, Vec<String>>,
    pub refdata: &'static RefData,
    /// Cumulative population weights of `refdata.communes`, for sampling a location.
    commune_cumulative: Vec<f64>,
}

/// How common each trade is among industrial subcontractors, relative to 1 (a rough reading of
/// INSEE's establishment counts by NAF: general machining and sheet metal dominate).
fn metier_prevalence(id: &str) -> f64 {
    match id {
        "usinage" => 6.0,
        "chaudronnerie" | "tolerie" => 4.0,
        "soudage" | "decoupe" | "maintenance" => 3.0,
        "traitement-surface" | "peinture" | "plasturgie" | "electronique" | "assemblage" | "automatisme" => 2.0,
        "decolletage" | "outillage" | "bureau-etudes" | "cablage" => 1.5,
        _ => 1.0,
    }
}

impl World {
    pub fn load() -> anyhow::Result<World> {
        let glossary = Glossary::embedded()?;
        let vocab = crate::vocab::Vocab::load()?;
        let refdata = RefData::embedded();
        let mut metiers: Vec<Metier> = Vec::new();
        for (idx, concept) in glossary.concepts().iter().enumerate() {
            if concept.level != ConceptLevel::Metier {
                continue;
            }
            let concepts: Vec<usize> = glossary.descendants(idx);
            let mut naf_counts: BTreeMap<String, usize> = BTreeMap::new();
            for &c in std::iter::once(&idx).chain(&concepts) {
                for code in &glossary.concept(c).naf {
                    *naf_counts.entry(code.clone()).or_default() += 1;
                }
            }
            let mut naf_codes: Vec<(String, usize)> = naf_counts.into_iter().collect();
            naf_codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            if concepts.is_empty() || naf_codes.is_empty() {
                continue;
            }
            metiers.push(Metier {
                id: concept.id.clone(),
                label: concept.label.clone(),
                concepts,
                naf_codes: naf_codes.into_iter().map(|(code, _)| code).collect(),
            });
        }
        anyhow::ensure!(!metiers.is_empty(), "the glossary has no métier with concepts");
        for metier in &metiers {
            anyhow::ensure!(
                vocab.machines.contains_key(&metier.id),
                "vocab.json has no machines for métier {}",
                metier.id
            );
        }
        let metier_weights = metiers.iter().map(|m| metier_prevalence(&m.id)).collect();
        let mut total = 0.0;
        let commune_cumulative = refdata
            .communes
            .iter()
            .map(|commune| {
                // Industry follows population, but not linearly: small towns host many workshops.
                // A commune without a postal code (a recent merger the source lacks) cannot give a
                // valid address: it is never drawn.
                if !commune.postal_codes.is_empty() {
                    total += f64::from(commune.population.max(50)).powf(0.8);
                }
                total
            })
            .collect();
        Ok(World {
            glossary,
            metiers,
            metier_weights,
            vocab,
            job_titles: job_titles_by_division()?,
            refdata,
            commune_cumulative,
        })
    }

    pub fn sample_commune(&self, rng: &mut impl Rng) -> &Commune {
        let total = *self.commune_cumulative.last().expect("communes exist");
        let x = rng.random::<f64>() * total;
        let idx = self.commune_cumulative.partition_point(|&c| c < x).min(self.commune_cumulative.len() - 1);
        &self.refdata.communes[idx]
    }

    pub fn sample_metier(&self, rng: &mut impl Rng) -> usize {
        weighted_index(rng, &self.metier_weights)
    }
}

/// An index drawn with probability proportional to `weights`.
pub fn weighted_index(rng: &mut impl Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (idx, weight) in weights.iter().enumerate() {
        if x < *weight {
            return idx;
        }
        x -= weight;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn sampled_communes_always_have_a_postal_code() {
        let world = World::load().unwrap();
        // Every commune with a non-zero weight has a postal code.
        let mut previous = 0.0;
        for (commune, &cumulative) in world.refdata.communes.iter().zip(&world.commune_cumulative) {
            if cumulative > previous {
                assert!(!commune.postal_codes.is_empty(), "{}", commune.name);
            }
            previous = cumulative;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            assert!(!world.sample_commune(&mut rng).postal_codes.is_empty());
        }
    }
}
