//! The OpenAPI 3.1 document of the HTTP API, built from the code: the route table
//! (`auth::routes::ROUTES`: which routes exist and the scope each needs), the operations table
//! (`operations.rs`: what each route takes and answers, by Rust type), the request and response
//! types' JSON Schemas (`schemars`, their doc comments as descriptions) and the error table
//! (`error::ErrorCode`: every code, its status and its doc comment).
//!
//! OpenAPI 3.1's schema objects are JSON Schema 2020-12, which is what `schemars` writes, so no
//! second description of a type exists anywhere: `GET /openapi.json` serves this document,
//! `marketlounge openapi --write schema/openapi.json` commits it, and `tests/openapi.rs` fails
//! when the committed copy, the router or the answers the test suite receives disagree with it.

mod operations;
mod samples;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use schemars::generate::{Contract, SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

use crate::auth::Scope;
use crate::auth::routes::{Access, ROUTES};
use crate::error::ErrorCode;

pub use operations::{Operation, company_example, operations};

/// The security schemes a key is presented with (`Authorization: Bearer` or `X-API-Key`).
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "apiKey";

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// The document as `marketlounge openapi` prints it and `schema/openapi.json` holds it.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(document()).expect("the document serialises");
    text.push('\n');
    text
}

/// Schemas of request bodies (what the server accepts: serde's deserialising rules) and of
/// answers (what it sends: its serialising rules) differ for one type (defaults, skipped
/// fields), so each side has its own generator.
struct Generators {
    requests: SchemaGenerator,
    responses: SchemaGenerator,
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
            settings.contract = contract;
        })
        .into_generator()
}

fn build() -> Value {
    let mut generators =
        Generators { requests: generator(Contract::Deserialize), responses: generator(Contract::Serialize) };
    let operations = operations();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for operation in &operations {
        let access = crate::auth::routes::access(operation.method, operation.path).unwrap_or_else(|| {
            panic!("{} {} is documented but not in auth::routes::ROUTES", operation.method, operation.path)
        });
        let item = paths.entry(operation.path).or_default();
        item.insert(operation.method.to_ascii_lowercase(), operation_object(operation, access, &mut generators));
    }
    let mut schemas = generators.responses.take_definitions(true);
    // An answer holds the fields its type names and no other, so that a field added to a
    // response type without its schema changing fails the contract test. (Request types say
    // so themselves with `deny_unknown_fields`, which schemars reads.)
    for schema in schemas.values_mut() {
        if let Some(object) = schema.as_object_mut()
            && object.contains_key("properties")
            && !object.contains_key("additionalProperties")
        {
            object.insert("unevaluatedProperties".into(), Value::Bool(false));
        }
    }
    let requests = generators.requests.take_definitions(true);
    // A type whose request schema differs from its response schema is named `…Input` on the
    // request side; the references to it are renamed with it.
    let renamed: BTreeMap<String, String> = requests
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|other| other != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Input")))
        .collect();
    for (name, mut schema) in requests {
        rename_refs(&mut schema, &renamed);
        schemas.insert(renamed.get(&name).cloned().unwrap_or(name), schema);
    }
    schemas.insert("ErrorCode".into(), error_code_schema().to_value());
    schemas.insert("Error".into(), error_schema());
    let mut paths_object = Map::new();
    for (path, mut item) in paths {
        for operation in item.values_mut() {
            if let Some(body) = operation.get_mut("requestBody") {
                rename_refs(body, &renamed);
            }
        }
        paths_object.insert(path.to_owned(), Value::Object(item));
    }
    let schemas: BTreeMap<String, Value> = schemas.into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "MarketLounge API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Hybrid search over French industrial companies: matching, typeahead, the index, opportunity scores.",
            "description": INFO_DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": operations::TAGS.iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "paths": paths_object,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`mlk_sec_…`, `mlk_pub_…`) or a signed token, as `Authorization: Bearer <key>`. Each operation lists the scope its key must hold.",
                },
                API_KEY: {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "The same key in its own header.",
                },
            },
        },
    })
}

const INFO_DESCRIPTION: &str = "\
Every route but `/`, `/health`, `/docs` and `/openapi.json` needs an API key holding the scope the \
operation names, unless the server runs in development mode (no server secret, loopback only). \
Keys are made with `marketlounge keys create` or `POST /admin/keys`.

Every error is `{\"error\": {\"code\", \"message\", \"details\"?}}` with a stable `code` \
(`components/schemas/ErrorCode`); each operation lists the statuses it can answer and, under \
each, the codes.";

/// The path item's operation for one route.
fn operation_object(operation: &Operation, access: Access, generators: &mut Generators) -> Value {
    let mut object = Map::new();
    object.insert("operationId".into(), operation.id.into());
    object.insert("tags".into(), json!([operation.tag]));
    object.insert("summary".into(), operation.summary.into());
    object.insert("description".into(), operation.description.into());
    if !operation.parameters.is_empty() {
        let parameters: Vec<Value> = operation.parameters.iter().map(|p| p.to_value()).collect();
        object.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = &operation.body {
        object.insert("requestBody".into(), body.to_value(&mut generators.requests));
    }
    let mut responses = Map::new();
    for answer in &operation.answers {
        responses.insert(answer.status.to_string(), answer.to_value(&mut generators.responses));
    }
    for status in error_statuses(operation, access) {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{}", error_response_name(status))}),
        );
    }
    object.insert("responses".into(), Value::Object(responses));
    object.insert("security".into(), security(access));
    if let Some(scope) = scope_of(access) {
        object.insert("x-scope".into(), scope.into());
    }
    if let Some(samples) = samples::code_samples(operation.id) {
        object.insert("x-codeSamples".into(), samples);
    }
    Value::Object(object)
}

/// What the access layer asks: nothing (`[]`), or a key holding the scope, by either header.
fn security(access: Access) -> Value {
    let scopes: Vec<&str> = match access {
        Access::Open => return json!([]),
        Access::Needs(scope) => vec![scope.as_str()],
        Access::Metrics => vec![Scope::Metrics.as_str(), Scope::Admin.as_str()],
    };
    let mut requirements = Vec::new();
    for scope in scopes {
        requirements.push(json!({ BEARER: [scope] }));
        requirements.push(json!({ API_KEY: [scope] }));
    }
    Value::Array(requirements)
}

/// The scope an operation's key must hold, as a plain extension for readers that do not show
/// security requirements' scopes.
fn scope_of(access: Access) -> Option<&'static str> {
    match access {
        Access::Open => None,
        Access::Needs(scope) => Some(scope.as_str()),
        Access::Metrics => Some("metrics or admin"),
    }
}

/// The error codes an operation can answer: those of the layers every request crosses, of the
/// access check (for a route that needs a key), of reading a body (for one that takes one),
/// and the handler's own.
pub fn error_codes(operation: &Operation, access: Access) -> BTreeSet<ErrorCodeKey> {
    let mut codes: BTreeSet<ErrorCodeKey> = BTreeSet::new();
    // Any request: a request head hyper cannot read or that is too large, a `Host` not
    // allowed, the request timeout, a panic or failure, the connection limit.
    for code in [
        ErrorCode::BadRequest,
        ErrorCode::HeaderTooLarge,
        ErrorCode::HostNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::Internal,
        ErrorCode::TooManyConnections,
    ] {
        codes.insert(ErrorCodeKey(code));
    }
    if access != Access::Open {
        for code in [
            ErrorCode::MissingApiKey,
            ErrorCode::InvalidApiKey,
            ErrorCode::Forbidden,
            ErrorCode::RateLimited,
            ErrorCode::QuotaExceeded,
        ] {
            codes.insert(ErrorCodeKey(code));
        }
        if crate::auth::routes::cross_origin(access) {
            codes.insert(ErrorCodeKey(ErrorCode::OriginNotAllowed));
        }
    }
    if operation.body.is_some() {
        // Any body is read within a limit and must have a content type the route takes.
        codes.insert(ErrorCodeKey(ErrorCode::PayloadTooLarge));
        codes.insert(ErrorCodeKey(ErrorCode::UnsupportedMediaType));
    }
    for code in operation.errors {
        codes.insert(ErrorCodeKey(*code));
    }
    codes
}

/// The statuses of [`error_codes`].
fn error_statuses(operation: &Operation, access: Access) -> BTreeSet<u16> {
    error_codes(operation, access).into_iter().map(|code| code.0.status().as_u16()).collect()
}

/// [`ErrorCode`] ordered by its table position, for sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeKey(pub ErrorCode);

impl ErrorCodeKey {
    fn position(self) -> usize {
        ErrorCode::ALL.iter().position(|code| *code == self.0).expect("every code is in ALL")
    }
}

impl PartialOrd for ErrorCodeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ErrorCodeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.position().cmp(&other.position())
    }
}

/// `components/responses` names: one response per error status.
fn error_response_name(status: u16) -> String {
    format!("Error{status}")
}

/// One response per status of the error table: the error body, its `code` narrowed to the
/// codes of that status (`json_errors` keeps a framework's own 4xx status, e.g. 411, with
/// `bad_request`, which is not an operation's documented answer).
fn error_responses() -> Value {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for &code in ErrorCode::ALL {
        by_status.entry(code.status().as_u16()).or_default().push(code);
    }
    let mut responses = Map::new();
    for (status, codes) in by_status {
        let reason = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let list: Vec<String> = codes
            .iter()
            .map(|code| format!("- `{}`: {}", code.as_str(), code.description().trim().replace('\n', " ")))
            .collect();
        let names: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
        let mut headers = Map::new();
        if codes.iter().any(|code| code.retry_later() || *code == ErrorCode::RateLimited) {
            headers.insert(
                "Retry-After".into(),
                json!({"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}),
            );
        }
        let mut response = json!({
            "description": format!("{reason}\n\n{}", list.join("\n")),
            "content": {"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Error"}],
                "properties": {"error": {"properties": {"code": {"enum": names}}}},
            }}},
        });
        if !headers.is_empty() {
            response["headers"] = Value::Object(headers);
        }
        responses.insert(error_response_name(status), response);
    }
    Value::Object(responses)
}

/// A failed task's `error_code` and the error body's `code` are this one schema.
impl schemars::JsonSchema for ErrorCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ErrorCode".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        error_code_schema()
    }
}

/// Every code of the table, with its description.
fn error_code_schema() -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "description": "A stable error code; never renamed, so clients may match on it.",
        "oneOf": ErrorCode::ALL.iter().map(|code| json!({
            "const": code.as_str(),
            "description": format!("HTTP {}. {}", code.status().as_u16(), code.description().trim().replace('\n', " ")),
        })).collect::<Vec<_>>(),
    })
}

/// The body of every error answer (`ApiError::body`).
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "Every error the server answers.",
        "required": ["error"],
        "additionalProperties": false,
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": false,
            "properties": {
                "code": {"$ref": "#/components/schemas/ErrorCode"},
                "message": {
                    "type": "string",
                    "description": "For people: what went wrong, naming the field, parameter or line.",
                    "maxLength": crate::error::MAX_MESSAGE_CHARS + 1,
                },
                "details": {
                    "description": "Structured details: the invalid field or parameter (`field`), every invalid line of a batch (`errors`, `error_count`), the scope needed (`scope`), the limit that refused (`policy`)…",
                },
            },
        }},
        "example": {"error": {"code": "invalid_field", "message": "field k: must be at least 1", "details": {"field": "k"}}},
    })
}

/// Renames `#/components/schemas/{old}` references to `{new}`.
fn rename_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    const PREFIX: &str = "#/components/schemas/";
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix(PREFIX)
                && let Some(new) = renamed.get(name)
            {
                *reference = format!("{PREFIX}{new}");
            }
            for child in map.values_mut() {
                rename_refs(child, renamed);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|child| rename_refs(child, renamed)),
        _ => {}
    }
}

/// The schema of the answer an operation gives with `status` and a JSON body, if the document
/// has one: what the contract test validates a received answer against. The `$ref`s inside
/// point into [`document`]'s `components`.
pub fn response_schema(method: &str, path: &str, status: u16) -> Option<Value> {
    let operation = document().get("paths")?.get(path)?.get(method.to_ascii_lowercase())?;
    let mut response = operation.get("responses")?.get(status.to_string())?;
    if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        let name = reference.strip_prefix("#/components/responses/")?;
        response = document().get("components")?.get("responses")?.get(name)?;
    }
    response.get("content")?.get("application/json")?.get("schema").cloned()
}

/// The documented path template a concrete path matches (`/api/v1/companies/42` →
/// `/api/v1/companies/{id}`), with the methods documented for it.
pub fn path_template(path: &str) -> Option<(&'static str, Vec<&'static str>)> {
    let path = path.split('?').next().unwrap_or(path);
    let matches = |template: &str| crate::auth::routes::template_matches(template, path);
    // A literal segment wins over a parameter (`/admin/keys/{id}/rotate` vs none here, but
    // the router's rule), so templates with fewer parameters are tried first.
    let mut templates: Vec<&'static str> = ROUTES.iter().map(|(_, p, _)| *p).collect();
    templates.sort_by_key(|p| (p.matches('{').count(), *p));
    templates.dedup();
    let template = templates.into_iter().find(|t| matches(t))?;
    let methods = ROUTES.iter().filter(|(_, p, _)| *p == template).map(|(m, _, _)| *m).collect();
    Some((template, methods))
}
