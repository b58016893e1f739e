//! L2-penalised logistic regression on standardised features, optionally with sign constraints
//! on chosen weights.
//!
//! # Fit
//!
//! [`fit_logistic`] standardises each feature to zero mean and unit population standard deviation,
//! then minimises, over the intercept `b` and the weights `w` on the standardised features,
//!
//! ```text
//! f(b, w) = 0.5 * ||w||^2 + C * sum_i s_i * logloss(y_i, b + w . z_i)
//! ```
//!
//! where `z_i` is row `i` standardised and `s_i` its sample weight: 1, or, with class balancing,
//! `n / (2 * n_class(y_i))` (scikit-learn's `class_weight="balanced"`; no row is resampled). The
//! intercept is not penalised. This is scikit-learn's `LogisticRegression(C=c)` objective.
//!
//! The minimiser is Newton's method: each iteration forms the dense `(d + 1) x (d + 1)` Hessian
//! in one pass over the rows, solves for the step by Cholesky, and halves the step until the
//! objective decreases enough (Armijo's condition), so every accepted step lowers the objective.
//! It stops when the largest gradient component, divided by `max(1, C * sum_i s_i)`, or the
//! relative decrease of the objective in one step falls to the tolerance.
//!
//! [`fit_logistic_signed`] can also constrain chosen weights to be non-negative or non-positive
//! (see [`Sign`]), so the score is guaranteed monotone in those features; it minimises by a
//! projected Newton method and, with no constraint, is exactly [`fit_logistic`].
//!
//! # Complexity
//!
//! With `n` rows and `d` features, standardisation is one pass, `O(n d)`. Each Newton iteration is
//! one Hessian pass of `O(n d^2 / 2)` (only the upper triangle is accumulated, four rows at a time
//! so that the compiler vectorises the update, then mirrored), an `O(d^3)` Cholesky solve, and one
//! `O(n d)` pass per line-search trial (usually one), which also yields the gradient at the new
//! point for the convergence test. Memory beyond the input is `O(d^2)`: rows are standardised on
//! the fly into small reused buffers, so nothing is allocated per row and the input is not copied.
//! Newton typically needs 4 to 8 iterations. The fit is single-threaded: `cargo bench --bench
//! scoring` fits 3 million rows of 60 features in 13 seconds (12 with half of the weights
//! sign-constrained) on the project's 2-core machine shared with other builds. Sign constraints
//! add, per iteration, a `d x d` copy of the Hessian and at most one more `O(d^3)` solve per
//! weight that the step would push off its bound; nearly collinear features can take a few more
//! iterations than without constraints.

use serde::{Deserialize, Serialize};

use super::linalg::{restrict, solve_regularised};
use super::{ARMIJO, MAX_HALVINGS, ModelError, loss_terms};

/// Rows accumulated together into the Hessian.
const BLOCK: usize = 4;

/// Options of [`fit_logistic`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogisticOptions {
    /// Inverse regularisation strength, as scikit-learn's `C`: the objective is
    /// `0.5 * ||w||^2 + C * sum_i s_i * logloss_i` (the intercept is not penalised), `s_i` being
    /// the sample weight. Must be finite and positive.
    pub c: f64,
    /// Weight classes inversely to their frequency (scikit-learn's `class_weight="balanced"`:
    /// `s_i = n / (2 * n_class(y_i))`); otherwise every row weighs 1.
    pub balance_classes: bool,
    /// Maximum number of Newton steps. With 0 the model is the starting point: zero weights and the
    /// intercept at the (weighted) log-odds of the labels.
    pub max_iter: u32,
    /// Convergence tolerance, finite and non-negative: the fit stops when the largest absolute
    /// gradient component divided by `max(1, C * sum_i s_i)`, or the relative decrease of the
    /// objective in one step, is at most this.
    pub tolerance: f64,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        LogisticOptions { c: 1.0, balance_classes: true, max_iter: 100, tolerance: 1e-8 }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// Per-feature mean used to standardise.
    pub mean: Vec<f64>,
    /// Per-feature scale used to standardise: the population standard deviation, or 1.0 when the
    /// standard deviation is 0 or not finite.
    pub scale: Vec<f64>,
    /// Intercept: the logit of a row whose features all equal their means.
    pub intercept: f64,
    /// Coefficients on the standardised features.
    pub weights: Vec<f64>,
    /// Number of Newton steps taken.
    pub iterations: u32,
    /// Whether the convergence criterion was met within `max_iter` steps.
    pub converged: bool,
}

/// Sign constraint of one feature's weight.
///
/// The constraint holds on the standardised and on the raw scale alike (the scale is positive),
/// so with [`Sign::NonNegative`] raising the feature never lowers the logit, and with
/// [`Sign::NonPositive`] it never raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    /// Unconstrained.
    Free,
    /// The weight is at least 0.
    NonNegative,
    /// The weight is at most 0.
    NonPositive,
}

impl Sign {
    /// The point of the feasible set nearest to `value`. A value on or beyond the bound becomes
    /// exactly `0.0` (never `-0.0`).
    fn project(self, value: f64) -> f64 {
        match self {
            Sign::Free => value,
            Sign::NonNegative => {
                if value > 0.0 {
                    value
                } else {
                    0.0
                }
            }
            Sign::NonPositive => {
                if value < 0.0 {
                    value
                } else {
                    0.0
                }
            }
        }
    }

    /// Whether a weight at the bound with objective gradient `gradient` would be pushed out of
    /// the feasible set by a descent step (always false for a free weight).
    fn pushed_out(self, gradient: f64) -> bool {
        match self {
            Sign::Free => false,
            Sign::NonNegative => gradient > 0.0,
            Sign::NonPositive => gradient < 0.0,
        }
    }
}

/// A constrained weight counts as at its bound when its magnitude is at most this times
/// `max(1, largest weight magnitude)`. Weights on standardised features are dimensionless, so
/// `1e-12` moves no logit by more than about `1e-12` per standard deviation of the feature; steps
/// that reach or cross a bound put the weight at exactly 0, so the band only catches rounding.
const AT_BOUND: f64 = 1e-12;
/// Largest distance to its bound, times `max(1, largest weight magnitude)`, at which a weight
/// pushed out of the feasible set leaves the Newton system (Bertsekas's `epsilon`).
const ACTIVE_BAND: f64 = 1e-3;

/// Fits an L2-penalised logistic regression of `y` on the standardised features (see the module
/// documentation for the objective and the method).
///
/// `x` is row-major, `y.len() * n_features` values; `y` holds one label per row. `n_features` may
/// be 0 (an intercept-only model). Errors: no rows, a shape mismatch, a non-finite feature value
/// (the first one in row order is named), a single class, an invalid option, an overflow of the
/// objective, or a Newton system that cannot be solved.
///
/// A fit that reaches `max_iter` steps without meeting the tolerance is returned with
/// `converged == false`; its objective is still no higher than at the start.
///
/// This is [`fit_logistic_signed`] with every weight [`Sign::Free`].
pub fn fit_logistic(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    options: &LogisticOptions,
) -> Result<LogisticModel, ModelError> {
    fit(x, n_features, y, options, None)
}

/// As [`fit_logistic`], with `signs[j]` constraining weight `j` (on the standardised or the raw
/// scale: the sign is the same). The intercept is always free.
///
/// The minimiser is a projected Newton method (Bertsekas, 1982): a constrained weight at its
/// bound 0 whose gradient points out of the feasible set is held there, the Newton step is taken
/// on the other parameters with the Hessian restricted to them, and every trial point is projected
/// onto the bounds (weights of the wrong sign become exactly 0); the line search asks for
/// sufficient decrease against the projected step. Two safeguards keep it from stalling on
/// nearly collinear features: as in Bertsekas's method, a weight close to its bound and pushed
/// towards it takes its own diagonal Newton step outside the system (the closeness band shrinks
/// to 0 near the solution), and a weight at its bound that the step would push out is held too
/// and the step recomputed. The convergence test uses the projected gradient (held weights count
/// 0); a small relative decrease stops the fit only when no weight at its bound has a gradient
/// pointing inwards beyond the tolerance. With no weight constrained it is exactly
/// [`fit_logistic`], iteration for iteration.
///
/// The fitted weights satisfy the constraints exactly. Errors: as [`fit_logistic`], and
/// [`ModelError::SignsMismatch`] when `signs.len() != n_features` (checked first).
pub fn fit_logistic_signed(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    options: &LogisticOptions,
    signs: &[Sign],
) -> Result<LogisticModel, ModelError> {
    if signs.len() != n_features {
        return Err(ModelError::SignsMismatch { signs: signs.len(), n_features });
    }
    fit(x, n_features, y, options, Some(signs))
}

/// The fit behind [`fit_logistic`] (`signs == None`: all free) and [`fit_logistic_signed`].
fn fit(
    x: &[f64],
    n_features: usize,
    y: &[bool],
    options: &LogisticOptions,
    signs: Option<&[Sign]>,
) -> Result<LogisticModel, ModelError> {
    validate_options(options)?;
    let n = y.len();
    if n == 0 {
        return Err(ModelError::Empty);
    }
    let expected = n.saturating_mul(n_features);
    if x.len() != expected {
        return Err(ModelError::ShapeMismatch { values: x.len(), n_features, labels: n, expected });
    }
    let positives = y.iter().filter(|&&label| label).count();
    if positives == 0 || positives == n {
        return Err(ModelError::OneClass { n, positive: positives == n });
    }
    let negatives = n - positives;

    let (mean, scale) = standardisation(x, n_features)?;
    let inv_scale: Vec<f64> = scale.iter().map(|s| 1.0 / s).collect();

    // Sample weights by class: [negative, positive].
    let class_weights = if options.balance_classes {
        [n as f64 / (2.0 * negatives as f64), n as f64 / (2.0 * positives as f64)]
    } else {
        [1.0, 1.0]
    };
    let total_weight = class_weights[0] * negatives as f64 + class_weights[1] * positives as f64;
    let gradient_scale = (options.c * total_weight).max(1.0);

    let problem = Problem { x, y, d: n_features, mean: &mean, inv_scale: &inv_scale, class_weights, c: options.c };
    let p = n_features + 1;
    let mut work = Workspace::new(p);

    // Constraint of each parameter, the intercept (free) first. The shape check above bounds
    // n_features by x.len(), so this allocation is no larger than the input.
    let mut bounds = vec![Sign::Free; p];
    if let Some(signs) = signs {
        bounds[1..].copy_from_slice(signs);
    }
    let constrained = bounds.iter().any(|&bound| bound != Sign::Free);
    // Per iteration: the parameters held at their bound, the active ones (held, or near their
    // bound and heading there), the indices of the others, and the active ones' steps.
    let mut held = vec![false; p];
    let mut active = vec![false; p];
    let mut free: Vec<usize> = Vec::with_capacity(p);
    let mut active_step = vec![0.0; p];
    let mut refined = vec![false; p];
    if constrained {
        work.saved = vec![0.0; p * p];
    }

    // Start at zero weights and the intercept at the weighted log-odds, the optimum for w = 0.
    // Zero weights satisfy every sign constraint.
    let mut beta = vec![0.0; p];
    beta[0] = (class_weights[1] * positives as f64 / (class_weights[0] * negatives as f64)).ln();

    let mut iterations = 0u32;
    let mut converged = false;
    let mut objective = problem.objective_and_gradient(&beta, &mut work.row, &mut work.gradient);
    if !(objective.is_finite() && work.gradient.iter().all(|g| g.is_finite())) {
        return Err(ModelError::Overflow { iteration: 0 });
    }
    loop {
        // The held (binding) set: constrained weights at their bound that a descent step would
        // push out. The projected gradient is the gradient with their components set to 0.
        let largest = beta[1..].iter().fold(1.0f64, |m, w| m.max(w.abs()));
        let at_bound = AT_BOUND * largest;
        let mut max_gradient = 0.0f64;
        for (((h, &g), &b), &bound) in held.iter_mut().zip(&work.gradient).zip(&beta).zip(&bounds) {
            *h = b.abs() <= at_bound && bound.pushed_out(g);
            if !*h {
                max_gradient = max_gradient.max(g.abs());
            }
        }
        if max_gradient / gradient_scale <= options.tolerance {
            converged = true;
            break;
        }
        if iterations >= options.max_iter {
            break;
        }
        problem.hessian(&beta, &mut work);
        if !work.hessian.iter().all(|h| h.is_finite()) {
            return Err(ModelError::Overflow { iteration: iterations });
        }
        if constrained {
            // Bertsekas's active set: a weight within `band` of its bound and pushed out moves
            // by its own diagonal Newton step, outside the Newton system; a held one stays. The
            // band shrinks with the length of the projected diagonal Newton step, so near the
            // solution only the weights at their bounds are active and the convergence is
            // Newton's.
            let mut residual = 0.0f64;
            for (j, ((&g, &b), &bound)) in work.gradient.iter().zip(&beta).zip(&bounds).enumerate() {
                active_step[j] = -g / work.hessian[j * p + j];
                residual = residual.max((b - bound.project(b + active_step[j])).abs());
            }
            let band = (ACTIVE_BAND * largest).min(residual);
            for (j, ((&g, &b), &bound)) in work.gradient.iter().zip(&beta).zip(&bounds).enumerate() {
                active[j] = held[j] || (b.abs() <= band && bound.pushed_out(g));
                if held[j] {
                    active_step[j] = 0.0;
                }
                refined[j] = false;
            }
            work.saved.copy_from_slice(&work.hessian);
        }
        // Newton step on the free parameters (at least the intercept). A constrained weight at its
        // bound that the step would push out of the feasible set (its gradient points in, but the
        // coupling with the other parameters points out) cannot follow it: it is held too and the
        // step recomputed, which takes at most one solve per weight. Should the held weights be
        // the only ones that can lower the objective, the refinement is undone.
        let mut refine = constrained;
        let slope = loop {
            free.clear();
            free.extend((0..p).filter(|&j| !active[j]));
            let m = free.len();
            if m < p {
                restrict(&mut work.hessian, &free, p);
            }
            for (d, &j) in work.direction.iter_mut().zip(&free) {
                *d = -work.gradient[j];
            }
            if !solve_regularised(&mut work.hessian[..m * m], &mut work.factor[..m * m], &mut work.direction[..m], m) {
                return Err(ModelError::Singular { iteration: iterations });
            }
            if m < p {
                // Scatter in place: free[k] >= k, so going down never overwrites an unread entry.
                for k in (0..m).rev() {
                    work.direction[free[k]] = work.direction[k];
                }
                for ((d, &a), &step) in work.direction.iter_mut().zip(&active).zip(&active_step) {
                    if a {
                        *d = step;
                    }
                }
            }
            let slope: f64 = work.gradient.iter().zip(&work.direction).map(|(g, d)| g * d).sum();
            if !refine {
                break slope;
            }
            let mut grew = false;
            for j in 0..p {
                if !active[j] && beta[j].abs() <= at_bound && bounds[j].pushed_out(-work.direction[j]) {
                    active[j] = true;
                    active_step[j] = 0.0;
                    refined[j] = true;
                    grew = true;
                }
            }
            if !grew {
                if slope < 0.0 || !refined.contains(&true) {
                    break slope;
                }
                for (a, &r) in active.iter_mut().zip(&refined) {
                    *a &= !r;
                }
                refine = false;
            }
            work.hessian.copy_from_slice(&work.saved);
        };
        // Backtracking line search on the step length, each trial projected onto the bounds; the
        // gradient at the accepted point comes with its objective, so no separate pass is needed
        // for the convergence test.
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..MAX_HALVINGS {
            let mut projected = false;
            for ((((t, &b), &d), &bound), &h) in
                work.trial.iter_mut().zip(&beta).zip(&work.direction).zip(&bounds).zip(&held)
            {
                let unprojected = b + step * d;
                // A held weight is within rounding of 0 and goes exactly there.
                *t = if h { 0.0 } else { bound.project(unprojected) };
                projected |= t.to_bits() != unprojected.to_bits();
            }
            // Armijo's condition against the step actually taken; without projection that is
            // `step * slope`, and with it `g . (trial - beta)`, which must still be a descent.
            let predicted = if projected {
                work.gradient.iter().zip(&work.trial).zip(&beta).map(|((g, t), b)| g * (t - b)).sum()
            } else {
                step * slope
            };
            if !projected || predicted < 0.0 {
                let trial_objective =
                    problem.objective_and_gradient(&work.trial, &mut work.row, &mut work.trial_gradient);
                if trial_objective.is_finite()
                    && work.trial_gradient.iter().all(|g| g.is_finite())
                    && trial_objective <= objective + ARMIJO * predicted
                {
                    accepted = Some(trial_objective);
                    break;
                }
            }
            step *= 0.5;
        }
        let Some(new_objective) = accepted else {
            // No step along a descent direction lowers the objective: it is at its minimum to
            // rounding, so the relative decrease is zero.
            converged = true;
            break;
        };
        iterations += 1;
        beta.copy_from_slice(&work.trial);
        std::mem::swap(&mut work.gradient, &mut work.trial_gradient);
        let decrease = objective - new_objective;
        objective = new_objective;
        // A small decrease means convergence only when no weight at its bound could still leave
        // it to lower the objective (its gradient points into the feasible set beyond the
        // tolerance): a step on the wrong face can decrease little while a released weight would
        // decrease much more.
        if decrease <= options.tolerance * objective.abs().max(f64::MIN_POSITIVE)
            && (!constrained || leaving_gradient(&beta, &work.gradient, &bounds) / gradient_scale <= options.tolerance)
        {
            converged = true;
            break;
        }
    }

    // Every trial point was projected, so the bounds hold; projecting once more costs nothing
    // and makes the guarantee independent of the loop.
    for (b, &bound) in beta.iter_mut().zip(&bounds) {
        *b = bound.project(*b);
    }
    let intercept = beta[0];
    beta.remove(0);
    Ok(LogisticModel { mean, scale, intercept, weights: beta, iterations, converged })
}

/// The largest gradient magnitude of a constrained weight at its bound (as in the fit) whose
/// gradient points into the feasible set, so that a descent step would move it off the bound.
fn leaving_gradient(beta: &[f64], gradient: &[f64], bounds: &[Sign]) -> f64 {
    let at_bound = AT_BOUND * beta[1..].iter().fold(1.0f64, |m, w| m.max(w.abs()));
    let mut largest = 0.0f64;
    for ((&b, &g), &bound) in beta.iter().zip(gradient).zip(bounds) {
        if bound != Sign::Free && b.abs() <= at_bound && !bound.pushed_out(g) {
            largest = largest.max(g.abs());
        }
    }
    largest
}

fn validate_options(options: &LogisticOptions) -> Result<(), ModelError> {
    if !(options.c.is_finite() && options.c > 0.0) {
        return Err(ModelError::InvalidOption {
            name: "c",
            value: options.c.to_string(),
            requirement: "finite and greater than 0",
        });
    }
    if !(options.tolerance.is_finite() && options.tolerance >= 0.0) {
        return Err(ModelError::InvalidOption {
            name: "tolerance",
            value: options.tolerance.to_string(),
            requirement: "finite and at least 0",
        });
    }
    Ok(())
}

/// Per-feature mean and scale (population standard deviation, 1.0 when it is 0 or not finite),
/// computed in one pass with Welford's update. Fails on the first non-finite value in row order.
fn standardisation(x: &[f64], d: usize) -> Result<(Vec<f64>, Vec<f64>), ModelError> {
    let mut mean = vec![0.0; d];
    let mut m2 = vec![0.0; d];
    let mut count = 0usize;
    if d > 0 {
        for (row, values) in x.chunks_exact(d).enumerate() {
            if let Some(feature) = values.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::NonFinite { row, feature });
            }
            count += 1;
            let inv_count = 1.0 / count as f64;
            for ((m, s), &v) in mean.iter_mut().zip(m2.iter_mut()).zip(values) {
                let delta = v - *m;
                *m += delta * inv_count;
                *s += delta * (v - *m);
            }
        }
    }
    let n = count.max(1) as f64;
    let scale = m2
        .iter()
        .map(|&s| {
            let sd = (s / n).sqrt();
            if sd.is_finite() && sd > 0.0 { sd } else { 1.0 }
        })
        .collect();
    Ok((mean, scale))
}

/// The data and constants of one fit.
struct Problem<'a> {
    x: &'a [f64],
    y: &'a [bool],
    d: usize,
    mean: &'a [f64],
    inv_scale: &'a [f64],
    /// Sample weight of a negative and of a positive row.
    class_weights: [f64; 2],
    c: f64,
}

/// Buffers reused across Newton iterations; `p = d + 1` parameters, the intercept first.
struct Workspace {
    p: usize,
    gradient: Vec<f64>,
    /// Row-major `p x p`; accumulated in the upper triangle, then mirrored.
    hessian: Vec<f64>,
    /// Cholesky factor, row-major `p x p`.
    factor: Vec<f64>,
    /// Copy of the Hessian while the Newton system is restricted (sign-constrained fits only).
    saved: Vec<f64>,
    direction: Vec<f64>,
    trial: Vec<f64>,
    /// Gradient at `trial`.
    trial_gradient: Vec<f64>,
    /// `BLOCK` standardised rows, each `[1, z_1, ..., z_d]`.
    block: Vec<f64>,
    /// One standardised row.
    row: Vec<f64>,
}

impl Workspace {
    fn new(p: usize) -> Self {
        Workspace {
            p,
            gradient: vec![0.0; p],
            hessian: vec![0.0; p * p],
            factor: vec![0.0; p * p],
            saved: Vec::new(),
            direction: vec![0.0; p],
            trial: vec![0.0; p],
            trial_gradient: vec![0.0; p],
            block: vec![0.0; BLOCK * p],
            row: vec![0.0; p],
        }
    }

    /// Copies the upper triangle of the Hessian into the lower one.
    fn mirror_hessian(&mut self) {
        let p = self.p;
        for j in 0..p {
            for k in 0..j {
                self.hessian[j * p + k] = self.hessian[k * p + j];
            }
        }
    }
}

/// Writes `[1, (x_1 - m_1) / s_1, ...]` into `z` and returns `beta . z`.
#[inline]
fn standardise(values: &[f64], mean: &[f64], inv_scale: &[f64], beta: &[f64], z: &mut [f64]) -> f64 {
    let (first, rest) = z.split_at_mut(1);
    first[0] = 1.0;
    let mut eta = beta[0];
    for ((((zj, &v), &m), &is), &b) in rest.iter_mut().zip(values).zip(mean).zip(inv_scale).zip(&beta[1..]) {
        *zj = (v - m) * is;
        eta += b * *zj;
    }
    eta
}

impl Problem<'_> {
    fn rows(&self) -> impl Iterator<Item = &[f64]> {
        // With no features every row is the empty slice.
        let d = self.d;
        (0..self.y.len()).map(move |i| &self.x[i * d..(i + 1) * d])
    }

    /// The objective at `beta`; writes its gradient into `gradient`. `z` is scratch space.
    fn objective_and_gradient(&self, beta: &[f64], z: &mut [f64], gradient: &mut [f64]) -> f64 {
        gradient.fill(0.0);
        let mut data = 0.0;
        for (values, &label) in self.rows().zip(self.y) {
            let eta = standardise(values, self.mean, self.inv_scale, beta, z);
            let (loss, p, q) = loss_terms(eta, label);
            let weight = self.class_weights[usize::from(label)];
            data += weight * loss;
            let residual = self.c * weight * if label { -q } else { p };
            for (g, &zj) in gradient.iter_mut().zip(z.iter()) {
                *g += residual * zj;
            }
        }
        // The penalty 0.5 * ||w||^2 adds w to the gradient.
        for (g, &w) in gradient.iter_mut().zip(beta).skip(1) {
            *g += w;
        }
        0.5 * beta[1..].iter().map(|w| w * w).sum::<f64>() + self.c * data
    }

    /// Fills `work.hessian` with the Hessian of the objective at `beta` (both triangles).
    fn hessian(&self, beta: &[f64], work: &mut Workspace) {
        let p = work.p;
        work.hessian.fill(0.0);
        let mut curvature = [0.0; BLOCK];
        let mut filled = 0;
        for (values, &label) in self.rows().zip(self.y) {
            let z = &mut work.block[filled * p..(filled + 1) * p];
            let eta = standardise(values, self.mean, self.inv_scale, beta, z);
            let (_, prob, q) = loss_terms(eta, label);
            curvature[filled] = self.c * self.class_weights[usize::from(label)] * prob * q;
            filled += 1;
            if filled == BLOCK {
                add_block_upper(&mut work.hessian, &work.block, &curvature, p);
                filled = 0;
            }
        }
        for (z, &weight) in work.block.chunks_exact(p).zip(&curvature).take(filled) {
            add_row_upper(&mut work.hessian, z, weight, p);
        }
        // The penalty 0.5 * ||w||^2 adds 1 to the diagonal, except for the intercept.
        for j in 1..p {
            work.hessian[j * p + j] += 1.0;
        }
        work.mirror_hessian();
    }
}

/// Adds `sum_r c_r * z_r z_r^T` for the `BLOCK` rows of `block` to the upper triangle of `h`.
fn add_block_upper(h: &mut [f64], block: &[f64], c: &[f64; BLOCK], p: usize) {
    let (z0, rest) = block.split_at(p);
    let (z1, rest) = rest.split_at(p);
    let (z2, z3) = rest.split_at(p);
    for j in 0..p {
        let (a0, a1, a2, a3) = (c[0] * z0[j], c[1] * z1[j], c[2] * z2[j], c[3] * z3[j]);
        let row = &mut h[j * p + j..(j + 1) * p];
        for ((((hk, &b0), &b1), &b2), &b3) in row.iter_mut().zip(&z0[j..]).zip(&z1[j..]).zip(&z2[j..]).zip(&z3[j..]) {
            *hk += a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3;
        }
    }
}

/// Adds `c * z z^T` to the upper triangle of `h`.
fn add_row_upper(h: &mut [f64], z: &[f64], c: f64, p: usize) {
    for j in 0..p {
        let a = c * z[j];
        let row = &mut h[j * p + j..(j + 1) * p];
        for (hk, &b) in row.iter_mut().zip(&z[j..]) {
            *hk += a * b;
        }
    }
}

impl LogisticModel {
    /// Number of features the model expects.
    pub fn n_features(&self) -> usize {
        self.weights.len()
    }

    /// Raw log-odds of one row of unstandardised feature values. A row shorter than the model
    /// counts its missing features at their means (contribution 0); extra values are ignored.
    pub fn logit(&self, row: &[f64]) -> f64 {
        let mut logit = self.intercept;
        for (j, &v) in row.iter().enumerate().take(self.weights.len()) {
            logit += self.contribution(j, v);
        }
        logit
    }

    fn contribution(&self, j: usize, v: f64) -> f64 {
        self.weights[j] * (v - self.mean[j]) / self.scale[j]
    }

    /// Exact additive explanation of [`LogisticModel::logit`]: writes feature `j`'s contribution
    /// `w_j * (x_j - mean_j) / scale_j` into `out[j]` and returns the baseline, the intercept (the
    /// logit of a row at the mean). When `row` and `out` both have `n_features` values,
    /// `baseline + sum(out)` equals `logit(row)` up to rounding. Entries of `out` beyond the
    /// row's or the model's features are set to 0.
    pub fn contributions(&self, row: &[f64], out: &mut [f64]) -> f64 {
        for (j, slot) in out.iter_mut().enumerate() {
            *slot = match row.get(j) {
                Some(&v) if j < self.weights.len() => self.contribution(j, v),
                _ => 0.0,
            };
        }
        self.intercept
    }

    /// Coefficients on the original (unstandardised) scale: `(intercept, slopes)` such that the
    /// logit is `intercept + sum_j slopes[j] * x_j`.
    pub fn raw_coefficients(&self) -> (f64, Vec<f64>) {
        let slopes: Vec<f64> = self.weights.iter().zip(&self.scale).map(|(w, s)| w / s).collect();
        let shift: f64 = slopes.iter().zip(&self.mean).map(|(b, m)| b * m).sum();
        (self.intercept - shift, slopes)
    }
}

#[cfg(test)]
mod tests;
