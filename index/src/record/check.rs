//! Semantic checks of records, and the error type every validation step reports.

use std::fmt;

use serde::Serialize;

use super::{Address, Article, Company, Concept, Feedback, Outcome, Record, RecordKind, Signal};
use crate::refdata::RefData;

/// Stable machine-readable codes for validation errors. Never renamed: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationCode {
    InvalidJson,
    InvalidUtf8,
    LineTooLong,
    InvalidType,
    MissingField,
    UnknownField,
    InvalidValue,
    InvalidId,
    DuplicateId,
    InvalidNaf,
    InvalidPostalCode,
    InvalidDate,
    UnknownReference,
}

impl ValidationCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::InvalidJson => "invalid_json",
            ValidationCode::InvalidUtf8 => "invalid_utf8",
            ValidationCode::LineTooLong => "line_too_long",
            ValidationCode::InvalidType => "invalid_type",
            ValidationCode::MissingField => "missing_field",
            ValidationCode::UnknownField => "unknown_field",
            ValidationCode::InvalidValue => "invalid_value",
            ValidationCode::InvalidId => "invalid_id",
            ValidationCode::DuplicateId => "duplicate_id",
            ValidationCode::InvalidNaf => "invalid_naf",
            ValidationCode::InvalidPostalCode => "invalid_postal_code",
            ValidationCode::InvalidDate => "invalid_date",
            ValidationCode::UnknownReference => "unknown_reference",
        }
    }
}

/// One problem with one field of a record. `field` is a path like `address.postal_code` or
/// `capabilities[2]`; `$` stands for the whole record (a line that is not JSON at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: ValidationCode,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: ValidationCode, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), code, message: message.into() }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}: {}", self.field, self.message)
    }
}

/// Whether `id` is 9 digits whose Luhn checksum is valid, like a real SIREN.
pub fn is_valid_siren(id: &str) -> bool {
    if id.len() != 9 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = id
        .bytes()
        .rev()
        .enumerate()
        .map(|(idx_from_right, b)| {
            let digit = u32::from(b - b'0');
            if idx_from_right % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn check_siren(field: &str, id: &str, errors: &mut Vec<FieldError>) {
    if !is_valid_siren(id) {
        errors.push(FieldError::new(
            field,
            ValidationCode::InvalidId,
            format!("{id:?} is not a SIREN-like id (9 digits with a valid Luhn check digit)"),
        ));
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize, errors: &mut Vec<FieldError>) {
    if !len_within(value, min, max) {
        let n_chars = value.chars().count();
        errors.push(FieldError::new(
            field,
            ValidationCode::InvalidValue,
            format!("length {n_chars} is outside {min}..={max} characters"),
        ));
    }
}

/// Whether `value` has `min..=max` characters, without counting them when the byte length
/// already answers (a string has at most as many characters as bytes).
fn len_within(value: &str, min: usize, max: usize) -> bool {
    if value.len() <= max && min <= 1 {
        return min == 0 || !value.is_empty();
    }
    (min..=max).contains(&value.chars().count())
}

fn check_range(field: &str, value: f64, min: f64, max: f64, errors: &mut Vec<FieldError>) {
    if !(min..=max).contains(&value) {
        errors.push(FieldError::new(field, ValidationCode::InvalidValue, format!("{value} is outside [{min}, {max}]")));
    }
}

fn check_naf(field: &str, code: &str, refdata: &RefData, errors: &mut Vec<FieldError>) {
    if refdata.naf(code).is_none() {
        errors.push(FieldError::new(
            field,
            ValidationCode::InvalidNaf,
            format!("{code:?} is not a NAF rév.2 sous-classe code (format \"25.62B\")"),
        ));
    }
}

fn check_vector(field: &str, vector: &[f32], errors: &mut Vec<FieldError>) {
    if vector.is_empty() {
        errors.push(FieldError::new(field, ValidationCode::InvalidValue, "vector is empty"));
    } else if let Some(idx) = vector.iter().position(|x| !x.is_finite()) {
        errors.push(FieldError::new(
            format!("{field}[{idx}]"),
            ValidationCode::InvalidValue,
            "vector component is not a finite 32-bit float",
        ));
    }
}

fn check_address(address: &Address, refdata: &RefData, errors: &mut Vec<FieldError>) {
    let postal_code = &address.postal_code;
    let postal_code_known = refdata.communes_for_postal_code(postal_code).next().is_some();
    if postal_code.len() != 5 || !postal_code.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new(
            "address.postal_code",
            ValidationCode::InvalidPostalCode,
            format!("{postal_code:?} is not a 5-digit postal code"),
        ));
    } else if !postal_code_known {
        errors.push(FieldError::new(
            "address.postal_code",
            ValidationCode::InvalidPostalCode,
            format!("{postal_code:?} is not the postal code of any French commune"),
        ));
    }
    check_len("address.commune", &address.commune, 1, 200, errors);
    if let Some(code) = &address.commune_code {
        match refdata.commune(code) {
            None => errors.push(FieldError::new(
                "address.commune_code",
                ValidationCode::UnknownReference,
                format!("{code:?} is not an INSEE commune code"),
            )),
            // The source lists no postal code for a few recent communes: nothing to compare.
            Some(commune)
                if postal_code_known
                    && !commune.postal_codes.is_empty()
                    && !commune.postal_codes.contains(postal_code) =>
            {
                errors.push(FieldError::new(
                    "address.postal_code",
                    ValidationCode::InvalidPostalCode,
                    format!("{postal_code:?} is not a postal code of commune {code} ({})", commune.name),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(code) = &address.departement
        && refdata.departement(code).is_none()
    {
        errors.push(FieldError::new(
            "address.departement",
            ValidationCode::UnknownReference,
            format!("{code:?} is not a département code"),
        ));
    }
    if let Some(region) = &address.region
        && !refdata.is_region(region)
    {
        errors.push(FieldError::new(
            "address.region",
            ValidationCode::UnknownReference,
            format!("{region:?} is not a région name (e.g. \"Auvergne-Rhône-Alpes\")"),
        ));
    }
    match (address.lat, address.lon) {
        (Some(lat), Some(lon)) => {
            check_range("address.lat", lat, -90.0, 90.0, errors);
            check_range("address.lon", lon, -180.0, 180.0, errors);
        }
        (Some(_), None) => {
            errors.push(FieldError::new("address.lon", ValidationCode::MissingField, "lat is given without lon"))
        }
        (None, Some(_)) => {
            errors.push(FieldError::new("address.lat", ValidationCode::MissingField, "lon is given without lat"))
        }
        (None, None) => {}
    }
}

fn check_list(field: &str, values: &[String], max_chars: usize, errors: &mut Vec<FieldError>) {
    for (idx, value) in values.iter().enumerate() {
        // The field path is only formatted for an error: this runs for every element of every record.
        if !len_within(value, 1, max_chars) {
            check_len(&format!("{field}[{idx}]"), value, 1, max_chars, errors);
        }
    }
}

impl Record for Company {
    const KIND: RecordKind = RecordKind::Company;
    const KEY_FIELD: &'static str = "id";

    fn key(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn check(&self, refdata: &RefData, errors: &mut Vec<FieldError>) {
        check_siren("id", &self.id, errors);
        check_len("name", &self.name, 1, 300, errors);
        check_len("description", &self.description, 0, 20_000, errors);
        check_list("capabilities", &self.capabilities, 500, errors);
        check_list("machines", &self.machines, 500, errors);
        check_list("certifications", &self.certifications, 200, errors);
        check_list("materials", &self.materials, 200, errors);
        check_naf("naf", &self.naf, refdata, errors);
        check_address(&self.address, refdata, errors);
        if let Some(vector) = &self.vector {
            check_vector("vector", vector, errors);
        }
        for (idx, activation) in self.concepts.iter().enumerate() {
            if !(0.0..=1.0).contains(&activation.weight) {
                check_range(&format!("concepts[{idx}].weight"), f64::from(activation.weight), 0.0, 1.0, errors);
            }
        }
    }
}

impl Record for Concept {
    const KIND: RecordKind = RecordKind::Concept;
    const KEY_FIELD: &'static str = "id";

    fn key(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn check(&self, refdata: &RefData, errors: &mut Vec<FieldError>) {
        let parts: Vec<&str> = self.id.split('.').collect();
        let well_formed = parts.len() <= 3
            && parts.iter().all(|part| {
                !part.is_empty()
                    && part.split('-').all(|piece| {
                        !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    })
            });
        if !well_formed {
            errors.push(FieldError::new(
                "id",
                ValidationCode::InvalidId,
                format!("{:?} is not a dotted slug path of 1 to 3 parts (\"usinage.fraisage.5-axes\")", self.id),
            ));
        } else if parts.len() != self.level.depth() {
            errors.push(FieldError::new(
                "level",
                ValidationCode::InvalidValue,
                format!(
                    "level {:?} needs an id of {} part(s), {:?} has {}",
                    self.level,
                    self.level.depth(),
                    self.id,
                    parts.len()
                ),
            ));
        } else {
            let expected_parent = (parts.len() > 1).then(|| parts[..parts.len() - 1].join("."));
            if self.parent != expected_parent {
                errors.push(FieldError::new(
                    "parent",
                    ValidationCode::InvalidValue,
                    format!("parent must be {expected_parent:?} for id {:?}", self.id),
                ));
            }
        }
        check_len("label", &self.label, 1, 200, errors);
        check_list("synonyms", &self.synonyms, 200, errors);
        check_list("synonyms_en", &self.synonyms_en, 200, errors);
        for (idx, code) in self.naf.iter().enumerate() {
            check_naf(&format!("naf[{idx}]"), code, refdata, errors);
        }
        for (idx, code) in self.cpv.iter().enumerate() {
            if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(FieldError::new(
                    format!("cpv[{idx}]"),
                    ValidationCode::InvalidValue,
                    format!("{code:?} is not an 8-digit CPV code"),
                ));
            }
        }
        if let Some(embedding) = &self.embedding {
            check_vector("embedding", embedding, errors);
        }
    }
}

impl Record for Signal {
    const KIND: RecordKind = RecordKind::Signal;
    const KEY_FIELD: &'static str = "id";

    fn key(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn check(&self, _refdata: &RefData, errors: &mut Vec<FieldError>) {
        check_len("id", &self.id, 1, 128, errors);
        check_siren("company_id", &self.company_id, errors);
        check_len("source", &self.source, 1, 200, errors);
        if let Some(weight) = self.weight {
            check_range("weight", f64::from(weight), 0.0, 10.0, errors);
        }
    }
}

impl Record for Article {
    const KIND: RecordKind = RecordKind::Article;
    const KEY_FIELD: &'static str = "id";

    fn key(&self) -> Option<String> {
        Some(self.id.clone())
    }

    fn check(&self, _refdata: &RefData, errors: &mut Vec<FieldError>) {
        check_len("id", &self.id, 1, 128, errors);
        check_siren("company_id", &self.company_id, errors);
        check_len("title", &self.title, 1, 500, errors);
        check_len("source", &self.source, 1, 200, errors);
        if let Some(sentiment) = self.sentiment {
            check_range("sentiment", f64::from(sentiment), -1.0, 1.0, errors);
        }
    }
}

impl Record for Feedback {
    const KIND: RecordKind = RecordKind::Feedback;
    const KEY_FIELD: &'static str = "query_id";

    fn key(&self) -> Option<String> {
        None
    }

    fn check(&self, _refdata: &RefData, errors: &mut Vec<FieldError>) {
        check_len("query_id", &self.query_id, 1, 128, errors);
        check_siren("company_id", &self.company_id, errors);
        if let Some(suggestion) = &self.suggestion {
            check_len("suggestion", suggestion, 0, 2000, errors);
        }
    }
}

impl Record for Outcome {
    const KIND: RecordKind = RecordKind::Outcome;
    const KEY_FIELD: &'static str = "company_id";

    fn key(&self) -> Option<String> {
        Some(format!("{}@{}", self.company_id, self.as_of))
    }

    fn check(&self, _refdata: &RefData, errors: &mut Vec<FieldError>) {
        check_siren("company_id", &self.company_id, errors);
        if !(1..=3660).contains(&self.horizon_days) {
            errors.push(FieldError::new("horizon_days", ValidationCode::InvalidValue, "must be within 1..=3660 days"));
        }
        if let Some(p) = self.latent_probability {
            check_range("latent_probability", p, 0.0, 1.0, errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Company, HeadcountBand};

    fn company_at(postal_code: &str, commune_code: &str) -> Company {
        Company {
            id: "552100554".into(),
            name: "Test".into(),
            description: String::new(),
            capabilities: vec![],
            machines: vec![],
            certifications: vec![],
            materials: vec![],
            naf: "25.62B".into(),
            headcount: HeadcountBand::From10To19,
            created: jiff::civil::date(2000, 1, 1),
            address: Address {
                street: None,
                postal_code: postal_code.into(),
                commune: "x".into(),
                commune_code: Some(commune_code.into()),
                departement: None,
                region: None,
                lat: None,
                lon: None,
            },
            website: None,
            vector: None,
            concepts: vec![],
        }
    }

    fn error_fields(company: &Company) -> Vec<String> {
        let mut errors = Vec::new();
        company.check(RefData::embedded(), &mut errors);
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn postal_code_and_commune_must_agree_when_the_commune_lists_codes() {
        assert!(error_fields(&company_at("42000", "42218")).is_empty());
        assert_eq!(error_fields(&company_at("69003", "42218")), ["address.postal_code"]);
        // Trois Lacs (27676) has no postal code in the source: any real code is accepted.
        assert!(error_fields(&company_at("27700", "27676")).is_empty());
    }

    #[test]
    fn siren_luhn() {
        // Real SIRENs of well-known companies (public registry data).
        for valid in ["552100554", "542051180", "732829320"] {
            assert!(is_valid_siren(valid), "{valid}");
        }
        for invalid in ["552100555", "12345678", "1234567890", "55210055a", ""] {
            assert!(!is_valid_siren(invalid), "{invalid}");
        }
    }
}
