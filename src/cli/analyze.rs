//! `marketlounge analyze`: how the engine reads a query.

use std::fmt::Write as _;
use std::process::ExitCode;

use marketlounge_index::dict::gazetteer::PlaceKind;
use marketlounge_index::interpret::{Interpretation, Interpreter};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The query text.
    query: String,
    /// Print the interpretation as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let interpreter = Interpreter::embedded()?;
    let interpretation = interpreter.interpret(&args.query);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&interpretation)?);
    } else {
        print!("{}", render(&interpretation));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report printed by `marketlounge analyze`.
pub fn render(interpretation: &Interpretation) -> String {
    let mut out = String::new();
    let query = &interpretation.query;
    // Writing to a String cannot fail.
    let _ = writeln!(out, "query:    {query}");
    let _ = writeln!(out, "language: {:?}", interpretation.language);
    let tokens: Vec<String> = interpretation
        .tokens
        .iter()
        .map(|token| match &token.stem {
            Some(stem) => format!("{}→{stem}", &query[token.start..token.end]),
            None => format!("({})", &query[token.start..token.end]),
        })
        .collect();
    let _ = writeln!(out, "tokens:   {}", tokens.join(" "));
    let _ = writeln!(out, "synonyms:{}", if interpretation.synonyms.is_empty() { " none" } else { "" });
    for hit in &interpretation.synonyms {
        let expansions: Vec<String> = hit.expansions.iter().map(|e| format!("{} ({:.2})", e.text, e.weight)).collect();
        let _ = writeln!(out, "  {:?} → {}", hit.matched, expansions.join(", "));
    }
    let _ = writeln!(out, "concepts:{}", if interpretation.concepts.is_empty() { " none" } else { "" });
    for hit in &interpretation.concepts {
        let _ = writeln!(out, "  {} [{:?}] {} ← {:?}", hit.id, hit.level, hit.path.join(" › "), hit.matched);
    }
    let _ = writeln!(out, "locations:{}", if interpretation.locations.is_empty() { " none" } else { "" });
    for hit in &interpretation.locations {
        let place = &hit.place;
        let coordinates = match (place.lat, place.lon) {
            (Some(lat), Some(lon)) => format!(" @ {lat:.4},{lon:.4}"),
            _ => String::new(),
        };
        let description = match place.kind {
            PlaceKind::Commune => format!(
                "commune {} (INSEE {}, dép. {}, {})",
                place.name,
                place.code,
                place.departement.as_deref().unwrap_or("?"),
                place.region
            ),
            PlaceKind::Departement => format!("département {} ({}, {})", place.name, place.code, place.region),
            PlaceKind::Region => format!("région {}", place.name),
        };
        let _ = writeln!(out, "  {description}{coordinates} ← {:?}", &query[hit.span[0]..hit.span[1]]);
    }
    let _ = writeln!(out, "text query: {}", interpretation.text_query);
    out
}
