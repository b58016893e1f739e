//! The OpenAPI document: the committed `schema/openapi.json` is what the code generates, it
//! documents exactly the router's routes (the route table, itself checked against the router
//! by `auth::routes`), its examples are valid against their own schemas, and the server serves
//! it at `/openapi.json`.

mod common;

use std::collections::BTreeSet;

use marketlounge::auth::routes::{Access, ROUTES};
use marketlounge::error::ErrorCode;
use marketlounge::openapi::document;
use serde_json::Value;

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/openapi.json");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == marketlounge::openapi::document_text(),
        "schema/openapi.json differs from the code: run `marketlounge openapi --write schema/openapi.json` and review the diff"
    );
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routed: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(method, path, _)| (method.to_ascii_lowercase(), path.to_string())).collect();
    let mut documented = BTreeSet::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routed but not documented: {missing:?}; documented but not routed: {extra:?}"
    );
    println!("routes documented / routes served: {} / {}", documented.len(), routed.len());
}

/// Each operation says what its key needs, from the route table, and lists the statuses of the
/// layers it crosses: 401/403/429 behind the access check, 413/415 for a body.
#[test]
fn security_and_statuses_follow_the_route_table() {
    for (method, path, access) in ROUTES {
        let operation = &document()["paths"][*path][method.to_ascii_lowercase()];
        let statuses: BTreeSet<&str> = operation["responses"].as_object().unwrap().keys().map(String::as_str).collect();
        for status in ["400", "408", "421", "431", "500", "503"] {
            assert!(statuses.contains(status), "{method} {path} lacks {status}");
        }
        let security = operation["security"].as_array().unwrap();
        match access {
            Access::Open => {
                assert!(security.is_empty(), "{method} {path}");
                assert!(!statuses.contains("401"), "{method} {path}");
            }
            Access::Needs(scope) => {
                assert_eq!(
                    security,
                    &vec![
                        serde_json::json!({"bearer": [scope.as_str()]}),
                        serde_json::json!({"apiKey": [scope.as_str()]})
                    ],
                    "{method} {path}"
                );
                for status in ["401", "403", "429"] {
                    assert!(statuses.contains(status), "{method} {path} lacks {status}");
                }
            }
            Access::Metrics => assert_eq!(security.len(), 4, "{method} {path}"),
        }
        if operation.get("requestBody").is_some() {
            for status in ["413", "415"] {
                assert!(statuses.contains(status), "{method} {path} lacks {status}");
            }
        }
    }
}

/// The error code enum is the error table, each with its status and description.
#[test]
fn the_error_codes_are_the_error_table() {
    let schema = &document()["components"]["schemas"]["ErrorCode"];
    let documented: Vec<&str> =
        schema["oneOf"].as_array().unwrap().iter().map(|c| c["const"].as_str().unwrap()).collect();
    let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, table);
    for (code, entry) in ErrorCode::ALL.iter().zip(schema["oneOf"].as_array().unwrap()) {
        let description = entry["description"].as_str().unwrap();
        assert!(description.starts_with(&format!("HTTP {}. ", code.status().as_u16())), "{description}");
        assert!(description.len() > 20, "{code:?} has no doc comment");
    }
    // Every error response's codes are the table's codes of that status.
    for (name, response) in document()["components"]["responses"].as_object().unwrap() {
        let status: u16 = name.strip_prefix("Error").unwrap().parse().unwrap();
        let codes: Vec<&str> =
            response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
        let expected: Vec<&str> =
            ErrorCode::ALL.iter().filter(|c| c.status().as_u16() == status).map(|c| c.as_str()).collect();
        assert_eq!(codes, expected, "{name}");
    }
}

/// Every example in the document is valid against the schema beside it: the samples a partner
/// copies are requests the server takes.
#[test]
fn every_example_is_valid_against_its_schema() {
    let mut checked = 0;
    let components = document()["components"].clone();
    let mut check = |place: &str, media: &Value| {
        let (Some(schema), Some(example)) = (media.get("schema"), media.get("example")) else { return };
        let mut schema = schema.clone();
        schema["components"] = components.clone();
        let validator = jsonschema::draft202012::new(&schema).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(example).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{place}: the example is invalid: {errors:?}");
        checked += 1;
    };
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (media_type, media) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
                check(&format!("{method} {path} request {media_type}"), media);
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                for (media_type, media) in response["content"].as_object().into_iter().flatten() {
                    check(&format!("{method} {path} {status} {media_type}"), media);
                }
            }
        }
    }
    let error = &document()["components"]["schemas"]["Error"];
    let mut schema = error.clone();
    schema["components"] = components.clone();
    assert!(jsonschema::draft202012::new(&schema).unwrap().is_valid(&error["example"]));
    assert!(checked >= 8, "only {checked} examples were found");
}

/// The code samples of the main calls are there, in each language.
#[test]
fn the_main_calls_have_code_samples() {
    for (method, path) in [("post", "/api/v1/match"), ("get", "/api/v1/suggest"), ("post", "/api/v1/companies")] {
        let samples = document()["paths"][path][method]["x-codeSamples"].as_array().unwrap();
        let languages: Vec<&str> = samples.iter().map(|s| s["lang"].as_str().unwrap()).collect();
        assert_eq!(languages, ["Shell", "Python", "JavaScript"], "{method} {path}");
        for sample in samples {
            assert!(sample["source"].as_str().unwrap().contains(path), "{method} {path}: {sample}");
        }
    }
}

/// The document is served, open, and is the one the code generates; `marketlounge openapi`
/// prints the same.
#[tokio::test]
async fn the_server_and_the_command_give_the_same_document() {
    let app = common::app::TestApp::open(marketlounge::settings::Settings::default_settings());
    let (status, served) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(&served, document());
    assert_eq!(served["openapi"], "3.1.0");
    let output = common::run(&["openapi"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), marketlounge::openapi::document_text());
}

/// The contract check (`tests/common/contract.rs`, run on every answer of the HTTP tests)
/// refuses what the document does not describe: a field no type has, a missing field, a
/// status the operation does not list, an error code of another status, a method no route
/// has answered other than 405.
#[test]
fn the_contract_check_refuses_undocumented_answers() {
    let health = serde_json::json!({
        "status": "ok", "checksums": "ok", "version": "0.1.0", "generation": 0, "documents": 0,
        "segments": 0, "pending_writes": 0, "auth": "disabled"
    });
    let check = |method: &str, uri: &str, status: u16, body: &Value| {
        let bytes = serde_json::to_vec(body).unwrap();
        std::panic::catch_unwind(|| common::contract::check(method, uri, status, Some("application/json"), &bytes))
            .is_ok()
    };
    assert!(check("GET", "/health", 200, &health));
    let mut extra = health.clone();
    extra["uptime"] = 1.into();
    assert!(!check("GET", "/health", 200, &extra), "an undocumented field passed");
    let mut missing = health.clone();
    missing.as_object_mut().unwrap().remove("documents");
    assert!(!check("GET", "/health", 200, &missing), "a missing field passed");
    let not_found = serde_json::json!({"error": {"code": "not_found", "message": "no such route or resource"}});
    assert!(!check("GET", "/health", 404, &not_found), "an undocumented status passed");
    assert!(check("GET", "/api/v1/companies/732829320", 404, &not_found));
    let wrong_code = serde_json::json!({"error": {"code": "forbidden", "message": "x"}});
    assert!(!check("GET", "/api/v1/companies/732829320", 404, &wrong_code), "a 403 code passed as a 404");
    assert!(check("GET", "/no/such/route", 404, &not_found));
    assert!(!check("GET", "/no/such/route", 200, &health), "an unrouted 200 passed");
    let method = serde_json::json!({"error": {"code": "method_not_allowed", "message": "x"}});
    assert!(check("PUT", "/api/v1/match", 405, &method));
    assert!(!check("PUT", "/api/v1/match", 200, &health), "an undocumented method passed");
}
