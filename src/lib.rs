//! MarketLounge server library: command line, settings, HTTP API and error codes. Storage,
//! analysis and dictionaries live in the `marketlounge-index` crate.
#![forbid(unsafe_code)]

pub mod auth;
pub mod backup;
pub mod cli;
pub mod error;
pub mod http;
pub mod indexing;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod scoring;
pub mod settings;
pub mod usage;
