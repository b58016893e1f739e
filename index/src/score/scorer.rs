//! Scoring with a loaded artefact: one company with its exact explanation, or every company in
//! bulk (features and model, split over threads), and drift against the training reference.

use serde::Serialize;

use super::artefact::Artefact;
use super::features::{self, Firmographics, History};
use super::metrics::psi;
use super::store::Histories;

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Contribution {
    pub feature: String,
    /// The feature's value, in its unit (see `marketlounge score features`).
    pub value: f64,
    /// What it adds to the log-odds, relative to a company with average features.
    pub contribution: f64,
}

/// A score and its exact explanation: `baseline + Σ contributions = logit`, and
/// `probability = calibration(logit)`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Explanation {
    pub probability: f64,
    pub score_pct: f64,
    pub logit: f64,
    pub baseline: f64,
    /// Every feature, largest absolute contribution first.
    pub contributions: Vec<Contribution>,
}

/// Drift of one feature or of the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub name: String,
    pub psi: f64,
    /// "stable" (< 0.1), "moderate" (< 0.25) or "shifted".
    pub status: &'static str,
}

fn status(psi: f64) -> &'static str {
    if psi < 0.1 {
        "stable"
    } else if psi < 0.25 {
        "moderate"
    } else {
        "shifted"
    }
}

/// A drift report: the score's PSI and each feature's, worst first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub score: Drift,
    pub features: Vec<Drift>,
}

/// A model ready to score.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub artefact: Artefact,
}

impl Scorer {
    pub fn new(artefact: Artefact) -> Scorer {
        Scorer { artefact }
    }

    /// Log-odds and calibrated probability; `buffer` holds the features afterwards.
    pub fn score_into(&self, as_of: i32, firm: &Firmographics, history: History<'_>, buffer: &mut [f64]) -> (f64, f64) {
        features::compute(&self.artefact.feature_settings, as_of, firm, history, buffer);
        let logit = self.artefact.model.logit(buffer);
        (logit, self.artefact.calibrator.probability(logit))
    }

    /// A score with every feature's contribution.
    pub fn explain(&self, as_of: i32, firm: &Firmographics, history: History<'_>) -> Explanation {
        let n = features::n_features();
        let mut values = vec![0.0; n];
        features::compute(&self.artefact.feature_settings, as_of, firm, history, &mut values);
        let mut parts = vec![0.0; n];
        let baseline = self.artefact.model.contributions(&values, &mut parts);
        let logit = baseline + parts.iter().sum::<f64>();
        let probability = self.artefact.calibrator.probability(logit);
        let mut contributions: Vec<Contribution> = self
            .artefact
            .feature_names
            .iter()
            .zip(values.iter().zip(&parts))
            .map(|(name, (&value, &contribution))| Contribution { feature: name.clone(), value, contribution })
            .collect();
        contributions.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        Explanation { probability, score_pct: 100.0 * probability, logit, baseline, contributions }
    }

    /// Scores every company as of `as_of`, `(logit, probability)` in input order, on `threads`
    /// threads.
    pub fn score_all(
        &self,
        as_of: i32,
        companies: &[(u32, Firmographics)],
        histories: &Histories,
        threads: usize,
    ) -> Vec<(f64, f64)> {
        let mut out = vec![(0.0, 0.0); companies.len()];
        let chunk = companies.len().div_ceil(threads.max(1)).max(1);
        std::thread::scope(|scope| {
            for (input, output) in companies.chunks(chunk).zip(out.chunks_mut(chunk)) {
                scope.spawn(move || {
                    let mut buffer = vec![0.0; features::n_features()];
                    for ((company, firm), slot) in input.iter().zip(output) {
                        *slot = self.score_into(as_of, firm, histories.get(*company), &mut buffer);
                    }
                });
            }
        });
        out
    }

    /// PSI of every feature and of the probability, as of `as_of`, against the reference.
    pub fn drift(
        &self,
        as_of: i32,
        companies: &[(u32, Firmographics)],
        histories: &Histories,
        probabilities: &[f64],
    ) -> DriftReport {
        let n = features::n_features();
        let mut columns: Vec<Vec<f64>> = (0..n).map(|_| Vec::with_capacity(companies.len())).collect();
        let mut buffer = vec![0.0; n];
        for (company, firm) in companies {
            features::compute(&self.artefact.feature_settings, as_of, firm, histories.get(*company), &mut buffer);
            for (column, &value) in columns.iter_mut().zip(&buffer) {
                column.push(value);
            }
        }
        let mut features: Vec<Drift> = self
            .artefact
            .feature_names
            .iter()
            .zip(&self.artefact.reference.features)
            .zip(&columns)
            .map(|((name, reference), values)| {
                let value = psi(reference, values);
                Drift { name: name.clone(), psi: value, status: status(value) }
            })
            .collect();
        features.sort_by(|a, b| b.psi.total_cmp(&a.psi));
        let score = psi(&self.artefact.reference.probability, probabilities);
        DriftReport { score: Drift { name: "probability".into(), psi: score, status: status(score) }, features }
    }
}
