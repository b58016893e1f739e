//! `marketlounge validate`: every error reported with its line and field, exit codes, gzip.

mod common;

use std::io::Write;

use common::{company, run};

fn write_lines(lines: &[String]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file
}

fn reported_lines(stdout: &[u8]) -> Vec<u64> {
    let text = String::from_utf8_lossy(stdout);
    let mut lines: Vec<u64> = text
        .lines()
        .map(|l| l.strip_prefix("line ").and_then(|rest| rest.split(':').next()).unwrap().parse().unwrap())
        .collect();
    lines.dedup();
    lines
}

#[test]
fn errors_on_lines_2_5_and_9_are_reported_exactly() {
    let mut lines: Vec<String> = (0..10).map(|n| company(n).to_string()).collect();
    let mut bad_naf = company(101);
    bad_naf["naf"] = "99.99Z".into();
    lines[1] = bad_naf.to_string();
    lines[4] = "{\"id\": ".to_owned();
    let mut bad_postal = company(104);
    bad_postal["address"]["postal_code"] = "00000".into();
    lines[8] = bad_postal.to_string();
    let file = write_lines(&lines);
    let output = run(&["validate", "--kind", "company", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(reported_lines(&output.stdout), [2, 5, 9]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("line 2: field naf: "), "{stdout}");
    assert!(stdout.contains("line 5: field $: invalid JSON"), "{stdout}");
    assert!(stdout.contains("line 9: field address.postal_code: "), "{stdout}");
}

#[test]
fn every_error_of_a_line_is_reported() {
    let mut record = company(1);
    record["created"] = "2023-02-30".into();
    record["address"]["colour"] = "blue".into();
    record["headcount"] = "lots".into();
    record["capabilities"] = serde_json::json!(["ok", 3, "ok", false]);
    // Meaning checks run once the shape is right, and report every problem too.
    let mut meaning = company(2);
    meaning["naf"] = "99.99Z".into();
    meaning["id"] = "123456789".into();
    meaning["address"]["postal_code"] = "00000".into();
    meaning["concepts"] = serde_json::json!([{"id": "usinage", "weight": 2.0}]);
    let file = write_lines(&[record.to_string(), meaning.to_string()]);
    let output = run(&["validate", "--json", "--kind", "company", file.path().to_str().unwrap()]);
    let fields: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["field"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = fields.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "address.colour",
            "address.postal_code",
            "capabilities[1]",
            "capabilities[3]",
            "concepts[0].weight",
            "created",
            "headcount",
            "id",
            "naf"
        ],
        "{fields:?}"
    );
}

#[test]
fn valid_file_exits_zero() {
    let file = write_lines(&(0..5).map(|n| company(n).to_string()).collect::<Vec<_>>());
    let output = run(&["validate", "--kind", "company", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.stdout.is_empty());
}

/// One case per error class: (what is wrong, the field the report must name, its code).
#[test]
fn every_error_class_names_its_field_and_code() {
    let mut cases: Vec<(String, &str, &str)> = Vec::new();
    let mut wrong_type = company(1);
    wrong_type["capabilities"] = serde_json::json!(["fraisage", 5]);
    cases.push((wrong_type.to_string(), "capabilities[1]", "invalid_type"));
    let mut missing = company(2);
    missing.as_object_mut().unwrap().remove("name");
    cases.push((missing.to_string(), "name", "missing_field"));
    let mut unknown = company(3);
    unknown["address"]["colour"] = "blue".into();
    cases.push((unknown.to_string(), "address.colour", "unknown_field"));
    let mut bad_date = company(4);
    bad_date["created"] = "2023-02-30".into();
    cases.push((bad_date.to_string(), "created", "invalid_date"));
    let mut bad_id = company(5);
    bad_id["id"] = "123456789".into();
    cases.push((bad_id.to_string(), "id", "invalid_id"));
    let mut bad_band = company(6);
    bad_band["headcount"] = "lots".into();
    cases.push((bad_band.to_string(), "headcount", "invalid_value"));
    let mut bad_commune = company(7);
    bad_commune["address"]["commune_code"] = "69123".into();
    cases.push((bad_commune.to_string(), "address.postal_code", "invalid_postal_code"));
    cases.push((company(8).to_string(), "$", "none"));
    cases.push((company(8).to_string(), "id", "duplicate_id"));
    cases.push(("[1, 2]".to_owned(), "$", "invalid_type"));
    cases.push((format!("{} {{}}", company(9)), "$", "invalid_json"));

    let lines: Vec<String> = cases.iter().map(|(line, _, _)| line.clone()).collect();
    let file = write_lines(&lines);
    let output = run(&["validate", "--json", "--kind", "company", file.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let reported: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (idx, (_, field, code)) in cases.iter().enumerate() {
        let line = idx as u64 + 1;
        let at_line: Vec<&serde_json::Value> = reported.iter().filter(|r| r["line"] == line).collect();
        if *code == "none" {
            assert!(at_line.is_empty(), "line {line}: {at_line:?}");
            continue;
        }
        assert!(
            at_line.iter().any(|r| r["field"] == *field && r["code"] == *code),
            "line {line}: expected {field} {code}, got {at_line:?}"
        );
    }
}

#[test]
fn invalid_utf8_oversize_lines_blank_lines_crlf_and_gzip() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(company(1).to_string().as_bytes());
    bytes.extend_from_slice(b"\r\n\n");
    bytes.extend_from_slice(b"{\"id\": \"\xff\xfe\"}\n");
    bytes.extend_from_slice(format!("{{\"name\": \"{}\"}}\n", "x".repeat(5000)).as_bytes());
    bytes.extend_from_slice(company(2).to_string().as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&gz.finish().unwrap()).unwrap();
    let output = run(&["validate", "--kind", "company", "--max-line-bytes", "4096", file.path().to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "line 3: field $: invalid UTF-8 at byte offset 8 of the line\nline 4: field $: line is longer than the limit of 4096 bytes\n"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 valid, 2 invalid"));
}

#[test]
fn every_kind_is_accepted() {
    let signal = serde_json::json!({"id": "s1", "company_id": common::siren(1), "type": "hiring", "date": "2025-01-31", "source": "job_board"});
    let article = serde_json::json!({"id": "a1", "company_id": common::siren(1), "date": "2025-02-01", "title": "Recrutement", "source": "Le Progrès"});
    let concept = serde_json::json!({"id": "usinage", "level": "metier", "label": "Usinage", "naf": ["25.62B"]});
    let feedback = serde_json::json!({"query_id": "q1", "company_id": common::siren(1), "relevant": true});
    let outcome = serde_json::json!({"company_id": common::siren(1), "as_of": "2025-06-30", "horizon_days": 180, "converted": false});
    for (kind, record) in
        [("signal", signal), ("article", article), ("concept", concept), ("feedback", feedback), ("outcome", outcome)]
    {
        let file = write_lines(&[record.to_string()]);
        let output = run(&["validate", "--kind", kind, file.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(0), "{kind}: {}", String::from_utf8_lossy(&output.stdout));
    }
}

#[test]
fn missing_file_and_unknown_kind_are_usage_errors() {
    let output = run(&["validate", "--kind", "company", "/nonexistent/file.ndjson"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/file.ndjson"));
    let output = run(&["validate", "--kind", "widget", "x.ndjson"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown kind"));
}
