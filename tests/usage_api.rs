//! Usage metering, the audit log and `/admin/keys` on a real server over a real socket, with
//! real SQLite files: counts match what was sent, reach the disk within the flush interval and
//! through SIGTERM and a restart; `/admin/usage` filters and buckets; `usage export` prints
//! billing events with stable, unique identifiers; the audit log records key operations from
//! the API and the CLI and admin routes; keys made over the API work at once.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use marketlounge::auth::Scope;
use marketlounge::usage::meter::{Counts, UsageRow};
use marketlounge::usage::report::{End, parse_time};
use marketlounge::usage::store::UsageStore;
use serde_json::{Value, json};

/// One request with `Connection: close` and an optional key; the status and the JSON answer
/// (`Null` when the body is not JSON).
fn call(addr: &str, method: &str, path: &str, key: Option<&str>, content_type: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = key.map(|key| format!("Authorization: Bearer {key}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    common::check_raw(method, path, &answer);
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get(addr: &str, path: &str, key: &str) -> (u16, Value) {
    call(addr, "GET", path, Some(key), "application/json", b"")
}

fn post_json(addr: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    call(addr, "POST", path, Some(key), "application/json", body.to_string().as_bytes())
}

/// `marketlounge ARGS`, its stdout (a failure fails the test).
fn cli(args: &[&str]) -> String {
    let output = Command::new(common::binary())
        .args(args)
        .env("MARKETLOUNGE_LOG", "warn")
        .env_remove("MARKETLOUNGE_MASTER_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A key made with the CLI: (id, secret).
fn create_key(data: &Path, name: &str, scopes: &str, extra: &[&str]) -> (String, String) {
    let mut args =
        vec!["keys", "create", "--data", data.to_str().unwrap(), "--name", name, "--scopes", scopes, "--json"];
    args.extend_from_slice(extra);
    let created: Value = serde_json::from_str(&cli(&args)).unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
}

/// The totals of a key's stored rows, read from `usage.sqlite` itself (not through the server,
/// whose answers include what is still in memory).
fn stored_totals(data: &Path, key_id: &str) -> (Counts, Vec<Scope>) {
    let rows = UsageStore::open(data).unwrap().rows(i64::MIN, i64::MAX, Some(key_id)).unwrap();
    let mut totals = Counts::default();
    let mut scopes = Vec::new();
    for row in &rows {
        totals.add(&row.counts);
        scopes.push(row.scope);
    }
    scopes.sort();
    scopes.dedup();
    (totals, scopes)
}

fn counts(value: &Value) -> Counts {
    let n = |field: &str| value[field].as_u64().unwrap_or_else(|| panic!("{field} in {value}"));
    Counts { requests: n("requests"), results: n("results"), errors: n("errors"), rate_limited: n("rate_limited") }
}

/// A server that is killed if the test fails before stopping it (else it would outlive the
/// test, holding the test runner's output open).
struct Server(Option<common::ServerProcess>);

impl Server {
    fn start(data: &Path) -> Server {
        Server(Some(common::serve(data, None)))
    }

    fn addr(&self) -> String {
        self.0.as_ref().unwrap().addr.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut server) = self.0.take() {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

fn sigterm(mut server: Server) {
    let mut server = server.0.take().unwrap();
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "the server did not stop cleanly: {exit:?}");
}

/// What one key was answered is what `/admin/usage` counts, by scope, with results, errors
/// and refusals; the counts reach `usage.sqlite` within the 10 s flush interval, the ones of
/// the last seconds on SIGTERM, and a restarted server still has them all.
#[test]
fn metering_counts_what_each_key_was_answered_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (admin_id, admin) = create_key(data, "ops", "admin", &[]);
    let (partner_id, partner) = create_key(data, "Shop A", "search,suggest", &["--owner", "cus_A"]);
    let (_, writer) = create_key(data, "loader", "write,search", &[]);
    let server = Server::start(data);
    let addr = server.addr();

    let batch: String = (1..=6).map(|n| format!("{}\n", common::company(n))).collect();
    let (status, answer) =
        call(&addr, "POST", "/api/v1/companies", Some(&writer), "application/x-ndjson", batch.as_bytes());
    assert_eq!(status, 200, "{answer}");
    // Searchable once flushed (the loader polls with its own key: the partner's counts stay
    // exactly what the test sends).
    let deadline = Instant::now() + Duration::from_secs(30);
    while post_json(&addr, "/api/v1/match", &writer, &json!({"query": "usinage"})).1["hits"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(Instant::now() < deadline, "the companies never became searchable");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut expected_search = Counts::default();
    let mut expected_suggest = Counts::default();
    for (query, k) in [("usinage de précision", 3), ("fraisage", 10), ("tournage inox", 1)] {
        let (status, answer) = post_json(&addr, "/api/v1/match", &partner, &json!({"query": query, "k": k}));
        assert_eq!(status, 200, "{answer}");
        let hits = answer["hits"].as_array().unwrap().len() as u32;
        expected_search.add(&Counts::of_answer(200, hits));
    }
    assert!(expected_search.results > 0, "the searches found nothing: the results count would prove nothing");
    for q in ["usi", "mec", "fra", "tou"] {
        let (status, answer) = get(&addr, &format!("/api/v1/suggest?q={q}"), &partner);
        assert_eq!(status, 200, "{answer}");
        expected_suggest.add(&Counts::of_answer(200, answer["suggestions"].as_array().unwrap().len() as u32));
    }
    // Errors: a bad parameter, a bad body.
    assert_eq!(get(&addr, "/api/v1/suggest?q=usi&k=zero", &partner).0, 400);
    expected_suggest.add(&Counts::of_answer(400, 0));
    assert_eq!(call(&addr, "POST", "/api/v1/match", Some(&partner), "application/json", b"{oops").0, 400);
    expected_search.add(&Counts::of_answer(400, 0));
    let sent_at = Instant::now();

    // Current at once: the counts still in memory are in the answer.
    let (status, report) = get(&addr, &format!("/admin/usage?key={partner_id}&granularity=hour"), &admin);
    assert_eq!(status, 200, "{report}");
    let key = &report["keys"][0];
    assert_eq!(
        (key["key"].as_str(), key["name"].as_str(), key["owner"].as_str()),
        (Some(partner_id.as_str()), Some("Shop A"), Some("cus_A"))
    );
    let buckets = key["buckets"].as_array().unwrap();
    assert!((1..=2).contains(&buckets.len()), "one hour (two if it turned meanwhile): {report}");
    let mut expected = expected_search;
    expected.add(&expected_suggest);
    assert_eq!(counts(&key["totals"]), expected, "{report}");
    let mut by_scope = (Counts::default(), Counts::default());
    for bucket in buckets {
        if let Some(search) = bucket["scopes"].get("search") {
            by_scope.0.add(&counts(search));
        }
        if let Some(suggest) = bucket["scopes"].get("suggest") {
            by_scope.1.add(&counts(suggest));
        }
    }
    assert_eq!(by_scope, (expected_search, expected_suggest), "{report}");

    // On disk within the flush interval, and each key's last use with it.
    while stored_totals(data, &partner_id).0 != expected {
        assert!(
            sent_at.elapsed() < Duration::from_secs(11),
            "not flushed within 10 s: {:?}",
            stored_totals(data, &partner_id)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stored_totals(data, &partner_id).1, [Scope::Search, Scope::Suggest]);
    let last_used = || {
        let listed = cli(&["keys", "list", "--data", data.to_str().unwrap(), "--json"]);
        let listed: Value = serde_json::from_str(&listed).unwrap();
        listed.as_array().unwrap().iter().find(|k| k["id"] == partner_id.as_str()).unwrap()["last_used_at"].as_i64()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while last_used().is_none() {
        assert!(Instant::now() < deadline, "last_used_at not written with the flush");
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = jiff::Timestamp::now().as_second();
    assert!((now - 60..=now).contains(&last_used().unwrap()));

    // The last seconds before SIGTERM are flushed on the way out.
    for _ in 0..3 {
        assert_eq!(get(&addr, "/api/v1/suggest?q=usin", &partner).0, 200);
    }
    sigterm(server);
    let (stored, _) = stored_totals(data, &partner_id);
    assert_eq!(stored.requests, expected.requests + 3, "the counts of the last seconds were lost on SIGTERM");

    // A new server has them all.
    let server = Server::start(data);
    let (status, report) = get(&server.addr(), &format!("/admin/usage?key={partner_id}&granularity=month"), &admin);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["keys"][0]["totals"]["requests"], expected.requests + 3, "{report}");
    // Every key: the admin's own calls are counted under its id, scope admin.
    let (_, all) = get(&server.addr(), "/admin/usage", &admin);
    let admin_report = all["keys"].as_array().unwrap().iter().find(|k| k["key"] == admin_id.as_str()).unwrap();
    assert_eq!(admin_report["totals"]["requests"], 2, "two /admin/usage calls before this one: {all}");
    assert!(admin_report["buckets"][0]["scopes"].get("admin").is_some(), "{all}");
    sigterm(server);
}

/// Two keys' usage over two months, written before the server starts.
fn seeded(data: &Path) -> (String, String) {
    let (a, _) = create_key(data, "Shop A", "search,suggest", &["--owner", "cus_A"]);
    let (b, _) = create_key(data, "Shop, \"B\"", "search", &[]);
    let hour = |text: &str| parse_time(text, End::From).unwrap();
    let row = |key: &str, at: &str, scope, requests, errors, rate_limited| UsageRow {
        key_id: key.to_owned(),
        hour: hour(at),
        scope,
        counts: Counts { requests, results: 10 * requests, errors, rate_limited },
    };
    UsageStore::open(data)
        .unwrap()
        .add(&[
            row(&a, "2026-01-31T22:00:00Z", Scope::Search, 5, 1, 0),
            row(&a, "2026-01-31T23:00:00Z", Scope::Search, 3, 0, 2),
            row(&a, "2026-01-31T23:00:00Z", Scope::Suggest, 40, 0, 0),
            row(&a, "2026-02-01T00:00:00Z", Scope::Search, 7, 0, 0),
            row(&b, "2026-02-15T10:00:00Z", Scope::Search, 9, 9, 0),
            row(&b, "2026-02-15T11:00:00Z", Scope::Search, 4, 1, 0),
        ])
        .unwrap();
    (a, b)
}

#[test]
fn admin_usage_filters_by_key_and_time_and_buckets_by_hour_day_month() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (a, b) = seeded(data);
    let (_, admin) = create_key(data, "ops", "admin", &[]);
    let server = Server::start(data);
    let addr = &server.addr();
    let report = |query: &str| {
        let (status, answer) = get(addr, &format!("/admin/usage?{query}"), &admin);
        assert_eq!(status, 200, "{query}: {answer}");
        answer
    };
    let starts = |key: &Value| -> Vec<String> {
        key["buckets"].as_array().unwrap().iter().map(|b| b["start"].as_str().unwrap().to_owned()).collect()
    };

    let months = report("from=2026-01-01&to=2026-02-28&granularity=month");
    assert_eq!(months["keys"].as_array().unwrap().len(), 2);
    assert_eq!(months["granularity"], "month");
    let key_a = months["keys"].as_array().unwrap().iter().find(|k| k["key"] == a.as_str()).unwrap();
    assert_eq!(starts(key_a), ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]);
    assert_eq!(counts(&key_a["totals"]), Counts { requests: 55, results: 550, errors: 1, rate_limited: 2 });
    assert_eq!(key_a["buckets"][0]["scopes"]["suggest"]["requests"], 40);
    assert_eq!(key_a["buckets"][0]["requests"], 48);

    let days = report(&format!("key={a}&from=2026-01-31&to=2026-02-01&granularity=day"));
    assert_eq!(days["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        starts(&days["keys"][0]),
        ["2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"],
        "to= a date takes in its day"
    );
    let hours = report(&format!("key={a}&from=2026-01-31T23:00:00Z&to=2026-02-01T00:00:00Z&granularity=hour"));
    assert_eq!(starts(&hours["keys"][0]), ["2026-01-31T23:00:00Z"], "to= a time is excluded");
    assert_eq!(hours["keys"][0]["totals"]["requests"], 43);
    // An offset is a time like any other; a key without usage in the range is listed empty.
    let offset = report(&format!("key={b}&from=2026-02-15T12:00:00%2B01:00&to=2026-03-01&granularity=hour"));
    assert_eq!(starts(&offset["keys"][0]), ["2026-02-15T11:00:00Z"]);
    let empty = report(&format!("key={b}&from=2025-01-01&to=2025-02-01"));
    assert_eq!(empty["keys"][0]["buckets"], json!([]));
    assert_eq!(empty["keys"][0]["name"], "Shop, \"B\"");

    for (query, field) in [
        ("granularity=week", "granularity"),
        ("from=yesterday", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("keys=x", "keys"),
    ] {
        let (status, answer) = get(addr, &format!("/admin/usage?{query}"), &admin);
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_field")), "{query}: {answer}");
        assert_eq!(answer["error"]["details"]["field"], field, "{query}: {answer}");
    }
    let (status, answer) = get(addr, "/admin/usage?key=key_nope", &admin);
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")), "{answer}");
    sigterm(server);
}

/// The export prints one event per key, closed hour and scope with billable answers, the same
/// identifiers every time, never the hour under way; CSV has the same rows.
#[test]
fn usage_export_prints_billing_events_with_stable_unique_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (a, b) = seeded(data);
    let now = jiff::Timestamp::now().as_second();
    let open_hour = now - now.rem_euclid(3600);
    UsageStore::open(data)
        .unwrap()
        .add(&[UsageRow {
            key_id: a.clone(),
            hour: open_hour,
            scope: Scope::Search,
            counts: Counts::of_answer(200, 1),
        }])
        .unwrap();
    let path = data.to_str().unwrap();
    let jsonl = cli(&["usage", "export", "--data", path]);
    assert_eq!(jsonl, cli(&["usage", "export", "--data", path, "--format", "jsonl"]), "a re-export is the same");
    let events: Vec<Value> = jsonl.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    // 6 rows; b's 10:00 hour was only errors: nothing to bill. The hour under way is left out.
    assert_eq!(events.len(), 5, "{jsonl}");
    for event in &events {
        let fields: Vec<&str> = event.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields.len(), 5, "{event}");
        for field in ["identifier", "event_name", "timestamp", "customer", "value"] {
            assert!(event.get(field).is_some(), "{field} in {event}");
        }
        assert_ne!(event["timestamp"], marketlounge::usage::report::rfc3339(open_hour), "the open hour: {event}");
    }
    let identifiers: std::collections::HashSet<&str> =
        events.iter().map(|e| e["identifier"].as_str().unwrap()).collect();
    assert_eq!(identifiers.len(), events.len(), "identifiers are unique");
    let first = events.iter().find(|e| e["identifier"] == format!("{a}:2026013122:search_requests")).unwrap();
    assert_eq!(
        *first,
        json!({
            "identifier": format!("{a}:2026013122:search_requests"),
            "event_name": "search_requests",
            "timestamp": "2026-01-31T22:00:00Z",
            "customer": "cus_A",
            "value": 4
        })
    );
    let suggest = events.iter().find(|e| e["event_name"] == "suggest_requests").unwrap();
    assert_eq!(suggest["value"], 40);
    let billed_23h = events.iter().find(|e| e["identifier"] == format!("{a}:2026013123:search_requests")).unwrap();
    assert_eq!(billed_23h["value"], 1, "429s are not billed");
    let of_b: Vec<&Value> = events.iter().filter(|e| e["identifier"].as_str().unwrap().starts_with(&b)).collect();
    assert_eq!(of_b.len(), 1);
    assert_eq!(
        (of_b[0]["customer"].as_str(), of_b[0]["value"].as_u64()),
        (Some("Shop, \"B\""), Some(3)),
        "no owner: the name"
    );

    // A range; the same identifiers.
    let february = cli(&["usage", "export", "--data", path, "--from", "2026-02-01", "--to", "2026-02-28"]);
    let february: Vec<Value> = february.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(february.len(), 2);
    assert!(february.iter().all(|e| events.contains(e)));

    let csv = cli(&["usage", "export", "--data", path, "--format", "csv"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("identifier,event_name,timestamp,customer,value"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), events.len());
    assert!(
        rows.contains(&format!("{a}:2026013122:search_requests,search_requests,2026-01-31T22:00:00Z,cus_A,4").as_str()),
        "{csv}"
    );
    assert!(
        rows.contains(
            &format!("{b}:2026021511:search_requests,search_requests,2026-02-15T11:00:00Z,\"Shop, \"\"B\"\"\",3")
                .as_str()
        ),
        "{csv}"
    );

    // Bad options exit 2 naming them.
    let output =
        Command::new(common::binary()).args(["usage", "export", "--data", path, "--from", "soon"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--from"));
}

/// Audit entries of the audit log, newest first.
fn audit(addr: &str, admin: &str, query: &str) -> Vec<Value> {
    let (status, answer) = get(addr, &format!("/admin/audit?{query}"), admin);
    assert_eq!(status, 200, "{answer}");
    answer["entries"].as_array().unwrap().clone()
}

/// `/admin/keys` creates a key that works on the next request, lists records without secrets,
/// rotates and revokes at once; each change, the CLI's included, and an admin route are in the
/// audit log with who, where from and what; a refused call is not.
#[test]
fn admin_keys_work_at_once_and_every_admin_action_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (admin_id, admin) = create_key(data, "ops", "admin", &[]);
    let (_, reader) = create_key(data, "reader", "read", &[]);
    let server = Server::start(data);
    let addr = &server.addr();

    let (status, created) = post_json(
        addr,
        "/admin/keys",
        &admin,
        &json!({"name": "Shop C", "owner": "cus_C", "scopes": ["suggest", "search"], "rate": 50, "burst": 100, "quota": 100000, "expires": "2099-01-01"}),
    );
    assert_eq!(status, 201, "{created}");
    let (id, secret) = (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("mlk_sec_"));
    assert_eq!(created["scopes"], json!(["search", "suggest"]));
    assert_eq!((created["owner"].as_str(), created["quota"].as_u64()), (Some("cus_C"), Some(100_000)));
    assert_eq!(created["expires_at"], 4_070_908_800_i64);
    assert_eq!(get(addr, "/api/v1/suggest?q=usi", &secret).0, 200, "a new key works on the next request");

    let (status, listed) = get(addr, "/admin/keys", &admin);
    assert_eq!(status, 200);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 3);
    let text = listed.to_string();
    assert!(!text.contains(&secret[8..]) && !text.contains("\"hash\"") && !text.contains("\"key\""), "{text}");

    let (status, rotated) =
        call(addr, "POST", &format!("/admin/keys/{id}/rotate"), Some(&admin), "application/json", b"");
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(get(addr, "/api/v1/suggest?q=usi", &secret).0, 401, "the old secret stops at once");
    assert_eq!(get(addr, "/api/v1/suggest?q=usi", &new_secret).0, 200);
    let (status, revoked) = call(addr, "DELETE", &format!("/admin/keys/{id}"), Some(&admin), "application/json", b"");
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_i64());
    assert_eq!(get(addr, "/api/v1/suggest?q=usi", &new_secret).0, 401, "a revoked key stops at once");
    let (status, answer) =
        call(addr, "POST", &format!("/admin/keys/{id}/rotate"), Some(&admin), "application/json", b"");
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("conflict")));

    // An admin route; the same route refused to another scope is not an action.
    assert_eq!(call(addr, "POST", "/admin/snapshot", Some(&admin), "application/json", b"").0, 201);
    assert_eq!(call(addr, "POST", "/admin/snapshot", Some(&reader), "application/json", b"").0, 403);
    // The CLI, while the server runs.
    cli(&["keys", "revoke", &id, "--data", data.to_str().unwrap()]);

    let entries = audit(addr, &admin, "");
    let summary: Vec<(String, String, Option<String>, Option<u64>)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().map(str::to_owned),
                e["status"].as_u64(),
            )
        })
        .collect();
    let cli_actor = "cli".to_owned();
    assert_eq!(
        summary,
        [
            (cli_actor.clone(), "keys.revoke".into(), Some(id.clone()), None),
            (admin_id.clone(), "snapshot".into(), None, Some(201)),
            (admin_id.clone(), "keys.rotate".into(), Some(id.clone()), Some(409)),
            (admin_id.clone(), "keys.revoke".into(), Some(id.clone()), Some(200)),
            (admin_id.clone(), "keys.rotate".into(), Some(id.clone()), Some(200)),
            (admin_id.clone(), "keys.create".into(), Some(id.clone()), Some(201)),
            (cli_actor.clone(), "keys.create".into(), entries[6]["target"].as_str().map(str::to_owned), None),
            (cli_actor, "keys.create".into(), Some(admin_id.clone()), None),
        ],
        "{entries:#?}"
    );
    let snapshot = &entries[1];
    assert_eq!(snapshot["ip_prefix"], "127.0.0.0/24");
    assert!(snapshot["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(snapshot["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(entries[0]["ip_prefix"], Value::Null, "the CLI has no address");

    assert_eq!(audit(addr, &admin, "limit=2").len(), 2);
    assert!(audit(addr, &admin, "to=2020-01-01").is_empty());
    assert_eq!(audit(addr, &admin, "from=2020-01-01&limit=1000").len(), entries.len());
    for query in ["limit=0", "limit=lots", "from=then", "since=2020-01-01"] {
        let (status, answer) = get(addr, &format!("/admin/audit?{query}"), &admin);
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_field")), "{query}: {answer}");
    }
    sigterm(server);
    // No secret anywhere in the usage database.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("usage.sqlite") {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    for secret in [&admin, &reader, &secret, &new_secret] {
        assert!(!bytes.windows(20).any(|w| w == &secret.as_bytes()[8..28]), "a secret is in usage.sqlite");
    }
}

/// Bad bodies are 400 naming the field; unknown ids 404.
#[test]
fn admin_keys_refuse_bad_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_, admin) = create_key(data, "ops", "admin", &[]);
    let server = Server::start(data);
    let addr = &server.addr();
    for (body, code, field) in [
        ("{\"name\": \"x\", \"scopes\": [\"search\"]", "invalid_json", None),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"plan\": \"gold\"}", "invalid_field", Some("plan")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"rate\": \"fast\"}", "invalid_field", Some("rate")),
        ("{\"name\": \"x\", \"scopes\": [\"search\", \"sudo\"]}", "invalid_field", Some("scopes")),
        ("{\"name\": \"x\", \"scopes\": []}", "invalid_field", Some("scopes")),
        ("{\"name\": \"x\", \"scopes\": [\"write\"], \"publishable\": true}", "invalid_field", Some("scopes")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"origins\": [\"a.example\"]}", "invalid_field", Some("origins")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"rate\": -1}", "invalid_field", Some("rate")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"burst\": -1}", "invalid_field", Some("burst")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"expires\": \"2001-01-01\"}", "invalid_field", Some("expires")),
        ("{\"name\": \"x\", \"scopes\": [\"search\"], \"expires\": \"soon\"}", "invalid_field", Some("expires")),
        ("{\"name\": \" \", \"scopes\": [\"search\"]}", "invalid_field", Some("name")),
        ("{\"scopes\": [\"search\"]}", "invalid_field", Some("name")),
    ] {
        let (status, answer) = call(addr, "POST", "/admin/keys", Some(&admin), "application/json", body.as_bytes());
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some(code)), "{body}: {answer}");
        if let Some(field) = field {
            assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{body}: {answer}");
        }
    }
    let (status, _) =
        call(addr, "POST", "/admin/keys", Some(&admin), "text/plain", b"{\"name\": \"x\", \"scopes\": [\"search\"]}");
    assert_eq!(status, 415);
    for (method, path) in [("DELETE", "/admin/keys/key_nope"), ("POST", "/admin/keys/key_nope/rotate")] {
        let (status, answer) = call(addr, method, path, Some(&admin), "application/json", b"");
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")), "{method} {path}");
    }
    let (_, listed) = get(addr, "/admin/keys", &admin);
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1, "nothing was created");
    sigterm(server);
}

/// Without a server secret (development mode, loopback) admin actions are logged as
/// `dev-mode`, and nothing is metered (there is no key).
#[test]
fn development_mode_audits_as_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let addr = &server.addr();
    assert_eq!(call(addr, "POST", "/admin/snapshot", None, "application/json", b"").0, 201);
    assert_eq!(call(addr, "GET", "/api/v1/suggest?q=usi", None, "application/json", b"").0, 200);
    let (status, answer) = call(addr, "GET", "/admin/audit", None, "application/json", b"");
    assert_eq!(status, 200);
    assert_eq!(answer["entries"][0]["actor"], "dev-mode");
    assert_eq!(answer["entries"][0]["action"], "snapshot");
    let (status, answer) =
        call(addr, "POST", "/admin/keys", None, "application/json", b"{\"name\": \"x\", \"scopes\": [\"search\"]}");
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("conflict")), "{answer}");
    let (_, usage) = call(addr, "GET", "/admin/usage", None, "application/json", b"");
    assert_eq!(usage["keys"], json!([]));
    sigterm(server);
}
