//! Dense linear algebra of the logistic regression's Newton steps: restricting a square
//! matrix to a subset of its rows and columns, and solving a symmetric positive (semi-)definite
//! system by Cholesky, with a diagonal shift when the factorisation fails.
//!
//! Matrices are row-major `p x p` slices. Nothing here allocates: the caller owns the buffers,
//! which the fit reuses across iterations.

/// Keeps the rows and columns `keep` (increasing) of the row-major `p x p` matrix `a`, packed
/// into its first `keep.len()^2` entries, row-major.
pub(super) fn restrict(a: &mut [f64], keep: &[usize], p: usize) {
    let m = keep.len();
    // Each entry moves to an index no greater than its own, and entries are visited in
    // increasing order, so no entry is overwritten before it is read.
    for (r, &i) in keep.iter().enumerate() {
        for (c, &j) in keep.iter().enumerate() {
            a[r * m + c] = a[i * p + j];
        }
    }
}

/// Cholesky factorisation of the symmetric `p x p` matrix `a` into the lower triangle of
/// `factor`. Returns false when `a` is not numerically positive definite.
fn cholesky(a: &[f64], factor: &mut [f64], p: usize) -> bool {
    factor.fill(0.0);
    for j in 0..p {
        let mut diagonal = a[j * p + j];
        for k in 0..j {
            diagonal -= factor[j * p + k] * factor[j * p + k];
        }
        if !(diagonal.is_finite() && diagonal > 0.0) {
            return false;
        }
        let pivot = diagonal.sqrt();
        factor[j * p + j] = pivot;
        for i in j + 1..p {
            let mut sum = a[i * p + j];
            for k in 0..j {
                sum -= factor[i * p + k] * factor[j * p + k];
            }
            factor[i * p + j] = sum / pivot;
        }
    }
    true
}

/// Solves `L L^T x = b` in place, `L` the lower-triangular `factor`.
fn cholesky_solve(factor: &[f64], b: &mut [f64], p: usize) {
    for i in 0..p {
        let mut sum = b[i];
        for k in 0..i {
            sum -= factor[i * p + k] * b[k];
        }
        b[i] = sum / factor[i * p + i];
    }
    for i in (0..p).rev() {
        let mut sum = b[i];
        for k in i + 1..p {
            sum -= factor[k * p + i] * b[k];
        }
        b[i] = sum / factor[i * p + i];
    }
}

/// Solves `a x = b` in place for a symmetric positive semi-definite `a`. When the Cholesky
/// factorisation fails, a growing multiple of the largest diagonal entry is added to the diagonal
/// (which still gives a descent direction). Returns false when no such shift helps.
pub(super) fn solve_regularised(a: &mut [f64], factor: &mut [f64], b: &mut [f64], p: usize) -> bool {
    let largest = (0..p).map(|j| a[j * p + j].abs()).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    let mut shift = 0.0;
    for attempt in 0..12 {
        if cholesky(a, factor, p) {
            cholesky_solve(factor, b, p);
            return b.iter().all(|v| v.is_finite());
        }
        let next = largest * 1e-12 * 10f64.powi(attempt);
        for j in 0..p {
            a[j * p + j] += next - shift;
        }
        shift = next;
    }
    false
}
