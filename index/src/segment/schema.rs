//! The lexical schema of a company document and how a [`Company`] becomes a tantivy document.
//!
//! Every text field is analysed by the French pipeline (`ml_fr`); the name is also indexed
//! folded and unstemmed (`ml_folded`) for prefix and typo matching. Codes (NAF, département…)
//! are raw terms for filters. The record itself is kept as compact JSON in the document store,
//! so `GET /companies/{id}` returns exactly what was indexed.

use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::analysis::tokenizer::{FOLDED_TOKENIZER, FRENCH_TOKENIZER};
use crate::math::fnv1a64;
use crate::record::Company;
use crate::refdata::RefData;

/// Bump when the analysis pipeline changes in a way that changes indexed tokens: segments built
/// by another version then refuse to open with a "rebuild" message instead of silently missing
/// matches.
pub const ANALYSIS_VERSION: u32 = 1;

/// The weighted text fields, in the order of `settings.fields`.
pub const TEXT_FIELDS: [&str; 6] = ["name", "capabilities", "description", "machines", "materials", "certifications"];

/// Field handles of the company schema.
#[derive(Debug, Clone)]
pub struct CompanyFields {
    pub schema: Schema,
    pub id: Field,
    pub ord: Field,
    pub name: Field,
    pub name_folded: Field,
    pub capabilities: Field,
    pub description: Field,
    pub machines: Field,
    pub materials: Field,
    pub certifications: Field,
    pub naf: Field,
    pub naf_division: Field,
    pub departement: Field,
    pub region: Field,
    pub commune_code: Field,
    pub postal_code: Field,
    pub headcount: Field,
    pub concept: Field,
    pub source: Field,
}

impl CompanyFields {
    pub fn new() -> CompanyFields {
        let mut builder = Schema::builder();
        // Positions (phrase and proximity matching) where phrases matter; the short list fields
        // and the folded name (prefix and typo matching) need only frequencies.
        let text_with = |tokenizer: &str, option: IndexRecordOption| {
            TextOptions::default()
                .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(option))
        };
        let text = |tokenizer: &str| text_with(tokenizer, IndexRecordOption::WithFreqsAndPositions);
        let short = |tokenizer: &str| text_with(tokenizer, IndexRecordOption::WithFreqs);
        let id = builder.add_text_field("id", STRING);
        let ord = builder.add_u64_field("ord", FAST);
        let name = builder.add_text_field("name", text(FRENCH_TOKENIZER));
        let name_folded = builder.add_text_field("name_folded", short(FOLDED_TOKENIZER));
        let capabilities = builder.add_text_field("capabilities", text(FRENCH_TOKENIZER));
        let description = builder.add_text_field("description", text(FRENCH_TOKENIZER));
        let machines = builder.add_text_field("machines", short(FRENCH_TOKENIZER));
        let materials = builder.add_text_field("materials", text(FRENCH_TOKENIZER));
        let certifications = builder.add_text_field("certifications", short(FRENCH_TOKENIZER));
        let naf = builder.add_text_field("naf", STRING);
        let naf_division = builder.add_text_field("naf_division", STRING);
        let departement = builder.add_text_field("departement", STRING);
        let region = builder.add_text_field("region", STRING);
        let commune_code = builder.add_text_field("commune_code", STRING);
        let postal_code = builder.add_text_field("postal_code", STRING);
        let headcount = builder.add_u64_field("headcount", INDEXED | FAST);
        let concept = builder.add_text_field("concept", STRING);
        let source = builder.add_bytes_field("source", STORED);
        CompanyFields {
            schema: builder.build(),
            id,
            ord,
            name,
            name_folded,
            capabilities,
            description,
            machines,
            materials,
            certifications,
            naf,
            naf_division,
            departement,
            region,
            commune_code,
            postal_code,
            headcount,
            concept,
            source,
        }
    }

    /// The text field called `name` in settings (see [`TEXT_FIELDS`]).
    pub fn text_field(&self, name: &str) -> Option<Field> {
        Some(match name {
            "name" => self.name,
            "capabilities" => self.capabilities,
            "description" => self.description,
            "machines" => self.machines,
            "materials" => self.materials,
            "certifications" => self.certifications,
            _ => return None,
        })
    }

    /// A stable hash of the schema and the analysis version: stored in every segment and checked
    /// on open.
    pub fn schema_hash(&self) -> u64 {
        let description = serde_json::to_string(&self.schema).expect("a schema serialises");
        let mut hash = fnv1a64(0xcbf2_9ce4_8422_2325, description.as_bytes());
        hash = fnv1a64(hash, &ANALYSIS_VERSION.to_le_bytes());
        hash
    }

    /// Builds the tantivy document of `company` at ordinal `ord`. `source` is the record's
    /// compact JSON, `place` its [`Location`].
    pub fn document(&self, company: &Company, ord: u32, source: &[u8], place: &Location<'_>) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &company.id);
        doc.add_u64(self.ord, u64::from(ord));
        doc.add_text(self.name, &company.name);
        doc.add_text(self.name_folded, &company.name);
        for capability in &company.capabilities {
            doc.add_text(self.capabilities, capability);
        }
        if !company.description.is_empty() {
            doc.add_text(self.description, &company.description);
        }
        for machine in &company.machines {
            doc.add_text(self.machines, machine);
        }
        for material in &company.materials {
            doc.add_text(self.materials, material);
        }
        for certification in &company.certifications {
            doc.add_text(self.certifications, certification);
        }
        doc.add_text(self.naf, &company.naf);
        if let Some(division) = company.naf.get(..2) {
            doc.add_text(self.naf_division, division);
        }
        if let Some(departement) = place.departement {
            doc.add_text(self.departement, departement);
        }
        if let Some(region) = place.region {
            doc.add_text(self.region, region);
        }
        if let Some(code) = place.commune_code {
            doc.add_text(self.commune_code, code);
        }
        doc.add_text(self.postal_code, &company.address.postal_code);
        doc.add_u64(self.headcount, company.headcount as u64);
        for concept in &company.concepts {
            doc.add_text(self.concept, &concept.id);
        }
        doc.add_bytes(self.source, source);
        doc
    }
}

impl Default for CompanyFields {
    fn default() -> Self {
        CompanyFields::new()
    }
}

/// Where a company is, with what the record leaves out derived from the commune.
#[derive(Debug, Clone, Copy, Default)]
pub struct Location<'a> {
    pub commune_code: Option<&'a str>,
    pub departement: Option<&'a str>,
    pub region: Option<&'a str>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

impl<'a> Location<'a> {
    pub fn of(company: &'a Company, refdata: &'a RefData) -> Location<'a> {
        let address = &company.address;
        let commune = match &address.commune_code {
            Some(code) => refdata.commune(code),
            None => refdata.communes_for_postal_code(&address.postal_code).next(),
        };
        Location {
            commune_code: address.commune_code.as_deref().or(commune.map(|c| c.code.as_str())),
            departement: address.departement.as_deref().or(commune.map(|c| c.departement.as_str())),
            region: address.region.as_deref().or(commune.map(|c| c.region.as_str())),
            lat: address.lat.or(commune.and_then(|c| c.lat)),
            lon: address.lon.or(commune.and_then(|c| c.lon)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_hash_is_deterministic_and_text_fields_resolve() {
        let fields = CompanyFields::new();
        assert_eq!(fields.schema_hash(), CompanyFields::new().schema_hash());
        for name in TEXT_FIELDS {
            assert!(fields.text_field(name).is_some(), "{name}");
        }
    }
}
