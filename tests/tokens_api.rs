//! Signed tokens against a real server process and a real key table: a token's filters restrict
//! `/match` and `/suggest` (compared with the same query by its key) and a request cannot widen
//! them; forged, tampered, expired, overlong, revoked, publishable and wrong-scope tokens are
//! refused; and the README's Python and JavaScript examples, run as written, issue tokens the
//! server accepts and enforces.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use marketlounge::auth::token::{MAX_LIFETIME_SECONDS, issue};
use serde_json::{Value, json};

/// (name, commune code, postal code, commune, lat, lon, NAF): two companies in Bretagne, three in
/// Auvergne-Rhône-Alpes, one in Occitanie, every name starting with "Usinage".
const COMPANIES: [(&str, &str, &str, &str, f64, f64, &str); 6] = [
    ("Usinage Rhône Précision", "69123", "69001", "Lyon", 45.767, 4.835, "25.62B"),
    ("Usinage Forez", "42218", "42000", "Saint-Étienne", 45.439, 4.387, "25.62A"),
    ("Usinage Dauphiné", "38185", "38000", "Grenoble", 45.186, 5.736, "25.61Z"),
    ("Usinage Rennais", "35238", "35000", "Rennes", 48.093, -1.675, "25.62B"),
    ("Usinage Brestois", "29019", "29200", "Brest", 48.392, -4.485, "28.41Z"),
    ("Usinage Toulousain", "31555", "31000", "Toulouse", 43.604, 1.443, "25.62B"),
];

/// The ids of the companies at these positions of [`COMPANIES`].
fn ids(positions: &[usize]) -> BTreeSet<String> {
    positions.iter().map(|&n| common::siren(n as u32 + 1)).collect()
}

const BRETAGNE: [usize; 2] = [3, 4];

/// A server on a data directory with keys made by the CLI:
/// `writer` (write, search, suggest), `partner` (search, suggest; origin https://shop.example),
/// `suggester` (suggest only), `browser` (publishable, search and suggest).
struct Fixture {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    server: common::ServerProcess,
    /// name → (id, secret)
    keys: std::collections::HashMap<&'static str, (String, String)>,
}

/// The server goes with the fixture, whether its test passed or not.
impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
    }
}

fn keys_cli(args: &[&str]) -> Value {
    let output = Command::new(common::binary())
        .arg("keys")
        .args(args)
        .env("MARKETLOUNGE_LOG", "warn")
        .env_remove("MARKETLOUNGE_MASTER_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "keys {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

impl Fixture {
    fn start(with_companies: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let data_arg = data.to_str().unwrap().to_owned();
        let mut keys = std::collections::HashMap::new();
        for (name, args) in [
            ("writer", &["--scopes", "write,search,suggest"][..]),
            ("partner", &["--scopes", "search,suggest", "--origins", "https://shop.example"][..]),
            ("suggester", &["--scopes", "suggest"][..]),
            ("browser", &["--scopes", "search,suggest", "--publishable", "--origins", "https://shop.example"][..]),
        ] {
            let mut all = vec!["create", "--data", &data_arg, "--name", name, "--json"];
            all.extend_from_slice(args);
            let created = keys_cli(&all);
            keys.insert(
                name,
                (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned()),
            );
        }
        // The hashed embedder: hybrid retrieval as served, without a model to install.
        let mut settings: Value = serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
        settings["index"]["embedder"] = json!("hashed");
        let settings_path = dir.path().join("settings.json");
        std::fs::write(&settings_path, settings.to_string()).unwrap();
        let server = common::serve(&data, Some(&settings_path));
        let fixture = Fixture { _dir: dir, data, server, keys };
        if with_companies {
            fixture.index_companies();
        }
        fixture
    }

    fn key(&self, name: &str) -> &str {
        &self.keys[name].1
    }

    fn id(&self, name: &str) -> &str {
        &self.keys[name].0
    }

    /// A token of key `name` for `payload`.
    fn token(&self, name: &str, payload: Value) -> String {
        issue(self.key(name), self.id(name), &payload.to_string())
    }

    fn index_companies(&self) {
        let mut body = String::new();
        for (n, (name, code, postal, commune, lat, lon, naf)) in COMPANIES.iter().enumerate() {
            let mut record = common::company(n as u32 + 1);
            record["name"] = json!(name);
            record["naf"] = json!(naf);
            record["address"] =
                json!({"postal_code": postal, "commune": commune, "commune_code": code, "lat": lat, "lon": lon});
            body.push_str(&record.to_string());
            body.push('\n');
        }
        let writer = self.key("writer").to_owned();
        let (status, answer) =
            call(&self.server.addr, "POST", "/api/v1/companies", &[auth(&writer), ndjson()], body.as_bytes());
        assert_eq!(status, 200, "{answer}");
        // Searchable within the flush interval: wait for it, within a bound.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, answer) = self.match_with(&writer, &[], json!({"query": "usinage", "k": 20}));
            if status == 200 && answer["hits"].as_array().unwrap().len() == COMPANIES.len() {
                return;
            }
            assert!(Instant::now() < deadline, "the companies never became searchable: {answer}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn match_with(&self, credential: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
        let mut all = vec![auth(credential), ("content-type", "application/json".to_owned())];
        all.extend(headers.iter().map(|(name, value)| (*name, (*value).to_owned())));
        call(&self.server.addr, "POST", "/api/v1/match", &all, body.to_string().as_bytes())
    }

    fn suggest_with(&self, credential: &str, query: &str) -> (u16, Value) {
        call(&self.server.addr, "GET", &format!("/api/v1/suggest?{query}"), &[auth(credential)], b"")
    }
}

fn auth(credential: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {credential}"))
}

fn ndjson() -> (&'static str, String) {
    ("content-type", "application/x-ndjson".to_owned())
}

/// One HTTP/1.1 request with headers; the status and the JSON body (`Null` if not JSON).
fn call(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    common::check_raw(method, path, &response);
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{response:?}"));
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn hit_ids(answer: &Value) -> BTreeSet<String> {
    answer["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {answer}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

fn company_suggestions(answer: &Value) -> BTreeSet<String> {
    answer["suggestions"]
        .as_array()
        .unwrap_or_else(|| panic!("no suggestions: {answer}"))
        .iter()
        .filter(|s| s["kind"] == "company")
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The error code and `details.reason` of a refusal.
fn refusal(answer: &Value) -> (String, String) {
    let error = &answer["error"];
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["details"]["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_tokens_filters_restrict_match_and_suggest_and_a_request_cannot_widen_them() {
    let fixture = Fixture::start(true);
    let key = fixture.key("partner").to_owned();
    let bretagne =
        fixture.token("partner", json!({"exp": now() + 600, "filters": {"region": ["Bretagne"]}, "user": "u-1"}));
    let everything = (0..COMPANIES.len()).collect::<Vec<_>>();

    // The same query by the key and by its token.
    let query = json!({"query": "usinage", "k": 20});
    let (status, by_key) = fixture.match_with(&key, &[], query.clone());
    assert_eq!(status, 200, "{by_key}");
    assert_eq!(hit_ids(&by_key), ids(&everything));
    assert!(by_key["interpretation"].get("forced_filters").is_none(), "{by_key}");
    let (status, by_token) = fixture.match_with(&bretagne, &[], query);
    assert_eq!(status, 200, "{by_token}");
    assert_eq!(hit_ids(&by_token), ids(&BRETAGNE));
    assert_eq!(by_token["interpretation"]["forced_filters"], json!({"region": ["Bretagne"]}));

    // The body asks for another région: nothing outside the token's, and here nothing at all.
    let widened = json!({"query": "usinage", "k": 20, "filters": {"region": ["Auvergne-Rhône-Alpes", "Occitanie"]}});
    let (status, answer) = fixture.match_with(&bretagne, &[], widened.clone());
    assert_eq!((status, hit_ids(&answer)), (200, BTreeSet::new()), "{answer}");
    assert_eq!(answer["total"], 0);
    // The key alone gets them: the filter, not the query, emptied the answer.
    let (_, answer) = fixture.match_with(&key, &[], widened);
    assert_eq!(hit_ids(&answer), ids(&[0, 1, 2, 5]));
    // Both régions named: only the token's.
    let both = json!({"query": "usinage", "k": 20, "filters": {"region": ["Bretagne", "Occitanie"]}});
    assert_eq!(hit_ids(&fixture.match_with(&bretagne, &[], both).1), ids(&BRETAGNE));
    // Other request filters still narrow; a NAF division of the token meets the sous-classe asked.
    let token =
        fixture.token("partner", json!({"exp": now() + 600, "filters": {"region": ["Bretagne"], "naf": ["25"]}}));
    let narrowed = json!({"query": "usinage", "k": 20, "filters": {"naf": ["25.62B"]}});
    assert_eq!(hit_ids(&fixture.match_with(&token, &[], narrowed).1), ids(&[3]));
    assert_eq!(hit_ids(&fixture.match_with(&token, &[], json!({"query": "usinage"})).1), ids(&[3]));
    let near_lyon = json!({"query": "usinage", "k": 20, "filters": {"near": {"lat": 45.76, "lon": 4.83, "km": 50}}});
    assert_eq!(hit_ids(&fixture.match_with(&bretagne, &[], near_lyon).1), BTreeSet::new());
    let departements = fixture.token("partner", json!({"exp": now() + 600, "filters": {"departement": ["35", "29"]}}));
    let asked = json!({"query": "usinage", "k": 20, "filters": {"departement": ["29", "69"]}});
    assert_eq!(hit_ids(&fixture.match_with(&departements, &[], asked).1), ids(&[4]));
    // A body cannot set forced filters itself.
    let smuggled = json!({"query": "usinage", "forced_filters": {"region": ["Occitanie"]}});
    let (status, answer) = fixture.match_with(&bretagne, &[], smuggled);
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_field")), "{answer}");

    // Company suggestions obey the same filters; concepts and places do not name companies.
    let (status, by_key) = fixture.suggest_with(&key, "q=usinage&k=20&kinds=company");
    assert_eq!(status, 200, "{by_key}");
    assert_eq!(company_suggestions(&by_key), ids(&everything));
    let (status, by_token) = fixture.suggest_with(&bretagne, "q=usinage&k=20&kinds=company");
    assert_eq!(status, 200, "{by_token}");
    assert_eq!(company_suggestions(&by_token), ids(&BRETAGNE));
    assert_eq!(by_token["forced_filters"], json!({"region": ["Bretagne"]}));
    let (_, mixed) = fixture.suggest_with(&bretagne, "q=usin&k=50");
    assert_eq!(company_suggestions(&mixed), ids(&BRETAGNE));
    assert!(mixed["suggestions"].as_array().unwrap().iter().any(|s| s["kind"] == "concept"), "{mixed}");
    // With typos too.
    let (_, fuzzy) = fixture.suggest_with(&bretagne, "q=usinaje&k=20&kinds=company");
    assert_eq!(company_suggestions(&fuzzy), ids(&BRETAGNE));
}

#[test]
fn forged_tampered_expired_revoked_and_out_of_scope_tokens_are_refused() {
    let fixture = Fixture::start(false);
    let query = json!({"query": "usinage"});
    let good = fixture.token("partner", json!({"exp": now() + 600, "filters": {"region": ["Bretagne"]}}));
    assert_eq!(fixture.match_with(&good, &[], query.clone()).0, 200);
    let refused = |credential: &str| {
        let (status, answer) = fixture.match_with(credential, &[], query.clone());
        assert_eq!(status, 401, "{answer}");
        let (code, reason) = refusal(&answer);
        assert_eq!(code, "invalid_api_key", "{answer}");
        reason
    };

    // Forged: signed with another key's secret under the partner's id.
    let forged = issue(fixture.key("writer"), fixture.id("partner"), &json!({"exp": now() + 600}).to_string());
    assert_eq!(refused(&forged), "signature");
    // Tampered: the filters changed, the signature kept.
    let widened = fixture.token("partner", json!({"exp": now() + 600, "filters": {"region": ["Occitanie"]}}));
    let (signed, _) = widened.rsplit_once('.').unwrap();
    let (_, signature) = good.rsplit_once('.').unwrap();
    assert_eq!(refused(&format!("{signed}.{signature}")), "signature");
    // Expired, and too long-lived.
    assert_eq!(refused(&fixture.token("partner", json!({"exp": now() - 1}))), "expired");
    let overlong = fixture.token("partner", json!({"exp": now() + MAX_LIFETIME_SECONDS + 3600}));
    assert_eq!(refused(&overlong), "lifetime_too_long");
    // A bad payload names its field; a huge header is refused, not parsed.
    let bad = fixture.token("partner", json!({"exp": now() + 60, "filters": {"region": ["Atlantis"]}}));
    let (_, answer) = fixture.match_with(&bad, &[], query.clone());
    assert!(answer["error"]["message"].as_str().unwrap().contains("filters.region[0]"), "{answer}");
    assert_eq!(refused(&format!("{good}{}", "A".repeat(5000))), "malformed");
    // A publishable key's "token".
    let from_browser_key = fixture.token("browser", json!({"exp": now() + 600}));
    assert_eq!(refused(&from_browser_key), "not_a_secret_key");

    // Scope: the suggester key's tokens may suggest, not search; a token narrowed to suggest
    // may not search either. Both are 403 naming the scope.
    let suggester = fixture.token("suggester", json!({"exp": now() + 600}));
    let narrowed = fixture.token("partner", json!({"exp": now() + 600, "scopes": ["suggest"]}));
    for token in [&suggester, &narrowed] {
        let (status, answer) = fixture.match_with(token, &[], query.clone());
        assert_eq!((status, answer["error"]["details"]["scope"].as_str()), (403, Some("search")), "{answer}");
        assert_eq!(fixture.suggest_with(token, "q=usi").0, 200);
    }
    // No token reaches beyond search, suggest and feedback, whatever its key holds.
    let writer_token = fixture.token("writer", json!({"exp": now() + 600}));
    let (status, _) = call(
        &fixture.server.addr,
        "POST",
        "/api/v1/companies",
        &[auth(&writer_token), ("content-type", "application/json".into())],
        common::company(1).to_string().as_bytes(),
    );
    assert_eq!(status, 403);

    // Origin: none (a back end) or one of the key's.
    assert_eq!(fixture.match_with(&good, &[("origin", "https://shop.example")], query.clone()).0, 200);
    let (status, answer) = fixture.match_with(&good, &[("origin", "https://evil.example")], query.clone());
    assert_eq!((status, refusal(&answer).0.as_str()), (403, "origin_not_allowed"), "{answer}");
    let (status, _) = fixture.match_with(&writer_token, &[("origin", "https://shop.example")], query.clone());
    assert_eq!(status, 403);

    // Revoked by the CLI: the running server refuses the key's tokens within a second or so.
    keys_cli(&["revoke", fixture.id("partner"), "--data", fixture.data.to_str().unwrap(), "--json"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, answer) = fixture.match_with(&good, &[], query.clone());
        if status == 401 {
            assert_eq!(refusal(&answer), ("invalid_api_key".into(), "key_revoked".into()));
            break;
        }
        assert!(Instant::now() < deadline, "a revoked key's token still works: {status} {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fenced block of `language` in the README's "Signed tokens" section.
fn readme_example(language: &str) -> String {
    let readme = include_str!("../README.md");
    let section = readme.split("\n## Signed tokens\n").nth(1).expect("a Signed tokens section");
    let section = section.split("\n## ").next().unwrap();
    let fence = format!("\n```{language}\n");
    let start = section.find(&fence).unwrap_or_else(|| panic!("no {language} example")) + fence.len();
    let end = section[start..].find("\n```").unwrap() + start;
    section[start..=end].to_owned()
}

/// Runs an example with the partner key in the variables it reads; the token it prints.
fn run_example(fixture: &Fixture, program: &str, file: &str, code: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, code).unwrap();
    let output = Command::new(program)
        .arg(&path)
        .env("MARKETLOUNGE_KEY", fixture.key("partner"))
        .env("MARKETLOUNGE_KEY_ID", fixture.id("partner"))
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(output.status.success(), "{program} {file}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_readme_examples_issue_tokens_the_server_enforces() {
    let fixture = Fixture::start(true);
    let python = run_example(&fixture, "python3", "issue_token.py", &readme_example("python"));
    let javascript = run_example(&fixture, "node", "issue_token.js", &readme_example("js"));
    for token in [&python, &javascript] {
        assert!(token.starts_with(&format!("mlt_{}.", fixture.id("partner"))), "{token}");
        let (status, answer) = fixture.match_with(token, &[], json!({"query": "usinage", "k": 20}));
        assert_eq!(status, 200, "{token}: {answer}");
        assert_eq!(hit_ids(&answer), ids(&BRETAGNE), "{answer}");
        let (status, answer) = fixture.suggest_with(token, "q=usinage&k=20&kinds=company");
        assert_eq!((status, company_suggestions(&answer)), (200, ids(&BRETAGNE)), "{answer}");
    }
}
