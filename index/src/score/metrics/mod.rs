//! Evaluation metrics of the opportunity scorer: ranking (ROC-AUC, average precision, precision
//! and lift in the top decile), calibration (Brier score, expected calibration error, reliability
//! diagram, drawn as SVG by `svg.rs`) and drift (reference histograms and the population
//! stability index).
//!
//! # Invalid input
//!
//! No function here panics on bad input. A metric of empty input, of slices of different lengths
//! or of a zero bin count is NaN; so is a metric whose scores contain a NaN (no order is assumed
//! for NaN). [`evaluate`] reports such input with `n == 0` and every metric NaN. Probabilities
//! outside `[0, 1]` are not rejected: the Brier score uses them as they are and the calibration
//! bins put them in the first or last bin.
//!
//! # Complexity
//!
//! The ranking metrics sort the scores once, `O(n log n)` time and `O(n)` memory; [`evaluate`]
//! shares that one sort between all of them. The calibration metrics and [`psi`] are `O(n)`
//! (plus `O(log b)` per value for `b` drift bins); [`Histogram::reference`] sorts, `O(n log n)`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

mod svg;

pub use svg::reliability_svg;

/// Floor applied to both fractions in [`psi`], so that empty bins do not give infinite terms.
pub const PSI_FLOOR: f64 = 1e-4;

/// The evaluation of probabilities against labels.
///
/// Undefined metrics are NaN. serde_json writes NaN as `null`; every `f64` field here reads
/// `null` back as NaN, so the JSON round trip keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of rows (0 for empty or mismatched input).
    pub n: usize,
    /// Number of positive labels.
    pub positives: usize,
    /// `positives / n`.
    #[serde(deserialize_with = "nullable_f64")]
    pub base_rate: f64,
    /// ROC-AUC, ties counted half (Mann-Whitney with mid-ranks); NaN with one class.
    #[serde(deserialize_with = "nullable_f64")]
    pub auc: f64,
    /// Average precision, as scikit-learn's `average_precision_score` (step-wise, tied scores
    /// form one threshold); NaN without positives.
    #[serde(deserialize_with = "nullable_f64")]
    pub pr_auc: f64,
    /// Precision among the top `ceil(10% of n)` rows by score, ties broken by input order.
    #[serde(deserialize_with = "nullable_f64")]
    pub precision_at_10pct: f64,
    /// `precision_at_10pct / base_rate`; NaN without positives.
    #[serde(deserialize_with = "nullable_f64")]
    pub lift_at_10pct: f64,
    /// Mean of `(p - y)^2`.
    #[serde(deserialize_with = "nullable_f64")]
    pub brier: f64,
    /// Expected calibration error over 10 equal-width bins, weighted by bin count.
    #[serde(deserialize_with = "nullable_f64")]
    pub ece: f64,
}

/// Reads a number, or `null` as NaN.
fn nullable_f64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Evaluates `probabilities` against the labels `y`; the ranking metrics use the probabilities
/// as scores. Empty input or slices of different lengths give `n == 0`, `positives == 0` and
/// every other field NaN. A NaN probability makes the ranking and calibration metrics NaN.
pub fn evaluate(probabilities: &[f64], y: &[bool]) -> Metrics {
    if !valid(probabilities, y) {
        return Metrics {
            n: 0,
            positives: 0,
            base_rate: f64::NAN,
            auc: f64::NAN,
            pr_auc: f64::NAN,
            precision_at_10pct: f64::NAN,
            lift_at_10pct: f64::NAN,
            brier: f64::NAN,
            ece: f64::NAN,
        };
    }
    let n = y.len();
    let positives = count_positives(y);
    let base_rate = positives as f64 / n as f64;
    let (auc, pr_auc, precision_at_10pct) = match Ranking::new(probabilities, y) {
        Some(ranking) => (ranking.auc(), ranking.average_precision(), ranking.precision_at(0.1)),
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
    let lift_at_10pct = if positives == 0 { f64::NAN } else { precision_at_10pct / base_rate };
    Metrics {
        n,
        positives,
        base_rate,
        auc,
        pr_auc,
        precision_at_10pct,
        lift_at_10pct,
        brier: brier(probabilities, y),
        ece: ece(probabilities, y, 10),
    }
}

/// ROC-AUC of `scores` against `y`: the probability that a random positive scores above a random
/// negative, ties counting one half. NaN for invalid input or when one class is absent.
pub fn roc_auc(scores: &[f64], y: &[bool]) -> f64 {
    Ranking::new(scores, y).map_or(f64::NAN, |ranking| ranking.auc())
}

/// Average precision as scikit-learn's `average_precision_score`: `sum_k (R_k - R_{k-1}) P_k`
/// over the distinct score thresholds in decreasing order, with precision `P_k` and recall `R_k`
/// of the rows scoring at least the threshold. NaN for invalid input or without positives.
pub fn average_precision(scores: &[f64], y: &[bool]) -> f64 {
    Ranking::new(scores, y).map_or(f64::NAN, |ranking| ranking.average_precision())
}

/// Precision among the top `ceil(fraction * n)` rows by score (at least 1, at most `n`), ties
/// broken by input order. A product `fraction * n` within `1e-9` (relative) of an integer counts
/// as that integer, so that 10% of 30 rows is 3 rows despite rounding. NaN for invalid input or a
/// fraction that is NaN or not positive; fractions above 1 count as 1.
pub fn precision_at_fraction(scores: &[f64], y: &[bool], fraction: f64) -> f64 {
    Ranking::new(scores, y).map_or(f64::NAN, |ranking| ranking.precision_at(fraction))
}

/// Brier score: the mean of `(p - y)^2`. NaN for invalid input.
pub fn brier(probabilities: &[f64], y: &[bool]) -> f64 {
    if !valid(probabilities, y) {
        return f64::NAN;
    }
    let sum: f64 = probabilities.iter().zip(y).map(|(&p, &label)| (p - indicator(label)).powi(2)).sum();
    sum / y.len() as f64
}

/// Expected calibration error: over `bins` equal-width bins on `[0, 1]`, the mean over rows of
/// `|mean predicted - observed rate|` of the row's bin. Bin `k` holds `k / bins <= p < (k + 1) /
/// bins` (computed as `floor(p * bins)`); `p = 1` goes to the last bin. NaN for invalid input,
/// `bins == 0` or a NaN probability.
pub fn ece(probabilities: &[f64], y: &[bool], bins: usize) -> f64 {
    let Some(sums) = bin_sums(probabilities, y, bins) else {
        return f64::NAN;
    };
    let gap: f64 = sums.iter().map(|bin| (bin.sum_predicted - bin.positives as f64).abs()).sum();
    gap / y.len() as f64
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower bound of the bin, inclusive.
    pub lower: f64,
    /// Upper bound of the bin, exclusive (inclusive for the last bin).
    pub upper: f64,
    /// Number of rows in the bin (never 0).
    pub count: usize,
    /// Mean probability of the rows in the bin.
    pub mean_predicted: f64,
    /// Fraction of positives among the rows in the bin.
    pub observed_rate: f64,
}

/// The reliability diagram over `bins` equal-width bins, binned as in [`ece`]. Only non-empty
/// bins are returned, in increasing order, so no field is ever undefined. Invalid input (as for
/// [`ece`]) gives an empty vector.
pub fn reliability(probabilities: &[f64], y: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let Some(sums) = bin_sums(probabilities, y, bins) else {
        return Vec::new();
    };
    let width = bins as f64;
    sums.iter()
        .enumerate()
        .filter(|(_, bin)| bin.count > 0)
        .map(|(k, bin)| ReliabilityBin {
            lower: k as f64 / width,
            upper: (k + 1) as f64 / width,
            count: bin.count,
            mean_predicted: bin.sum_predicted / bin.count as f64,
            observed_rate: bin.positives as f64 / bin.count as f64,
        })
        .collect()
}

/// Reference histogram of a feature for drift monitoring.
///
/// The inner bin edges are the quantiles `k / bins` (`k = 1 .. bins - 1`, nearest-rank: the
/// smallest value with at least that fraction of the values at or below it) of the reference's
/// non-NaN values, deduplicated and without the maximum, so a feature with repeated values (a
/// count, a flag) gets fewer bins. Bin 0 holds values at or below `edges[0]`, bin `k` values in
/// `(edges[k - 1], edges[k]]` and the last bin values above the last edge. NaN values are counted
/// apart, as missing. Fractions are of all values, missing ones included, so
/// `sum(fractions) + missing_fraction == 1` (all zero for an empty reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Inner bin edges, strictly increasing.
    pub edges: Vec<f64>,
    /// Fraction of the reference values in each bin, `edges.len() + 1` of them.
    pub fractions: Vec<f64>,
    /// Fraction of the reference values that are NaN.
    pub missing_fraction: f64,
}

impl Histogram {
    /// Builds the histogram of `values` with at most `bins` bins (10 for deciles; 0 counts as 1).
    pub fn reference(values: &[f64], bins: usize) -> Histogram {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let m = sorted.len();
        // More bins than values gives the same edges as one bin per value.
        let bins = bins.clamp(1, m.max(1));
        let mut edges: Vec<f64> = Vec::new();
        if let Some(&max) = sorted.last() {
            for k in 1..bins {
                let rank = (k as u128 * m as u128).div_ceil(bins as u128);
                let Some(&edge) = usize::try_from(rank).ok().and_then(|r| sorted.get(r.saturating_sub(1))) else {
                    continue;
                };
                if edge < max && edges.last().is_none_or(|&last| last < edge) {
                    edges.push(edge);
                }
            }
        }
        let mut histogram = Histogram { edges, fractions: Vec::new(), missing_fraction: 0.0 };
        let (fractions, missing_fraction) = histogram.fractions_of(values);
        histogram.fractions = fractions;
        histogram.missing_fraction = missing_fraction;
        histogram
    }

    /// The fractions of `values` in this histogram's bins and the fraction that is NaN, both of
    /// all values. Empty `values` give all zeros.
    pub fn fractions_of(&self, values: &[f64]) -> (Vec<f64>, f64) {
        let mut counts = vec![0usize; self.edges.len() + 1];
        let mut missing = 0usize;
        for &v in values {
            if v.is_nan() {
                missing += 1;
            } else {
                let bin = self.edges.partition_point(|&edge| edge < v);
                if let Some(count) = counts.get_mut(bin) {
                    *count += 1;
                }
            }
        }
        let total = values.len().max(1) as f64;
        (counts.iter().map(|&c| c as f64 / total).collect(), missing as f64 / total)
    }
}

/// Population stability index of `values` against `reference`: the sum over the bins, the missing
/// bin included, of `(a - e) * ln(a / e)`, with `a` the fraction of `values` and `e` the
/// reference's, both floored at [`PSI_FLOOR`]. Common reading: below 0.1 stable, above 0.25 a
/// major shift. NaN when `values` is empty, the reference holds no values, or its fractions do
/// not match its edges.
pub fn psi(reference: &Histogram, values: &[f64]) -> f64 {
    if values.is_empty() || reference.fractions.len() != reference.edges.len() + 1 {
        return f64::NAN;
    }
    if reference.fractions.iter().sum::<f64>() + reference.missing_fraction <= 0.0 {
        return f64::NAN;
    }
    let (actual, actual_missing) = reference.fractions_of(values);
    let term = |a: f64, e: f64| {
        let (a, e) = (a.max(PSI_FLOOR), e.max(PSI_FLOOR));
        (a - e) * (a / e).ln()
    };
    actual.iter().zip(&reference.fractions).map(|(&a, &e)| term(a, e)).sum::<f64>()
        + term(actual_missing, reference.missing_fraction)
}

fn valid(values: &[f64], y: &[bool]) -> bool {
    !y.is_empty() && values.len() == y.len()
}

fn count_positives(y: &[bool]) -> usize {
    y.iter().filter(|&&label| label).count()
}

fn indicator(label: bool) -> f64 {
    if label { 1.0 } else { 0.0 }
}

/// Rows sorted by decreasing score, ties in input order, with their labels.
struct Ranking {
    /// `(score, label)` in decreasing score order.
    rows: Vec<(f64, bool)>,
    positives: usize,
}

impl Ranking {
    /// None for invalid input or a NaN score.
    fn new(scores: &[f64], y: &[bool]) -> Option<Ranking> {
        if !valid(scores, y) || scores.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(y.iter().copied()).collect();
        // A stable sort keeps ties in input order; with NaN excluded the comparison is total
        // (and -0.0 ties with 0.0).
        rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
        Some(Ranking { rows, positives: count_positives(y) })
    }

    /// Groups of tied scores in decreasing order, as `(positives, negatives)`.
    fn groups(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.rows.chunk_by(|a, b| a.0 == b.0).map(|group| {
            let positives = group.iter().filter(|row| row.1).count() as u64;
            (positives, group.len() as u64 - positives)
        })
    }

    fn auc(&self) -> f64 {
        let negatives = self.rows.len() - self.positives;
        if self.positives == 0 || negatives == 0 {
            return f64::NAN;
        }
        // Twice the number of correctly ordered (positive, negative) pairs, ties counting one.
        let mut twice_correct = 0u128;
        let mut positives_above = 0u64;
        for (tp, fp) in self.groups() {
            twice_correct += 2 * u128::from(fp) * u128::from(positives_above) + u128::from(tp) * u128::from(fp);
            positives_above += tp;
        }
        twice_correct as f64 / (2.0 * self.positives as f64 * negatives as f64)
    }

    fn average_precision(&self) -> f64 {
        if self.positives == 0 {
            return f64::NAN;
        }
        let total = self.positives as f64;
        let (mut tp, mut seen, mut sum) = (0u64, 0u64, 0.0);
        for (group_tp, group_fp) in self.groups() {
            tp += group_tp;
            seen += group_tp + group_fp;
            sum += (group_tp as f64 / total) * (tp as f64 / seen as f64);
        }
        sum
    }

    fn precision_at(&self, fraction: f64) -> f64 {
        if fraction.is_nan() || fraction <= 0.0 {
            return f64::NAN;
        }
        let n = self.rows.len();
        let k = top_count(n, fraction);
        let hits = self.rows[..k].iter().filter(|row| row.1).count();
        hits as f64 / k as f64
    }
}

/// `ceil(fraction * n)` within `[1, n]`, counting products within `1e-9` (relative) of an
/// integer as that integer. Requires `n >= 1` and `fraction > 0`.
fn top_count(n: usize, fraction: f64) -> usize {
    let raw = fraction.min(1.0) * n as f64;
    let nearest = raw.round();
    let k = if (raw - nearest).abs() <= 1e-9 * nearest.max(1.0) { nearest } else { raw.ceil() };
    (k as usize).clamp(1, n)
}

/// Sums of one calibration bin.
#[derive(Clone, Copy, Default)]
struct BinSums {
    sum_predicted: f64,
    positives: usize,
    count: usize,
}

/// Per-bin sums over `bins` equal-width bins; None for invalid input, no bins or a NaN.
fn bin_sums(probabilities: &[f64], y: &[bool], bins: usize) -> Option<Vec<BinSums>> {
    if !valid(probabilities, y) || bins == 0 || probabilities.iter().any(|p| p.is_nan()) {
        return None;
    }
    let mut sums = vec![BinSums::default(); bins];
    let width = bins as f64;
    for (&p, &label) in probabilities.iter().zip(y) {
        // The cast saturates: negative values give 0, huge ones usize::MAX.
        let bin = ((p * width) as usize).min(bins - 1);
        let sum = &mut sums[bin];
        sum.sum_predicted += p;
        sum.positives += usize::from(label);
        sum.count += 1;
    }
    Some(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(bits: &[u8]) -> Vec<bool> {
        bits.iter().map(|&b| b == 1).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn roc_auc_hand_cases() {
        let y = labels(&[0, 0, 1, 1]);
        assert!(close(roc_auc(&[0.1, 0.4, 0.35, 0.8], &y), 0.75));
        assert!(close(roc_auc(&[0.5; 4], &y), 0.5));
        assert!(close(roc_auc(&[0.1, 0.2, 0.3, 0.4], &y), 1.0));
        assert!(close(roc_auc(&[0.4, 0.3, 0.2, 0.1], &y), 0.0));
        // One tie between a positive and a negative: pairs (p=0.5 vs n=0.5) half, others right.
        // Positives {0.5, 0.9}, negatives {0.5, 0.1}: 3 right + 0.5 = 3.5 / 4.
        assert!(close(roc_auc(&[0.5, 0.1, 0.5, 0.9], &y), 0.875));
        // -0.0 and 0.0 tie.
        assert!(close(roc_auc(&[-0.0, 0.0], &labels(&[1, 0])), 0.5));
        assert!(roc_auc(&[0.1, 0.2], &labels(&[1, 1])).is_nan());
        assert!(roc_auc(&[], &[]).is_nan());
        assert!(roc_auc(&[0.1], &y).is_nan());
        assert!(roc_auc(&[0.1, f64::NAN, 0.3, 0.4], &y).is_nan());
    }

    #[test]
    fn average_precision_matches_scikit_learn() {
        // scikit-learn's documented example.
        let y = labels(&[0, 0, 1, 1]);
        assert!((average_precision(&[0.1, 0.4, 0.35, 0.8], &y) - 0.8333333333333333).abs() < 1e-12);
        // All tied: one threshold with precision 1/2 at recall 1.
        assert!(close(average_precision(&[0.3; 4], &y), 0.5));
        // Ties grouped: scores [0.9, 0.5, 0.5, 0.1], labels [1, 1, 0, 1]:
        // threshold 0.9: P 1, R 1/3; 0.5: P 2/3, R 2/3; 0.1: P 3/4, R 1.
        let ap = average_precision(&[0.9, 0.5, 0.5, 0.1], &labels(&[1, 1, 0, 1]));
        assert!(close(ap, (1.0 + 2.0 / 3.0 + 0.75) / 3.0), "{ap}");
        assert!(close(average_precision(&[0.2, 0.7], &labels(&[1, 1])), 1.0));
        assert!(average_precision(&[0.2, 0.7], &labels(&[0, 0])).is_nan());
    }

    #[test]
    fn precision_at_fraction_hand_cases() {
        let scores = [0.9, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4, 0.5, 0.05];
        let y = labels(&[1, 0, 0, 1, 1, 0, 0, 0, 1, 0]);
        assert!(close(precision_at_fraction(&scores, &y, 0.1), 1.0));
        assert!(close(precision_at_fraction(&scores, &y, 0.2), 0.5));
        // ceil(0.25 * 10) = 3 rows: 0.9, 0.8, 0.7.
        assert!(close(precision_at_fraction(&scores, &y, 0.25), 2.0 / 3.0));
        assert!(close(precision_at_fraction(&scores, &y, 1.0), 0.4));
        assert!(close(precision_at_fraction(&scores, &y, 7.0), 0.4));
        // A tiny fraction still takes one row.
        assert!(close(precision_at_fraction(&scores, &y, 1e-9), 1.0));
        assert!(precision_at_fraction(&scores, &y, 0.0).is_nan());
        assert!(precision_at_fraction(&scores, &y, f64::NAN).is_nan());
        // Ties are broken by input order.
        let tied = [0.5, 0.5, 0.5, 0.1];
        assert!(close(precision_at_fraction(&tied, &labels(&[0, 1, 1, 0]), 0.25), 0.0));
        assert!(close(precision_at_fraction(&tied, &labels(&[1, 0, 0, 0]), 0.25), 1.0));
        // 10% of 30 is 3 rows, not 4, despite 0.1 * 30 = 3.0000000000000004.
        assert_eq!(top_count(30, 0.1), 3);
        assert_eq!(top_count(31, 0.1), 4);
        assert_eq!(top_count(5, 0.1), 1);
    }

    #[test]
    fn brier_and_ece_hand_cases() {
        let y = labels(&[1, 0, 1, 0]);
        assert!(close(brier(&[0.8, 0.3, 0.6, 0.0], &y), (0.04 + 0.09 + 0.16 + 0.0) / 4.0));
        assert!(brier(&[0.5], &y).is_nan());
        // Perfect calibration: p = 0.25 on 4 rows with 1 positive, 0.75 on 4 rows with 3.
        let p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75];
        let y = labels(&[1, 0, 0, 0, 1, 1, 0, 1]);
        assert_eq!(ece(&p, &y, 10), 0.0);
        // Bins [0.1, 0.2): {0.1, 0.15} with 0 positives -> gap 0.125 over 2 rows;
        // [0.9, 1.0]: {0.9, 1.0} with 2 positives -> gap 0.05 over 2 rows.
        let p = [0.1, 0.15, 0.9, 1.0];
        let y = labels(&[0, 0, 1, 1]);
        assert!(close(ece(&p, &y, 10), (2.0 * 0.125 + 2.0 * 0.05) / 4.0));
        assert!(ece(&p, &y, 0).is_nan());
        assert!(ece(&[f64::NAN, 0.1, 0.2, 0.3], &y, 10).is_nan());
        // Out-of-range probabilities land in the end bins.
        assert!(close(ece(&[-0.5, 1.5], &labels(&[0, 1]), 10), 0.5));
    }

    #[test]
    fn reliability_bins() {
        let p = [0.05, 0.15, 0.12, 0.95, 1.0];
        let y = labels(&[0, 1, 0, 1, 1]);
        let bins = reliability(&p, &y, 10);
        assert_eq!(bins.len(), 3);
        assert_eq!((bins[0].lower, bins[0].upper, bins[0].count), (0.0, 0.1, 1));
        assert_eq!((bins[1].lower, bins[1].upper, bins[1].count), (0.1, 0.2, 2));
        assert!(close(bins[1].mean_predicted, 0.135) && close(bins[1].observed_rate, 0.5));
        assert_eq!((bins[2].lower, bins[2].upper, bins[2].count), (0.9, 1.0, 2));
        assert!(close(bins[2].mean_predicted, 0.975) && close(bins[2].observed_rate, 1.0));
        // ECE is the count-weighted gap of the reliability bins.
        let from_bins: f64 =
            bins.iter().map(|b| b.count as f64 / 5.0 * (b.mean_predicted - b.observed_rate).abs()).sum();
        assert!(close(from_bins, ece(&p, &y, 10)));
        assert!(reliability(&p, &y, 0).is_empty());
        assert!(reliability(&[], &[], 10).is_empty());
    }

    #[test]
    fn evaluate_combines_the_metrics() {
        let p = [0.1, 0.4, 0.35, 0.8];
        let y = labels(&[0, 0, 1, 1]);
        let m = evaluate(&p, &y);
        assert_eq!((m.n, m.positives), (4, 2));
        assert!(close(m.base_rate, 0.5));
        assert!(close(m.auc, 0.75));
        assert!((m.pr_auc - 0.8333333333333333).abs() < 1e-12);
        assert!(close(m.precision_at_10pct, 1.0));
        assert!(close(m.lift_at_10pct, 2.0));
        assert!(close(m.brier, (0.01 + 0.16 + 0.4225 + 0.04) / 4.0));
        assert!(close(m.ece, ece(&p, &y, 10)));

        for (p, y) in [(&[][..], &[][..]), (&[0.5][..], &[true, false][..])] {
            let m = evaluate(p, y);
            assert_eq!((m.n, m.positives), (0, 0));
            let values = [m.base_rate, m.auc, m.pr_auc, m.precision_at_10pct, m.lift_at_10pct, m.brier, m.ece];
            assert!(values.iter().all(|v| v.is_nan()));
        }
        // NaN metrics survive a JSON round trip (as null).
        let json = serde_json::to_string(&evaluate(&[], &[])).unwrap();
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert!(json.contains(r#""auc":null"#) && back.n == 0 && back.auc.is_nan() && back.ece.is_nan());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), m);
        let m = evaluate(&[0.2, 0.3], &[false, false]);
        assert_eq!(m.n, 2);
        assert!(m.auc.is_nan() && m.pr_auc.is_nan() && m.lift_at_10pct.is_nan());
        assert!(close(m.precision_at_10pct, 0.0) && close(m.brier, 0.065));
    }

    #[test]
    fn histogram_edges_and_missing_values() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let histogram = Histogram::reference(&values, 10);
        assert_eq!(histogram.edges, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]);
        assert!(histogram.fractions.iter().all(|&f| close(f, 0.1)));
        assert_eq!(histogram.missing_fraction, 0.0);
        // Below the first edge goes to bin 0, above the last to the last bin; NaN is missing.
        let (fractions, missing) = histogram.fractions_of(&[-5.0, 10.0, 10.5, 1e9, f64::NAN]);
        assert_eq!(fractions, vec![0.4, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2]);
        assert!(close(missing, 0.2));

        // A count feature with few distinct values gets few bins.
        let counts: Vec<f64> = (0..1000).map(|i| f64::from([0, 0, 0, 0, 0, 0, 1, 1, 2, 5][i % 10])).collect();
        let histogram = Histogram::reference(&counts, 10);
        assert_eq!(histogram.edges, vec![0.0, 1.0, 2.0]);
        assert_eq!(histogram.fractions, vec![0.6, 0.2, 0.1, 0.1]);
        // A flag gets two bins.
        let flags: Vec<f64> = (0..100).map(|i| if i % 4 == 0 { 1.0 } else { 0.0 }).collect();
        assert_eq!(Histogram::reference(&flags, 10).edges, vec![0.0]);
        let constant = Histogram::reference(&[3.0; 50], 10);
        assert!(constant.edges.is_empty() && constant.fractions == vec![1.0]);

        let with_nan = [1.0, f64::NAN, 2.0, f64::NAN];
        let histogram = Histogram::reference(&with_nan, 10);
        assert_eq!(histogram.edges, vec![1.0]);
        assert_eq!((histogram.fractions.clone(), histogram.missing_fraction), (vec![0.25, 0.25], 0.5));
        let empty = Histogram::reference(&[], 10);
        assert!(empty.edges.is_empty() && empty.fractions == vec![0.0]);
        assert!(psi(&empty, &[1.0]).is_nan());
        assert!(Histogram::reference(&values, 0).edges.is_empty());
        assert_eq!(Histogram::reference(&[1.0, 2.0, 3.0], usize::MAX).edges, vec![1.0, 2.0]);
        let json = serde_json::to_string(&histogram).unwrap();
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), histogram);
    }

    /// Deterministic pseudo-normal values (sum of uniforms from an LCG).
    fn sample(n: usize, shift: f64, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut uniform = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n).map(|_| (0..12).map(|_| uniform()).sum::<f64>() - 6.0 + shift).collect()
    }

    #[test]
    fn psi_detects_shift() {
        let reference_values = sample(20_000, 0.0, 1);
        let reference = Histogram::reference(&reference_values, 10);
        assert_eq!(reference.edges.len(), 9);
        assert!(psi(&reference, &reference_values).abs() < 1e-12);
        let same = psi(&reference, &sample(20_000, 0.0, 2));
        assert!(same < 0.01, "{same}");
        let shifted = psi(&reference, &sample(20_000, 1.0, 3));
        assert!(shifted > 0.25, "{shifted}");
        // Values turning missing are drift too.
        let mut missing = reference_values.clone();
        for v in missing.iter_mut().step_by(3) {
            *v = f64::NAN;
        }
        assert!(psi(&reference, &missing) > 0.25);
        assert!(psi(&reference, &[]).is_nan());
        let broken = Histogram { edges: vec![1.0], fractions: vec![1.0], missing_fraction: 0.0 };
        assert!(psi(&broken, &[1.0]).is_nan());
    }
}
