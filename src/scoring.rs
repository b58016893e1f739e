//! The opportunity scorer inside the server and the CLI: its store and model directory in the
//! data directory, the companies' attributes from the index (or an NDJSON file), ingestion of
//! signals, articles and outcomes, and `apply` (score everyone, store the ranking, refresh the
//! search priors).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use marketlounge_index::engine::{Engine, Snapshot};
use marketlounge_index::ndjson::{Parsed, RecordReader};
use marketlounge_index::record::parse_id;
use marketlounge_index::record::{Article, Company, FieldError, Outcome, Record, Signal};
use marketlounge_index::refdata::RefData;
use marketlounge_index::score::ScoreError;
use marketlounge_index::score::artefact::{Artefact, ModelDir};
use marketlounge_index::score::features::{Firmographics, day_number};
use marketlounge_index::score::model::{CalibrationKind, LogisticOptions};
use marketlounge_index::score::scorer::{DriftReport, Scorer};
use marketlounge_index::score::store::{EventStore, Inserter, ScoreRow, StoredArticle};
use marketlounge_index::score::train::{self, Dataset, TrainOptions};
use parking_lot::RwLock;
use serde::Serialize;

use crate::settings::{Calibration, ScoringSettings};

/// The scorer's files in a data directory: `scoring/events.sqlite` and `scoring/models/`.
#[derive(Debug)]
pub struct Scoring {
    pub store: EventStore,
    pub models: ModelDir,
    pub settings: ScoringSettings,
    /// The current model, or why there is none (the error says what to run; its paths are for
    /// the log and the command line, not for API clients).
    scorer: RwLock<Result<Arc<Scorer>, Arc<ScoreError>>>,
}

impl Scoring {
    pub fn open(data: &Path, settings: &ScoringSettings) -> anyhow::Result<Scoring> {
        let store = EventStore::open(&data.join("scoring").join("events.sqlite"))?;
        let models = ModelDir::of_data_dir(data);
        let scoring = Scoring {
            store,
            models,
            settings: settings.clone(),
            scorer: RwLock::new(Err(Arc::new(ScoreError::Invalid(String::new())))),
        };
        scoring.reload();
        Ok(scoring)
    }

    /// Loads the current model again (after training or a rollback).
    pub fn reload(&self) {
        let loaded = self.models.load_current().map(|a| Arc::new(Scorer::new(a))).map_err(Arc::new);
        if let Err(err) = &loaded
            && !matches!(self.models.current_version(), Ok(None))
        {
            tracing::error!(%err, "the current opportunity model does not load");
        }
        *self.scorer.write() = loaded;
    }

    /// The current model, or the reason there is none.
    pub fn scorer(&self) -> Result<Arc<Scorer>, Arc<ScoreError>> {
        self.scorer.read().clone()
    }

    pub fn train_options(&self) -> TrainOptions {
        self.settings.train_options()
    }

    /// The training set: every stored outcome about one of `companies`, with its features as of
    /// the outcome's date.
    pub fn dataset(&self, companies: &[CompanyRow]) -> anyhow::Result<Dataset> {
        let outcomes = self.store.outcomes()?;
        anyhow::ensure!(
            !outcomes.is_empty(),
            "no outcome stored: ingest labelled outcomes first (`marketlounge score ingest --outcomes FILE`)"
        );
        let histories = self.store.load_histories()?;
        let data = Dataset::from_outcomes(&outcomes, &firm_map(companies), &histories, &self.settings.features);
        anyhow::ensure!(!data.is_empty(), "no outcome is about a known company");
        Ok(data)
    }

    /// Trains on the outcomes observed by `until`, publishes the model and makes it current.
    pub fn train(&self, data: &Dataset, until: jiff::civil::Date) -> anyhow::Result<(Artefact, PathBuf)> {
        let artefact = train::train(data, day_number(until), &self.settings.features, &self.train_options(), today())?;
        let path = self.models.publish(&artefact)?;
        self.reload();
        Ok((artefact, path))
    }
}

/// Today's date (the default as-of and training date).
pub fn today() -> jiff::civil::Date {
    jiff::Zoned::now().date()
}

impl ScoringSettings {
    pub fn train_options(&self) -> TrainOptions {
        TrainOptions {
            logistic: LogisticOptions {
                c: self.c,
                balance_classes: self.balance_classes,
                ..LogisticOptions::default()
            },
            calibration: match self.calibration {
                Calibration::Platt => CalibrationKind::Platt,
                Calibration::Isotonic => CalibrationKind::Isotonic,
                Calibration::Auto => CalibrationKind::Auto,
            },
            gap_days: self.gap_days,
        }
    }
}

/// A company as the scorer sees it.
#[derive(Debug, Clone)]
pub struct CompanyRow {
    pub company: u32,
    pub firm: Firmographics,
    pub naf: String,
    pub headcount: String,
}

impl CompanyRow {
    pub fn of(company: &Company) -> Option<CompanyRow> {
        Some(CompanyRow {
            company: parse_id(&company.id)?,
            firm: Firmographics::of(company, RefData::embedded()),
            naf: company.naf.clone(),
            headcount: headcount_label(company),
        })
    }
}

fn headcount_label(company: &Company) -> String {
    serde_json::to_value(company.headcount).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Every live company of the index, in id order.
pub fn companies_of_index(snapshot: &Snapshot) -> anyhow::Result<Vec<CompanyRow>> {
    let mut rows = Vec::with_capacity(snapshot.live_count() as usize);
    snapshot.for_each_live_record(|_, _, company: Company| rows.extend(CompanyRow::of(&company)))?;
    rows.sort_by_key(|r| r.company);
    Ok(rows)
}

/// Every valid company of an NDJSON file (plain or gzip), in id order; invalid lines fail the
/// whole read, naming the first ones.
pub fn companies_of_file(path: &Path, limits: &crate::settings::Limits) -> anyhow::Result<Vec<CompanyRow>> {
    let max_line_bytes = limits.max_line_bytes;
    let input = marketlounge_index::ndjson::open_path(path, limits.file_unpack_limits())
        .with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for parsed in RecordReader::<_, Company>::new(input, RefData::embedded()).with_max_line_bytes(max_line_bytes) {
        match parsed.with_context(|| format!("reading {}", path.display()))? {
            Parsed::Valid { record, .. } => rows.extend(CompanyRow::of(&record)),
            Parsed::Invalid { line, errors: found } => {
                errors.extend(found.into_iter().map(|e| format!("{}: line {line}: {e}", path.display())))
            }
        }
    }
    if !errors.is_empty() {
        let shown: Vec<&String> = errors.iter().take(10).collect();
        anyhow::bail!(
            "{} invalid record error(s):\n{}",
            errors.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
        );
    }
    rows.sort_by_key(|r| r.company);
    rows.dedup_by_key(|r| r.company);
    Ok(rows)
}

/// Records the scorer stores.
pub trait Ingest: Record {
    /// Stores the record; an article answers what was read from its text.
    fn insert(&self, inserter: &mut Inserter<'_>) -> Result<Option<StoredArticle>, ScoreError>;
}

impl Ingest for Signal {
    fn insert(&self, inserter: &mut Inserter<'_>) -> Result<Option<StoredArticle>, ScoreError> {
        inserter.signal(self).map(|()| None)
    }
}

impl Ingest for Article {
    fn insert(&self, inserter: &mut Inserter<'_>) -> Result<Option<StoredArticle>, ScoreError> {
        inserter.article(self).map(Some)
    }
}

impl Ingest for Outcome {
    fn insert(&self, inserter: &mut Inserter<'_>) -> Result<Option<StoredArticle>, ScoreError> {
        inserter.outcome(self).map(|()| None)
    }
}

/// What an ingestion did.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    /// Records written (0 when any was invalid).
    pub written: u64,
    /// Every error, by line; when not empty, nothing was written.
    pub errors: Vec<LineError>,
    /// Event type and polarity of each article, read from its text where it carried none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub articles: Vec<StoredArticle>,
}

/// One invalid field of one line.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: u64,
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl LineError {
    fn new(line: u64, error: &FieldError) -> LineError {
        LineError { line, field: error.field.clone(), code: error.code.as_str(), message: error.message.clone() }
    }
}

/// Validates and stores every record of `input` in one transaction: all of them, or none when
/// any line is invalid (then every error is reported).
pub fn ingest<T: Ingest>(
    store: &EventStore,
    input: impl BufRead,
    max_line_bytes: usize,
    keep_articles: bool,
) -> anyhow::Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut io_error = None;
    store.write_batch(|inserter| {
        for parsed in RecordReader::<_, T>::new(input, RefData::embedded()).with_max_line_bytes(max_line_bytes) {
            match parsed {
                Err(err) => {
                    io_error = Some(err);
                    return Ok(false);
                }
                Ok(Parsed::Valid { record, .. }) => {
                    if report.errors.is_empty() {
                        let stored = record.insert(inserter)?;
                        if keep_articles {
                            report.articles.extend(stored);
                        }
                        report.written += 1;
                    }
                }
                Ok(Parsed::Invalid { line, errors }) => {
                    report.errors.extend(errors.iter().map(|e| LineError::new(line, e)));
                }
            }
        }
        Ok(report.errors.is_empty())
    })?;
    if let Some(err) = io_error {
        return Err(anyhow::Error::new(err).context("reading the records; nothing was written"));
    }
    if !report.errors.is_empty() {
        report.written = 0;
        report.articles.clear();
    }
    Ok(report)
}

/// What `apply` did.
#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub model_version: String,
    pub as_of: String,
    pub companies: usize,
    /// Features and model over every company, in seconds, and companies per second.
    pub scoring_seconds: f64,
    pub companies_per_second: f64,
    pub mean_probability: f64,
    pub base_rate: f64,
    /// Live index documents whose prior was replaced.
    pub priors_updated: usize,
    pub drift: DriftReport,
}

/// Scores every live company as of `as_of`, stores the ranking (with percentiles and drift),
/// and replaces the search priors with the probabilities.
pub fn apply(scoring: &Scoring, engine: &Engine, as_of: jiff::civil::Date) -> anyhow::Result<ApplyReport> {
    let scorer = scoring.scorer().map_err(|err| anyhow::anyhow!(err))?;
    let companies = companies_of_index(&engine.snapshot())?;
    anyhow::ensure!(!companies.is_empty(), "the index holds no company to score");
    let histories = scoring.store.load_histories()?;
    let day = day_number(as_of);
    let threads = scoring.settings.threads.max(1);
    let pairs: Vec<(u32, Firmographics)> = companies.iter().map(|c| (c.company, c.firm)).collect();
    let started = Instant::now();
    let scores = scorer.score_all(day, &pairs, &histories, threads);
    let seconds = started.elapsed().as_secs_f64();
    let probabilities: Vec<f64> = scores.iter().map(|s| s.1).collect();
    // Percentile: share of companies with a lower probability.
    let mut sorted = probabilities.clone();
    sorted.sort_by(f64::total_cmp);
    let rows: Vec<ScoreRow> = companies
        .iter()
        .zip(&scores)
        .map(|(c, &(logit, probability))| ScoreRow {
            company: c.company,
            probability,
            logit,
            percentile: 100.0 * sorted.partition_point(|&p| p < probability) as f64 / sorted.len() as f64,
            naf: c.naf.clone(),
            section: c.firm.section_code().map(str::to_owned),
            region: c.firm.region_name().map(str::to_owned),
            headcount: c.headcount.clone(),
        })
        .collect();
    let drift = scorer.drift(day, &pairs, &histories, &probabilities);
    let version = scorer.artefact.version.clone();
    scoring.store.replace_scores(
        &rows,
        &[
            ("as_of", as_of.to_string()),
            ("model_version", version.clone()),
            ("applied_at", jiff::Timestamp::now().to_string()),
            ("drift", serde_json::to_string(&drift)?),
        ],
    )?;
    let priors: HashMap<String, f32> =
        rows.iter().map(|r| (marketlounge_index::score::store::company_id(r.company), r.probability as f32)).collect();
    let priors_updated = engine.refresh_priors(&priors)?;
    let mean_probability = probabilities.iter().sum::<f64>() / probabilities.len() as f64;
    Ok(ApplyReport {
        model_version: version,
        as_of: as_of.to_string(),
        companies: companies.len(),
        scoring_seconds: seconds,
        companies_per_second: companies.len() as f64 / seconds.max(1e-9),
        mean_probability,
        base_rate: scorer.artefact.base_rate,
        priors_updated,
        drift,
    })
}

/// Firmographics by company, for building training sets.
pub fn firm_map(companies: &[CompanyRow]) -> HashMap<u32, Firmographics> {
    companies.iter().map(|c| (c.company, c.firm)).collect()
}
