//! Calibration of the model's logits into probabilities: Platt scaling (a logistic function of
//! the logit) or isotonic regression (pool-adjacent-violators), both monotone so that the
//! calibrated probability ranks companies as the logit does.
//!
//! # Complexity
//!
//! Calibration ([`fit_calibrator`]) sorts the logits once, `O(n log n)`; Platt scaling is `O(n)`
//! per Newton iteration on two parameters.

use serde::{Deserialize, Serialize};

use super::{ARMIJO, MAX_HALVINGS, ModelError, loss_terms, sigmoid};

/// Lowest calibrated probability; the highest is `1 - PROBABILITY_FLOOR`.
pub const PROBABILITY_FLOOR: f64 = 1e-6;

/// Which calibrator [`fit_calibrator`] fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationKind {
    /// Isotonic with at least 1000 rows and at least 50 of each class, Platt otherwise.
    Auto,
    /// Platt scaling: a logistic function of the logit.
    Platt,
    /// Isotonic regression of the label on the logit.
    Isotonic,
}

/// A monotone map from the model's logit to a calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Calibrator {
    /// `p = 1 / (1 + exp(-(a * logit + b)))`, with `a >= 0` and `p` kept within
    /// `[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`.
    Platt {
        /// Slope on the logit (never negative when fitted).
        a: f64,
        /// Offset.
        b: f64,
    },
    /// Pool-adjacent-violators fit of the label on the logit; the curve is the piecewise-linear
    /// interpolation between the blocks' centroids `(mean logit, mean label)`, which are strictly
    /// increasing in both coordinates, and is constant beyond the first and last centroids.
    /// Probabilities are kept within `[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`.
    Isotonic {
        /// Centroid logits, strictly increasing.
        logits: Vec<f64>,
        /// Centroid probabilities, strictly increasing.
        probabilities: Vec<f64>,
    },
}

/// Fits a calibrator mapping logits to probabilities against the labels `y`, with every row
/// weighing the same (the calibration undoes the class balancing of the fit).
///
/// [`CalibrationKind::Auto`] chooses isotonic when there are at least 1000 rows and at least 50
/// of each class, and Platt otherwise. Platt is fitted by Newton's method on the two-parameter
/// log-loss against Platt's smoothed targets, `(n_pos + 1) / (n_pos + 2)` for a positive and
/// `1 / (n_neg + 2)` for a negative; if the fitted slope is negative (the logit ranks backwards),
/// it is set to 0 and the offset refitted, so the calibrator never reverses the ranking.
///
/// Errors: no rows, different lengths, a non-finite logit (its row is named), or a single class.
pub fn fit_calibrator(logits: &[f64], y: &[bool], kind: CalibrationKind) -> Result<Calibrator, ModelError> {
    if logits.len() != y.len() {
        return Err(ModelError::LengthMismatch { logits: logits.len(), labels: y.len() });
    }
    let n = y.len();
    if n == 0 {
        return Err(ModelError::Empty);
    }
    if let Some(row) = logits.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::NonFiniteLogit { row });
    }
    let positives = y.iter().filter(|&&label| label).count();
    if positives == 0 || positives == n {
        return Err(ModelError::OneClass { n, positive: positives == n });
    }
    let negatives = n - positives;
    let isotonic = match kind {
        CalibrationKind::Auto => n >= 1000 && positives >= 50 && negatives >= 50,
        CalibrationKind::Platt => false,
        CalibrationKind::Isotonic => true,
    };
    Ok(if isotonic { fit_isotonic(logits, y) } else { fit_platt(logits, y, positives, negatives) })
}

fn fit_platt(logits: &[f64], y: &[bool], positives: usize, negatives: usize) -> Calibrator {
    let high = (positives as f64 + 1.0) / (positives as f64 + 2.0);
    let low = 1.0 / (negatives as f64 + 2.0);
    let target = |label: bool| if label { high } else { low };
    // Log-loss against soft targets: t * softplus(-eta) + (1 - t) * softplus(eta).
    let objective = |a: f64, b: f64| -> f64 {
        logits
            .iter()
            .zip(y)
            .map(|(&z, &label)| {
                let eta = a * z + b;
                let t = target(label);
                let log_term = (-eta.abs()).exp().ln_1p();
                t * ((-eta).max(0.0) + log_term) + (1.0 - t) * (eta.max(0.0) + log_term)
            })
            .sum()
    };
    let n = logits.len() as f64;
    let mut a = 0.0;
    let mut b = ((positives as f64 + 1.0) / (negatives as f64 + 1.0)).ln();
    let mut value = objective(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&z, &label) in logits.iter().zip(y) {
            let (_, p, q) = loss_terms(a * z + b, false);
            let r = p - target(label);
            let w = p * q;
            ga += r * z;
            gb += r;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        if ga.abs().max(gb.abs()) <= 1e-12 * n {
            break;
        }
        // Solve the 2x2 system, with a small ridge (as Lin, Lin and Weng do) and a larger one
        // when the logits barely vary.
        let mut ridge = 1e-12 * (haa + hbb).max(f64::MIN_POSITIVE);
        let (mut da, mut db) = (0.0, 0.0);
        let mut solved = false;
        for _ in 0..12 {
            let (h11, h22) = (haa + ridge, hbb + ridge);
            let det = h11 * h22 - hab * hab;
            if det > 0.0 && det.is_finite() {
                da = -(h22 * ga - hab * gb) / det;
                db = -(h11 * gb - hab * ga) / det;
                solved = da.is_finite() && db.is_finite();
                if solved {
                    break;
                }
            }
            ridge *= 100.0;
        }
        if !solved {
            break;
        }
        let slope = ga * da + gb * db;
        let mut step = 1.0;
        let mut accepted = false;
        for _ in 0..MAX_HALVINGS {
            let (ta, tb) = (a + step * da, b + step * db);
            let trial = objective(ta, tb);
            if trial.is_finite() && trial <= value + ARMIJO * step * slope {
                let decrease = value - trial;
                a = ta;
                b = tb;
                value = trial;
                accepted = decrease > 1e-15 * value.abs();
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    if a < 0.0 || !a.is_finite() || !b.is_finite() {
        let mean_target = (positives as f64 * high + negatives as f64 * low) / n;
        a = 0.0;
        b = (mean_target / (1.0 - mean_target)).ln();
    }
    Calibrator::Platt { a, b }
}

/// One pool of the pool-adjacent-violators algorithm: a run of consecutive distinct logits.
#[derive(Clone, Copy)]
struct Pool {
    sum_logit: f64,
    min_logit: f64,
    max_logit: f64,
    count: u64,
    positives: u64,
}

impl Pool {
    fn merge(&mut self, other: &Pool) {
        self.sum_logit += other.sum_logit;
        self.min_logit = self.min_logit.min(other.min_logit);
        self.max_logit = self.max_logit.max(other.max_logit);
        self.count += other.count;
        self.positives += other.positives;
    }

    /// Whether this pool's mean label is at least `next`'s, compared exactly.
    fn not_below(&self, next: &Pool) -> bool {
        u128::from(self.positives) * u128::from(next.count) >= u128::from(next.positives) * u128::from(self.count)
    }

    /// The centroid logit, kept inside the pool's range despite rounding so that the centroids
    /// of consecutive pools are strictly increasing.
    fn centroid(&self) -> f64 {
        (self.sum_logit / self.count as f64).clamp(self.min_logit, self.max_logit)
    }

    fn probability(&self) -> f64 {
        clamp_probability(self.positives as f64 / self.count as f64)
    }
}

fn fit_isotonic(logits: &[f64], y: &[bool]) -> Calibrator {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_unstable_by(|&i, &j| logits[i].total_cmp(&logits[j]));
    let mut pools: Vec<Pool> = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // Rows with equal logits form one initial pool.
        let value = logits[order[start]];
        let mut end = start;
        let mut pool = Pool { sum_logit: 0.0, min_logit: value, max_logit: value, count: 0, positives: 0 };
        while end < order.len() && logits[order[end]] == value {
            pool.sum_logit += value;
            pool.count += 1;
            pool.positives += u64::from(y[order[end]]);
            end += 1;
        }
        start = end;
        pools.push(pool);
        while pools.len() >= 2 && pools[pools.len() - 2].not_below(&pools[pools.len() - 1]) {
            if let Some(last) = pools.pop()
                && let Some(previous) = pools.last_mut()
            {
                previous.merge(&last);
            }
        }
    }
    // Clamping can make neighbouring probabilities equal: pool those too.
    let mut merged: Vec<Pool> = Vec::with_capacity(pools.len());
    for pool in pools {
        match merged.last_mut() {
            Some(previous) if previous.probability() >= pool.probability() => previous.merge(&pool),
            _ => merged.push(pool),
        }
    }
    Calibrator::Isotonic {
        logits: merged.iter().map(Pool::centroid).collect(),
        probabilities: merged.iter().map(Pool::probability).collect(),
    }
}

fn clamp_probability(p: f64) -> f64 {
    if p.is_nan() { PROBABILITY_FLOOR } else { p.clamp(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR) }
}

impl Calibrator {
    /// The calibrated probability of a logit: finite, within
    /// `[PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR]`, and non-decreasing in the logit (for a
    /// fitted calibrator). Infinite logits give the limits of the curve. A NaN logit gives the
    /// lowest probability the calibrator can output (its value at minus infinity), so a row whose
    /// features were broken never outranks a valid one.
    pub fn probability(&self, logit: f64) -> f64 {
        let logit = if logit.is_nan() { f64::NEG_INFINITY } else { logit };
        match self {
            Calibrator::Platt { a, b } => {
                // Written so that a = 0 with an infinite logit gives sigmoid(b), not NaN.
                let eta = if *a == 0.0 { *b } else { a * logit + b };
                clamp_probability(sigmoid(eta))
            }
            Calibrator::Isotonic { logits, probabilities } => {
                clamp_probability(interpolate(logits, probabilities, logit))
            }
        }
    }

    /// The kind of this calibrator: [`CalibrationKind::Platt`] or [`CalibrationKind::Isotonic`].
    pub fn kind(&self) -> CalibrationKind {
        match self {
            Calibrator::Platt { .. } => CalibrationKind::Platt,
            Calibrator::Isotonic { .. } => CalibrationKind::Isotonic,
        }
    }
}

/// Piecewise-linear interpolation through `(xs[k], ys[k])`, constant beyond the ends. Returns 0.5
/// for empty knots; knots beyond the shorter of the two slices are ignored.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let len = xs.len().min(ys.len());
    let (xs, ys) = (&xs[..len], &ys[..len]);
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return 0.5;
    };
    if x <= first {
        return ys[0];
    }
    if x >= last {
        return ys[len - 1];
    }
    // Here len >= 2 and xs[0] < x < xs[len - 1], so 1 <= k <= len - 1 for sorted knots; the
    // clamp guards against knots that are not sorted.
    let k = xs.partition_point(|&knot| knot < x).clamp(1, len - 1);
    let (x0, x1, y0, y1) = (xs[k - 1], xs[k], ys[k - 1], ys[k]);
    if x1 <= x0 {
        return y1;
    }
    let t = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0);
    let (low, high) = if y0 <= y1 { (y0, y1) } else { (y1, y0) };
    (y0 + (y1 - y0) * t).clamp(low, high)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Rng;
    use super::*;

    /// Logits `z` and labels drawn with true probability `sigmoid(0.5 z - 1)`.
    fn miscalibrated(n: usize) -> (Vec<f64>, Vec<bool>) {
        let mut rng = Rng(2024);
        let z: Vec<f64> = (0..n).map(|_| 3.0 * rng.normal()).collect();
        let y = z.iter().map(|&z| rng.bernoulli(sigmoid(0.5 * z - 1.0))).collect();
        (z, y)
    }

    /// ECE with 10 equal-width bins, written independently of the metrics module.
    fn ece10(p: &[f64], y: &[bool]) -> f64 {
        let mut sums = [(0.0, 0.0, 0.0); 10];
        for (&p, &label) in p.iter().zip(y) {
            let bin = ((p * 10.0) as usize).min(9);
            sums[bin].0 += p;
            sums[bin].1 += f64::from(u8::from(label));
            sums[bin].2 += 1.0;
        }
        sums.iter().filter(|s| s.2 > 0.0).map(|s| (s.0 - s.1).abs()).sum::<f64>() / p.len() as f64
    }

    #[test]
    fn platt_recovers_the_true_map() {
        let (z, y) = miscalibrated(100_000);
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Platt).unwrap();
        let Calibrator::Platt { a, b } = calibrator else { panic!("not Platt: {calibrator:?}") };
        assert!((a - 0.5).abs() < 0.02, "a = {a}");
        assert!((b + 1.0).abs() < 0.03, "b = {b}");
        assert_eq!(calibrator.kind(), CalibrationKind::Platt);
    }

    #[test]
    fn platt_never_reverses_the_ranking() {
        let z = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
        let y = [true, true, true, false, false, true];
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Platt).unwrap();
        let Calibrator::Platt { a, b } = calibrator else { panic!("not Platt") };
        assert_eq!(a, 0.0);
        // The offset is the smoothed base rate: (4 * 5/6 + 2 * 1/4) / 6.
        assert!((sigmoid(b) - (4.0 * 5.0 / 6.0 + 2.0 * 0.25) / 6.0).abs() < 1e-12);
        assert!(calibrator.probability(f64::INFINITY).is_finite());
    }

    #[test]
    fn isotonic_is_calibrated_and_strictly_increasing() {
        let (z, y) = miscalibrated(50_000);
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Auto).unwrap();
        assert_eq!(calibrator.kind(), CalibrationKind::Isotonic);
        let Calibrator::Isotonic { logits, probabilities } = &calibrator else { panic!("not isotonic") };
        assert!(logits.len() > 10, "{} knots", logits.len());
        assert!(logits.windows(2).all(|w| w[0] < w[1]));
        assert!(probabilities.windows(2).all(|w| w[0] < w[1]));
        assert!(probabilities.iter().all(|&p| (PROBABILITY_FLOOR..=1.0 - PROBABILITY_FLOOR).contains(&p)));
        let p: Vec<f64> = z.iter().map(|&z| calibrator.probability(z)).collect();
        let ece = ece10(&p, &y);
        assert!(ece < 0.01, "ECE {ece}");
        // Strictly increasing between two centroids, constant outside.
        let (x0, x1) = (logits[3], logits[4]);
        let mid = [0.25, 0.5, 0.75].map(|t| calibrator.probability(x0 + t * (x1 - x0)));
        assert!(probabilities[3] < mid[0] && mid[0] < mid[1] && mid[1] < mid[2] && mid[2] < probabilities[4]);
        assert_eq!(calibrator.probability(logits[0] - 100.0), probabilities[0]);
        let mut previous = 0.0;
        for k in 0..10_000 {
            let p = calibrator.probability(-20.0 + 0.004 * f64::from(k));
            assert!(p >= previous);
            previous = p;
        }
    }

    #[test]
    fn isotonic_pools_violators_and_ties() {
        // Equal logits are pooled first; then (1: 0/1), (2: 1/1), (3: 0/1) violate, (4: 2/2).
        let z = [1.0, 2.0, 3.0, 4.0, 4.0, 0.5, 0.5];
        let y = [false, true, false, true, true, false, true];
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Isotonic).unwrap();
        let Calibrator::Isotonic { logits, probabilities } = &calibrator else { panic!("not isotonic") };
        // Pools: {0.5, 0.5, 1.0} with 1/3, {2, 3} with 1/2, {4, 4} with 1.
        assert_eq!(logits, &[2.0 / 3.0, 2.5, 4.0]);
        assert_eq!(probabilities, &[1.0 / 3.0, 0.5, 1.0 - PROBABILITY_FLOOR]);
        assert!((calibrator.probability(1.5833333333333333) - (1.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn isotonic_pools_that_the_floor_makes_equal() {
        // Rates 0 and 1 / 2_000_001 both clamp to the floor, so their pools merge; the centroid of
        // the merged pool is its mean logit.
        let mut z = vec![0.0];
        let mut y = vec![false];
        z.extend(std::iter::repeat_n(1.0, 2_000_001));
        y.extend((0..2_000_001).map(|i| i == 0));
        z.push(2.0);
        y.push(true);
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Isotonic).unwrap();
        let Calibrator::Isotonic { logits, probabilities } = &calibrator else { panic!("not isotonic") };
        assert_eq!(probabilities, &[PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR]);
        assert_eq!(logits.len(), 2);
        assert!((logits[0] - 2_000_001.0 / 2_000_002.0).abs() < 1e-12 && logits[1] == 2.0, "{logits:?}");
    }

    #[test]
    fn isotonic_centroids_stay_inside_their_pools() {
        // (0.1 + 0.1 + 0.1) / 3 rounds above 0.1, onto the next float, which is the next pool's
        // logit: the centroids must still be strictly increasing.
        let next = 0.1f64.next_up();
        assert_eq!((0.1 + 0.1 + 0.1) / 3.0, next);
        let z = [0.1, 0.1, 0.1, next];
        let y = [false, false, false, true];
        let calibrator = fit_calibrator(&z, &y, CalibrationKind::Isotonic).unwrap();
        let Calibrator::Isotonic { logits, .. } = &calibrator else { panic!("not isotonic") };
        assert_eq!(logits, &[0.1, next]);
    }

    #[test]
    fn probability_is_always_finite_and_inside_the_unit_interval() {
        let (z, y) = miscalibrated(5_000);
        for kind in [CalibrationKind::Platt, CalibrationKind::Isotonic] {
            let calibrator = fit_calibrator(&z, &y, kind).unwrap();
            let lowest = calibrator.probability(f64::NEG_INFINITY);
            assert_eq!(calibrator.probability(f64::NAN), lowest);
            for v in [f64::NEG_INFINITY, -1e308, -50.0, 0.0, 50.0, 1e308, f64::INFINITY, f64::NAN] {
                let p = calibrator.probability(v);
                assert!(p.is_finite() && p > 0.0 && p < 1.0, "{kind:?} at {v}: {p}");
            }
        }
        // Hand-made or deserialised calibrators with odd contents do not panic or return NaN.
        let odd = [
            Calibrator::Isotonic { logits: vec![], probabilities: vec![] },
            Calibrator::Isotonic { logits: vec![1.0, 0.0], probabilities: vec![0.2] },
            Calibrator::Platt { a: f64::NAN, b: 0.0 },
        ];
        for calibrator in odd {
            for v in [f64::NEG_INFINITY, 0.0, 0.5, f64::INFINITY, f64::NAN] {
                let p = calibrator.probability(v);
                assert!(p.is_finite() && p > 0.0 && p < 1.0);
            }
        }
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(-30.0) - 9.357622968840175e-14).abs() < 1e-26);
    }

    #[test]
    fn bad_calibration_input_is_an_error() {
        assert_eq!(fit_calibrator(&[], &[], CalibrationKind::Auto), Err(ModelError::Empty));
        assert_eq!(
            fit_calibrator(&[0.0], &[true, false], CalibrationKind::Auto),
            Err(ModelError::LengthMismatch { logits: 1, labels: 2 })
        );
        assert_eq!(
            fit_calibrator(&[0.0, f64::NAN], &[true, false], CalibrationKind::Platt),
            Err(ModelError::NonFiniteLogit { row: 1 })
        );
        assert_eq!(
            fit_calibrator(&[0.0, 1.0], &[false, false], CalibrationKind::Isotonic),
            Err(ModelError::OneClass { n: 2, positive: false })
        );
    }
}
