//! `marketlounge usage export`: the hourly usage of a data directory as metered events for a
//! billing provider (JSON lines or CSV on stdout), offline, from `usage.sqlite` (a running
//! server may keep writing it meanwhile). The event format is described in
//! [`crate::usage::report`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::usage::meter::hour_of;
use crate::usage::report::{CSV_HEADER, End, csv_line, first_open_hour, metered_events, parse_time, rfc3339};
use crate::usage::store::UsageStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: UsageCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UsageCommand {
    /// Print billable usage as metered events: one per key, closed hour and scope.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one line per event (RFC 4180).
    Csv,
}

#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Data directory of the server.
    #[arg(long)]
    data: PathBuf,
    /// First hour (RFC 3339 time or date, UTC); default: the first recorded.
    #[arg(long)]
    from: Option<String>,
    /// End of the range, excluded (RFC 3339 time, or a date whose whole day is included);
    /// default and latest: the last closed hour (the hour under way is never exported).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

pub fn run(args: &Args) -> anyhow::Result<std::process::ExitCode> {
    let UsageCommand::Export(export) = &args.command;
    let from = match &export.from {
        Some(text) => parse_time(text, End::From).map_err(|err| anyhow::anyhow!("--from: {err}"))?,
        None => i64::MIN,
    };
    let open = first_open_hour(jiff::Timestamp::now().as_second());
    let to = match &export.to {
        Some(text) => parse_time(text, End::To).map_err(|err| anyhow::anyhow!("--to: {err}"))?,
        None => open,
    };
    anyhow::ensure!(from < to, "--to ({}) must be after --from ({})", rfc3339(to), rfc3339(from));
    if to > open {
        eprintln!(
            "note: hours from {} on are not exported yet: their counts may still grow (an hour is exported once it is over)",
            rfc3339(open)
        );
    }
    anyhow::ensure!(export.data.is_dir(), "{} is not a directory", export.data.display());
    let rows = match UsageStore::open_existing(&export.data)? {
        // Whole hours that start in the range.
        Some(store) => store.rows(hour_of(from.saturating_add(3599)), to.min(open), None)?,
        None => Vec::new(),
    };
    let keys = crate::auth::store::records_in(&export.data)?;
    let events = metered_events(&rows, &keys);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match export.format {
        Format::Jsonl => {
            for event in &events {
                serde_json::to_writer(&mut out, event)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Csv => {
            writeln!(out, "{CSV_HEADER}")?;
            for event in &events {
                writeln!(out, "{}", csv_line(event))?;
            }
        }
    }
    out.flush().context("writing the export")?;
    Ok(std::process::ExitCode::SUCCESS)
}
