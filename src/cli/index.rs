//! `marketlounge index …` and `marketlounge restore`: offline index maintenance. Each takes the
//! data directory's lock, so it refuses to run beside a server on the same directory (use the
//! server's admin endpoints then).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use marketlounge_index::engine::Engine;

use super::progress::{Progress, build_phases, count_records};
use crate::indexing::{CompanySource, DataDirLock, drop_limit, engine_options, read_priors};
use crate::settings::{EmbedderKind, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, clap::Subcommand)]
enum IndexCommand {
    /// Build a new generation from an NDJSON file of companies (plain or gzip) and publish it.
    Build(BuildArgs),
    /// Print the live set: generation, segments, documents, vectors.
    Info(DataArgs),
    /// Checksum every byte of every file of the live set.
    Verify(DataArgs),
    /// Replace the opportunity priors from NDJSON lines `{"id": "…", "opportunity": 0.42}`.
    Priors(PriorsArgs),
    /// Copy the published generation into a new directory (a backup).
    Snapshot(SnapshotArgs),
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// Data directory (created if absent).
    #[arg(long)]
    data: PathBuf,
    /// Companies, NDJSON (plain or gzip).
    #[arg(long)]
    companies: PathBuf,
    /// Where vectors come from (overrides the settings).
    #[arg(long, value_enum)]
    embedder: Option<EmbedderKind>,
    /// Publish even if the new generation drops more of the live documents than
    /// `index.reindex_max_drop_share` allows (an empty or truncated file is refused otherwise).
    #[arg(long)]
    allow_shrink: bool,
}

#[derive(Debug, clap::Args)]
struct PriorsArgs {
    #[arg(long)]
    data: PathBuf,
    /// NDJSON lines `{"id": "…", "opportunity": p}` with p in [0, 1].
    #[arg(long)]
    priors: PathBuf,
}

#[derive(Debug, clap::Args)]
struct SnapshotArgs {
    #[arg(long)]
    data: PathBuf,
    /// Destination directory (must not exist).
    #[arg(long)]
    to: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup made by `index snapshot`, `POST /admin/snapshot` or the schedule (`backup.interval_hours`).
    #[arg(long)]
    backup: PathBuf,
    /// Data directory to restore into (must not exist or be empty).
    #[arg(long)]
    data: PathBuf,
}

pub fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    match &args.command {
        IndexCommand::Build(args) => build(args, settings),
        IndexCommand::Info(args) => info(args, settings),
        IndexCommand::Verify(args) => verify(args, settings),
        IndexCommand::Priors(args) => priors(args, settings),
        IndexCommand::Snapshot(args) => snapshot(args, settings),
    }
}

/// Locks `data` and opens its index with the settings' embedder (or `embedder`).
fn open_with(
    data: &std::path::Path,
    settings: &Settings,
    verify: bool,
    embedder: Option<EmbedderKind>,
) -> anyhow::Result<(DataDirLock, Engine)> {
    let lock = DataDirLock::acquire(data)?;
    let mut options = engine_options(settings, embedder.unwrap_or(settings.index.embedder))?;
    options.verify_checksums |= verify;
    let engine = Engine::open(data, options).with_context(|| format!("opening the index in {}", data.display()))?;
    Ok((lock, engine))
}

fn open(data: &std::path::Path, settings: &Settings, verify: bool) -> anyhow::Result<(DataDirLock, Engine)> {
    open_with(data, settings, verify, None)
}

/// The index of `data` with the settings' embedder, under the data directory's lock.
pub(super) fn open_engine(data: &std::path::Path, settings: &Settings) -> anyhow::Result<(DataDirLock, Engine)> {
    open_with(data, settings, false, None)
}

/// The index of `data`, for a caller that already holds the data directory's lock.
pub(super) fn open_engine_locked_by_caller(data: &std::path::Path, settings: &Settings) -> anyhow::Result<Engine> {
    let options = engine_options(settings, settings.index.embedder)?;
    Engine::open(data, options).with_context(|| format!("opening the index in {}", data.display()))
}

fn build(args: &BuildArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (lock, engine) = open_with(&args.data, settings, false, args.embedder)?;
    let source =
        CompanySource::open(&args.companies, settings.limits.max_line_bytes, settings.limits.file_unpack_limits())?;
    let records = count_records(&args.companies, settings.limits.file_unpack_limits())
        .with_context(|| format!("reading {}", args.companies.display()))?;
    let started = Instant::now();
    let progress = Progress::stderr("index build");
    let result = engine.reindex_with_limit(
        source,
        drop_limit(settings, args.allow_shrink),
        &mut build_phases(&progress, Some(records), || engine.vector_counts().0),
    );
    let generation = match result {
        Ok(generation) => generation,
        Err(err) => {
            drop(progress);
            eprintln!("error: {err}");
            eprintln!("the index in {} is unchanged", args.data.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let docs = engine.snapshot().live_count();
    let (computed, reused) = engine.vector_counts();
    let vectors = match &engine.options().vectors {
        Some(vectors) => format!("; vectors ({}): {computed} computed, {reused} reused", vectors.model),
        None => String::new(),
    };
    println!(
        "indexed {docs} companies in {elapsed:.1}s ({:.0}/s); generation {generation} published in {}{vectors}",
        docs as f64 / elapsed.max(1e-9),
        args.data.display()
    );
    drop(engine);
    drop(lock);
    Ok(ExitCode::SUCCESS)
}

fn info(args: &DataArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (_lock, engine) = open(&args.data, settings, false)?;
    let opened = started.elapsed();
    let snapshot = engine.snapshot();
    let segments: Vec<serde_json::Value> = snapshot
        .segments
        .iter()
        .map(|live| {
            let meta = live.segment.meta();
            serde_json::json!({
                "id": meta.segment_id,
                "docs": meta.doc_count,
                "live": live.live_count(),
                "vectors": meta.vectors.as_ref().map(|v| serde_json::json!({
                    "model": v.model, "dims": v.dims, "quantization": v.quantization, "count": v.count
                })),
                "capability_vectors": live.segment.chunks().map_or(0, |c| c.len()),
                "bytes": meta.files.iter().map(|f| f.len).sum::<u64>(),
                "priors_refreshed": live.priors.is_some(),
            })
        })
        .collect();
    let info = serde_json::json!({
        "generation": snapshot.generation(),
        "live_docs": snapshot.live_count(),
        "pending_writes": engine.pending_count(),
        "open_ms": opened.as_secs_f64() * 1000.0,
        "segments": segments,
    });
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &DataArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    match open(&args.data, settings, true) {
        Ok((_lock, engine)) => {
            let snapshot = engine.snapshot();
            let files = snapshot.files(engine.root()).len();
            println!(
                "ok: generation {}, {} segments, {files} files checksummed in {:.2}s",
                snapshot.generation(),
                snapshot.segments.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn priors(args: &PriorsArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let input = marketlounge_index::ndjson::open_path(&args.priors, settings.limits.file_unpack_limits())
        .with_context(|| format!("opening {}", args.priors.display()))?;
    let mut invalid_lines = 0u64;
    let values = read_priors(input, |line, errors| {
        invalid_lines += 1;
        for error in errors {
            eprintln!("line {line}: field {}: {}", error.field, error.message);
        }
    })
    .with_context(|| format!("reading {}", args.priors.display()))?;
    if invalid_lines > 0 {
        eprintln!("{invalid_lines} invalid line(s); the priors are unchanged");
        return Ok(ExitCode::FAILURE);
    }
    let (_lock, engine) = open(&args.data, settings, false)?;
    let updated = engine.refresh_priors(&values)?;
    println!(
        "{updated} live companies updated ({} priors read); generation {}",
        values.len(),
        engine.snapshot().generation()
    );
    Ok(ExitCode::SUCCESS)
}

fn snapshot(args: &SnapshotArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (_lock, engine) = open(&args.data, settings, false)?;
    let manifest = engine.backup(&args.to)?;
    let access = crate::auth::backup::save(&args.data, &args.to)?;
    let access = if access.is_empty() { "no access state".to_owned() } else { access.join(", ") };
    println!("generation {} copied to {} (with {access})", manifest.generation, args.to.display());
    Ok(ExitCode::SUCCESS)
}

pub fn restore(args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    // Hold the target's lock while restoring (the lock file lives beside the data).
    let parent = args.data.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    if args.data.exists() {
        let _lock = DataDirLock::acquire(&args.data)?;
        let only_lock = std::fs::read_dir(&args.data)?.all(|e| e.is_ok_and(|e| e.file_name() == "LOCK"));
        anyhow::ensure!(
            only_lock,
            "{} is not empty; restore into a new directory (stop the server and move the old one away)",
            args.data.display()
        );
        std::fs::remove_file(args.data.join("LOCK")).ok();
    }
    let manifest = marketlounge_index::engine::restore(&args.backup, &args.data)?;
    let access = crate::auth::backup::restore(&args.backup, &args.data)?;
    println!(
        "generation {} restored from {} into {} (with {})",
        manifest.generation,
        args.backup.display(),
        args.data.display(),
        if access.is_empty() { "no access state".to_owned() } else { access.join(", ") }
    );
    Ok(ExitCode::SUCCESS)
}
