//! `marketlounge keys`: a key's secret is printed once and found nowhere on disk; list, rotate
//! and revoke work offline on the data directory; bad input exits 2 naming the problem.

mod common;

use std::process::{Command, Output};

fn keys(args: &[&str]) -> Output {
    let output = Command::new(common::binary())
        .arg("keys")
        .args(args)
        .env("MARKETLOUNGE_LOG", common::SERVER_LOG_LEVEL)
        .env_remove("MARKETLOUNGE_MASTER_KEY")
        .output()
        .expect("the binary runs");
    // What the command logged joins the servers' logs that tools/check-logs reads; the key it
    // prints once is on stdout, which is not a log.
    let (_, mut log) = common::server_log_file();
    std::io::Write::write_all(&mut log, &output.stderr).unwrap();
    output
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// Every file of the directory, concatenated (the database, its WAL, the secret file).
fn every_byte(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

#[test]
fn a_key_is_shown_once_and_stored_as_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let created = json(&keys(&[
        "create",
        "--data",
        data,
        "--name",
        "Shop A",
        "--scopes",
        "search,suggest",
        "--publishable",
        "--origins",
        "https://a.example",
        "--rate",
        "50",
        "--quota",
        "1000",
        "--expires",
        "2027-01-01",
        "--json",
    ]));
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("mlk_pub_") && key.len() >= 8 + 43, "{key}");
    assert_eq!(created["scopes"], serde_json::json!(["search", "suggest"]));
    assert_eq!(created["expires_at"], 1_798_761_600);
    let secret_part = &key.as_bytes()[8..];
    assert!(!every_byte(dir.path()).windows(24).any(|w| w == &secret_part[..24]), "the secret is on disk");

    let listed = json(&keys(&["list", "--data", data, "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&key[8..]), "a list shows a secret");
    let id = created["id"].as_str().unwrap();

    let rotated = json(&keys(&["rotate", id, "--data", data, "--json"]));
    assert_ne!(rotated["key"], created["key"]);
    let revoked = json(&keys(&["revoke", id, "--data", data, "--json"]));
    assert!(revoked["revoked_at"].is_i64());
    let again = keys(&["rotate", id, "--data", data]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("revoked"));
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, says) in [
        (vec!["create", "--data", data, "--name", "x", "--scopes", "search,sudo"], "sudo"),
        (vec!["create", "--data", data, "--name", "x", "--scopes", "search,write", "--publishable"], "write"),
        (vec!["create", "--data", data, "--name", "x", "--scopes", "search", "--origins", "a.example"], "a.example"),
        (vec!["create", "--data", data, "--name", "x", "--scopes", "search", "--rate", "0"], "rate"),
        (vec!["revoke", "key_nope", "--data", data], "no server secret"),
    ] {
        let output = keys(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{args:?} wrote something");
    }
    json(&keys(&["create", "--data", data, "--name", "x", "--scopes", "admin", "--json"]));
    let output = keys(&["revoke", "key_nope", "--data", data]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no key with id"));
}
