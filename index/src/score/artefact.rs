//! The versioned model artefact and the directory that keeps every version.
//!
//! An artefact is one JSON file: the model and its calibrator, the feature schema it was
//! trained on (names, settings and their hash), the training window, its metrics and the
//! reference histograms drift is measured against. Its version is the training date and the
//! first 12 hex digits of the SHA-256 of its content; loading recomputes the hash, so a file
//! changed by hand or cut short is refused, as is a model whose feature schema is not the one
//! this build computes.
//!
//! `DATA/scoring/models/` holds every version (`<version>.json`) and `CURRENT`, a small JSON
//! file naming the version in force and the ones before it. Training publishes a new version
//! and makes it current; `rollback` makes the previous one current again. All writes are atomic.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ScoreError;
use super::features::{FeatureSettings, schema_hash};
use super::metrics::{Histogram, Metrics};
use super::model::{Calibrator, LogisticModel, LogisticOptions};
use crate::storage::write_atomically;

/// Version of the artefact layout.
pub const FORMAT: u32 = 1;

/// The training window and its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingWindow {
    /// First and last as-of dates of the rows the regression was fitted on.
    pub fit_from: String,
    pub fit_to: String,
    /// First and last as-of dates of the rows the calibrator was fitted on (later than the fit
    /// rows when the data allows, see `train`).
    pub calibration_from: String,
    pub calibration_to: String,
    pub fit_rows: usize,
    pub fit_positives: usize,
    pub calibration_rows: usize,
    pub calibration_positives: usize,
    /// How the calibration rows were chosen: "later_slice" or "cross_fitted".
    pub calibration_rows_from: String,
}

/// The model's measured quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtefactMetrics {
    /// On the calibration rows (in sample for the calibrator).
    pub calibration: Metrics,
    /// The latest out-of-time backtest fold, when the data had one.
    #[serde(default)]
    pub backtest: Option<Metrics>,
}

/// Reference distributions for drift: one histogram per feature, and the probability's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub features: Vec<Histogram>,
    pub probability: Histogram,
}

/// A trained, calibrated opportunity model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artefact {
    pub format: u32,
    /// `<created>-<first 12 hex digits of content_hash>`.
    pub version: String,
    /// Date of training (YYYY-MM-DD).
    pub created: String,
    /// SHA-256 of the artefact's JSON with `version` and `content_hash` empty.
    pub content_hash: String,
    pub feature_schema_hash: String,
    pub feature_names: Vec<String>,
    pub feature_settings: FeatureSettings,
    pub options: LogisticOptions,
    pub model: LogisticModel,
    pub calibrator: Calibrator,
    /// Observed conversion rate of the calibration rows: the prior in search is the log-odds
    /// relative to it.
    pub base_rate: f64,
    /// Outcome horizon the labels were observed over, in days.
    pub horizon_days: i32,
    pub training: TrainingWindow,
    pub metrics: ArtefactMetrics,
    pub reference: Reference,
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl Artefact {
    /// The hash of the content (everything but `version` and `content_hash`).
    pub fn compute_hash(&self) -> Result<String, ScoreError> {
        let mut body = self.clone();
        body.version = String::new();
        body.content_hash = String::new();
        let json = serde_json::to_vec(&body)
            .map_err(|err| ScoreError::Invalid(format!("the model cannot be serialised: {err}")))?;
        Ok(hex(&Sha256::digest(&json)))
    }

    /// Fills `content_hash` and `version` from the content.
    pub fn seal(&mut self) -> Result<(), ScoreError> {
        self.content_hash = self.compute_hash()?;
        self.version = format!("{}-{}", self.created, &self.content_hash[..12]);
        Ok(())
    }

    /// Checks the hash and the feature schema; `path` names the file in errors.
    pub fn verify(&self, path: &Path) -> Result<(), ScoreError> {
        let artefact = |message: String| ScoreError::Artefact { path: path.to_owned(), message };
        if self.format != FORMAT {
            return Err(artefact(format!(
                "artefact format {} is not the format this build reads ({FORMAT}); train a new model",
                self.format
            )));
        }
        let hash = self.compute_hash()?;
        if hash != self.content_hash || !self.version.ends_with(&hash[..12]) {
            return Err(artefact(
                "content hash mismatch: the file was changed or cut short; roll back with `marketlounge score rollback` or train again".into(),
            ));
        }
        let expected = schema_hash(&self.feature_settings);
        if self.feature_schema_hash != expected {
            return Err(ScoreError::SchemaMismatch {
                path: path.to_owned(),
                version: self.version.clone(),
                found: self.feature_schema_hash.clone(),
                expected,
            });
        }
        if self.feature_names.len() != self.model.n_features()
            || self.reference.features.len() != self.feature_names.len()
        {
            return Err(artefact(format!(
                "{} feature names, {} model weights and {} reference histograms disagree",
                self.feature_names.len(),
                self.model.n_features(),
                self.reference.features.len()
            )));
        }
        Ok(())
    }

    /// Reads and verifies an artefact file.
    pub fn load(path: &Path) -> Result<Artefact, ScoreError> {
        let bytes = std::fs::read(path).map_err(|source| ScoreError::Io { path: path.to_owned(), source })?;
        let artefact: Artefact = serde_json::from_slice(&bytes).map_err(|err| ScoreError::Artefact {
            path: path.to_owned(),
            message: format!("not a model artefact ({err}); roll back with `marketlounge score rollback`"),
        })?;
        artefact.verify(path)?;
        Ok(artefact)
    }
}

/// `CURRENT`: the version in force and the ones it replaced, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Current {
    current: String,
    previous: Vec<String>,
}

/// The directory of model versions.
#[derive(Debug, Clone)]
pub struct ModelDir {
    dir: PathBuf,
}

impl ModelDir {
    /// The model directory of a data directory.
    pub fn of_data_dir(data: &Path) -> ModelDir {
        ModelDir { dir: data.join("scoring").join("models") }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> ScoreError {
        let path = path.to_owned();
        move |source| ScoreError::Io { path: path.clone(), source }
    }

    fn read_current(&self) -> Result<Option<Current>, ScoreError> {
        let path = self.dir.join("CURRENT");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| ScoreError::Artefact {
                path,
                message: format!("unreadable ({err}); it names the model in force: fix or remove it"),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ScoreError::Io { path, source }),
        }
    }

    fn write_current(&self, current: &Current) -> Result<(), ScoreError> {
        let path = self.dir.join("CURRENT");
        let json = serde_json::to_vec_pretty(current).map_err(|err| ScoreError::Invalid(err.to_string()))?;
        write_atomically(&path, &json).map_err(self.io(&path))
    }

    fn file(&self, version: &str) -> PathBuf {
        self.dir.join(format!("{version}.json"))
    }

    /// The version in force, if any.
    pub fn current_version(&self) -> Result<Option<String>, ScoreError> {
        Ok(self.read_current()?.map(|c| c.current))
    }

    /// The versions before the current one, newest first.
    pub fn previous_versions(&self) -> Result<Vec<String>, ScoreError> {
        Ok(self.read_current()?.map(|c| c.previous).unwrap_or_default())
    }

    /// The artefact in force.
    pub fn load_current(&self) -> Result<Artefact, ScoreError> {
        let current = self.read_current()?.ok_or_else(|| ScoreError::NoModel(self.dir.clone()))?;
        Artefact::load(&self.file(&current.current))
    }

    /// Writes a sealed artefact and makes it current; the one it replaces stays for rollback.
    pub fn publish(&self, artefact: &Artefact) -> Result<PathBuf, ScoreError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let path = self.file(&artefact.version);
        artefact.verify(&path)?;
        let json = serde_json::to_vec_pretty(artefact).map_err(|err| ScoreError::Invalid(err.to_string()))?;
        write_atomically(&path, &json).map_err(self.io(&path))?;
        let mut current = self.read_current()?.unwrap_or_default();
        if current.current != artefact.version {
            if !current.current.is_empty() {
                current.previous.insert(0, std::mem::take(&mut current.current));
            }
            current.previous.retain(|v| v != &artefact.version);
            current.current = artefact.version.clone();
        }
        self.write_current(&current)?;
        Ok(path)
    }

    /// Makes the previous version current again (after checking it loads); returns it.
    pub fn rollback(&self) -> Result<String, ScoreError> {
        let mut current = self.read_current()?.ok_or_else(|| ScoreError::NoModel(self.dir.clone()))?;
        let Some(previous) = current.previous.first().cloned() else {
            return Err(ScoreError::Invalid(format!(
                "model {} has no previous version to roll back to",
                current.current
            )));
        };
        Artefact::load(&self.file(&previous))?;
        current.previous.remove(0);
        current.current = previous.clone();
        self.write_current(&current)?;
        Ok(previous)
    }
}
