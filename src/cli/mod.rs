//! The `marketlounge` command line.

mod analyze;
mod bench;
mod embed;
mod eval;
mod index;
mod keys;
pub mod openapi;
mod progress;
pub mod schema;
mod score;
mod usage;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::http::{self, AppState};
use crate::settings::Settings;

/// MarketLounge: hybrid search server for industrial sourcing.
#[derive(Debug, Parser)]
#[command(name = "marketlounge", version, about)]
pub struct Cli {
    /// Settings file (JSON); defaults to the compiled-in schema/settings.default.json.
    #[arg(long, global = true)]
    settings: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an NDJSON file (plain or gzip): every error as `line N: field F: message`.
    Validate(validate::Args),
    /// Show how a query is interpreted: tokens, synonyms, concepts, locations.
    Analyze(analyze::Args),
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Print or write the JSON Schemas generated from the record and settings types.
    Schema(schema::Args),
    /// Print or write the OpenAPI 3.1 document of the HTTP API (what `GET /openapi.json` serves).
    Openapi(openapi::Args),
    /// Build, inspect, verify, re-score and back up the index of a data directory.
    Index(index::Args),
    /// Restore a backup into a new data directory.
    Restore(index::RestoreArgs),
    /// Print the vector of a text (model, dimension, norm, head; `--json` for all of it).
    Embed(embed::EmbedArgs),
    /// Print the cosine similarity of two texts.
    Similarity(embed::SimilarityArgs),
    /// Measure relevance on a BEIR-layout benchmark (corpus, queries, qrels) through the real
    /// indexing and query path: nDCG@10, Recall@10/100, MRR@10, by language and kind.
    Eval(eval::Args),
    /// In-process latency benchmarks over a query file (`bench match`).
    Bench(bench::Args),
    /// The opportunity scorer: ingest signals, train, backtest, apply, roll back.
    Score(score::Args),
    /// API keys of a data directory: create (secret shown once), list, revoke, rotate.
    Keys(keys::Args),
    /// Usage of a data directory's keys: `export` as metered events for billing.
    Usage(usage::Args),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Data directory (created if absent; an empty one starts an empty index).
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7700")]
    addr: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM); reloaded with the key on SIGHUP.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Runs the command line; the returned code is the process exit code.
pub fn run() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Validate(args) => {
            let settings = Settings::load(cli.settings.as_deref())?;
            validate::run(&args, &settings)
        }
        Command::Analyze(args) => analyze::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Openapi(args) => openapi::run(&args),
        Command::Index(args) => {
            let settings = Settings::load(cli.settings.as_deref())?;
            index::run(&args, &settings)
        }
        Command::Restore(args) => index::restore(&args),
        Command::Embed(args) => embed::embed(&args, &Settings::load(cli.settings.as_deref())?),
        Command::Similarity(args) => embed::similarity(&args, &Settings::load(cli.settings.as_deref())?),
        Command::Bench(args) => bench::run(&args, &Settings::load(cli.settings.as_deref())?),
        Command::Eval(args) => eval::run(&args, &Settings::load(cli.settings.as_deref())?),
        Command::Score(args) => score::run(&args, &Settings::load(cli.settings.as_deref())?),
        Command::Keys(args) => keys::run(&args),
        Command::Usage(args) => usage::run(&args),
        Command::Serve(args) => {
            let settings = Settings::load(cli.settings.as_deref())?;
            serve(args, settings)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MARKETLOUNGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: log files and CI output stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(args: ServeArgs, settings: Settings) -> anyhow::Result<()> {
    // One process per data directory: a second one would corrupt what the first writes.
    let lock = crate::indexing::DataDirLock::acquire(&args.data)?;
    // Without a server secret every route is open: only on a loopback address.
    let secret = crate::auth::secret::MasterSecret::load(&args.data)?;
    if secret.is_none() && !args.addr.ip().is_loopback() {
        anyhow::bail!(
            "refusing to serve {} without a server secret: set {} (at least 32 bytes) or create a key with `marketlounge keys create --data {}`; without one, only a loopback address is served (development mode, every route open)",
            args.addr,
            crate::auth::secret::MASTER_KEY_VAR,
            args.data.display()
        );
    }
    if secret.is_none() {
        tracing::warn!(addr = %args.addr, "no server secret: development mode, every route is open (loopback only)");
    }
    // Read before anything starts: a wrong certificate path is an error at once.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(http::tls::Tls::load(cert, key)?)),
        _ => None,
    };
    let flush_interval = std::time::Duration::from_millis(settings.index.flush_interval_ms);
    let state = Arc::new(AppState::open(settings, &args.data)?);
    let maintenance = http::Maintenance::start(&state, flush_interval);
    // A panic is a bug: logged like any error (inside the request's span, so with its id, when
    // it happens on an async worker), not printed beside the log.
    std::panic::set_hook(Box::new(|panic| tracing::error!(%panic, "panic")));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    let result = runtime.block_on(http::serve(Arc::clone(&state), args.addr, tls));
    // Stop the background work and publish what is pending before letting go of the lock.
    drop(runtime);
    drop(maintenance);
    drop(state);
    drop(lock);
    result
}
