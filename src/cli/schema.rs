//! `marketlounge schema`: the JSON Schemas of the data formats, generated from the Rust types.
//!
//! The files in `schema/` are this command's output (`marketlounge schema --write schema`), and a
//! test fails when they differ from what the types generate: the schema and the code cannot
//! drift apart.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use marketlounge_index::record::{Article, Company, Concept, Feedback, Outcome};
use schemars::JsonSchema;

use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write `<name>.schema.json` files into this directory instead of printing them.
    #[arg(long)]
    write: Option<PathBuf>,
}

/// Every schema, as `(file name, pretty JSON with a trailing newline)`.
pub fn all_schemas() -> Vec<(&'static str, String)> {
    fn render<T: JsonSchema>() -> String {
        let schema = schemars::schema_for!(T);
        let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
        text.push('\n');
        text
    }
    vec![
        ("company.schema.json", render::<Company>()),
        ("concept.schema.json", render::<Concept>()),
        ("signal.schema.json", render::<marketlounge_index::record::Signal>()),
        ("article.schema.json", render::<Article>()),
        ("feedback.schema.json", render::<Feedback>()),
        ("outcome.schema.json", render::<Outcome>()),
        ("settings.schema.json", render::<Settings>()),
    ]
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    for (name, text) in all_schemas() {
        match &args.write {
            Some(dir) => {
                let path = dir.join(name);
                std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            None => println!("// {name}\n{text}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
