//! What each route takes and answers, by Rust type: the one place the OpenAPI document learns
//! a route's parameters, body and answers. The route table (`auth::routes::ROUTES`) says which
//! routes exist and what they need; `tests/openapi.rs` fails when the two list different routes.

use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema};
use serde_json::{Value, json};

use crate::error::ErrorCode;

/// The document's tags, in the order a reader meets them.
pub const TAGS: &[(&str, &str)] = &[
    ("search", "Matching companies to a need, and typeahead."),
    ("companies", "The index's company records."),
    ("scoring", "Signals, articles and outcomes, and the opportunity scores learnt from them."),
    ("admin", "Reindexing, tasks, snapshots, priors, scoring tasks."),
    ("keys", "API keys, their usage and the audit log."),
    ("service", "Health, this document and the pages served to browsers."),
];

/// One operation of the API.
#[derive(Debug)]
pub struct Operation {
    pub method: &'static str,
    /// As the router names it (`/api/v1/companies/{id}`).
    pub path: &'static str,
    pub id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub parameters: Vec<Parameter>,
    pub body: Option<RequestBody>,
    /// The answers that are not errors.
    pub answers: Vec<Answer>,
    /// The handler's own error codes, beyond those of the layers every request crosses
    /// (`super::error_codes`).
    pub errors: &'static [ErrorCode],
}

/// A schema from a Rust type, through the side's generator.
pub type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// A path or query parameter.
#[derive(Debug)]
pub struct Parameter {
    pub name: &'static str,
    pub location: &'static str,
    pub required: bool,
    pub description: &'static str,
    pub schema: Value,
    pub example: Option<Value>,
}

impl Parameter {
    fn path(name: &'static str, description: &'static str, example: Value) -> Parameter {
        Parameter {
            name,
            location: "path",
            required: true,
            description,
            schema: json!({"type": "string"}),
            example: Some(example),
        }
    }

    fn query(name: &'static str, description: &'static str, schema: Value) -> Parameter {
        Parameter { name, location: "query", required: false, description, schema, example: None }
    }

    fn required(mut self) -> Parameter {
        self.required = true;
        self
    }

    fn example(mut self, example: Value) -> Parameter {
        self.example = Some(example);
        self
    }

    pub(super) fn to_value(&self) -> Value {
        let mut value = json!({
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "description": self.description,
            "schema": self.schema,
        });
        if let Some(example) = &self.example {
            value["example"] = example.clone();
        }
        value
    }
}

/// A request body: the media types it may have, each with its schema.
#[derive(Debug)]
pub struct RequestBody {
    pub required: bool,
    pub description: &'static str,
    pub content: Vec<Media>,
}

/// One media type of a body or an answer.
#[derive(Debug)]
pub struct Media {
    pub media_type: &'static str,
    pub schema: Option<SchemaOf>,
    pub example: Option<Value>,
}

impl Media {
    fn json(schema: SchemaOf) -> Media {
        Media { media_type: "application/json", schema: Some(schema), example: None }
    }

    /// NDJSON: one JSON value of `schema` per line (OpenAPI 3.1 describes one line).
    fn ndjson(schema: SchemaOf) -> Media {
        Media { media_type: "application/x-ndjson", schema: Some(schema), example: None }
    }

    fn example(mut self, example: Value) -> Media {
        self.example = Some(example);
        self
    }

    fn to_value(&self, generator: &mut SchemaGenerator) -> Value {
        let mut value = json!({});
        if let Some(schema) = self.schema {
            value["schema"] = schema(generator).to_value();
        }
        if let Some(example) = &self.example {
            value["example"] = example.clone();
        }
        value
    }
}

impl RequestBody {
    pub(super) fn to_value(&self, generator: &mut SchemaGenerator) -> Value {
        let mut content = serde_json::Map::new();
        for media in &self.content {
            content.insert(media.media_type.into(), media.to_value(generator));
        }
        json!({"required": self.required, "description": self.description, "content": content})
    }
}

/// An answer that is not an error.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub content: Option<Media>,
}

impl Answer {
    fn json(status: u16, description: &'static str, schema: SchemaOf) -> Answer {
        Answer { status, description, content: Some(Media::json(schema)) }
    }

    fn other(status: u16, description: &'static str, media_type: &'static str) -> Answer {
        Answer { status, description, content: Some(Media { media_type, schema: None, example: None }) }
    }

    fn example(mut self, example: Value) -> Answer {
        if let Some(media) = self.content.take() {
            self.content = Some(media.example(example));
        }
        self
    }

    pub(super) fn to_value(&self, generator: &mut SchemaGenerator) -> Value {
        let mut value = json!({"description": self.description});
        if let Some(media) = &self.content {
            value["content"] = json!({ media.media_type: media.to_value(generator) });
        }
        value
    }
}

/// The top list, under one of its two paths.
fn top_list(path: &'static str, id: &'static str, summary: &'static str, description: &'static str) -> Operation {
    Operation {
        method: "GET",
        path,
        id,
        tag: "scoring",
        summary,
        description,
        parameters: vec![
            Parameter::query("k", "How many (default 10, at most 100).", json!({"type": "integer", "minimum": 1})),
            Parameter::query(
                "naf",
                "A NAF section (A–U) or the start of a NAF code (\"25\", \"25.62B\").",
                json!({"type": "string"}),
            ),
            Parameter::query("region", "A région name (\"Auvergne-Rhône-Alpes\").", json!({"type": "string"})),
            Parameter::query(
                "headcount",
                "Comma-separated headcount bands (\"10-19,20-49\").",
                json!({"type": "string"}),
            ),
        ],
        body: None,
        answers: vec![Answer::json(200, "The top list.", of::<crate::http::scoring::TopOpportunities>)],
        errors: &[ErrorCode::InvalidField, ErrorCode::ModelUnavailable],
    }
}

/// A JSON body of type `T`, with an example.
fn json_body<T: JsonSchema>(description: &'static str, example: Value) -> Option<RequestBody> {
    Some(RequestBody { required: true, description, content: vec![Media::json(of::<T>).example(example)] })
}

/// One record as JSON or a batch of them as NDJSON.
fn records_body<T: JsonSchema>(description: &'static str, example: Value) -> Option<RequestBody> {
    Some(RequestBody {
        required: true,
        description,
        content: vec![Media::json(of::<T>).example(example), Media::ndjson(of::<T>)],
    })
}

/// A state change whose body may be empty but must be labelled JSON (a cross-site form cannot
/// send that content type).
fn empty_json_body<T: JsonSchema>(description: &'static str) -> Option<RequestBody> {
    Some(RequestBody { required: false, description, content: vec![Media::json(of::<T>)] })
}

/// The body of `/admin/snapshot` and `/admin/keys/{id}/rotate`: nothing, labelled JSON.
#[derive(Debug, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// An example company record (the README's).
pub fn company_example() -> Value {
    json!({
        "id": "732829320",
        "name": "Mécanique Précision Forez",
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

/// Every operation, in the order of the route table.
pub fn operations() -> Vec<Operation> {
    use crate::http;
    use marketlounge_index::record::{Article, Company, Outcome, Signal};
    use marketlounge_index::search::{MatchRequest, MatchResponse};
    let id = || Parameter::path("id", "The company's id (SIREN: nine digits).", json!("732829320"));
    vec![
        Operation {
            method: "GET",
            path: "/",
            id: "console",
            tag: "service",
            summary: "The demo search page",
            description: "One HTML page, its script and style inline and allowed by their hashes in its Content-Security-Policy.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::other(200, "The page.", "text/html")],
            errors: &[],
        },
        Operation {
            method: "GET",
            path: "/health",
            id: "health",
            tag: "service",
            summary: "Health and index size",
            description: "Whether the server is up, what the checksum scrub found, and the published index's size.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::json(200, "The server's health.", of::<http::Health>)],
            errors: &[],
        },
        Operation {
            method: "GET",
            path: "/metrics",
            id: "metrics",
            tag: "service",
            summary: "Prometheus metrics",
            description: "The Prometheus text format (names prefixed `marketlounge_`, no key or tenant as a label): HTTP requests and latency per route template, search phases, typeahead, index size, scoring model and drift, scheduled backups, process and build. Needs the `metrics` or `admin` scope.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::other(200, "The metrics.", "text/plain; version=0.0.4")],
            errors: &[],
        },
        Operation {
            method: "GET",
            path: "/openapi.json",
            id: "openapi",
            tag: "service",
            summary: "This document",
            description: "The OpenAPI 3.1 document of the API, generated from the server's code.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::json(200, "The OpenAPI document.", of::<serde_json::Map<String, Value>>)],
            errors: &[],
        },
        Operation {
            method: "GET",
            path: "/docs",
            id: "docs",
            tag: "service",
            summary: "The API reference pages",
            description: "This document rendered by Redoc, served from the binary (no CDN), with a per-answer nonce in its Content-Security-Policy.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::other(200, "The page.", "text/html")],
            errors: &[],
        },
        Operation {
            method: "GET",
            path: "/docs/redoc.standalone.js",
            id: "docsScript",
            tag: "service",
            summary: "The reference pages' script",
            description: "Redoc's standalone bundle, vendored at a pinned version (`ui/vendor/redoc/`).",
            parameters: vec![],
            body: None,
            answers: vec![Answer::other(200, "The script.", "text/javascript")],
            errors: &[],
        },
        Operation {
            method: "POST",
            path: "/api/v1/match",
            id: "match",
            tag: "search",
            summary: "Find companies for a need",
            description: "Interprets the query (language, concepts, places, constraints), retrieves candidates lexically, by vector and by concept, scores each on every component and fuses them. The body's unknown fields, wrong types and out-of-range values are 400s naming the field. At most as many queries run at once as the vector index has search slots; one that waits too long is answered 503 `overloaded` with `Retry-After`.",
            parameters: vec![],
            body: json_body::<MatchRequest>(
                "The query and its options.",
                json!({"query": "usinage titane aéronautique près de Lyon", "k": 10, "filters": {"certifications": ["EN 9100"]}, "explain": true}),
            ),
            answers: vec![Answer::json(
                200,
                "The page of ranked companies and the query's interpretation.",
                of::<MatchResponse>,
            )],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidField, ErrorCode::Overloaded, ErrorCode::Unavailable],
        },
        Operation {
            method: "GET",
            path: "/api/v1/suggest",
            id: "suggest",
            tag: "search",
            summary: "Typeahead completions",
            description: "Completions of the text typed so far: concepts, companies, places, queries and constraints, with typo tolerance. The query string is decoded byte-exactly: a parameter that is not UTF-8, an unknown parameter, or a `q` that is empty or too long is a 400 naming it.",
            parameters: vec![
                Parameter::query(
                    "q",
                    "The text typed so far (at most 256 bytes).",
                    json!({"type": "string", "minLength": 1, "maxLength": 256}),
                )
                .required()
                .example(json!("usinage ti")),
                Parameter::query(
                    "k",
                    "How many suggestions (default 8, at most 50: larger values are clamped).",
                    json!({"type": "integer", "minimum": 1}),
                ),
                Parameter::query(
                    "kinds",
                    "Comma-separated kinds to include: concept, company, location, query, constraint (default all).",
                    json!({"type": "string"}),
                )
                .example(json!("concept,company")),
                Parameter::query("fuzzy", "Whether typos are tolerated (default true).", json!({"type": "boolean"})),
            ],
            body: None,
            answers: vec![Answer::json(200, "The completions, best first.", of::<http::suggest::SuggestResponse>)],
            errors: &[ErrorCode::InvalidField],
        },
        Operation {
            method: "POST",
            path: "/api/v1/companies",
            id: "upsertCompanies",
            tag: "companies",
            summary: "Add or replace companies",
            description: "One JSON record (within `limits.max_line_bytes`) or an NDJSON batch (within `limits.max_body_bytes`). Every record is checked; any invalid one refuses the whole batch with every error listed by line. Writes are durable when answered and searchable within the `visible_within_ms` promised.",
            parameters: vec![],
            body: records_body::<Company>("A company record, or one per line.", company_example()),
            answers: vec![
                Answer::json(200, "The records were written.", of::<http::companies::Acknowledged>)
                    .example(json!({"acknowledged": 1, "seq": 42, "visible_within_ms": 1000})),
            ],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidRecord],
        },
        Operation {
            method: "GET",
            path: "/api/v1/companies/{id}",
            id: "getCompany",
            tag: "companies",
            summary: "One company's record",
            description: "The record as stored.",
            parameters: vec![id()],
            body: None,
            answers: vec![Answer::json(200, "The record.", of::<Company>)],
            errors: &[ErrorCode::NotFound],
        },
        Operation {
            method: "DELETE",
            path: "/api/v1/companies/{id}",
            id: "deleteCompany",
            tag: "companies",
            summary: "Remove a company",
            description: "Durable when answered; the company leaves search results with the next flush.",
            parameters: vec![id()],
            body: None,
            answers: vec![Answer::json(200, "The company was deleted.", of::<http::companies::Deleted>)],
            errors: &[ErrorCode::NotFound],
        },
        Operation {
            method: "POST",
            path: "/api/v1/signals",
            id: "postSignals",
            tag: "scoring",
            summary: "Store dated signals",
            description: "One JSON record or an NDJSON batch, stored in one transaction; any invalid record refuses the batch.",
            parameters: vec![],
            body: records_body::<Signal>(
                "A signal, or one per line.",
                json!({"id": "s-1", "company_id": "732829320", "date": "2026-03-02", "type": "hiring", "source": "job_board", "weight": 4.0}),
            ),
            answers: vec![Answer::json(200, "The records were stored.", of::<http::scoring::Stored>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidRecord, ErrorCode::BadRequest],
        },
        Operation {
            method: "POST",
            path: "/api/v1/articles",
            id: "postArticles",
            tag: "scoring",
            summary: "Store press articles",
            description: "One JSON record or an NDJSON batch. An article without an event type gets one read from its text; the answer says which.",
            parameters: vec![],
            body: records_body::<Article>(
                "An article, or one per line.",
                json!({"id": "a-1", "company_id": "732829320", "date": "2026-03-02", "source": "Le Progrès", "title": "Mécanique Précision Forez investit dans une nouvelle usine"}),
            ),
            answers: vec![Answer::json(200, "The records were stored.", of::<http::scoring::Stored>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidRecord, ErrorCode::BadRequest],
        },
        Operation {
            method: "POST",
            path: "/api/v1/outcomes",
            id: "postOutcomes",
            tag: "scoring",
            summary: "Store observed outcomes",
            description: "One JSON record or an NDJSON batch: what became of a company (the labels the scorer learns from).",
            parameters: vec![],
            body: records_body::<Outcome>(
                "An outcome, or one per line.",
                json!({"company_id": "732829320", "as_of": "2026-06-30", "horizon_days": 180, "converted": true}),
            ),
            answers: vec![Answer::json(200, "The records were stored.", of::<http::scoring::Stored>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidRecord, ErrorCode::BadRequest],
        },
        Operation {
            method: "GET",
            path: "/api/v1/companies/{id}/opportunity",
            id: "companyOpportunity",
            tag: "scoring",
            summary: "A company's opportunity score, explained",
            description: "The current model's calibrated probability as of a date, with its exact explanation: baseline + Σ contributions = logit.",
            parameters: vec![
                id(),
                Parameter::query(
                    "as_of",
                    "The date to score as of (YYYY-MM-DD; default the last apply's, else today).",
                    json!({"type": "string", "format": "date"}),
                ),
                Parameter::query(
                    "top",
                    "How many contributions to show (default 5).",
                    json!({"type": "integer", "minimum": 0}),
                ),
            ],
            body: None,
            answers: vec![Answer::json(200, "The score and its explanation.", of::<http::scoring::Opportunity>)],
            errors: &[ErrorCode::InvalidField, ErrorCode::NotFound, ErrorCode::ModelUnavailable],
        },
        top_list(
            "/api/v1/opportunities/top",
            "topOpportunities",
            "The best opportunities",
            "The companies ranked highest at the last apply, each explained by the current model.",
        ),
        top_list(
            "/api/v1/top-opportunities",
            "topOpportunitiesByDocumentPath",
            "The best opportunities (the scoring document's path)",
            "The same list as `GET /api/v1/opportunities/top`, under the path the opportunity scoring document names.",
        ),
        Operation {
            method: "POST",
            path: "/api/v1/score",
            id: "score",
            tag: "scoring",
            summary: "Score one company, indexed or given whole",
            description: "One company's calibrated probability as of a date and its exact explanation: an indexed company from its stored history (`company_id`), or a company given whole with its own signals and articles (`company`, e.g. a prospect not indexed yet), which gives the same bits as the stored scores for the same record and events. Nothing is written.",
            parameters: vec![],
            body: json_body::<http::scoring::ScoreRequest>(
                "An indexed company's id, or a whole company record with its events.",
                json!({"company_id": "552100554", "as_of": "2026-06-30", "top": 3}),
            ),
            answers: vec![Answer::json(200, "The score and its explanation.", of::<http::scoring::Scored>)],
            errors: &[
                ErrorCode::InvalidJson,
                ErrorCode::InvalidField,
                ErrorCode::InvalidRecord,
                ErrorCode::NotFound,
                ErrorCode::ModelUnavailable,
            ],
        },
        Operation {
            method: "POST",
            path: "/admin/reindex",
            id: "reindex",
            tag: "admin",
            summary: "Rebuild the index from a full export",
            description: "A background task that builds a new generation from every company (an NDJSON body, plain or gzip, or a file inside `admin.import_dir`) and publishes it, unless it would drop more of the live documents than `index.reindex_max_drop_share` allows. Poll the task at `status_url`.",
            parameters: vec![Parameter::query(
                "allow_shrink",
                "Publish even if the new generation drops more of the live documents than allowed.",
                json!({"type": "boolean"}),
            )],
            body: Some(RequestBody {
                required: true,
                description: "Every company, one per line, or the path of a file inside the import directory.",
                content: vec![
                    Media::ndjson(of::<Company>),
                    Media::json(of::<http::admin::ReindexRequest>)
                        .example(json!({"companies_path": "companies.ndjson.gz"})),
                ],
            }),
            answers: vec![
                Answer::json(202, "The task was started.", of::<http::admin::Accepted>)
                    .example(json!({"task_id": 1, "status_url": "/admin/tasks/1"})),
            ],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidField, ErrorCode::BadRequest, ErrorCode::Conflict],
        },
        Operation {
            method: "GET",
            path: "/admin/tasks/{task_id}",
            id: "task",
            tag: "admin",
            summary: "A background task's progress",
            description: "Status, phase, progress and result of a reindex or scoring task (the last 100 finished ones are kept).",
            parameters: vec![Parameter::path("task_id", "The task's id, from the answer that started it.", json!("1"))],
            body: None,
            answers: vec![Answer::json(200, "The task.", of::<http::admin::TaskInfo>)],
            errors: &[ErrorCode::NotFound],
        },
        Operation {
            method: "POST",
            path: "/admin/snapshot",
            id: "snapshot",
            tag: "admin",
            summary: "Back up the published index",
            description: "A consistent copy of the published generation and the access state under `DATA/snapshots/`, if the disk has `admin.snapshot_min_free_mb` free; only the newest `admin.snapshot_retention` are kept.",
            parameters: vec![],
            body: empty_json_body::<Empty>("Nothing (the content type must still be JSON)."),
            answers: vec![Answer::json(201, "The snapshot was taken.", of::<http::admin::SnapshotTaken>)],
            errors: &[ErrorCode::InsufficientStorage],
        },
        Operation {
            method: "POST",
            path: "/admin/priors",
            id: "priors",
            tag: "admin",
            summary: "Replace opportunity priors",
            description: "NDJSON `{\"id\", \"opportunity\"}` lines; any invalid line changes nothing.",
            parameters: vec![],
            body: Some(RequestBody {
                required: true,
                description: "One prior per line.",
                content: vec![Media::ndjson(of::<crate::indexing::PriorLine>)],
            }),
            answers: vec![Answer::json(200, "The priors were applied.", of::<http::admin::PriorsRefreshed>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidRecord, ErrorCode::BadRequest],
        },
        Operation {
            method: "GET",
            path: "/admin/scoring/drift",
            id: "scoringDrift",
            tag: "admin",
            summary: "Score and feature drift at the last apply",
            description: "Population stability of the scores and of each feature against the training data.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::json(200, "The drift report.", of::<http::scoring::Drift>)],
            errors: &[ErrorCode::ModelUnavailable],
        },
        Operation {
            method: "POST",
            path: "/admin/scoring/train",
            id: "scoringTrain",
            tag: "admin",
            summary: "Train a new opportunity model",
            description: "A background task: learns from the outcomes observed by `until` (default today), calibrates on the latest slice and makes the model current.",
            parameters: vec![],
            body: empty_json_body::<http::scoring::ScoringJob>("`{\"until\": \"YYYY-MM-DD\"}`, or nothing."),
            answers: vec![Answer::json(202, "The task was started.", of::<http::admin::Accepted>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidField, ErrorCode::Conflict],
        },
        Operation {
            method: "POST",
            path: "/admin/scoring/apply",
            id: "scoringApply",
            tag: "admin",
            summary: "Score every company",
            description: "A background task: scores every company as of `as_of` (default today) with the current model, stores the ranking and refreshes the search priors.",
            parameters: vec![],
            body: empty_json_body::<http::scoring::ScoringJob>("`{\"as_of\": \"YYYY-MM-DD\"}`, or nothing."),
            answers: vec![Answer::json(202, "The task was started.", of::<http::admin::Accepted>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidField, ErrorCode::Conflict],
        },
        Operation {
            method: "POST",
            path: "/admin/keys",
            id: "createKey",
            tag: "keys",
            summary: "Create an API key",
            description: "The new key's record and its secret `key`, shown this once.",
            parameters: vec![],
            body: json_body::<http::keys::CreateKey>(
                "The key's name, scopes and limits.",
                json!({"name": "shop front", "scopes": ["search", "suggest"], "publishable": true, "origins": ["https://shop.example"], "rate": 20.0}),
            ),
            answers: vec![Answer::json(201, "The key was created.", of::<http::keys::NewKey>)],
            errors: &[ErrorCode::InvalidJson, ErrorCode::InvalidField, ErrorCode::Conflict],
        },
        Operation {
            method: "GET",
            path: "/admin/keys",
            id: "listKeys",
            tag: "keys",
            summary: "Every API key",
            description: "The records, never a secret or a hash.",
            parameters: vec![],
            body: None,
            answers: vec![Answer::json(200, "The keys.", of::<http::keys::KeyList>)],
            errors: &[ErrorCode::Conflict],
        },
        Operation {
            method: "DELETE",
            path: "/admin/keys/{id}",
            id: "revokeKey",
            tag: "keys",
            summary: "Revoke an API key",
            description: "The key stops working at once.",
            parameters: vec![Parameter::path("id", "The key's id.", json!("k_01"))],
            body: None,
            answers: vec![Answer::json(200, "The revoked key's record.", of::<crate::auth::store::KeyRecord>)],
            errors: &[ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::InvalidField],
        },
        Operation {
            method: "POST",
            path: "/admin/keys/{id}/rotate",
            id: "rotateKey",
            tag: "keys",
            summary: "Give an API key a new secret",
            description: "The old secret stops working at once; the new one is shown this once.",
            parameters: vec![Parameter::path("id", "The key's id.", json!("k_01"))],
            body: empty_json_body::<Empty>("Nothing (the content type must still be JSON)."),
            answers: vec![Answer::json(200, "The key's record and its new secret.", of::<http::keys::NewKey>)],
            errors: &[ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::InvalidField],
        },
        Operation {
            method: "GET",
            path: "/admin/usage",
            id: "usage",
            tag: "keys",
            summary: "Usage per key",
            description: "Buckets of requests by scope, results, errors and 429s, per key or for one key, the counts not flushed yet included. `from` defaults to the start of the current UTC month, `to` to now.",
            parameters: vec![
                Parameter::query("key", "One key's id.", json!({"type": "string"})),
                Parameter::query("from", "RFC 3339 time or date.", json!({"type": "string"})),
                Parameter::query("to", "RFC 3339 time or date.", json!({"type": "string"})),
                Parameter::query(
                    "granularity",
                    "hour, day or month (default day).",
                    json!({"type": "string", "enum": ["hour", "day", "month"]}),
                ),
            ],
            body: None,
            answers: vec![Answer::json(200, "The usage report.", of::<http::usage::UsageAnswer>)],
            errors: &[ErrorCode::InvalidField, ErrorCode::NotFound],
        },
        Operation {
            method: "GET",
            path: "/admin/audit",
            id: "audit",
            tag: "keys",
            summary: "The audit log",
            description: "Admin state changes and deletes, newest first.",
            parameters: vec![
                Parameter::query("from", "RFC 3339 time or date.", json!({"type": "string"})),
                Parameter::query("to", "RFC 3339 time or date.", json!({"type": "string"})),
                Parameter::query(
                    "limit",
                    "At most this many entries (1 to 1000, default 100).",
                    json!({"type": "integer", "minimum": 1, "maximum": 1000}),
                ),
            ],
            body: None,
            answers: vec![Answer::json(200, "The entries.", of::<http::usage::AuditLog>)],
            errors: &[ErrorCode::InvalidField],
        },
    ]
}
