//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod app;
pub mod contract;
pub mod metrics;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `marketlounge` binary built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_marketlounge"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(binary()).args(args).env("MARKETLOUNGE_LOG", "warn").output().expect("the binary runs")
}

/// A SIREN-like id: 8 digits from `n` plus the Luhn check digit.
pub use marketlounge_index::record::siren_with_check_digit as siren;

/// A valid company record: the document's example company under id and name `n`.
pub fn company(n: u32) -> serde_json::Value {
    let mut record = marketlounge::openapi::company_example();
    record["id"] = serde_json::json!(siren(n));
    record["name"] = serde_json::json!(format!("Mécanique Précision {n}"));
    record
}

/// A running `marketlounge serve` child, its address and its log file.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: String,
    /// Everything the server logged (info and above, every request's trace at debug), in
    /// [`server_log_dir`]: `tools/check-logs` greps all of them after a test run for API keys
    /// and tokens, which must never be logged.
    pub log: std::path::PathBuf,
}

/// Where the servers that tests start write their logs: one file per server, kept after the
/// run (`tools/test` empties the directory first).
pub fn server_log_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-logs")
}

/// The log level of test servers: what an operator's server logs at info, and every request's
/// trace.
pub const SERVER_LOG_LEVEL: &str = "info,tower_http=debug";

/// A new log file for a server started by this test process.
pub fn server_log_file() -> (std::path::PathBuf, std::fs::File) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = server_log_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let test = std::env::args().next().and_then(|a| a.rsplit('/').next().map(str::to_owned)).unwrap_or_default();
    let path = dir.join(format!("{test}-{}-{}.log", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}

/// Starts the server on an ephemeral port and waits until it listens.
pub fn serve(data: &std::path::Path, settings: Option<&std::path::Path>) -> ServerProcess {
    serve_with(data, settings, &[])
}

/// [`serve`] with more arguments for the command line (`--log-format json`).
pub fn serve_with(data: &std::path::Path, settings: Option<&std::path::Path>, args: &[&str]) -> ServerProcess {
    use std::io::BufRead;
    let mut command = Command::new(binary());
    if let Some(settings) = settings {
        command.arg("--settings").arg(settings);
    }
    command.args(args);
    let (log, log_file) = server_log_file();
    let mut child = command
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("MARKETLOUNGE_LOG", SERVER_LOG_LEVEL)
        .stdout(std::process::Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("the server starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let addr = first_line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| {
            panic!(
                "server did not start: {first_line:?}; its log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .to_owned();
    ServerProcess { child, addr, log }
}

/// A test that ends, passing or not, leaves no server running.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// One HTTP/1.1 request with `Connection: close` to this server; returns the status and the
/// body, checked against the OpenAPI document.
pub fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let (status, response) = exchange(addr, method, path, content_type, body)?;
    check_raw(method, path, &response);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// [`http`] to another program's server (Prometheus): not checked against our document.
#[allow(dead_code)]
pub fn http_other(addr: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let (status, response) = exchange(addr, method, path, "text/plain", b"")?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// The status and the whole raw answer (head and body).
fn exchange(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad response {response:?}")))?;
    Ok((status, response))
}

/// Checks a raw HTTP/1.1 answer (head and body, as read from a socket) against the OpenAPI
/// document ([`contract::check`]).
pub fn check_raw(method: &str, path: &str, response: &str) {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
    let Some(status) = head.get(9..12).and_then(|s| s.parse().ok()) else { return };
    let header = |wanted: &str| {
        head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(wanted).then(|| value.trim())
        })
    };
    // A connection may carry more answers after this one (pipelined requests): the body ends
    // at its length.
    let body = match header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        Some(length) => &body.as_bytes()[..length.min(body.len())],
        None => body.as_bytes(),
    };
    contract::check(method, path, status, header("content-type"), body);
}
