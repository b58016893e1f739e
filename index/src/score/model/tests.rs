//! The model end to end (a fit, then its calibrators), and the test data shared with the fit's
//! and the calibration's own tests.

use super::*;

/// SplitMix64, enough for reproducible test data.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal by Box-Muller.
    pub(super) fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub(super) fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

pub(super) const TRUE_INTERCEPT: f64 = -0.7;
pub(super) const TRUE_SLOPES: [f64; 5] = [1.2, -0.8, 0.5, 0.0, 0.3];

/// 5 features with known logistic coefficients (feature 3 is constant) plus labels.
pub(super) fn synthetic(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    let mut rng = Rng(seed);
    let mut x = Vec::with_capacity(n * 5);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row = [rng.normal(), 2.0 * rng.normal() + 1.0, rng.uniform() * 4.0, 3.5, rng.normal() * 0.5 - 2.0];
        let eta = TRUE_INTERCEPT + row.iter().zip(TRUE_SLOPES).map(|(v, b)| v * b).sum::<f64>();
        y.push(rng.bernoulli(sigmoid(eta)));
        x.extend_from_slice(&row);
    }
    (x, y)
}

#[test]
fn raising_a_positive_feature_never_lowers_the_score() {
    let (x, y) = synthetic(5_000, 5);
    let model = fit_logistic(&x, 5, &y, &LogisticOptions::default()).unwrap();
    assert!(model.weights[0] > 0.0);
    let logits: Vec<f64> = x.chunks_exact(5).map(|row| model.logit(row)).collect();
    let platt = fit_calibrator(&logits, &y, CalibrationKind::Platt).unwrap();
    let isotonic = fit_calibrator(&logits, &y, CalibrationKind::Isotonic).unwrap();
    let mut row = x[..5].to_vec();
    let mut previous = (f64::NEG_INFINITY, 0.0, 0.0);
    for step in 0..400 {
        row[0] = -10.0 + 0.05 * f64::from(step);
        let logit = model.logit(&row);
        let current = (logit, platt.probability(logit), isotonic.probability(logit));
        assert!(current.0 >= previous.0 && current.1 >= previous.1 && current.2 >= previous.2);
        previous = current;
    }
}

#[test]
fn serde_round_trip_is_exact() {
    let (x, y) = synthetic(3_000, 13);
    let model = fit_logistic(&x, 5, &y, &LogisticOptions::default()).unwrap();
    let json = serde_json::to_string(&model).unwrap();
    assert_eq!(serde_json::from_str::<LogisticModel>(&json).unwrap(), model);
    let logits: Vec<f64> = x.chunks_exact(5).map(|row| model.logit(row)).collect();
    for kind in [CalibrationKind::Platt, CalibrationKind::Isotonic] {
        let calibrator = fit_calibrator(&logits, &y, kind).unwrap();
        let json = serde_json::to_string(&calibrator).unwrap();
        assert_eq!(serde_json::from_str::<Calibrator>(&json).unwrap(), calibrator);
    }
    let json = serde_json::to_string(&Calibrator::Platt { a: 0.5, b: -1.0 }).unwrap();
    assert_eq!(json, r#"{"kind":"platt","a":0.5,"b":-1.0}"#);
    let options: LogisticOptions = serde_json::from_str(r#"{"c": 2.0}"#).unwrap();
    assert_eq!(options, LogisticOptions { c: 2.0, ..Default::default() });
}
