//! The record structs. Field docs become the descriptions in the generated JSON Schema.

use jiff::civil::Date;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::limits::*;

/// A supplier company: who it is, what it knows how to do, where it is. Its texts together
/// (name, description, capabilities, machines, materials, certifications) hold at most 50,000
/// characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Company")]
pub struct Company {
    /// Stable identifier: a 9-digit SIREN-like number with a valid Luhn check digit.
    #[schemars(pattern(r"^[0-9]{9}$"))]
    pub id: String,
    /// Trade name.
    #[schemars(length(min = 1, max = MAX_NAME_CHARS))]
    pub name: String,
    /// Free-text presentation of the company, as written on its site or profile.
    #[serde(default)]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: String,
    /// Savoir-faire phrases ("fraisage 5 axes", "découpe laser inox jusqu'à 20 mm").
    #[serde(default)]
    #[schemars(length(max = MAX_CAPABILITIES), inner(length(min = 1, max = MAX_PHRASE_CHARS)))]
    pub capabilities: Vec<String>,
    /// Machines and equipment.
    #[serde(default)]
    #[schemars(length(max = MAX_MACHINES), inner(length(min = 1, max = MAX_PHRASE_CHARS)))]
    pub machines: Vec<String>,
    /// Certifications and qualifications ("ISO 9001", "EN 9100").
    #[serde(default)]
    #[schemars(length(max = MAX_CERTIFICATIONS), inner(length(min = 1, max = MAX_LABEL_CHARS)))]
    pub certifications: Vec<String>,
    /// Materials worked ("inox 316L", "aluminium 7075").
    #[serde(default)]
    #[schemars(length(max = MAX_MATERIALS), inner(length(min = 1, max = MAX_LABEL_CHARS)))]
    pub materials: Vec<String>,
    /// Main activity as a NAF rév.2 sous-classe code ("25.62B").
    #[schemars(pattern(r"^[0-9]{2}\.[0-9]{2}[A-Z]$"))]
    pub naf: String,
    /// Headcount band (INSEE tranches).
    pub headcount: HeadcountBand,
    /// Creation date.
    pub created: Date,
    /// Postal address.
    pub address: Address,
    /// Website URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_URL_CHARS))]
    pub website: Option<String>,
    /// An embedding computed elsewhere, used by the `provided` embedder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_VECTOR_DIMS))]
    pub vector: Option<Vec<f32>>,
    /// Glossary concepts the company has, with a strength.
    #[serde(default)]
    #[schemars(length(max = MAX_COMPANY_CONCEPTS))]
    pub concepts: Vec<ConceptActivation>,
}

/// Headcount band, following INSEE's "tranche d'effectif salarié".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum HeadcountBand {
    #[serde(rename = "0")]
    None,
    #[serde(rename = "1-2")]
    From1To2,
    #[serde(rename = "3-5")]
    From3To5,
    #[serde(rename = "6-9")]
    From6To9,
    #[serde(rename = "10-19")]
    From10To19,
    #[serde(rename = "20-49")]
    From20To49,
    #[serde(rename = "50-99")]
    From50To99,
    #[serde(rename = "100-199")]
    From100To199,
    #[serde(rename = "200-249")]
    From200To249,
    #[serde(rename = "250-499")]
    From250To499,
    #[serde(rename = "500-999")]
    From500To999,
    #[serde(rename = "1000-1999")]
    From1000To1999,
    #[serde(rename = "2000-4999")]
    From2000To4999,
    #[serde(rename = "5000-9999")]
    From5000To9999,
    #[serde(rename = "10000+")]
    From10000,
}

impl HeadcountBand {
    pub const ALL: [HeadcountBand; 15] = [
        HeadcountBand::None,
        HeadcountBand::From1To2,
        HeadcountBand::From3To5,
        HeadcountBand::From6To9,
        HeadcountBand::From10To19,
        HeadcountBand::From20To49,
        HeadcountBand::From50To99,
        HeadcountBand::From100To199,
        HeadcountBand::From200To249,
        HeadcountBand::From250To499,
        HeadcountBand::From500To999,
        HeadcountBand::From1000To1999,
        HeadcountBand::From2000To4999,
        HeadcountBand::From5000To9999,
        HeadcountBand::From10000,
    ];

    /// The inclusive bounds of the band (the last one is open: its upper bound is `u32::MAX`).
    pub fn bounds(self) -> (u32, u32) {
        match self {
            HeadcountBand::None => (0, 0),
            HeadcountBand::From1To2 => (1, 2),
            HeadcountBand::From3To5 => (3, 5),
            HeadcountBand::From6To9 => (6, 9),
            HeadcountBand::From10To19 => (10, 19),
            HeadcountBand::From20To49 => (20, 49),
            HeadcountBand::From50To99 => (50, 99),
            HeadcountBand::From100To199 => (100, 199),
            HeadcountBand::From200To249 => (200, 249),
            HeadcountBand::From250To499 => (250, 499),
            HeadcountBand::From500To999 => (500, 999),
            HeadcountBand::From1000To1999 => (1000, 1999),
            HeadcountBand::From2000To4999 => (2000, 4999),
            HeadcountBand::From5000To9999 => (5000, 9999),
            HeadcountBand::From10000 => (10000, u32::MAX),
        }
    }

    /// The band as written in records and filters ("50-99").
    pub fn as_str(self) -> &'static str {
        match self {
            HeadcountBand::None => "0",
            HeadcountBand::From1To2 => "1-2",
            HeadcountBand::From3To5 => "3-5",
            HeadcountBand::From6To9 => "6-9",
            HeadcountBand::From10To19 => "10-19",
            HeadcountBand::From20To49 => "20-49",
            HeadcountBand::From50To99 => "50-99",
            HeadcountBand::From100To199 => "100-199",
            HeadcountBand::From200To249 => "200-249",
            HeadcountBand::From250To499 => "250-499",
            HeadcountBand::From500To999 => "500-999",
            HeadcountBand::From1000To1999 => "1000-1999",
            HeadcountBand::From2000To4999 => "2000-4999",
            HeadcountBand::From5000To9999 => "5000-9999",
            HeadcountBand::From10000 => "10000+",
        }
    }

    /// The band that contains `n` employees.
    pub fn for_headcount(n: u32) -> HeadcountBand {
        HeadcountBand::ALL.into_iter().find(|band| band.bounds().1 >= n).unwrap_or(HeadcountBand::From10000)
    }
}

/// A postal address located on the map of French communes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_STREET_CHARS))]
    pub street: Option<String>,
    /// French postal code, 5 digits.
    #[schemars(pattern(r"^[0-9]{5}$"))]
    pub postal_code: String,
    /// Commune name.
    #[schemars(length(min = 1, max = MAX_COMMUNE_CHARS))]
    pub commune: String,
    /// INSEE commune code ("69123", "2A004").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]{2}|2A|2B)[0-9]{3}$"))]
    pub commune_code: Option<String>,
    /// Département code ("69", "2A", "974"); derived from the commune when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]{2}|2A|2B|97[1-6])$"))]
    pub departement: Option<String>,
    /// Région name ("Auvergne-Rhône-Alpes"); derived from the commune when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Latitude in degrees (WGS 84).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -90.0, max = 90.0))]
    pub lat: Option<f64>,
    /// Longitude in degrees (WGS 84).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -180.0, max = 180.0))]
    pub lon: Option<f64>,
}

/// A company's link to a glossary concept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConceptActivation {
    /// Glossary concept id ("usinage.fraisage.5-axes").
    #[schemars(length(min = 1, max = MAX_CONCEPT_ID_CHARS))]
    pub id: String,
    /// Strength of the link, from 0 to 1.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub weight: f32,
    /// Where the link comes from.
    #[serde(default)]
    pub source: ActivationSource,
}

/// Where a concept activation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivationSource {
    /// Stated by the company.
    #[default]
    Declared,
    /// Inferred from the company's texts.
    Inferred,
    /// Confirmed by buyer feedback.
    Confirmed,
}

/// A node of the governed glossary: Métier → Opération → Variante.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Concept")]
pub struct Concept {
    /// Dotted slug path: "usinage", "usinage.fraisage", "usinage.fraisage.5-axes".
    #[schemars(
        pattern(r"^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*){0,2}$"),
        length(max = MAX_CONCEPT_ID_CHARS)
    )]
    pub id: String,
    /// Place in the hierarchy; must match the number of parts of the id.
    pub level: ConceptLevel,
    /// Id of the parent concept (absent for a métier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Preferred French label.
    #[schemars(length(min = 1, max = 200))]
    pub label: String,
    /// Preferred English label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub label_en: Option<String>,
    /// French synonyms and common phrasings.
    #[serde(default)]
    #[schemars(length(max = MAX_SYNONYMS), inner(length(min = 1, max = MAX_LABEL_CHARS)))]
    pub synonyms: Vec<String>,
    /// English synonyms.
    #[serde(default)]
    #[schemars(length(max = MAX_SYNONYMS), inner(length(min = 1, max = MAX_LABEL_CHARS)))]
    pub synonyms_en: Vec<String>,
    /// Related NAF rév.2 sous-classe codes.
    #[serde(default)]
    #[schemars(length(max = MAX_CONCEPT_NAF))]
    pub naf: Vec<String>,
    /// Related CPV 2008 codes (8 digits).
    #[serde(default)]
    #[schemars(length(max = MAX_CONCEPT_CPV))]
    pub cpv: Vec<String>,
    /// What the concept covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_CONCEPT_DESCRIPTION_CHARS))]
    pub description: Option<String>,
    /// Optional embedding of the concept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_VECTOR_DIMS))]
    pub embedding: Option<Vec<f32>>,
}

/// Level of a glossary concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConceptLevel {
    Metier,
    Operation,
    Variante,
}

impl ConceptLevel {
    /// Number of dotted parts in the id of a concept of this level.
    pub fn depth(self) -> usize {
        match self {
            ConceptLevel::Metier => 1,
            ConceptLevel::Operation => 2,
            ConceptLevel::Variante => 3,
        }
    }
}

/// An activity signal about a company (hiring, investment, red flags…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Signal")]
pub struct Signal {
    /// Unique id of the signal.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// Id of the company it is about.
    #[schemars(pattern(r"^[0-9]{9}$"))]
    pub company_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub signal_type: SignalType,
    /// When it happened.
    pub date: Date,
    /// Where it was seen ("bodacc", "press", "job_board", "crm"…).
    #[schemars(length(min = 1, max = 200))]
    pub source: String,
    /// Strength of the signal, from 0 to 10 (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 10.0))]
    pub weight: Option<f32>,
    /// Free text (job title, amount, contract…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SIGNAL_TEXT_CHARS))]
    pub text: Option<String>,
}

/// Types of activity signal. The last four are red flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalType {
    Hiring,
    Investment,
    NewSite,
    Fundraising,
    ContractWon,
    Expansion,
    /// Procédure collective: sauvegarde or redressement judiciaire.
    InsolvencyProceedings,
    Liquidation,
    Layoffs,
    SiteClosure,
}

impl SignalType {
    pub const ALL: [SignalType; 10] = [
        SignalType::Hiring,
        SignalType::Investment,
        SignalType::NewSite,
        SignalType::Fundraising,
        SignalType::ContractWon,
        SignalType::Expansion,
        SignalType::InsolvencyProceedings,
        SignalType::Liquidation,
        SignalType::Layoffs,
        SignalType::SiteClosure,
    ];

    pub fn is_red_flag(self) -> bool {
        matches!(
            self,
            SignalType::InsolvencyProceedings | SignalType::Liquidation | SignalType::Layoffs | SignalType::SiteClosure
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::Hiring => "hiring",
            SignalType::Investment => "investment",
            SignalType::NewSite => "new_site",
            SignalType::Fundraising => "fundraising",
            SignalType::ContractWon => "contract_won",
            SignalType::Expansion => "expansion",
            SignalType::InsolvencyProceedings => "insolvency_proceedings",
            SignalType::Liquidation => "liquidation",
            SignalType::Layoffs => "layoffs",
            SignalType::SiteClosure => "site_closure",
        }
    }
}

/// A press article about a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Article")]
pub struct Article {
    /// Unique id of the article.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// Id of the company it is about.
    #[schemars(pattern(r"^[0-9]{9}$"))]
    pub company_id: String,
    /// Publication date.
    pub date: Date,
    /// Headline.
    #[schemars(length(min = 1, max = 500))]
    pub title: String,
    /// Full text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARTICLE_BODY_CHARS))]
    pub body: Option<String>,
    /// Summary or lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_ARTICLE_SUMMARY_CHARS))]
    pub summary: Option<String>,
    /// Publication ("Le Progrès", "L'Usine Nouvelle"…).
    #[schemars(length(min = 1, max = 200))]
    pub source: String,
    /// Link to the article.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_URL_CHARS))]
    pub url: Option<String>,
    /// Event type detected in the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<SignalType>,
    /// Polarity detected in the text, from -1 (bad news) to 1 (good news).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1.0, max = 1.0))]
    pub sentiment: Option<f32>,
}

/// A buyer's judgement on one search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Feedback")]
pub struct Feedback {
    /// Id of the query (as returned by the match endpoint).
    #[schemars(length(min = 1, max = 128))]
    pub query_id: String,
    /// Id of the company judged.
    #[schemars(pattern(r"^[0-9]{9}$"))]
    pub company_id: String,
    /// Whether the company answers the need.
    pub relevant: bool,
    /// Free-text suggestion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub suggestion: Option<String>,
}

/// The observed outcome for a company after a date: the label the opportunity scorer learns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Outcome")]
pub struct Outcome {
    /// Id of the company.
    #[schemars(pattern(r"^[0-9]{9}$"))]
    pub company_id: String,
    /// The date the outcome is observed from.
    pub as_of: Date,
    /// Length of the observation window, in days.
    #[schemars(range(min = 1, max = 3660))]
    pub horizon_days: u32,
    /// Whether the company became an opportunity (a sourcing deal) within the window.
    pub converted: bool,
    /// The generator's true probability, for comparing a model with the oracle (demo data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub latent_probability: Option<f64>,
}
