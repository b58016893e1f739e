//! The reference pages in a real browser: a server on loopback, headless Chromium (Debian's,
//! driven by Playwright for Python; both installed by `tools/setup-browser`) loading `/docs`
//! with every request that leaves the machine refused. Every operation of the document must
//! render, with the main calls' code samples, without a script error or a Content-Security-Policy
//! violation. Missing tools fail the test: it never passes without a browser.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The venv `tools/setup-browser` makes.
fn python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
    cache.join("marketlounge/docs-venv/bin/python")
}

fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join("chromium"))
        .find(|path| path.is_file())
}

#[test]
fn the_reference_pages_render_every_operation_offline() {
    let python = python();
    assert!(python.is_file(), "{} is missing: run tools/setup-browser (tools/test does)", python.display());
    let chromium = chromium().expect("chromium is not on PATH: run tools/setup-browser (tools/test does)");
    let data = tempfile::tempdir().unwrap();
    let mut server = common::serve(data.path(), None);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/docs-ui/check_docs.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(format!("http://{}", server.addr))
        .arg(&chromium)
        .output()
        .expect("the Playwright script runs");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the reference pages failed in the browser:\n{stdout}\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let documented = marketlounge::openapi::operations().len() as u64;
    assert_eq!(summary["operations_documented"], documented, "{summary}");
    assert!(summary["operations_rendered"].as_u64().unwrap() >= documented, "{summary}");
    println!("{summary}");
}
