//! `marketlounge validate`: check an NDJSON file with the same reader indexing uses.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use marketlounge_index::ndjson::{self, Parsed, RecordReader};
use marketlounge_index::record::{Article, Company, Concept, Feedback, Outcome, Record, RecordKind, Signal};
use marketlounge_index::refdata::RefData;

use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kind of record in the file.
    #[arg(long, value_parser = parse_kind)]
    kind: RecordKind,
    /// NDJSON file, plain or gzip; `-` reads standard input.
    file: PathBuf,
    /// Print errors as JSON lines `{"line","field","code","message"}` instead of text.
    #[arg(long)]
    json: bool,
    /// Longest accepted line in bytes (default: the settings' limits.max_line_bytes).
    #[arg(long)]
    max_line_bytes: Option<usize>,
}

fn parse_kind(name: &str) -> Result<RecordKind, String> {
    RecordKind::try_from_name(name).ok_or_else(|| {
        let names: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {name:?}, expected one of: {}", names.join(", "))
    })
}

/// Counts of one validation run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub n_valid: u64,
    pub n_invalid: u64,
    pub n_errors: u64,
}

pub fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let input: Box<dyn BufRead + Send> = if args.file.as_os_str() == "-" {
        ndjson::open_reader(std::io::stdin(), settings.limits.file_unpack_limits())?
    } else {
        ndjson::open_path(&args.file, settings.limits.file_unpack_limits())
            .with_context(|| format!("opening {}", args.file.display()))?
    };
    let max_line_bytes = args.max_line_bytes.unwrap_or(settings.limits.max_line_bytes);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let refdata = RefData::embedded();
    let summary = match args.kind {
        RecordKind::Company => validate::<Company>(input, refdata, max_line_bytes, args.json, &mut out),
        RecordKind::Concept => validate::<Concept>(input, refdata, max_line_bytes, args.json, &mut out),
        RecordKind::Signal => validate::<Signal>(input, refdata, max_line_bytes, args.json, &mut out),
        RecordKind::Article => validate::<Article>(input, refdata, max_line_bytes, args.json, &mut out),
        RecordKind::Feedback => validate::<Feedback>(input, refdata, max_line_bytes, args.json, &mut out),
        RecordKind::Outcome => validate::<Outcome>(input, refdata, max_line_bytes, args.json, &mut out),
    }
    .with_context(|| format!("reading {}", args.file.display()))?;
    out.flush()?;
    eprintln!(
        "{}: {} valid, {} invalid {} record(s), {} error(s)",
        args.file.display(),
        summary.n_valid,
        summary.n_invalid,
        args.kind,
        summary.n_errors
    );
    Ok(if summary.n_invalid == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Validates every line of `input`, writing one line per error to `out`.
pub fn validate<T: Record>(
    input: impl BufRead,
    refdata: &RefData,
    max_line_bytes: usize,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    for parsed in RecordReader::<_, T>::new(input, refdata).with_max_line_bytes(max_line_bytes) {
        match parsed? {
            Parsed::Valid { .. } => summary.n_valid += 1,
            Parsed::Invalid { line, errors } => {
                summary.n_invalid += 1;
                for error in errors {
                    summary.n_errors += 1;
                    if json {
                        let value = serde_json::json!({
                            "line": line, "field": error.field, "code": error.code, "message": error.message
                        });
                        writeln!(out, "{value}")?;
                    } else {
                        writeln!(out, "line {line}: {error}")?;
                    }
                }
            }
        }
    }
    Ok(summary)
}
