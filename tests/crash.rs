//! Crash safety with a real child process killed by SIGKILL at random moments:
//! - a server taking acknowledged upserts and deletes while it flushes and merges constantly;
//! - `marketlounge index build` killed during the build and the publish.
//!
//! After each kill, the restarted process opens the last published state, every acknowledged
//! write is there, and no file is corrupt.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tiny deterministic generator (the kill moments must be reproducible from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the client knows about one id: the last acknowledged state (`None` = absent) and, if a
/// later request got no answer, the state it tried to set.
#[derive(Debug, Clone, Default)]
struct Known {
    acked: Option<u32>,
    uncertain: Option<Option<u32>>,
}

fn record(n: u32, version: u32) -> serde_json::Value {
    let mut company = common::company(n);
    company["name"] = serde_json::json!(format!("Atelier {n} v{version}"));
    company
}

fn version_of(body: &str) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value["name"].as_str()?.rsplit_once(" v")?.1.parse().ok()
}

#[test]
fn acknowledged_writes_survive_kill_9_during_flushes_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let settings = dir.path().join("settings.json");
    let mut values: serde_json::Value = serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
    values["index"]["flush_interval_ms"] = serde_json::json!(15);
    values["index"]["max_segments"] = serde_json::json!(2);
    std::fs::write(&settings, values.to_string()).unwrap();

    let known: Arc<Mutex<HashMap<u32, Known>>> = Arc::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut version = 0u32;
    for round in 0..4 {
        let server = common::serve(&data, Some(&settings));
        let addr = server.addr.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (known, stop) = (Arc::clone(&known), Arc::clone(&stop));
            let mut rng = Rng(rng.next() | 1);
            let mut version = version;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    version += 1;
                    if rng.below(5) == 0 {
                        let present: Vec<u32> = known
                            .lock()
                            .unwrap()
                            .iter()
                            .filter(|(_, k)| k.acked.is_some() && k.uncertain.is_none())
                            .map(|(&n, _)| n)
                            .collect();
                        if let Some(&n) = present.get(rng.below(present.len().max(1) as u64) as usize) {
                            let path = format!("/api/v1/companies/{}", common::siren(n));
                            known.lock().unwrap().get_mut(&n).unwrap().uncertain = Some(None);
                            match common::http(&addr, "DELETE", &path, "application/json", b"") {
                                Ok((200, _)) => *known.lock().unwrap().get_mut(&n).unwrap() = Known::default(),
                                Ok((status, body)) => panic!("delete answered {status}: {body}"),
                                Err(_) => return version,
                            }
                        }
                        continue;
                    }
                    let ids: Vec<u32> = (0..1 + rng.below(4)).map(|_| rng.below(150) as u32).collect();
                    let mut ids = ids;
                    ids.sort_unstable();
                    ids.dedup();
                    let body: String = ids.iter().map(|&n| format!("{}\n", record(n, version))).collect();
                    for &n in &ids {
                        known.lock().unwrap().entry(n).or_default().uncertain = Some(Some(version));
                    }
                    match common::http(&addr, "POST", "/api/v1/companies", "application/x-ndjson", body.as_bytes()) {
                        Ok((200, _)) => {
                            let mut known = known.lock().unwrap();
                            for &n in &ids {
                                *known.get_mut(&n).unwrap() = Known { acked: Some(version), uncertain: None };
                            }
                        }
                        Ok((status, body)) => panic!("upsert answered {status}: {body}"),
                        Err(_) => return version,
                    }
                }
                version
            })
        };
        std::thread::sleep(Duration::from_millis(150 + rng.below(900)));
        server.kill_9();
        stop.store(true, Ordering::Relaxed);
        version = writer.join().unwrap() + 1;

        // Restart: everything acknowledged is there; an unanswered write may or may not be.
        let server = common::serve(&data, Some(&settings));
        let mut known = known.lock().unwrap();
        assert!(!known.is_empty(), "round {round}: the writer wrote nothing");
        for (&n, state) in known.iter_mut() {
            let path = format!("/api/v1/companies/{}", common::siren(n));
            let (status, body) = common::http(&server.addr, "GET", &path, "application/json", b"").unwrap();
            let found = match status {
                200 => Some(version_of(&body).unwrap()),
                404 => None,
                other => panic!("round {round}: GET {n} answered {other}: {body}"),
            };
            let allowed = found == state.acked || state.uncertain == Some(found);
            assert!(
                allowed,
                "round {round}: company {n} is {found:?}, acknowledged {:?}, in flight {:?}",
                state.acked, state.uncertain
            );
            *state = Known { acked: found, uncertain: None };
        }
        let (status, health) = common::http(&server.addr, "GET", "/health", "application/json", b"").unwrap();
        assert_eq!(status, 200, "{health}");
        server.kill_9();
    }
    // The directory passes a full checksum verification.
    let output =
        common::run(&["--settings", settings.to_str().unwrap(), "index", "verify", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_killed_bulk_build_leaves_the_previous_generation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let small = dir.path().join("small.ndjson");
    let large = dir.path().join("large.ndjson");
    let lines = |range: std::ops::Range<u32>| range.map(|n| format!("{}\n", common::company(n))).collect::<String>();
    std::fs::write(&small, lines(0..50)).unwrap();
    std::fs::write(&large, lines(1000..16_000)).unwrap();
    let build = |file: &std::path::Path| {
        std::process::Command::new(common::binary())
            // The builds alternate between 50 and 15,000 companies: the loss is intended.
            .args(["index", "build", "--allow-shrink", "--data", data.to_str().unwrap()])
            .args(["--companies", file.to_str().unwrap()])
            .env("MARKETLOUNGE_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let live_docs = || {
        let output = common::run(&["index", "info", "--data", data.to_str().unwrap()]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        info["live_docs"].as_u64().unwrap()
    };
    // Time each build once, uninterrupted, so that the kills below land inside builds whatever
    // the speed of the machine.
    let timed = |file: &std::path::Path| {
        let started = std::time::Instant::now();
        assert!(build(file).wait().unwrap().success());
        started.elapsed()
    };
    timed(&small);
    let large_time = timed(&large);
    assert_eq!(live_docs(), 15_000);
    let small_time = timed(&small);
    assert_eq!(live_docs(), 50);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut current = 50;
    let mut killed_before_publish = 0;
    for _ in 0..6 {
        let (file, time) = if current == 50 { (&large, large_time) } else { (&small, small_time) };
        let mut child = build(file);
        // Somewhere between 5 % and 105 % of a full build: reading, finishing, publishing, or done.
        std::thread::sleep(time.mul_f64(0.05 + rng.below(1000) as f64 / 1000.0));
        let _ = child.kill();
        child.wait().unwrap();
        let after = live_docs();
        assert!(after == 50 || after == 15_000, "{after} live documents: neither generation");
        if after == current {
            killed_before_publish += 1;
        }
        current = after;
    }
    assert!(killed_before_publish > 0, "no kill landed during a build; the test proves nothing");
    let output = common::run(&["index", "verify", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // No half-built segment directory survives the next open.
    let segments = std::fs::read_dir(data.join("segments")).unwrap().count();
    let info = common::run(&["index", "info", "--data", data.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(segments, info["segments"].as_array().unwrap().len());
}
