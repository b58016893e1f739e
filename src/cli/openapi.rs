//! `marketlounge openapi`: the OpenAPI 3.1 document of the HTTP API, generated from the code
//! (`crate::openapi`). `schema/openapi.json` is this command's output
//! (`marketlounge openapi --write schema/openapi.json`), and `tests/openapi.rs` fails when the
//! committed file differs from what the code generates.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write the document to this file instead of printing it.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = crate::openapi::document_text();
    match &args.write {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
