//! `marketlounge score …`: the opportunity scorer's offline commands. Those that touch a data
//! directory take its lock, like `marketlounge index` (a running server ingests through
//! `POST /api/v1/signals` and `/api/v1/articles`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use marketlounge_index::score::features;
use marketlounge_index::score::metrics::reliability_svg;
use marketlounge_index::score::train::{self, Dataset, Table};
use marketlounge_index::storage::write_atomically;

use super::progress::{Progress, RecordProgress, count_records};
use crate::indexing::DataDirLock;
use crate::scoring::{self, CompanyRow, IngestReport, Scoring, today};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ScoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ScoreCommand {
    /// Store signals, articles and outcomes from NDJSON files (plain or gzip). Each file is one
    /// transaction: a file with an invalid line writes nothing and lists every error.
    Ingest(IngestArgs),
    /// Print the feature table: name, what, why, unit, missing-value policy.
    Features(FeaturesArgs),
    /// Train a model on the outcomes observed by a date, calibrate it on the latest slice, and
    /// publish it as the current version (the previous one is kept for rollback).
    Train(TrainArgs),
    /// Rolling out-of-time backtest with a gap: ROC-AUC, PR-AUC, precision and lift at 10 %,
    /// Brier, ECE per fold and pooled, next to the oracle when the data has one; reliability SVG.
    Backtest(BacktestArgs),
    /// Score every live company with the current model, store the ranking and refresh the
    /// search priors atomically.
    Apply(ApplyArgs),
    /// Make the previous model version current again.
    Rollback(DataArgs),
    /// Show the current model: version, window, metrics, earlier versions.
    Info(DataArgs),
    /// Train and test on any labelled CSV table (70/30 split by id hash).
    TrainTable(TableArgs),
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
}

#[derive(Debug, clap::Args)]
struct IngestArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long)]
    signals: Option<PathBuf>,
    #[arg(long)]
    articles: Option<PathBuf>,
    #[arg(long)]
    outcomes: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct FeaturesArgs {
    /// JSON instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CompaniesArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
    /// Read the companies' attributes from this NDJSON file instead of the index.
    #[arg(long)]
    companies: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    #[command(flatten)]
    source: CompaniesArgs,
    /// Learn from outcomes observed by this date (as-of + horizon ≤ date); default today.
    #[arg(long)]
    until: Option<jiff::civil::Date>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct BacktestArgs {
    #[command(flatten)]
    source: CompaniesArgs,
    /// Days between the last as-of date a fold learns from and its test date (default: the
    /// settings' `scoring.gap_days`; never less than the outcome horizon).
    #[arg(long)]
    gap_days: Option<i32>,
    /// Write the pooled reliability diagram here (SVG).
    #[arg(long)]
    svg: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    #[arg(long)]
    data: PathBuf,
    /// Score as of this date (default today).
    #[arg(long)]
    as_of: Option<jiff::civil::Date>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct TableArgs {
    /// The table (CSV with a header line).
    #[arg(long)]
    csv: PathBuf,
    /// The 0/1 label column.
    #[arg(long)]
    label: String,
    /// The id column (hashed for the split); default the row number.
    #[arg(long)]
    id: Option<String>,
    /// Columns to leave out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// Write every test row's id, label, logit and calibrated probability here (NDJSON, one
    /// object per line, in the table's order), for checks outside this program.
    #[arg(long)]
    predictions: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    match &args.command {
        ScoreCommand::Ingest(args) => ingest(args, settings),
        ScoreCommand::Features(args) => print_features(args, settings),
        ScoreCommand::Train(args) => train_model(args, settings),
        ScoreCommand::Backtest(args) => backtest(args, settings),
        ScoreCommand::Apply(args) => apply(args, settings),
        ScoreCommand::Rollback(args) => rollback(args, settings),
        ScoreCommand::Info(args) => info(args, settings),
        ScoreCommand::TrainTable(args) => train_table(args, settings),
    }
}

fn open_scoring(data: &Path, settings: &Settings) -> anyhow::Result<(DataDirLock, Scoring)> {
    let lock = DataDirLock::acquire(data)?;
    let scoring = Scoring::open(data, &settings.scoring)?;
    Ok((lock, scoring))
}

fn print_errors(path: &Path, report: &IngestReport) {
    for error in report.errors.iter().take(50) {
        eprintln!("{}: line {}: field {}: {}", path.display(), error.line, error.field, error.message);
    }
    if report.errors.len() > 50 {
        eprintln!("… and {} more", report.errors.len() - 50);
    }
}

fn ingest(args: &IngestArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    if args.signals.is_none() && args.articles.is_none() && args.outcomes.is_none() {
        anyhow::bail!("nothing to ingest: pass --signals, --articles and/or --outcomes");
    }
    let (_lock, scoring) = open_scoring(&args.data, settings)?;
    let max = settings.limits.max_line_bytes;
    let mut failed = false;
    let progress = Progress::stderr("score ingest");
    let files = [("signals", &args.signals), ("articles", &args.articles), ("outcomes", &args.outcomes)];
    for (kind, path) in files {
        let Some(path) = path else { continue };
        let records = count_records(path, settings.limits.file_unpack_limits())
            .with_context(|| format!("reading {}", path.display()))?;
        let input = marketlounge_index::ndjson::open_path(path, settings.limits.file_unpack_limits())
            .with_context(|| format!("opening {}", path.display()))?;
        let input = std::io::BufReader::new(RecordProgress::new(input, &progress));
        progress.start(kind, Some(records), "records");
        let started = std::time::Instant::now();
        let report = match kind {
            "signals" => scoring::ingest::<marketlounge_index::record::Signal>(&scoring.store, input, max, false),
            "articles" => scoring::ingest::<marketlounge_index::record::Article>(&scoring.store, input, max, false),
            _ => scoring::ingest::<marketlounge_index::record::Outcome>(&scoring.store, input, max, false),
        }
        .with_context(|| format!("ingesting {}", path.display()))?;
        progress.finish();
        if report.errors.is_empty() {
            eprintln!(
                "{}: {} {kind} stored in {:.1} s",
                path.display(),
                report.written,
                started.elapsed().as_secs_f64()
            );
        } else {
            print_errors(path, &report);
            eprintln!("{}: {} error(s); no {kind} from this file were stored", path.display(), report.errors.len());
            failed = true;
        }
    }
    let (signals, articles, outcomes) = scoring.store.counts()?;
    eprintln!("store: {signals} signals, {articles} articles, {outcomes} outcomes");
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn print_features(args: &FeaturesArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let specs = features::feature_specs(&settings.scoring.features);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &specs)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "| feature | what | why | unit | missing |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for s in specs {
        writeln!(out, "| `{}` | {} | {} | {} | {} |", s.name, s.what, s.why, s.unit, s.missing)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The training set: outcomes with the features of the companies read from the index or a file.
fn dataset(
    source: &CompaniesArgs,
    settings: &Settings,
    scoring: &Scoring,
    progress: &Progress,
) -> anyhow::Result<Dataset> {
    progress.start("reading companies", None, "companies");
    let companies: Vec<CompanyRow> = match &source.companies {
        Some(path) => scoring::companies_of_file(path, &settings.limits)?,
        None => {
            let engine = super::index::open_engine_locked_by_caller(&source.data, settings)?;
            scoring::companies_of_index(&engine.snapshot())?
        }
    };
    progress.set(companies.len() as u64);
    // Every outcome's features as of its date, from the stored history.
    progress.start("training set", None, "rows");
    let data = scoring.dataset(&companies)?;
    progress.set(data.len() as u64);
    progress.finish();
    if data.skipped_unknown_company > 0 {
        eprintln!("{} outcome(s) skipped: their company is not among the companies read", data.skipped_unknown_company);
    }
    Ok(data)
}

fn train_model(args: &TrainArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (_lock, scoring) = open_scoring(&args.source.data, settings)?;
    let progress = Progress::stderr("score train");
    let data = dataset(&args.source, settings, &scoring, &progress)?;
    // One fit, its calibration and the backtest's folds: no count to show inside, the phase's
    // rows and elapsed time say what it works on.
    progress.start("fitting", None, "rows");
    progress.set(data.len() as u64);
    let (artefact, path) = scoring.train(&data, args.until.unwrap_or_else(today))?;
    progress.finish();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "version": artefact.version, "path": path, "training": artefact.training,
                "metrics": artefact.metrics, "base_rate": artefact.base_rate,
                "calibration": artefact.calibrator.kind(),
            })
        );
    } else {
        let t = &artefact.training;
        println!("model {} published to {}", artefact.version, path.display());
        println!(
            "fit on {} rows ({} positive) as of {} … {}; calibrated ({:?}) on {} rows as of {} … {} ({})",
            t.fit_rows,
            t.fit_positives,
            t.fit_from,
            t.fit_to,
            artefact.calibrator.kind(),
            t.calibration_rows,
            t.calibration_from,
            t.calibration_to,
            t.calibration_rows_from
        );
        if let Some(m) = &artefact.metrics.backtest {
            println!(
                "latest backtest fold: AUC {:.3}, PR-AUC {:.3}, lift@10% {:.2}, Brier {:.4}, ECE {:.4}",
                m.auc, m.pr_auc, m.lift_at_10pct, m.brier, m.ece
            );
        }
        println!("apply it with `marketlounge score apply --data {}`", args.source.data.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn backtest(args: &BacktestArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (_lock, scoring) = open_scoring(&args.source.data, settings)?;
    let data = dataset(&args.source, settings, &scoring, &Progress::stderr("score backtest"))?;
    let mut options = scoring.train_options();
    if let Some(gap) = args.gap_days {
        anyhow::ensure!(gap >= 0, "--gap-days must be ≥ 0");
        options.gap_days = gap;
    }
    let report = train::backtest(&data, &options)?;
    if let Some(svg) = &args.svg {
        let title = format!("Opportunity model, out-of-time backtest ({} folds)", report.folds.len());
        let drawing = reliability_svg(&report.reliability, &title, report.pooled.ece);
        write_atomically(svg, drawing.as_bytes()).with_context(|| format!("writing {}", svg.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("gap {} days (horizon {} days)", report.gap_days, report.horizon_days);
    println!(
        "{:<12} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>7}",
        "test date", "rows", "auc", "pr_auc", "p@10%", "lift@10%", "brier", "ece"
    );
    let line = |label: &str, rows: usize, m: &marketlounge_index::score::metrics::Metrics| {
        println!(
            "{label:<12} {rows:>8} {:>8.4} {:>7.4} {:>7.4} {:>8.2} {:>8.4} {:>7.4}",
            m.auc, m.pr_auc, m.precision_at_10pct, m.lift_at_10pct, m.brier, m.ece
        );
    };
    for fold in &report.folds {
        line(&fold.test_date, fold.test_rows, &fold.model);
        if let Some(oracle) = &fold.oracle {
            line("  oracle", fold.test_rows, oracle);
        }
    }
    line("pooled", report.pooled.n, &report.pooled);
    if let Some(oracle) = &report.pooled_oracle {
        line("  oracle", oracle.n, oracle);
    }
    if let Some(ratio) = report.lift_ratio_to_oracle {
        println!("model lift@10% / oracle lift@10%: {ratio:.3}");
    }
    Ok(ExitCode::SUCCESS)
}

fn apply(args: &ApplyArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (lock, engine) = super::index::open_engine(&args.data, settings)?;
    let scoring = Scoring::open(&args.data, &settings.scoring)?;
    // Features and model for every live company, the ranking stored, the priors refreshed.
    let progress = Progress::stderr("score apply");
    progress.start("scoring", None, "companies");
    let report = scoring::apply(&scoring, &engine, args.as_of.unwrap_or_else(today))?;
    progress.set(report.companies as u64);
    progress.finish();
    drop(engine);
    drop(lock);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "model {} applied as of {}: {} companies scored in {:.3} s ({:.0}/s), mean probability {:.4} (base rate {:.4}), {} priors updated",
            report.model_version,
            report.as_of,
            report.companies,
            report.scoring_seconds,
            report.companies_per_second,
            report.mean_probability,
            report.base_rate,
            report.priors_updated
        );
        println!("score drift (PSI vs training): {:.4} ({})", report.drift.score.psi, report.drift.score.status);
        for drift in report.drift.features.iter().take(5) {
            println!("  {:<32} PSI {:.4} ({})", drift.name, drift.psi, drift.status);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rollback(args: &DataArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (_lock, scoring) = open_scoring(&args.data, settings)?;
    let version = scoring.models.rollback()?;
    println!("model {version} is current again; run `marketlounge score apply` to refresh the scores");
    Ok(ExitCode::SUCCESS)
}

fn info(args: &DataArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (_lock, scoring) = open_scoring(&args.data, settings)?;
    let artefact = scoring.models.load_current()?;
    let summary = serde_json::json!({
        "version": artefact.version,
        "created": artefact.created,
        "feature_schema_hash": artefact.feature_schema_hash,
        "features": artefact.feature_names.len(),
        "calibration": artefact.calibrator.kind(),
        "base_rate": artefact.base_rate,
        "training": artefact.training,
        "metrics": artefact.metrics,
        "previous_versions": scoring.models.previous_versions()?,
        "applied_as_of": scoring.store.meta("as_of")?,
        "applied_version": scoring.store.meta("model_version")?,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}

fn train_table(args: &TableArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::open(&args.csv).with_context(|| format!("opening {}", args.csv.display()))?;
    let table = Table::read_csv(std::io::BufReader::new(file), &args.label, args.id.as_deref(), &args.drop)
        .with_context(|| format!("reading {}", args.csv.display()))?;
    let report = train::train_table(&table, &settings.scoring.train_options())?;
    if let Some(path) = &args.predictions {
        let mut lines = Vec::with_capacity(report.predictions.len() * 80);
        for prediction in &report.predictions {
            serde_json::to_writer(&mut lines, prediction)?;
            lines.push(b'\n');
        }
        write_atomically(path, &lines).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} features; trained on {} rows, tested on {}: AUC {:.4}, PR-AUC {:.4}, Brier {:.4}, ECE {:.4}, lift@10% {:.2}",
            table.feature_names.len(),
            report.n_train,
            report.n_test,
            report.auc,
            report.pr_auc,
            report.brier,
            report.ece,
            report.lift_at_10pct
        );
    }
    Ok(ExitCode::SUCCESS)
}
