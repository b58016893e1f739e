//! The contract test: every answer the HTTP tests receive goes through [`check`], which fails
//! the test unless the OpenAPI document (`marketlounge::openapi`, the one `/openapi.json`
//! serves and `schema/openapi.json` commits) documents its status for the route and method
//! (the request's path matched to a route template), and, for a JSON body, the body is valid
//! against the schema documented for that status. So the document cannot drift from what the
//! server sends: a new field, status or error code the document does not describe fails the
//! test that met it.
//!
//! Requests to no route are answered 404 and to a route with another method 405 (the router's
//! fallbacks, which no operation describes): their bodies are checked against the documented
//! error responses of those statuses.
//!
//! Each test process counts what it checked in `CARGO_TARGET_TMPDIR/contract/` (one file per
//! process, summed by `tools/test` for the closing note).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// Validators by (method, template, status), compiled once per process.
type Validators = Mutex<HashMap<(String, String, u16), Arc<jsonschema::Validator>>>;

static CHECKED: AtomicU64 = AtomicU64::new(0);

/// The statuses answered before routing, whatever the route: a request head hyper cannot read
/// (400) or too large (431), a `Host` not allowed (421), a declared body over the limit (413),
/// the timeout (408), a failure (500), the connection limit (503). Every operation documents
/// them; a request to no route or with another method can get them too.
const BEFORE_ROUTING: [u16; 7] = [400, 408, 413, 421, 431, 500, 503];

/// Fails unless the document describes this answer: `method` and `uri` as sent (a query string
/// is ignored), the status, the `Content-Type` and the body as received.
pub fn check(method: &str, uri: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let head = method.eq_ignore_ascii_case("HEAD");
    let method = if head { "GET".to_owned() } else { method.to_ascii_uppercase() };
    let path = uri.split('?').next().unwrap_or(uri);
    let is_json = content_type.is_some_and(|t| t.starts_with("application/json"));
    let schema = match marketlounge::openapi::path_template(path) {
        None => {
            assert!(
                status == 404 || BEFORE_ROUTING.contains(&status),
                "{method} {path} matches no documented route but was answered {status}"
            );
            error_schema(status)
        }
        Some((template, methods)) if !methods.contains(&method.as_str()) => {
            // CORS preflights are the browser's protocol, answered by the CORS layer before
            // routing (no operation describes them): no body, or a refusal in the error shape.
            if method == "OPTIONS" {
                if body.is_empty() {
                    assert!(status < 300, "OPTIONS {template} answered {status} without a body");
                    count();
                    return;
                }
                error_schema(status)
            } else {
                assert!(
                    status == 405 || BEFORE_ROUTING.contains(&status),
                    "{method} {template} is not documented but was answered {status}"
                );
                error_schema(status)
            }
        }
        Some((template, _)) => {
            let operation = &marketlounge::openapi::document()["paths"][template][method.to_ascii_lowercase()];
            let responses = &operation["responses"];
            let Some(response) = responses.get(status.to_string()) else {
                panic!(
                    "{method} {template} answered {status}, which the document does not list for it ({:?}): {}",
                    responses.as_object().map(|r| r.keys().collect::<Vec<_>>()),
                    String::from_utf8_lossy(&body[..body.len().min(500)])
                );
            };
            let documented_json =
                response.get("$ref").is_some() || response["content"].get("application/json").is_some();
            // HEAD is GET without the body: its status and type are all there is to check.
            if !is_json || head && body.is_empty() {
                assert!(
                    !documented_json || head,
                    "{method} {template} answered {status} with {content_type:?}, documented as JSON"
                );
                count();
                return;
            }
            assert!(documented_json, "{method} {template} answered {status} with JSON, documented otherwise");
            validator(&method, template, status)
        }
    };
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|err| {
        panic!(
            "{method} {path} answered {status} with a body that is not JSON ({err}): {:?}",
            String::from_utf8_lossy(body)
        )
    });
    let errors: Vec<String> =
        schema.iter_errors(&value).map(|error| format!("{} at {}", error, error.instance_path())).take(5).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} with a body the OpenAPI document does not describe:\n{}\nbody: {}",
        errors.join("\n"),
        truncate(&value.to_string())
    );
    count();
}

/// Answers checked by this process so far.
pub fn checked() -> u64 {
    CHECKED.load(Ordering::Relaxed)
}

fn count() {
    // Tests run on several threads: one write at a time, of the count as it stands then.
    static WRITING: Mutex<()> = Mutex::new(());
    CHECKED.fetch_add(1, Ordering::Relaxed);
    let _writing = WRITING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let n = CHECKED.load(Ordering::Relaxed);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("contract");
    let _ = std::fs::create_dir_all(&dir);
    let test = std::env::args().next().and_then(|a| a.rsplit('/').next().map(str::to_owned)).unwrap_or_default();
    // One file per process, rewritten with the running count: the last write is the total.
    let _ = std::fs::write(dir.join(format!("{test}-{}.count", std::process::id())), format!("{n}\n"));
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(2000) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn validators() -> &'static Validators {
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    VALIDATORS.get_or_init(Default::default)
}

/// The documented response schema of an operation's status, compiled with the document's
/// `components` beside it so that its `#/components/...` references resolve.
fn validator(method: &str, template: &str, status: u16) -> Arc<jsonschema::Validator> {
    let key = (method.to_owned(), template.to_owned(), status);
    if let Some(validator) = validators().lock().unwrap().get(&key) {
        return Arc::clone(validator);
    }
    let schema = marketlounge::openapi::response_schema(method, template, status)
        .unwrap_or_else(|| panic!("{method} {template} {status}: no JSON schema in the document"));
    let validator = Arc::new(compile(schema));
    validators().lock().unwrap().insert(key, Arc::clone(&validator));
    validator
}

/// The schema of the document's error response for `status` (`components/responses`).
fn error_schema(status: u16) -> Arc<jsonschema::Validator> {
    let key = ("*".to_owned(), "*".to_owned(), status);
    if let Some(validator) = validators().lock().unwrap().get(&key) {
        return Arc::clone(validator);
    }
    let document = marketlounge::openapi::document();
    let schema =
        document["components"]["responses"][format!("Error{status}")]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "the document has no error response for {status}");
    let validator = Arc::new(compile(schema));
    validators().lock().unwrap().insert(key, Arc::clone(&validator));
    validator
}

fn compile(mut schema: Value) -> jsonschema::Validator {
    let document = marketlounge::openapi::document();
    schema["components"] = document["components"].clone();
    jsonschema::draft202012::new(&schema).unwrap_or_else(|err| panic!("a documented schema does not compile: {err}"))
}
