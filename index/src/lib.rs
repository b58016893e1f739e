//! MarketLounge's storage and retrieval library: records and their validation, text analysis,
//! the FST dictionaries (synonyms, glossary, places) and query interpretation.
//!
//! Invariant: nothing in this crate knows about HTTP; the server (`src/`) depends on it, never
//! the other way round.

pub mod analysis;
pub mod dict;
pub mod embed;
pub mod engine;
mod error;
pub mod interpret;
mod math;
pub mod ndjson;
pub mod record;
pub mod refdata;
pub mod score;
pub mod search;
pub mod segment;
pub mod storage;
pub mod suggest;

pub use error::IndexError;
