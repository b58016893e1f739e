//! The opportunity scorer's model: an L2-penalised logistic regression on standardised features
//! (`logistic.rs`: [`fit_logistic`], [`fit_logistic_signed`]), followed by a probability
//! calibrator (`calibration.rs`: [`fit_calibrator`], Platt or isotonic); the dense linear algebra
//! of the regression's Newton steps (Cholesky) is in `linalg.rs`.
//!
//! This module holds what the two fits share: the error type, the logistic function, the
//! numerically stable log-loss and the line-search constants of their Newton methods.
//!
//! # Non-finite values
//!
//! The fit refuses non-finite feature values ([`ModelError::NonFinite`] names the row and feature)
//! and the calibrator refuses non-finite logits. At prediction time [`LogisticModel::logit`] does
//! no checking (a NaN feature gives a NaN logit), and [`Calibrator::probability`] maps a NaN logit
//! to its lowest probability, so a broken row never outranks a valid one.

mod calibration;
mod linalg;
mod logistic;
#[cfg(test)]
mod tests;

pub use calibration::{CalibrationKind, Calibrator, PROBABILITY_FLOOR, fit_calibrator};
pub use logistic::{LogisticModel, LogisticOptions, Sign, fit_logistic, fit_logistic_signed};

/// Armijo's sufficient-decrease constant for the line searches.
const ARMIJO: f64 = 1e-4;
/// Step halvings tried before a line search gives up.
const MAX_HALVINGS: u32 = 60;

/// Why a model or a calibrator could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// There are no rows.
    #[error("no rows to fit on")]
    Empty,
    /// The feature matrix does not hold one row of `n_features` values per label.
    #[error("the feature matrix has {values} values, but {labels} labels with {n_features} features need {expected}")]
    ShapeMismatch {
        /// Number of values in the feature matrix.
        values: usize,
        /// Number of features per row.
        n_features: usize,
        /// Number of labels (rows).
        labels: usize,
        /// Number of values expected (`labels * n_features`), saturated at `usize::MAX`.
        expected: usize,
    },
    /// The sign constraints do not hold one entry per feature.
    #[error("there are {signs} sign constraints but {n_features} features")]
    SignsMismatch {
        /// Number of sign constraints given.
        signs: usize,
        /// Number of features per row.
        n_features: usize,
    },
    /// The logits and the labels differ in length.
    #[error("there are {logits} logits but {labels} labels")]
    LengthMismatch {
        /// Number of logits.
        logits: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("feature {feature} of row {row} is not a finite number")]
    NonFinite {
        /// Row index (0-based).
        row: usize,
        /// Feature index (0-based).
        feature: usize,
    },
    /// A logit given to the calibrator is NaN or infinite.
    #[error("the logit of row {row} is not a finite number")]
    NonFiniteLogit {
        /// Row index (0-based).
        row: usize,
    },
    /// All labels are the same, so there is nothing to separate.
    #[error("all {n} labels are {}; both classes are needed", if *.positive { "positive" } else { "negative" })]
    OneClass {
        /// Number of labels.
        n: usize,
        /// The single class present.
        positive: bool,
    },
    /// An option is out of its domain.
    #[error("option `{name}` is {value}, but it must be {requirement}")]
    InvalidOption {
        /// Name of the option.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What the option must be.
        requirement: &'static str,
    },
    /// The objective, its gradient or its Hessian stopped being finite. This happens when feature
    /// values are so large in magnitude that their standardisation or the logits overflow.
    #[error("the fit overflowed at iteration {iteration}: feature values are too large in magnitude")]
    Overflow {
        /// Newton iteration at which the overflow was detected.
        iteration: u32,
    },
    /// The Newton system could not be solved even after regularising its diagonal.
    #[error("the Newton system at iteration {iteration} is singular")]
    Singular {
        /// Newton iteration at which the system was singular.
        iteration: u32,
    },
}

/// The logistic function `1 / (1 + exp(-x))`, computed without overflow for large `|x|`
/// (it returns exactly 0 or 1 only when the true value rounds to it). NaN gives NaN.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The log-loss of a row with logit `eta` and label `label`, with `p = sigmoid(eta)` and
/// `q = 1 - p`, both computed without cancellation.
#[inline]
fn loss_terms(eta: f64, label: bool) -> (f64, f64, f64) {
    let e = (-eta.abs()).exp();
    let log_term = e.ln_1p();
    let (p, q) = if eta >= 0.0 { (1.0 / (1.0 + e), e / (1.0 + e)) } else { (e / (1.0 + e), 1.0 / (1.0 + e)) };
    // softplus(t) = max(t, 0) + ln(1 + exp(-|t|)); the loss is softplus(-eta) for a positive
    // label and softplus(eta) for a negative one.
    let loss = if label { (-eta).max(0.0) + log_term } else { eta.max(0.0) + log_term };
    (loss, p, q)
}
