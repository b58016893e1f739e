//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `marketlounge` binary built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_marketlounge"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).env("MARKETLOUNGE_LOG", "warn").output().expect("the binary runs")
}

/// A SIREN-like id: 8 digits from `n` plus the Luhn check digit.
pub fn siren(n: u32) -> String {
    let body = format!("{:08}", n % 100_000_000);
    (0..10)
        .map(|check| format!("{body}{check}"))
        .find(|candidate| marketlounge_index::record::is_valid_siren(candidate))
        .expect("one check digit fits")
}

/// A valid company record.
pub fn company(n: u32) -> serde_json::Value {
    serde_json::json!({
        "id": siren(n),
        "name": format!("Mécanique Précision {n}"),
        "description": "Usinage de pièces de précision en petites et moyennes séries.",
        "capabilities": ["fraisage 5 axes", "tournage CN"],
        "machines": ["centre d'usinage DMG Mori DMU 50"],
        "certifications": ["ISO 9001"],
        "materials": ["inox 316L", "aluminium 7075"],
        "naf": "25.62B",
        "headcount": "20-49",
        "created": "1987-03-12",
        "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218", "lat": 45.43, "lon": 4.39}
    })
}
