//! Rate limits and monthly quotas on a real server process and a real key table: a key's rate
//! under a load ten times over it, quotas across a SIGKILL and a clean stop, the per-address
//! limits (failed key checks, publishable keys), and the rate-limit headers' syntax.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// One answer: status, headers (names lowercase), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
}

/// An HTTP/1.1 client on one keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    addr: String,
}

impl Client {
    fn connect(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { reader: BufReader::new(stream), addr: addr.to_owned() }
    }

    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.reader.get_mut().write_all(head.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("answers carry a content-length");
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
        common::contract::check("GET", path, status, content_type, &body);
        Answer { status, headers, body: String::from_utf8(body).unwrap() }
    }
}

const SUGGEST: &str = "/api/v1/suggest?q=usinage";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Creates a key with the CLI (offline, on the data directory): its id and secret.
fn create_key(data: &std::path::Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["keys", "create", "--data", data.to_str().unwrap(), "--name", "limits", "--json"];
    args.extend_from_slice(extra);
    let output = common::run(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["key"].as_str().unwrap().to_owned())
}

/// A settings file: the defaults with these `auth` fields.
fn settings_with_auth(dir: &std::path::Path, auth: serde_json::Value) -> std::path::PathBuf {
    let mut settings: serde_json::Value =
        serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
    settings["auth"] = auth;
    let path = dir.join("settings.json");
    std::fs::write(&path, settings.to_string()).unwrap();
    path
}

/// A structured-field list (RFC 8941) of strings with integer parameters, parsed strictly:
/// `"name";p=1;q=2, "other";p=3`.
fn parse_list(field: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let mut items = Vec::new();
    for member in field.split(',') {
        let member = member.trim_matches(' ');
        let rest = member.strip_prefix('"').unwrap_or_else(|| panic!("{field:?}: an item is not a string"));
        let (name, params) = rest.split_once('"').unwrap_or_else(|| panic!("{field:?}: unterminated string"));
        assert!(name.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'\\'), "{field:?}");
        let mut parsed = Vec::new();
        for param in params.split(';').skip(1) {
            let (key, value) = param.split_once('=').unwrap_or_else(|| panic!("{field:?}: a parameter without value"));
            assert!(
                key.starts_with(|c: char| c.is_ascii_lowercase())
                    && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b)),
                "{field:?}: key {key:?}"
            );
            assert!(
                (1..=15).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()),
                "{field:?}: {value:?}"
            );
            parsed.push((key.to_owned(), value.parse().unwrap()));
        }
        assert!(params.is_empty() || params.starts_with(';'), "{field:?}: junk after a string");
        items.push((name.to_owned(), parsed));
    }
    items
}

fn param(items: &[(String, Vec<(String, i64)>)], name: &str, key: &str) -> i64 {
    let (_, params) =
        items.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no policy {name:?} in {items:?}"));
    params.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("no {key} in {name:?}")).1
}

fn unix_now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A key limited to 50/s (burst 5) under 500 requests/s for 10 s, from four keep-alive
/// connections paced to the schedule: 50/s ± 10 % answered, every other answer a 429 with its
/// headers, nothing else.
#[test]
fn a_key_gets_its_rate_under_ten_times_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = create_key(dir.path(), &["--scopes", "suggest", "--rate", "50", "--burst", "5"]);
    let server = common::serve(dir.path(), None);
    let (threads, per_thread, seconds) = (4u32, 1250u32, 10.0);
    let interval = Duration::from_secs_f64(seconds * f64::from(threads) / f64::from(threads * per_thread));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (addr, key) = (server.addr.clone(), key.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(&addr);
                let authorization = bearer(&key);
                // The threads' schedules interleave: one request every 2 ms overall.
                let offset = interval / threads * t;
                let mut counts = (0u32, 0u32);
                for i in 0..per_thread {
                    let due = started + offset + interval * i;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let answer = client.get(SUGGEST, &[("Authorization", &authorization)]);
                    match answer.status {
                        200 => counts.0 += 1,
                        429 => {
                            counts.1 += 1;
                            assert_eq!(answer.json()["error"]["code"], "rate_limited");
                            let retry: u64 = answer.header("retry-after").unwrap().parse().unwrap();
                            assert_eq!(retry, 1, "a 50/s limit frees a request within a second");
                            for name in [
                                "ratelimit-policy",
                                "ratelimit",
                                "x-ratelimit-limit",
                                "x-ratelimit-remaining",
                                "x-ratelimit-reset",
                            ] {
                                assert!(answer.header(name).is_some(), "a 429 without {name}");
                            }
                        }
                        other => panic!("status {other}: {}", answer.body),
                    }
                }
                counts
            })
        })
        .collect();
    let (mut ok, mut limited) = (0, 0);
    for worker in workers {
        let (o, l) = worker.join().unwrap();
        ok += o;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert!(elapsed < seconds * 1.1, "the load took {elapsed:.1} s instead of {seconds} s: not 500/s");
    assert_eq!(ok + limited, threads * per_thread);
    let rate = f64::from(ok) / elapsed;
    println!("{ok} of {} answered in {elapsed:.2} s: {rate:.1}/s for a limit of 50/s", ok + limited);
    assert!((45.0..=55.0).contains(&rate), "{ok} answered in {elapsed:.2} s: {rate:.1}/s, not 50/s ± 10 %");
    server.kill_9();
}

/// Spends requests of a key until the first refusal (at most `limit`): how many were answered,
/// and the refusal.
fn spend(addr: &str, key: &str, limit: usize) -> (usize, Answer) {
    let mut client = Client::connect(addr);
    let authorization = bearer(key);
    for n in 0..limit {
        let answer = client.get(SUGGEST, &[("Authorization", &authorization)]);
        match answer.status {
            200 => {}
            429 => return (n, answer),
            other => panic!("status {other}: {}", answer.body),
        }
    }
    panic!("{limit} requests answered without a refusal");
}

fn spend_exactly(addr: &str, key: &str, n: usize) {
    let mut client = Client::connect(addr);
    let authorization = bearer(key);
    for _ in 0..n {
        let answer = client.get(SUGGEST, &[("Authorization", &authorization)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

/// Quotas survive a SIGKILL and a clean stop: a restart never resets a count nor lets a key past
/// its quota; a SIGKILL costs at most one lease block, a clean stop nothing. Past the
/// quota: 429 `quota_exceeded` naming the reset date, `Retry-After` counting the seconds to it.
#[test]
fn quotas_survive_restarts_sigkill_included() {
    let dir = tempfile::tempdir().unwrap();
    // 30 a month: a lease block of 1, every answer durable first.
    let (small_id, small) = create_key(dir.path(), &["--scopes", "suggest", "--quota", "30"]);
    // 1,000 a month: blocks of 10, one durable write every 10 answers.
    let (_, killed) = create_key(dir.path(), &["--scopes", "suggest", "--quota", "1000"]);
    let (_, stopped) = create_key(dir.path(), &["--scopes", "suggest", "--quota", "1000"]);
    let server = common::serve(dir.path(), None);
    spend_exactly(&server.addr, &small, 20);
    spend_exactly(&server.addr, &killed, 25);
    server.kill_9();

    let server = common::serve(dir.path(), None);
    let (answered, refusal) = spend(&server.addr, &small, 40);
    assert_eq!(answered, 10, "quota 30, 20 spent before the SIGKILL");
    let (answered, _) = spend(&server.addr, &killed, 2000);
    // 25 spent: the lease stood at most a block (10) past them when the process died.
    assert!((965..=975).contains(&answered), "{answered} answered after 25 of 1000 and a SIGKILL");
    println!("quota 1000, 25 spent, SIGKILL: {answered} answered after the restart");

    let body = refusal.json();
    assert_eq!(body["error"]["code"], "quota_exceeded");
    let now = jiff::Timestamp::now();
    let date = now.to_zoned(jiff::tz::TimeZone::UTC).date().first_of_month();
    let reset = date.checked_add(jiff::Span::new().months(1)).unwrap();
    let reset = reset.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp();
    let resets_at = reset.to_string();
    assert_eq!(body["error"]["details"]["resets_at"], resets_at.as_str());
    assert!(body["error"]["message"].as_str().unwrap().contains(&resets_at), "{body}");
    let retry: i64 = refusal.header("retry-after").unwrap().parse().unwrap();
    assert!((retry - (reset.as_second() - now.as_second())).abs() <= 2, "Retry-After {retry}");

    // A clean stop gives the unused lease back: nothing lost.
    spend_exactly(&server.addr, &stopped, 25);
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut server = server;
    assert!(server.child.wait().unwrap().success());
    let server = common::serve(dir.path(), None);
    let (answered, _) = spend(&server.addr, &stopped, 2000);
    assert_eq!(answered, 975, "25 of 1000 spent before a clean stop");
    // And the used-up keys stay used up.
    assert_eq!(spend(&server.addr, &small, 1).0, 0);
    // `keys list` shows the count this month, beside a running server.
    let listed = common::run(&["keys", "list", "--data", dir.path().to_str().unwrap(), "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let small_listed = listed.as_array().unwrap().iter().find(|key| key["id"] == small_id.as_str()).unwrap();
    assert_eq!(small_listed["quota_used"], 30);
    server.kill_9();
}

/// After `auth.failed_auth_burst` invalid keys, every request from the address that presents a
/// key is refused before any check, a valid key's too; one without a key is still a 401.
#[test]
fn failed_key_checks_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = create_key(dir.path(), &["--scopes", "suggest"]);
    let settings =
        settings_with_auth(dir.path(), serde_json::json!({"failed_auth_burst": 3, "failed_auth_rate": 0.01}));
    let server = common::serve(dir.path(), Some(&settings));
    let mut client = Client::connect(&server.addr);
    // A valid key before any failure spends nothing.
    assert_eq!(client.get(SUGGEST, &[("X-API-Key", &key)]).status, 200);
    let wrong = format!("mlk_sec_{}", "x".repeat(43));
    for _ in 0..3 {
        let answer = client.get(SUGGEST, &[("Authorization", &bearer(&wrong))]);
        assert_eq!((answer.status, answer.json()["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    }
    for presented in [&wrong, &key] {
        let answer = client.get(SUGGEST, &[("Authorization", &bearer(presented))]);
        assert_eq!(answer.status, 429, "{}", answer.body);
        let body = answer.json();
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"]["details"]["policy"], "failed-auth");
        let retry: i64 = answer.header("retry-after").unwrap().parse().unwrap();
        assert!((90..=100).contains(&retry), "one failure per 100 s: Retry-After {retry}");
        let policy = parse_list(answer.header("ratelimit-policy").unwrap());
        assert_eq!((param(&policy, "failed-auth", "q"), param(&policy, "failed-auth", "w")), (3, 300));
        let state = parse_list(answer.header("ratelimit").unwrap());
        assert_eq!((param(&state, "failed-auth", "r"), param(&state, "failed-auth", "t")), (0, retry));
    }
    let answer = client.get(SUGGEST, &[]);
    assert_eq!((answer.status, answer.json()["error"]["code"].as_str()), (401, Some("missing_api_key")));
    server.kill_9();
}

/// Behind a trusted proxy, clients are told apart by the address it forwarded: one client's
/// failed key checks block that client alone, and what a client writes in `X-Forwarded-For`
/// itself is not believed.
#[test]
fn clients_behind_a_trusted_proxy_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = create_key(dir.path(), &["--scopes", "suggest"]);
    let auth = serde_json::json!({"failed_auth_burst": 2, "failed_auth_rate": 0.01, "trusted_proxies": ["127.0.0.1"]});
    let server = common::serve(dir.path(), Some(&settings_with_auth(dir.path(), auth)));
    let mut client = Client::connect(&server.addr);
    let wrong = bearer(&format!("mlk_sec_{}", "y".repeat(43)));
    let from = |forwarded: &'static str| [("Authorization", wrong.clone()), ("X-Forwarded-For", forwarded.to_owned())];
    let mut status = |headers: [(&str, String); 2]| {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        client.get(SUGGEST, &headers).status
    };
    assert_eq!(status(from("198.51.100.1")), 401);
    assert_eq!(status(from("198.51.100.1")), 401);
    assert_eq!(status(from("198.51.100.1")), 429, "the client's second failure blocks it");
    // Another client behind the proxy, even one claiming the blocked address before the
    // proxy's own entry, is not blocked.
    assert_eq!(status(from("198.51.100.1, 198.51.100.2")), 401);
    assert_eq!(status([("X-API-Key", key.clone()), ("X-Forwarded-For", "198.51.100.3".to_owned())]), 200);
    assert_eq!(status([("X-API-Key", key.clone()), ("X-Forwarded-For", "198.51.100.1".to_owned())]), 429);
    server.kill_9();
}

/// A publishable key is limited per client address too (a browser key is public); the answers
/// show both limits, and a secret key from the same address is not held by the address's.
#[test]
fn publishable_keys_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let origin = "https://shop.example";
    let (_, browser) = create_key(dir.path(), &["--scopes", "suggest", "--publishable", "--origins", origin]);
    let (_, server_side) = create_key(dir.path(), &["--scopes", "suggest"]);
    let settings = settings_with_auth(dir.path(), serde_json::json!({"per_ip_rate": 0.1, "per_ip_burst": 3}));
    let server = common::serve(dir.path(), Some(&settings));
    let mut client = Client::connect(&server.addr);
    for remaining in [2, 1, 0] {
        let answer = client.get(SUGGEST, &[("X-API-Key", &browser), ("Origin", origin)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let state = parse_list(answer.header("ratelimit").unwrap());
        assert_eq!(param(&state, "ip", "r"), remaining);
        // The key's own limit is the publishable default (100/s, bursts of 200).
        let policy = parse_list(answer.header("ratelimit-policy").unwrap());
        assert_eq!((param(&policy, "key", "q"), param(&policy, "key", "w")), (200, 2));
        assert_eq!(answer.header("x-ratelimit-remaining"), Some(remaining.to_string().as_str()));
    }
    let answer = client.get(SUGGEST, &[("X-API-Key", &browser), ("Origin", origin)]);
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(answer.json()["error"]["details"]["policy"], "ip");
    assert_eq!(answer.header("retry-after"), Some("10"));
    let answer = client.get(SUGGEST, &[("X-API-Key", &server_side)]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("ratelimit"), None, "a secret key without limits gets no rate-limit fields");
    server.kill_9();
}

/// The fields' syntax and values on answers and on a refusal: structured-field lists, the
/// binding limit in `X-RateLimit-*`, `-Reset` a Unix time, the refusing limit's `t` equal to
/// `Retry-After`.
#[test]
fn rate_limit_fields_follow_the_draft() {
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = create_key(dir.path(), &["--scopes", "suggest", "--rate", "0.5", "--burst", "2", "--quota", "100"]);
    let server = common::serve(dir.path(), None);
    let mut client = Client::connect(&server.addr);
    let authorization = bearer(&key);
    for remaining in [1, 0] {
        let answer = client.get(SUGGEST, &[("Authorization", &authorization)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let policy = parse_list(answer.header("ratelimit-policy").unwrap());
        assert_eq!(policy.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["key", "month"]);
        assert_eq!((param(&policy, "key", "q"), param(&policy, "key", "w")), (2, 4));
        assert_eq!(param(&policy, "month", "q"), 100);
        assert!((28 * 86_400..=31 * 86_400).contains(&param(&policy, "month", "w")));
        let state = parse_list(answer.header("ratelimit").unwrap());
        assert_eq!(param(&state, "key", "r"), remaining);
        let refill = param(&state, "key", "t");
        assert_eq!(refill, 2 * (2 - remaining), "a burst of 2 at one per 2 s refills in {refill} s");
        assert_eq!(param(&state, "month", "r"), 99 - (1 - remaining));
        // The binding limit is the key's (fewest left).
        assert_eq!(answer.header("x-ratelimit-limit"), Some("2"));
        assert_eq!(answer.header("x-ratelimit-remaining"), Some(remaining.to_string().as_str()));
        let reset: i64 = answer.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((reset - (unix_now() + refill)).abs() <= 1, "X-RateLimit-Reset {reset} is not a Unix time");
    }
    let answer = client.get(SUGGEST, &[("Authorization", &authorization)]);
    assert_eq!(answer.status, 429, "{}", answer.body);
    let retry: i64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let state = parse_list(answer.header("ratelimit").unwrap());
    assert_eq!((param(&state, "key", "r"), param(&state, "key", "t")), (0, retry));
    assert!(state.iter().all(|(name, _)| name == "key"), "a request refused by its rate never reaches the quota");
    assert_eq!(answer.header("x-ratelimit-remaining"), Some("0"));
    let body = answer.json();
    assert_eq!(body["error"]["details"]["policy"], "key");
    assert!(body["error"]["message"].as_str().unwrap().contains("0.5 requests/s"), "{body}");
    server.kill_9();
}
