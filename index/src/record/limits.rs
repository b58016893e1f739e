//! Size limits of records: list lengths, string lengths and a company's total text.
//!
//! They are part of the format, not of one server's settings: the JSON Schemas state them
//! (`maxItems`, `maxLength`), [`Record::check`](super::Record::check) enforces them, and a file
//! valid for one server is valid for every other. They bound the work one record can cause: a
//! record with 50,000 capabilities used to be accepted, and one with 500 took 4.6 s to become
//! searchable.
//!
//! Sized from the data there is: the demo generator gives a company 2 to 7 savoir-faire
//! phrases, 1 to 4 machines and materials and at most 3 certifications; the Eurostat
//! NACE notes that `marketlounge eval` turns into companies have at most 14 phrases. Each list
//! allows a few times the largest seen, "a few dozen".

/// Savoir-faire phrases per company.
pub const MAX_CAPABILITIES: usize = 50;
/// Machines per company.
pub const MAX_MACHINES: usize = 50;
/// Materials per company.
pub const MAX_MATERIALS: usize = 50;
/// Certifications per company.
pub const MAX_CERTIFICATIONS: usize = 20;
/// Glossary concepts per company.
pub const MAX_COMPANY_CONCEPTS: usize = 50;

/// Characters of a company name.
pub const MAX_NAME_CHARS: usize = 300;
/// Characters of a company description.
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
/// Characters of one savoir-faire phrase or machine.
pub const MAX_PHRASE_CHARS: usize = 500;
/// Characters of one material or certification.
pub const MAX_LABEL_CHARS: usize = 200;
/// Characters of a concept id (in a company's `concepts` or a glossary record).
pub const MAX_CONCEPT_ID_CHARS: usize = 200;
/// Characters of a URL (`website`, an article's `url`).
pub const MAX_URL_CHARS: usize = 2_048;
/// Characters of a street line.
pub const MAX_STREET_CHARS: usize = 300;
/// Characters of a commune name.
pub const MAX_COMMUNE_CHARS: usize = 200;
/// Characters of all of a company's texts together: name, description, and every capability,
/// machine, material and certification. Below the sum of the single limits (84,300): one
/// record may use the room of one long field, not of all of them at once.
pub const MAX_COMPANY_TEXT_CHARS: usize = 50_000;

/// Components of a vector given in a record (`settings.index.vector_dims` is at most this).
pub const MAX_VECTOR_DIMS: usize = 4_096;

/// French or English synonyms of a glossary concept.
pub const MAX_SYNONYMS: usize = 50;
/// NAF codes of a glossary concept.
pub const MAX_CONCEPT_NAF: usize = 20;
/// CPV codes of a glossary concept.
pub const MAX_CONCEPT_CPV: usize = 50;
/// Characters of a glossary concept's description.
pub const MAX_CONCEPT_DESCRIPTION_CHARS: usize = 2_000;

/// Characters of a signal's free text.
pub const MAX_SIGNAL_TEXT_CHARS: usize = 2_000;
/// Characters of an article's body.
pub const MAX_ARTICLE_BODY_CHARS: usize = 100_000;
/// Characters of an article's summary.
pub const MAX_ARTICLE_SUMMARY_CHARS: usize = 5_000;
