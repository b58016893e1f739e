//! What a caller may ask of the query path, and the checks that turn bad input into an error
//! naming the field.

use serde::{Deserialize, Serialize};

use crate::record::HeadcountBand;
use crate::refdata::RefData;

/// Longest page a request may ask for (`k`), and deepest it may go (`offset + k`).
pub const MAX_K: usize = 1000;
pub const MAX_DEPTH: usize = 10_000;

/// How candidates are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Calibrated, weighted sum of every component.
    #[default]
    Hybrid,
    /// Lexical evidence (BM25 over the user's words, synonyms and concept labels) only.
    Lexical,
    /// Vector similarity only.
    Vector,
    /// Reciprocal rank fusion of the lexical, vector and concept rankings, plus geo and prior.
    Rrf,
}

impl LocationUse {
    /// The use of the place constraint this setting implies (`boost` ranks places first).
    pub fn constraint_use(self) -> super::constraints::ConstraintUse {
        use super::constraints::ConstraintUse;
        match self {
            LocationUse::Boost => ConstraintUse::Prefer,
            LocationUse::Filter => ConstraintUse::Require,
            LocationUse::Ignore => ConstraintUse::Ignore,
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Lexical => "lexical",
            Mode::Vector => "vector",
            Mode::Rrf => "rrf",
        }
    }
}

/// What a place named in the query does to the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LocationUse {
    /// Nearer companies rank higher (the `geo` component).
    #[default]
    Boost,
    /// Only companies in the place (département, région) or within `fusion.geo_half_distance_km`
    /// of it (commune) are returned.
    Filter,
    /// Places are recognised and reported but do not change the ranking.
    Ignore,
}

/// A circle on the map.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Near {
    pub lat: f64,
    pub lon: f64,
    pub km: f64,
}

/// Restrictions on the companies returned. Within one list any value matches; all lists must.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// NAF rév.2 sous-classes ("25.62B") or divisions ("25").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub naf: Vec<String>,
    /// Département codes ("69", "2A").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departement: Vec<String>,
    /// Région names ("Auvergne-Rhône-Alpes").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub region: Vec<String>,
    /// Within `km` of a point (company coordinates, or its commune's town hall).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<Near>,
    /// Headcount bands ("10-19", "20-49"…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headcount: Vec<HeadcountBand>,
    /// Certifications: a company matches when one of its certifications contains every word of
    /// the value ("ISO 9001" matches "ISO 9001:2015").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.naf.is_empty()
            && self.departement.is_empty()
            && self.region.is_empty()
            && self.near.is_none()
            && self.headcount.is_empty()
            && self.certifications.is_empty()
    }
}

/// Per-request overrides of the fusion weights (absent: the server's settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightOverrides {
    pub lexical: Option<f32>,
    pub vector: Option<f32>,
    pub concept: Option<f32>,
    pub geo: Option<f32>,
    pub prior: Option<f32>,
}

/// The body of `POST /api/v1/match`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub query: String,
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub offset: usize,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub filters: Filters,
    #[serde(default)]
    pub weights: WeightOverrides,
    #[serde(default)]
    pub location: LocationUse,
    /// How each kind of constraint read from the query is used (`require`, `prefer`, `ignore`):
    /// `{"material": "require"}` returns only companies working the material named.
    #[serde(default)]
    pub constraints: super::constraints::ConstraintUses,
    /// A query vector of the index's model, instead of embedding `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    #[serde(default)]
    pub explain: bool,
    /// Filters the caller cannot widen, ANDed with `filters` (each of their lists must hold
    /// too): a signed token's, set by the server. Never read from a body (`forced_filters` in
    /// one is an unknown field) nor written to one.
    #[serde(skip)]
    pub forced_filters: Option<Filters>,
}

fn default_k() -> usize {
    10
}

impl MatchRequest {
    pub fn new(query: impl Into<String>) -> MatchRequest {
        MatchRequest {
            query: query.into(),
            k: default_k(),
            offset: 0,
            mode: Mode::default(),
            filters: Filters::default(),
            weights: WeightOverrides::default(),
            location: LocationUse::default(),
            constraints: super::constraints::ConstraintUses::default(),
            vector: None,
            explain: false,
            forced_filters: None,
        }
    }
}

/// A request the query path refuses: which field, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field {field}: {message}")]
pub struct RequestError {
    pub field: String,
    pub message: String,
}

impl RequestError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> RequestError {
        RequestError { field: field.into(), message: message.into() }
    }
}

impl MatchRequest {
    /// Checks everything serde cannot: ranges, known codes, coordinates.
    pub fn check(&self, max_query_bytes: usize, refdata: &RefData) -> Result<(), RequestError> {
        let query = self.query.trim();
        if query.is_empty() && self.vector.is_none() {
            return Err(RequestError::new("query", "is empty: say what you are looking for"));
        }
        if self.query.len() > max_query_bytes {
            return Err(RequestError::new(
                "query",
                format!("is {} bytes long, the limit is {max_query_bytes}", self.query.len()),
            ));
        }
        if self.query.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(RequestError::new("query", "contains control characters"));
        }
        if self.k == 0 || self.k > MAX_K {
            return Err(RequestError::new("k", format!("{} is out of range: ask for 1 to {MAX_K} hits", self.k)));
        }
        // `offset` is any u64 the client sends: the sum is checked, not wrapped.
        match self.offset.checked_add(self.k) {
            Some(depth) if depth <= MAX_DEPTH => {}
            _ => {
                return Err(RequestError::new(
                    "offset",
                    format!(
                        "offset {} + k {} goes deeper than {MAX_DEPTH}: refine the query instead",
                        self.offset, self.k
                    ),
                ));
            }
        }
        if let Some(vector) = &self.vector {
            check_vector(vector)?;
        }
        let weights = [
            ("weights.lexical", self.weights.lexical),
            ("weights.vector", self.weights.vector),
            ("weights.concept", self.weights.concept),
            ("weights.geo", self.weights.geo),
            ("weights.prior", self.weights.prior),
        ];
        for (field, value) in weights {
            if let Some(value) = value
                && !(value.is_finite() && (0.0..=100.0).contains(&value))
            {
                return Err(RequestError::new(field, format!("{value} must be a number from 0 to 100")));
            }
        }
        self.filters.check(refdata)
    }
}

impl Filters {
    /// Checks the codes, names, list lengths and circle; errors name the field from `filters`
    /// (`filters.region[0]`): a request's, or a signed token's payload (the same vocabulary).
    pub fn check(&self, refdata: &RefData) -> Result<(), RequestError> {
        let filters = self;
        for (idx, code) in filters.naf.iter().enumerate() {
            let known = match code.len() {
                2 => refdata.naf.values().any(|n| &n.division_code == code),
                _ => refdata.naf(code).is_some(),
            };
            if !known {
                return Err(RequestError::new(
                    format!("filters.naf[{idx}]"),
                    format!("{} is not a NAF rév.2 sous-classe (\"25.62B\") or division (\"25\")", echoed(code)),
                ));
            }
        }
        for (idx, code) in filters.departement.iter().enumerate() {
            if refdata.departement(code).is_none() {
                return Err(RequestError::new(
                    format!("filters.departement[{idx}]"),
                    format!("{} is not a département code (\"69\", \"2A\", \"974\")", echoed(code)),
                ));
            }
        }
        for (idx, name) in filters.region.iter().enumerate() {
            if !refdata.is_region(name) {
                return Err(RequestError::new(
                    format!("filters.region[{idx}]"),
                    format!("{} is not a région name (e.g. \"Auvergne-Rhône-Alpes\")", echoed(name)),
                ));
            }
        }
        for (idx, value) in filters.certifications.iter().enumerate() {
            if value.trim().is_empty() || value.len() > 200 {
                return Err(RequestError::new(
                    format!("filters.certifications[{idx}]"),
                    "must be a certification name of 1 to 200 bytes",
                ));
            }
        }
        let lists = [
            ("filters.naf", filters.naf.len()),
            ("filters.departement", filters.departement.len()),
            ("filters.region", filters.region.len()),
            ("filters.headcount", filters.headcount.len()),
            ("filters.certifications", filters.certifications.len()),
        ];
        for (field, len) in lists {
            if len > 1000 {
                return Err(RequestError::new(field, format!("has {len} values, at most 1000 are accepted")));
            }
        }
        if let Some(near) = &filters.near {
            if !(near.lat.is_finite() && (-90.0..=90.0).contains(&near.lat)) {
                return Err(RequestError::new("filters.near.lat", format!("{} is not a latitude", near.lat)));
            }
            if !(near.lon.is_finite() && (-180.0..=180.0).contains(&near.lon)) {
                return Err(RequestError::new("filters.near.lon", format!("{} is not a longitude", near.lon)));
            }
            // A radius of 0 km holds no company: the rule and the message say > 0.
            if !(near.km.is_finite() && near.km > 0.0 && near.km <= 20_000.0) {
                return Err(RequestError::new(
                    "filters.near.km",
                    format!("{} must be > 0 and at most 20000 km", near.km),
                ));
            }
        }
        Ok(())
    }
}

/// Longest client-supplied string quoted in a message, in characters: enough to recognise it,
/// never a 60 KB value copied back whole.
pub const MAX_ECHOED_CHARS: usize = 64;

/// A client-supplied string for a message: quoted like `{:?}`, cut to [`MAX_ECHOED_CHARS`]
/// characters with "…" when longer. The server's messages quote client strings through it too.
pub fn echoed(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHOED_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

/// A query vector has a direction to compare: finite components whose squared length, summed
/// in f32 as the query path normalises it, is neither 0 nor overflowing. An all-zero vector
/// would be normalised to an arbitrary axis and rank companies by one meaningless component.
fn check_vector(vector: &[f32]) -> Result<(), RequestError> {
    if vector.is_empty() {
        return Err(RequestError::new("vector", "is empty: send the query's embedding, or leave the field out"));
    }
    if let Some(at) = vector.iter().position(|v| !v.is_finite()) {
        return Err(RequestError::new(
            "vector",
            format!("component {at} is not a finite number (or does not fit in 32 bits): nothing to normalise"),
        ));
    }
    let squared_length: f32 = vector.iter().map(|v| v * v).sum();
    if squared_length == 0.0 {
        return Err(RequestError::new(
            "vector",
            "has length 0 (every component is 0, or too small to square in 32 bits): nothing to normalise",
        ));
    }
    if !squared_length.is_finite() {
        return Err(RequestError::new(
            "vector",
            "is too long to normalise in 32 bits (its squared length overflows): scale it down",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(request: &MatchRequest) -> RequestError {
        request.check(2048, RefData::embedded()).expect_err("refused")
    }

    #[test]
    fn offset_plus_k_is_checked_not_wrapped() {
        let mut request = MatchRequest::new("laser");
        request.offset = usize::MAX;
        let error = refused(&request);
        assert_eq!(error.field, "offset");
        assert!(error.message.contains(&usize::MAX.to_string()), "{error}");
        request.offset = MAX_DEPTH - request.k + 1;
        assert_eq!(refused(&request).field, "offset");
        request.offset = MAX_DEPTH - request.k;
        assert_eq!(request.check(2048, RefData::embedded()), Ok(()));
    }

    #[test]
    fn query_vectors_need_a_direction() {
        let mut request = MatchRequest::new("laser");
        for (vector, needle) in [
            (vec![], "empty"),
            (vec![0.0; 8], "length 0"),
            (vec![1e-30; 8], "length 0"),
            (vec![0.5, f32::NAN], "component 1"),
            (vec![f32::INFINITY, 0.5], "component 0"),
            (vec![1e30, 1e30], "overflows"),
        ] {
            request.vector = Some(vector.clone());
            let error = refused(&request);
            assert_eq!(error.field, "vector", "{vector:?}");
            assert!(error.message.contains(needle), "{vector:?}: {error}");
        }
        request.vector = Some(vec![3.0, 4.0]);
        assert_eq!(request.check(2048, RefData::embedded()), Ok(()));
    }

    #[test]
    fn a_zero_radius_is_refused_with_a_message_that_says_so() {
        let mut request = MatchRequest::new("laser");
        request.filters.near = Some(Near { lat: 45.0, lon: 4.0, km: 0.0 });
        let error = refused(&request);
        assert_eq!(error.field, "filters.near.km");
        assert!(error.message.contains("must be > 0"), "{error}");
        request.filters.near = Some(Near { lat: 45.0, lon: 4.0, km: 0.5 });
        assert_eq!(request.check(2048, RefData::embedded()), Ok(()));
    }

    #[test]
    fn long_codes_are_cut_in_messages() {
        let mut request = MatchRequest::new("laser");
        request.filters.departement = vec!["9".repeat(60_000)];
        let error = refused(&request);
        assert_eq!(error.field, "filters.departement[0]");
        assert!(error.message.len() < 200, "{} bytes", error.message.len());
        assert!(error.message.contains('…'), "{error}");
    }
}
