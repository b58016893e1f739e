//! `marketlounge embed` and `marketlounge similarity`: the embedding model from the command line.

use std::io::Write;

use marketlounge_index::embed::{Embedder, TextKind, cosine};

use crate::settings::{EmbedderKind, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A search query (e5 prefix `query: `).
    Query,
    /// A document passage (e5 prefix `passage: `).
    Passage,
}

impl From<Kind> for TextKind {
    fn from(kind: Kind) -> TextKind {
        match kind {
            Kind::Query => TextKind::Query,
            Kind::Passage => TextKind::Passage,
        }
    }
}

/// Print the vector of a text: its model, dimension, norm and first values.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// The text to embed.
    text: String,
    #[arg(long, value_enum, default_value_t = Kind::Query)]
    kind: Kind,
    /// Print `{"model", "dim", "vector"}` with the whole vector.
    #[arg(long)]
    json: bool,
    /// The embedder (default: `onnx`, the real model; `static` and `hashed` also work).
    #[arg(long, value_enum, default_value_t = EmbedderKind::Onnx)]
    embedder: EmbedderKind,
}

/// Print the cosine similarity of two texts.
#[derive(Debug, clap::Args)]
pub struct SimilarityArgs {
    a: String,
    b: String,
    /// How both texts are embedded.
    #[arg(long, value_enum, default_value_t = Kind::Query)]
    kind: Kind,
    /// Embed B as a passage (a query against a document).
    #[arg(long)]
    b_passage: bool,
    #[arg(long, value_enum, default_value_t = EmbedderKind::Onnx)]
    embedder: EmbedderKind,
}

fn embedder(settings: &Settings, kind: EmbedderKind) -> anyhow::Result<std::sync::Arc<dyn Embedder>> {
    crate::indexing::open_embedder(settings, kind)?
        .ok_or_else(|| anyhow::anyhow!("--embedder {kind:?} computes no vectors: use onnx, static or hashed"))
}

pub fn embed(args: &EmbedArgs, settings: &Settings) -> anyhow::Result<std::process::ExitCode> {
    let embedder = embedder(settings, args.embedder)?;
    let vector = embedder.embed(args.kind.into(), &[args.text.as_str()])?.pop().expect("one vector per text");
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::json!({"model": embedder.fingerprint(), "dim": vector.len(), "vector": vector});
        writeln!(out, "{json}")?;
    } else {
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        let head: Vec<String> = vector.iter().take(8).map(|v| format!("{v:+.5}")).collect();
        writeln!(out, "model {}", embedder.fingerprint())?;
        writeln!(out, "dim {}  norm {norm:.6}", vector.len())?;
        writeln!(out, "[{}, …]", head.join(", "))?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

pub fn similarity(args: &SimilarityArgs, settings: &Settings) -> anyhow::Result<std::process::ExitCode> {
    let embedder = embedder(settings, args.embedder)?;
    let a = embedder.embed(args.kind.into(), &[args.a.as_str()])?.pop().expect("one vector per text");
    let b_kind = if args.b_passage { TextKind::Passage } else { args.kind.into() };
    let b = embedder.embed(b_kind, &[args.b.as_str()])?.pop().expect("one vector per text");
    writeln!(std::io::stdout().lock(), "{:.6}", cosine(&a, &b))?;
    Ok(std::process::ExitCode::SUCCESS)
}
