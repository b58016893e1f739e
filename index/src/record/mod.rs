//! Input records (companies, glossary concepts, signals, articles, feedback, outcomes) and their
//! validation.
//!
//! The structs here are the single source of truth for the data formats: the JSON Schema files in
//! `schema/` are generated from them (`marketlounge schema`), and a test keeps the two equal.
//! Deserialisation checks shape (types, required and unknown fields); [`Record::check`] checks
//! meaning (NAF codes, postal codes, dates, coordinates) against the reference data, and the
//! size limits of [`limits`] (list lengths, string lengths, a company's total text).

mod check;
mod id;
pub mod limits;
mod types;

pub use check::{FieldError, ValidationCode, is_valid_siren, shown};
pub use id::{format_id, parse_id, siren_with_check_digit};
pub use types::*;

use crate::refdata::RefData;

/// The kinds of record the NDJSON reader accepts, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Company,
    Concept,
    Signal,
    Article,
    Feedback,
    Outcome,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Company,
        RecordKind::Concept,
        RecordKind::Signal,
        RecordKind::Article,
        RecordKind::Feedback,
        RecordKind::Outcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Company => "company",
            RecordKind::Concept => "concept",
            RecordKind::Signal => "signal",
            RecordKind::Article => "article",
            RecordKind::Feedback => "feedback",
            RecordKind::Outcome => "outcome",
        }
    }

    /// Parses the command-line name of a kind.
    pub fn try_from_name(name: &str) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that can be read from NDJSON, validated and deduplicated by key.
pub trait Record: serde::de::DeserializeOwned + serde::Serialize + schemars::JsonSchema {
    const KIND: RecordKind;

    /// The key that must be unique within one file (`None` for records without one).
    fn key(&self) -> Option<String>;

    /// The field that holds the key, for error messages.
    const KEY_FIELD: &'static str;

    /// Semantic checks against the reference data; every problem found is pushed.
    fn check(&self, refdata: &RefData, errors: &mut Vec<FieldError>);
}
