//! Training and evaluation: data sets from outcomes, time-based fits, backtests, and the same
//! trainer on any labelled table.
//!
//! **Time.** A labelled row is (company, as-of date T, horizon, converted). Its label is known
//! only once T + horizon has passed. A model used at date D may learn only from rows observed by
//! D − gap (gap ≥ horizon). Among those, the regression is fitted on all as-of dates but the
//! latest, and the calibrator on the latest one: calibration comes from a later slice than the
//! fit, as it will be used. With a single as-of date the calibrator is cross-fitted instead
//! (five folds by company hash: each row's logit comes from a model that did not see it).
//!
//! **Backtest.** For every as-of date t that has an earlier observed slice, fit as above with
//! data observed by t − gap and measure on the rows at t; folds are reported one by one and
//! pooled, next to the oracle (the generator's latent probability) when the data carries it.

use std::collections::HashMap;
use std::hash::Hasher;

use serde::Serialize;

use super::ScoreError;
use super::artefact::{Artefact, ArtefactMetrics, FORMAT, Reference, TrainingWindow};
use super::features::{self, FeatureSettings, Firmographics, Fnv64, date_of_day};
use super::metrics::{self, Histogram, Metrics, ReliabilityBin};
use super::model::{
    CalibrationKind, Calibrator, LogisticModel, LogisticOptions, Sign, fit_calibrator, fit_logistic_signed,
};
use super::store::{Histories, OutcomeRow};

/// Bins of the reference histograms.
const REFERENCE_BINS: usize = 10;
/// Folds of the cross-fitted calibration.
const CROSS_FOLDS: u64 = 5;

/// Labelled feature rows.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub n_features: usize,
    /// Row-major, `n_features` per row.
    pub x: Vec<f64>,
    pub y: Vec<bool>,
    pub day: Vec<i32>,
    pub company: Vec<u32>,
    pub latent: Vec<Option<f64>>,
    /// The longest outcome horizon among the rows, in days.
    pub horizon_days: i32,
    /// Outcomes skipped because their company is unknown.
    pub skipped_unknown_company: usize,
    /// The sign each weight must have (empty: all free).
    pub signs: Vec<Sign>,
}

impl Dataset {
    /// Features of every outcome's company as of the outcome's date.
    pub fn from_outcomes(
        outcomes: &[OutcomeRow],
        firms: &HashMap<u32, Firmographics>,
        histories: &Histories,
        settings: &FeatureSettings,
    ) -> Dataset {
        let n_features = features::n_features();
        let mut data = Dataset { n_features, signs: features::feature_signs(settings), ..Dataset::default() };
        data.x.reserve(outcomes.len() * n_features);
        let mut row = vec![0.0; n_features];
        for outcome in outcomes {
            let Some(firm) = firms.get(&outcome.company) else {
                data.skipped_unknown_company += 1;
                continue;
            };
            features::compute(settings, outcome.day, firm, histories.get(outcome.company), &mut row);
            data.x.extend_from_slice(&row);
            data.y.push(outcome.converted);
            data.day.push(outcome.day);
            data.company.push(outcome.company);
            data.latent.push(outcome.latent);
            data.horizon_days = data.horizon_days.max(outcome.horizon_days);
        }
        data
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.n_features..(i + 1) * self.n_features]
    }

    fn gather(&self, rows: &[usize]) -> (Vec<f64>, Vec<bool>) {
        let mut x = Vec::with_capacity(rows.len() * self.n_features);
        let mut y = Vec::with_capacity(rows.len());
        for &i in rows {
            x.extend_from_slice(self.row(i));
            y.push(self.y[i]);
        }
        (x, y)
    }

    /// The distinct as-of days, ascending.
    pub fn days(&self) -> Vec<i32> {
        let mut days = self.day.clone();
        days.sort_unstable();
        days.dedup();
        days
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub logistic: LogisticOptions,
    pub calibration: CalibrationKind,
    /// Minimum days between the last as-of date a model learns from and the date it is used
    /// at; never less than the outcome horizon.
    pub gap_days: i32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { logistic: LogisticOptions::default(), calibration: CalibrationKind::Auto, gap_days: 0 }
    }
}

/// A fitted model with the rows it came from.
#[derive(Debug, Clone)]
pub struct Fit {
    pub model: LogisticModel,
    pub calibrator: Calibrator,
    pub fit_rows: Vec<usize>,
    pub calibration_rows: Vec<usize>,
    /// "later_slice" or "cross_fitted".
    pub calibration_rows_from: &'static str,
    /// Calibrated probabilities of the calibration rows.
    pub calibration_probabilities: Vec<f64>,
}

fn hash_of(text: &str) -> u64 {
    let mut h = Fnv64::default();
    h.write(text.as_bytes());
    h.finish()
}

fn fold_of(company: u32) -> u64 {
    (hash_of(&company.to_string()) / 100) % CROSS_FOLDS
}

/// Logistic fit on `fit_rows`, calibrated on `calibration_rows` (or cross-fitted within
/// `fit_rows` when `calibration_rows` is empty).
fn fit_rows(
    data: &Dataset,
    fit: Vec<usize>,
    calibration: Vec<usize>,
    options: &TrainOptions,
    fold: impl Fn(usize) -> u64,
) -> Result<Fit, ScoreError> {
    let signs = if data.signs.is_empty() { vec![Sign::Free; data.n_features] } else { data.signs.clone() };
    let (x, y) = data.gather(&fit);
    let model = fit_logistic_signed(&x, data.n_features, &y, &options.logistic, &signs)?;
    if !calibration.is_empty() {
        let logits: Vec<f64> = calibration.iter().map(|&i| model.logit(data.row(i))).collect();
        let labels: Vec<bool> = calibration.iter().map(|&i| data.y[i]).collect();
        let calibrator = fit_calibrator(&logits, &labels, options.calibration)?;
        let probabilities = logits.iter().map(|&l| calibrator.probability(l)).collect();
        return Ok(Fit {
            model,
            calibrator,
            fit_rows: fit,
            calibration_rows: calibration,
            calibration_rows_from: "later_slice",
            calibration_probabilities: probabilities,
        });
    }
    // Cross-fitting: each row's logit from a model fitted without its fold.
    let mut logits = vec![0.0; fit.len()];
    for k in 0..CROSS_FOLDS {
        let (inside, outside): (Vec<usize>, Vec<usize>) = (0..fit.len()).partition(|&j| fold(fit[j]) == k);
        if inside.is_empty() {
            continue;
        }
        let rows: Vec<usize> = outside.iter().map(|&j| fit[j]).collect();
        let (x, y) = data.gather(&rows);
        let fold_model = fit_logistic_signed(&x, data.n_features, &y, &options.logistic, &signs)?;
        for j in inside {
            logits[j] = fold_model.logit(data.row(fit[j]));
        }
    }
    let labels: Vec<bool> = fit.iter().map(|&i| data.y[i]).collect();
    let calibrator = fit_calibrator(&logits, &labels, options.calibration)?;
    let probabilities = logits.iter().map(|&l| calibrator.probability(l)).collect();
    Ok(Fit {
        model,
        calibrator,
        calibration_rows: fit.clone(),
        fit_rows: fit,
        calibration_rows_from: "cross_fitted",
        calibration_probabilities: probabilities,
    })
}

/// Fits with the rows observed by `cutoff` (as-of + max(horizon, gap) ≤ cutoff): the regression
/// on all their as-of dates but the latest, the calibrator on the latest.
pub fn fit_observed_by(data: &Dataset, cutoff: i32, options: &TrainOptions) -> Result<Fit, ScoreError> {
    let lag = data.horizon_days.max(options.gap_days);
    let available: Vec<usize> = (0..data.len()).filter(|&i| data.day[i] + lag <= cutoff).collect();
    let mut days: Vec<i32> = available.iter().map(|&i| data.day[i]).collect();
    days.sort_unstable();
    days.dedup();
    let Some(&last) = days.last() else {
        return Err(ScoreError::NotEnoughData(format!(
            "no outcome is observed by {} (as-of date + {lag} days); ingest outcomes or pass a later date",
            date_of_day(cutoff)
        )));
    };
    let company = |i: usize| fold_of(data.company[i]);
    if days.len() == 1 {
        return fit_rows(data, available, Vec::new(), options, company);
    }
    let (calibration, fit): (Vec<usize>, Vec<usize>) = available.into_iter().partition(|&i| data.day[i] == last);
    fit_rows(data, fit, calibration, options, company)
}

/// Quality of a model next to the oracle's on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    pub test_date: String,
    pub fit_from: String,
    pub fit_to: String,
    pub calibration_date: String,
    pub fit_rows: usize,
    pub test_rows: usize,
    pub model: Metrics,
    /// The generator's latent probability as the score, when every test row carries one.
    pub oracle: Option<Metrics>,
}

/// A rolling out-of-time backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    pub gap_days: i32,
    pub horizon_days: i32,
    pub folds: Vec<Fold>,
    /// All folds' test rows together.
    pub pooled: Metrics,
    pub pooled_oracle: Option<Metrics>,
    /// Model lift at 10 % over the oracle's, pooled.
    pub lift_ratio_to_oracle: Option<f64>,
    pub reliability: Vec<ReliabilityBin>,
}

/// Runs the backtest: one fold per as-of date with earlier observed data.
pub fn backtest(data: &Dataset, options: &TrainOptions) -> Result<Backtest, ScoreError> {
    let mut folds = Vec::new();
    let (mut pooled_p, mut pooled_y, mut pooled_latent) = (Vec::new(), Vec::new(), Vec::new());
    let mut all_latent = true;
    for t in data.days() {
        let Ok(fit) = fit_observed_by(data, t, options) else { continue };
        let test: Vec<usize> = (0..data.len()).filter(|&i| data.day[i] == t).collect();
        let p: Vec<f64> = test.iter().map(|&i| fit.calibrator.probability(fit.model.logit(data.row(i)))).collect();
        let y: Vec<bool> = test.iter().map(|&i| data.y[i]).collect();
        let latent: Option<Vec<f64>> = test.iter().map(|&i| data.latent[i]).collect();
        all_latent &= latent.is_some();
        let fit_days = fit.fit_rows.iter().map(|&i| data.day[i]);
        let (from, to) = fit_days.fold((i32::MAX, i32::MIN), |(a, b), d| (a.min(d), b.max(d)));
        let calibration_date = fit.calibration_rows.iter().map(|&i| data.day[i]).max().unwrap_or(to);
        folds.push(Fold {
            test_date: date_of_day(t).to_string(),
            fit_from: date_of_day(from).to_string(),
            fit_to: date_of_day(to).to_string(),
            calibration_date: date_of_day(calibration_date).to_string(),
            fit_rows: fit.fit_rows.len(),
            test_rows: test.len(),
            model: metrics::evaluate(&p, &y),
            oracle: latent.as_ref().map(|l| metrics::evaluate(l, &y)),
        });
        pooled_p.extend_from_slice(&p);
        pooled_y.extend_from_slice(&y);
        if let Some(l) = latent {
            pooled_latent.extend(l);
        }
    }
    if folds.is_empty() {
        let lag = data.horizon_days.max(options.gap_days);
        return Err(ScoreError::NotEnoughData(format!(
            "a backtest needs outcomes at two as-of dates at least {lag} days apart (the horizon or the gap); found {}",
            data.days().len()
        )));
    }
    let pooled = metrics::evaluate(&pooled_p, &pooled_y);
    let pooled_oracle = all_latent.then(|| metrics::evaluate(&pooled_latent, &pooled_y));
    let lift_ratio_to_oracle = pooled_oracle.as_ref().map(|o| pooled.lift_at_10pct / o.lift_at_10pct);
    Ok(Backtest {
        gap_days: options.gap_days.max(data.horizon_days),
        horizon_days: data.horizon_days,
        folds,
        reliability: metrics::reliability(&pooled_p, &pooled_y, 10),
        pooled,
        pooled_oracle,
        lift_ratio_to_oracle,
    })
}

/// Trains the production model on everything observed by `cutoff` and seals it.
pub fn train(
    data: &Dataset,
    cutoff: i32,
    settings: &FeatureSettings,
    options: &TrainOptions,
    created: jiff::civil::Date,
) -> Result<Artefact, ScoreError> {
    let fit = fit_observed_by(data, cutoff, options)?;
    let backtest = backtest(data, options).ok().and_then(|b| b.folds.last().map(|f| f.model.clone()));
    let labels: Vec<bool> = fit.calibration_rows.iter().map(|&i| data.y[i]).collect();
    let calibration_metrics = metrics::evaluate(&fit.calibration_probabilities, &labels);
    let span = |rows: &[usize]| {
        let (a, b) = rows.iter().map(|&i| data.day[i]).fold((i32::MAX, i32::MIN), |(a, b), d| (a.min(d), b.max(d)));
        (date_of_day(a).to_string(), date_of_day(b).to_string())
    };
    let (fit_from, fit_to) = span(&fit.fit_rows);
    let (calibration_from, calibration_to) = span(&fit.calibration_rows);
    let positives = |rows: &[usize]| rows.iter().filter(|&&i| data.y[i]).count();
    let reference = Reference {
        features: (0..data.n_features)
            .map(|j| {
                let values: Vec<f64> = fit.calibration_rows.iter().map(|&i| data.row(i)[j]).collect();
                Histogram::reference(&values, REFERENCE_BINS)
            })
            .collect(),
        probability: Histogram::reference(&fit.calibration_probabilities, REFERENCE_BINS),
    };
    let mut artefact = Artefact {
        format: FORMAT,
        version: String::new(),
        created: created.to_string(),
        content_hash: String::new(),
        feature_schema_hash: features::schema_hash(settings),
        feature_names: features::feature_specs(settings).into_iter().map(|s| s.name).collect(),
        feature_settings: settings.clone(),
        options: options.logistic.clone(),
        model: fit.model,
        calibrator: fit.calibrator,
        base_rate: calibration_metrics.base_rate,
        horizon_days: data.horizon_days,
        training: TrainingWindow {
            fit_from,
            fit_to,
            calibration_from,
            calibration_to,
            fit_rows: fit.fit_rows.len(),
            fit_positives: positives(&fit.fit_rows),
            calibration_rows: fit.calibration_rows.len(),
            calibration_positives: positives(&fit.calibration_rows),
            calibration_rows_from: fit.calibration_rows_from.to_owned(),
        },
        metrics: ArtefactMetrics { calibration: calibration_metrics, backtest },
        reference,
    };
    artefact.seal()?;
    Ok(artefact)
}

/// The labelled-table trainer's report (`marketlounge score train-table`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableReport {
    pub n_train: usize,
    pub n_test: usize,
    pub auc: f64,
    pub pr_auc: f64,
    pub brier: f64,
    pub ece: f64,
    pub lift_at_10pct: f64,
    /// The regression's options, so that an outside check can fit the same objective.
    pub logistic: LogisticOptions,
    pub converged: bool,
    pub iterations: u32,
    /// The fitted regression on the original (unstandardised) scale: the logit of a row is
    /// `intercept + sum_j coefficients[j].value * x_j`, before calibration.
    pub intercept: f64,
    /// One per feature column, in the table's order.
    pub coefficients: Vec<Coefficient>,
    /// One per test row, in the table's order. Not in the JSON report (it can be long):
    /// `marketlounge score train-table --predictions FILE` writes it as NDJSON.
    #[serde(skip)]
    pub predictions: Vec<TablePrediction>,
}

/// A feature column's coefficient on its original scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coefficient {
    pub feature: String,
    pub value: f64,
}

/// A test row's scores: the model's logit and the calibrated probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablePrediction {
    pub id: String,
    pub label: bool,
    pub logit: f64,
    pub probability: f64,
}

/// A labelled table read from CSV: numeric features, a 0/1 label, an id per row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub feature_names: Vec<String>,
    pub x: Vec<f64>,
    pub y: Vec<bool>,
    pub ids: Vec<String>,
}

impl Table {
    /// Reads `input`: the label column, an optional id column (else the 1-based row number),
    /// and every other column not in `drop` as a numeric feature. Errors name line and column.
    pub fn read_csv(
        input: impl std::io::Read,
        label: &str,
        id: Option<&str>,
        drop: &[String],
    ) -> Result<Table, ScoreError> {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
        let headers = reader.headers().map_err(|err| ScoreError::Invalid(format!("line 1: header: {err}")))?.clone();
        let position = |name: &str| headers.iter().position(|h| h == name);
        let label_at = position(label).ok_or_else(|| {
            ScoreError::Invalid(format!(
                "no column {label:?} for the label; the columns are {:?}",
                headers.iter().collect::<Vec<_>>()
            ))
        })?;
        let id_at = match id {
            Some(id) => Some(position(id).ok_or_else(|| ScoreError::Invalid(format!("no column {id:?} for the id")))?),
            None => None,
        };
        for name in drop {
            if position(name).is_none() {
                return Err(ScoreError::Invalid(format!("--drop names {name:?}, which is not a column")));
            }
        }
        let features: Vec<usize> = (0..headers.len())
            .filter(|&j| j != label_at && Some(j) != id_at && !drop.iter().any(|d| d == &headers[j]))
            .collect();
        if features.is_empty() {
            return Err(ScoreError::Invalid("no feature column is left".into()));
        }
        let mut table =
            Table { feature_names: features.iter().map(|&j| headers[j].to_owned()).collect(), ..Table::default() };
        for (n, record) in reader.records().enumerate() {
            let line = n + 2;
            let record = record.map_err(|err| ScoreError::Invalid(format!("line {line}: {err}")))?;
            let cell = |j: usize| record.get(j).unwrap_or("");
            let label_text = cell(label_at);
            let y = match label_text {
                "1" | "1.0" | "true" | "True" | "TRUE" => true,
                "0" | "0.0" | "false" | "False" | "FALSE" => false,
                other => {
                    return Err(ScoreError::Invalid(format!(
                        "line {line}: column {label:?}: {other:?} is not a 0/1 label"
                    )));
                }
            };
            for &j in &features {
                let value: f64 = cell(j).parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                    ScoreError::Invalid(format!("line {line}: column {:?}: {:?} is not a number", &headers[j], cell(j)))
                })?;
                table.x.push(value);
            }
            table.y.push(y);
            table.ids.push(id_at.map_or_else(|| (n + 1).to_string(), |j| cell(j).to_owned()));
        }
        Ok(table)
    }

    /// Whether row `i` is in the 70 % training part: FNV-1a (64 bits) of its id text, modulo
    /// 100, below 70. `tools/scoring/compare-sklearn` splits the same way.
    pub fn is_train(&self, i: usize) -> bool {
        hash_of(&self.ids[i]) % 100 < 70
    }
}

/// Fits model and calibration on the 70 % and measures on the 30 %; reports the regression's
/// coefficients and every test row's logit and probability.
pub fn train_table(table: &Table, options: &TrainOptions) -> Result<TableReport, ScoreError> {
    let n_features = table.feature_names.len();
    let data = Dataset {
        n_features,
        x: table.x.clone(),
        y: table.y.clone(),
        day: vec![0; table.y.len()],
        company: vec![0; table.y.len()],
        latent: vec![None; table.y.len()],
        horizon_days: 0,
        skipped_unknown_company: 0,
        signs: Vec::new(),
    };
    let (train, test): (Vec<usize>, Vec<usize>) = (0..table.y.len()).partition(|&i| table.is_train(i));
    if train.is_empty() || test.is_empty() {
        return Err(ScoreError::NotEnoughData(format!(
            "{} rows split into {} to train and {} to test",
            table.y.len(),
            train.len(),
            test.len()
        )));
    }
    let fit = fit_rows(&data, train.clone(), Vec::new(), options, |i| (hash_of(&table.ids[i]) / 100) % CROSS_FOLDS)?;
    let predictions: Vec<TablePrediction> = test
        .iter()
        .map(|&i| {
            let logit = fit.model.logit(data.row(i));
            TablePrediction {
                id: table.ids[i].clone(),
                label: table.y[i],
                logit,
                probability: fit.calibrator.probability(logit),
            }
        })
        .collect();
    let p: Vec<f64> = predictions.iter().map(|prediction| prediction.probability).collect();
    let y: Vec<bool> = predictions.iter().map(|prediction| prediction.label).collect();
    let m = metrics::evaluate(&p, &y);
    let (intercept, slopes) = fit.model.raw_coefficients();
    let coefficients = table
        .feature_names
        .iter()
        .zip(slopes)
        .map(|(feature, value)| Coefficient { feature: feature.clone(), value })
        .collect();
    Ok(TableReport {
        n_train: train.len(),
        n_test: test.len(),
        auc: m.auc,
        pr_auc: m.pr_auc,
        brier: m.brier,
        ece: m.ece,
        lift_at_10pct: m.lift_at_10pct,
        logistic: options.logistic.clone(),
        converged: fit.model.converged,
        iterations: fit.model.iterations,
        intercept,
        coefficients,
        predictions,
    })
}
