//! Hybrid segments: the unit of immutability. One segment holds, for one set of documents under
//! one dense ordinal space, a tantivy index (lexical), a usearch index (vectors), FST
//! dictionaries (id → ordinal, company names), prior columns (f32, memory-mapped) and the
//! ordinal → id table, described by a checksummed `meta.bin`. See `README.md` beside this file
//! for the directory layout.
//!
//! Invariant: a segment directory is written under a `.tmp` name and renamed into place once
//! every file and `meta.bin` are durable; after that nothing in it changes. Deletions and
//! refreshed priors live beside it, in files named by the manifest.

pub mod chunks;
pub mod facets;
pub mod files;
pub mod forward;
pub mod geo_grid;
pub mod reader;
pub mod schema;
pub mod writer;

pub use files::{FileEntry, IdTable, SegmentMeta, Tombstones, VectorInfo};
pub use reader::{OpenOptions, Segment};
pub use schema::{CompanyFields, Location, TEXT_FIELDS};
pub use writer::{BuildOptions, IndexDoc, PRIOR_COLUMNS, SegmentBuilder, name_key, segment_dir_name};

use serde::{Deserialize, Serialize};

/// How vectors are stored in usearch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    F32,
    F16,
    I8,
}

impl Quantization {
    pub fn as_str(self) -> &'static str {
        match self {
            Quantization::F32 => "f32",
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        }
    }

    pub fn parse(text: &str) -> Option<Quantization> {
        Some(match text {
            "f32" => Quantization::F32,
            "f16" => Quantization::F16,
            "i8" => Quantization::I8,
            _ => return None,
        })
    }
}

/// The vectors a segment stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorOptions {
    /// Fingerprint of the model that produced them.
    pub model: String,
    pub dims: u32,
    pub quantization: Quantization,
}
