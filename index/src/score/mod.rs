//! The opportunity scorer: a calibrated, explained probability that a company becomes a
//! sourcing opportunity soon, computed from its activity signals, press and attributes.
//!
//! - `events`: event type and polarity of an article, by rules over the analyser and an FST.
//! - `store`: signals, articles, outcomes and applied scores in SQLite (WAL).
//! - `features`: point-in-time features as of a date T, documented one by one.
//! - `model`: L2 logistic regression (Newton), Platt and isotonic calibration.
//! - `metrics`: ROC-AUC, PR-AUC, precision and lift at 10 %, Brier, ECE, reliability, PSI.
//! - `train`: data sets from outcomes, time-based training and backtests, the labelled-table
//!   trainer.
//! - `artefact`: the versioned model file (content hash, feature schema hash, window, metrics,
//!   reference histograms), the model directory with its current version and rollback.
//! - `scorer`: scoring and exact explanations with a loaded artefact, in bulk or one company.

pub mod artefact;
pub mod events;
pub mod features;
pub mod metrics;
pub mod model;
pub mod scorer;
pub mod store;
pub mod train;

use std::path::PathBuf;

/// An error of the scorer. Each message says what is wrong and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: database: {source}")]
    Store { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: {message}")]
    Artefact { path: PathBuf, message: String },
    #[error(
        "{path}: model {version} was trained on feature schema {found}, but this build computes {expected}; train a new model with `marketlounge score train`"
    )]
    SchemaMismatch { path: PathBuf, version: String, found: String, expected: String },
    #[error("no opportunity model yet: train one with `marketlounge score train` (in {0})")]
    NoModel(PathBuf),
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] model::ModelError),
}
