//! Benchmarks of the opportunity scorer at production size: the logistic fit on 3 million rows of
//! 60 features (plain, and with half of the weights sign-constrained as `score train` fits them),
//! and the evaluation metrics (ROC-AUC, PR-AUC, lift, Brier, ECE) of 1 million probabilities.
//!
//! `cargo bench --bench scoring` (11 fits of each kind, about 5 minutes), or
//! `cargo bench --bench scoring -- --quick` (one fit of each kind: a fit takes longer than
//! criterion's quick mode allows, so it stops after the first).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use marketlounge_index::score::metrics::evaluate;
use marketlounge_index::score::model::{LogisticOptions, Sign, fit_logistic, fit_logistic_signed, sigmoid};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};

/// Rows and features of the fit: the production size the model's documentation quotes a time for
/// (`index/src/score/model/logistic.rs`).
const FIT_ROWS: usize = 3_000_000;
const FIT_FEATURES: usize = 60;
/// Rows of the evaluation: one backtest's pooled test rows at production size.
const EVALUATE_ROWS: usize = 1_000_000;

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

/// Independent standard normal features and labels from a sparse true logistic model (every
/// third weight 0) with an intercept of -2.5, so that positives are the minority class.
fn fit_data(n: usize, d: usize) -> (Vec<f64>, Vec<bool>) {
    let mut rng = StdRng::seed_from_u64(1);
    let truth: Vec<f64> = (0..d).map(|j| if j % 3 == 0 { 0.0 } else { 0.3 * normal(&mut rng) }).collect();
    let mut x = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let start = x.len();
        x.extend((0..d).map(|_| normal(&mut rng)));
        let eta = -2.5 + x[start..].iter().zip(&truth).map(|(v, b)| v * b).sum::<f64>();
        y.push(rng.random::<f64>() < sigmoid(eta));
    }
    (x, y)
}

fn fit(c: &mut Criterion) {
    let (x, y) = fit_data(FIT_ROWS, FIT_FEATURES);
    let options = LogisticOptions::default();
    // Constrained as the scorer's activity features are: every other weight non-negative.
    let signs: Vec<Sign> = (0..FIT_FEATURES).map(|j| if j % 2 == 0 { Sign::NonNegative } else { Sign::Free }).collect();
    let mut group = c.benchmark_group("fit");
    // One fit takes seconds: criterion's minimum of 10 samples, one fit each, is enough. The
    // target time stays at its default so that `--quick` stops after the first fit; without it,
    // criterion warns that 10 samples do not fit in 5 s and takes the time they need.
    group.sample_size(10);
    group.bench_function("logistic/3M rows x 60 features", |b| {
        b.iter(|| {
            let model = fit_logistic(black_box(&x), FIT_FEATURES, black_box(&y), &options).expect("fits");
            assert!(model.converged, "{} iterations without converging", model.iterations);
            model
        })
    });
    group.bench_function("logistic signed/3M rows x 60 features", |b| {
        b.iter(|| {
            let model =
                fit_logistic_signed(black_box(&x), FIT_FEATURES, black_box(&y), &options, &signs).expect("fits");
            assert!(model.converged, "{} iterations without converging", model.iterations);
            model
        })
    });
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(9);
    let p: Vec<f64> = (0..EVALUATE_ROWS).map(|_| sigmoid(normal(&mut rng))).collect();
    let y: Vec<bool> = p.iter().map(|&p| rng.random::<f64>() < p).collect();
    c.bench_function("evaluate/1M rows", |b| b.iter(|| evaluate(black_box(&p), black_box(&y))));
}

criterion_group!(benches, fit, metrics);
criterion_main!(benches);
