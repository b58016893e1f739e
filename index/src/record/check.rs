//! Semantic checks of records, and the error type every validation step reports.

use std::fmt;

use serde::Serialize;

use super::limits::*;
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
    /// A list holds more entries than the format allows (`record::limits`).
    TooManyItems,
    /// A company's texts together are longer than the format allows.
    RecordTooLarge,
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
            ValidationCode::TooManyItems => "too_many_items",
            ValidationCode::RecordTooLarge => "record_too_large",
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

/// Characters of a client's value shown in a message, at most: a message names the value, it
/// does not echo a megabyte of it.
const SHOWN_CHARS: usize = 64;

/// `value` as a message shows it: quoted, whole when short, else its first characters and "…".
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(SHOWN_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    }
}

fn check_siren(field: &str, id: &str, errors: &mut Vec<FieldError>) {
    if !is_valid_siren(id) {
        errors.push(FieldError::new(
            field,
            ValidationCode::InvalidId,
            format!("{} is not a SIREN-like id (9 digits with a valid Luhn check digit)", shown(id)),
        ));
    }
}

fn check_len(field: &str, value: &str, min: usize, max: usize, errors: &mut Vec<FieldError>) {
    if !len_within(value, min, max) {
        let n_chars = value.chars().count();
        let message = if n_chars > max {
            format!("{n_chars} characters, more than the limit of {max}")
        } else {
            format!("{n_chars} characters, fewer than the minimum of {min}")
        };
        errors.push(FieldError::new(field, ValidationCode::InvalidValue, message));
    }
}

fn check_optional_len(field: &str, value: Option<&String>, max: usize, errors: &mut Vec<FieldError>) {
    if let Some(value) = value {
        check_len(field, value, 0, max, errors);
    }
}

/// A list longer than `max_items` is one error; its entries past the limit are not checked
/// (50,000 bad entries would otherwise be 50,000 errors).
fn check_items(field: &str, n_items: usize, max_items: usize, errors: &mut Vec<FieldError>) {
    if n_items > max_items {
        errors.push(FieldError::new(
            field,
            ValidationCode::TooManyItems,
            format!("{n_items} entries, more than the limit of {max_items}"),
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
            format!("{} is not a NAF rév.2 sous-classe code (format \"25.62B\")", shown(code)),
        ));
    }
}

fn check_vector(field: &str, vector: &[f32], errors: &mut Vec<FieldError>) {
    if vector.is_empty() {
        errors.push(FieldError::new(field, ValidationCode::InvalidValue, "vector is empty"));
    } else if vector.len() > MAX_VECTOR_DIMS {
        check_items(field, vector.len(), MAX_VECTOR_DIMS, errors);
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
            format!("{} is not a 5-digit postal code", shown(postal_code)),
        ));
    } else if !postal_code_known {
        errors.push(FieldError::new(
            "address.postal_code",
            ValidationCode::InvalidPostalCode,
            format!("{postal_code:?} is not the postal code of any French commune"),
        ));
    }
    check_optional_len("address.street", address.street.as_ref(), MAX_STREET_CHARS, errors);
    check_len("address.commune", &address.commune, 1, MAX_COMMUNE_CHARS, errors);
    if let Some(code) = &address.commune_code {
        match refdata.commune(code) {
            None => errors.push(FieldError::new(
                "address.commune_code",
                ValidationCode::UnknownReference,
                format!("{} is not an INSEE commune code", shown(code)),
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
            format!("{} is not a département code", shown(code)),
        ));
    }
    if let Some(region) = &address.region
        && !refdata.is_region(region)
    {
        errors.push(FieldError::new(
            "address.region",
            ValidationCode::UnknownReference,
            format!("{} is not a région name (e.g. \"Auvergne-Rhône-Alpes\")", shown(region)),
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

fn check_list(field: &str, values: &[String], max_items: usize, max_chars: usize, errors: &mut Vec<FieldError>) {
    check_items(field, values.len(), max_items, errors);
    for (idx, value) in values.iter().take(max_items).enumerate() {
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
        check_len("name", &self.name, 1, MAX_NAME_CHARS, errors);
        check_len("description", &self.description, 0, MAX_DESCRIPTION_CHARS, errors);
        check_list("capabilities", &self.capabilities, MAX_CAPABILITIES, MAX_PHRASE_CHARS, errors);
        check_list("machines", &self.machines, MAX_MACHINES, MAX_PHRASE_CHARS, errors);
        check_list("certifications", &self.certifications, MAX_CERTIFICATIONS, MAX_LABEL_CHARS, errors);
        check_list("materials", &self.materials, MAX_MATERIALS, MAX_LABEL_CHARS, errors);
        check_company_text(self, errors);
        check_naf("naf", &self.naf, refdata, errors);
        check_address(&self.address, refdata, errors);
        check_optional_len("website", self.website.as_ref(), MAX_URL_CHARS, errors);
        if let Some(vector) = &self.vector {
            check_vector("vector", vector, errors);
        }
        check_items("concepts", self.concepts.len(), MAX_COMPANY_CONCEPTS, errors);
        for (idx, activation) in self.concepts.iter().take(MAX_COMPANY_CONCEPTS).enumerate() {
            if !len_within(&activation.id, 1, MAX_CONCEPT_ID_CHARS) {
                check_len(&format!("concepts[{idx}].id"), &activation.id, 1, MAX_CONCEPT_ID_CHARS, errors);
            }
            if !(0.0..=1.0).contains(&activation.weight) {
                check_range(&format!("concepts[{idx}].weight"), f64::from(activation.weight), 0.0, 1.0, errors);
            }
        }
    }
}

/// The texts of a company together, against [`MAX_COMPANY_TEXT_CHARS`]: what one record may ask
/// the analyser and the indexer to read.
fn check_company_text(company: &Company, errors: &mut Vec<FieldError>) {
    let lists = [&company.capabilities, &company.machines, &company.materials, &company.certifications];
    let texts = || {
        [company.name.as_str(), company.description.as_str()]
            .into_iter()
            .chain(lists.into_iter().flat_map(|list| list.iter().map(String::as_str)))
    };
    // A text has at most as many characters as bytes: count them only when the bytes exceed.
    let n_bytes: usize = texts().map(str::len).sum();
    if n_bytes <= MAX_COMPANY_TEXT_CHARS {
        return;
    }
    let n_chars: usize = texts().map(|text| text.chars().count()).sum();
    if n_chars > MAX_COMPANY_TEXT_CHARS {
        errors.push(FieldError::new(
            "$",
            ValidationCode::RecordTooLarge,
            format!(
                "the texts (name, description, capabilities, machines, materials, certifications) total \
                 {n_chars} characters, more than the limit of {MAX_COMPANY_TEXT_CHARS}"
            ),
        ));
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
                format!("{} is not a dotted slug path of 1 to 3 parts (\"usinage.fraisage.5-axes\")", shown(&self.id)),
            ));
        } else if parts.len() != self.level.depth() {
            errors.push(FieldError::new(
                "level",
                ValidationCode::InvalidValue,
                format!(
                    "level {:?} needs an id of {} part(s), {} has {}",
                    self.level,
                    self.level.depth(),
                    shown(&self.id),
                    parts.len()
                ),
            ));
        } else {
            let expected_parent = (parts.len() > 1).then(|| parts[..parts.len() - 1].join("."));
            if self.parent != expected_parent {
                let expected = expected_parent.as_deref().map_or_else(|| "absent".to_owned(), shown);
                errors.push(FieldError::new(
                    "parent",
                    ValidationCode::InvalidValue,
                    format!("parent must be {expected} for id {}", shown(&self.id)),
                ));
            }
        }
        check_len("id", &self.id, 1, MAX_CONCEPT_ID_CHARS, errors);
        check_len("label", &self.label, 1, 200, errors);
        if let Some(label_en) = &self.label_en {
            check_len("label_en", label_en, 1, 200, errors);
        }
        check_list("synonyms", &self.synonyms, MAX_SYNONYMS, MAX_LABEL_CHARS, errors);
        check_list("synonyms_en", &self.synonyms_en, MAX_SYNONYMS, MAX_LABEL_CHARS, errors);
        check_items("naf", self.naf.len(), MAX_CONCEPT_NAF, errors);
        for (idx, code) in self.naf.iter().take(MAX_CONCEPT_NAF).enumerate() {
            check_naf(&format!("naf[{idx}]"), code, refdata, errors);
        }
        check_items("cpv", self.cpv.len(), MAX_CONCEPT_CPV, errors);
        for (idx, code) in self.cpv.iter().take(MAX_CONCEPT_CPV).enumerate() {
            if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                errors.push(FieldError::new(
                    format!("cpv[{idx}]"),
                    ValidationCode::InvalidValue,
                    format!("{} is not an 8-digit CPV code", shown(code)),
                ));
            }
        }
        check_optional_len("description", self.description.as_ref(), MAX_CONCEPT_DESCRIPTION_CHARS, errors);
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
        check_optional_len("text", self.text.as_ref(), MAX_SIGNAL_TEXT_CHARS, errors);
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
        check_optional_len("body", self.body.as_ref(), MAX_ARTICLE_BODY_CHARS, errors);
        check_optional_len("summary", self.summary.as_ref(), MAX_ARTICLE_SUMMARY_CHARS, errors);
        check_optional_len("url", self.url.as_ref(), MAX_URL_CHARS, errors);
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

    fn errors_of(company: &Company) -> Vec<FieldError> {
        let mut errors = Vec::new();
        company.check(RefData::embedded(), &mut errors);
        errors
    }

    #[test]
    fn a_list_past_its_limit_is_one_error_naming_the_limit() {
        let mut company = company_at("42000", "42218");
        // Empty entries are errors too: past the limit they are not checked one by one.
        company.capabilities = vec![String::new(); 50_000];
        let errors = errors_of(&company);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields.len(), 1 + MAX_CAPABILITIES, "{fields:?}");
        assert_eq!((fields[0], errors[0].code), ("capabilities", ValidationCode::TooManyItems));
        assert!(errors[0].message.contains(&format!("limit of {MAX_CAPABILITIES}")), "{}", errors[0].message);
        assert_eq!(fields[MAX_CAPABILITIES], format!("capabilities[{}]", MAX_CAPABILITIES - 1));

        let mut company = company_at("42000", "42218");
        company.capabilities = vec!["fraisage".into(); MAX_CAPABILITIES];
        company.machines = vec!["tour".into(); MAX_MACHINES];
        company.materials = vec!["inox".into(); MAX_MATERIALS];
        company.certifications = vec!["ISO 9001".into(); MAX_CERTIFICATIONS];
        assert!(errors_of(&company).is_empty());
        company.certifications.push("EN 9100".into());
        assert_eq!(errors_of(&company)[0].field, "certifications");
    }

    #[test]
    fn a_company_texts_together_have_a_limit() {
        let mut company = company_at("42000", "42218");
        // Each field within its limit; together 4 + 20,000 + 25,000 + 5,000 characters.
        company.description = "é".repeat(MAX_DESCRIPTION_CHARS);
        company.capabilities = vec!["x".repeat(MAX_PHRASE_CHARS); 50];
        company.machines = vec!["y".repeat(MAX_PHRASE_CHARS); 10];
        let errors = errors_of(&company);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].field.as_str(), errors[0].code), ("$", ValidationCode::RecordTooLarge));
        assert!(errors[0].message.contains(&MAX_COMPANY_TEXT_CHARS.to_string()), "{}", errors[0].message);
        // Characters count, not bytes: 49,504 characters in 69,504 bytes pass.
        company.machines.pop();
        assert!(errors_of(&company).is_empty());
    }

    #[test]
    fn a_long_value_is_not_echoed_whole() {
        let mut company = company_at("42000", "42218");
        company.naf = "9".repeat(100_000);
        company.id = "1".repeat(100_000);
        for error in errors_of(&company) {
            assert!(error.message.len() < 200, "{}: {}", error.field, error.message.len());
        }
        assert_eq!(shown("abc"), "\"abc\"");
        assert_eq!(shown(&"é".repeat(100)), format!("{:?}…", "é".repeat(SHOWN_CHARS)));
    }

    /// The schema's description states the total-text limit, which JSON Schema cannot express.
    #[test]
    fn the_company_schema_states_the_text_limit() {
        let schema = serde_json::to_value(schemars::schema_for!(Company)).unwrap();
        let stated = MAX_COMPANY_TEXT_CHARS.to_string();
        let with_comma = format!("{},{:03}", MAX_COMPANY_TEXT_CHARS / 1000, MAX_COMPANY_TEXT_CHARS % 1000);
        let description = schema["description"].as_str().unwrap();
        assert!(description.contains(&with_comma) || description.contains(&stated), "{description}");
        assert_eq!(schema["properties"]["capabilities"]["maxItems"], MAX_CAPABILITIES);
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
