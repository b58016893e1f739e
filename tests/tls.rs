//! Native TLS (issue 21): `serve --tls-cert --tls-key` answers HTTPS with HSTS, and SIGHUP
//! swaps in a renewed certificate without dropping the connections already open; a reload that
//! fails keeps the certificate in use.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

mod common;

/// A self-signed certificate for localhost: (certificate PEM, key PEM, certificate DER).
fn certificate() -> (String, String, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    (certified.cert.pem(), certified.signing_key.serialize_pem(), certified.cert.der().clone())
}

/// Writes a file whole under its name (as a certificate renewal tool does).
fn put(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A TLS client trusting only `root`.
type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(addr: &str, root: &CertificateDer<'static>) -> std::io::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    #[allow(deprecated)] // the server's provider, see src/http/tls.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap().to_owned()).unwrap();
    let socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = rustls::StreamOwned::new(connection, socket);
    // The handshake (and its certificate check) happens on the first write.
    stream.conn.complete_io(&mut stream.sock)?;
    Ok(stream)
}

/// One keep-alive `GET /health`; returns the answer's head (lower-cased).
fn health(stream: &mut Tls) -> String {
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Until the whole body (`content-length`) is in.
    loop {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the connection closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return head.to_owned();
            }
        }
    }
}

#[test]
fn https_with_a_certificate_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first_pem, first_key, first) = certificate();
    put(&cert, &first_pem);
    put(&key, &first_key);
    let data = dir.path().join("data");
    let (_, log) = common::server_log_file();
    let mut child = Command::new(common::binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("MARKETLOUNGE_LOG", common::SERVER_LOG_LEVEL)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on https://").unwrap_or_else(|| panic!("{line:?}")).to_owned();

    let mut open = connect(&addr, &first).unwrap();
    let head = health(&mut open);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("strict-transport-security: max-age=31536000"), "{head}");
    // Plain HTTP gets no answer from the TLS port.
    assert!(common::http(&addr, "GET", "/health", "application/json", b"").is_err());

    // Renewal: new files, SIGHUP, and new connections see the new certificate.
    let (second_pem, second_key, second) = certificate();
    put(&cert, &second_pem);
    put(&key, &second_key);
    let hangup = |pid: u32| assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
    hangup(child.id());
    let started = Instant::now();
    while connect(&addr, &second).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "the renewed certificate was never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(connect(&addr, &first).is_err(), "the old certificate is still served");
    // The connection opened before the reload goes on.
    assert!(health(&mut open).starts_with("http/1.1 200"));

    // A half-written renewal: the reload fails and the certificate in use stays.
    put(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n");
    hangup(child.id());
    std::thread::sleep(Duration::from_millis(300));
    let mut after = connect(&addr, &second).expect("the certificate in use stays after a failed reload");
    assert!(health(&mut after).starts_with("http/1.1 200"));

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_wrong_certificate_or_key_is_refused_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (pem, _, _) = certificate();
    let (_, other_key, _) = certificate();
    put(&cert, &pem);
    put(&key, &other_key);
    let data = dir.path().join("data");
    let serve = |cert: &Path, key: &Path| {
        let output = Command::new(common::binary())
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let mismatch = serve(&cert, &key);
    assert!(mismatch.contains("does not go with the certificate"), "{mismatch}");
    let missing = serve(&dir.path().join("nope.pem"), &key);
    assert!(missing.contains("nope.pem"), "{missing}");
    // The key's text never appears in an error.
    put(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----\n");
    let bad_key = serve(&cert, &key);
    assert!(!bad_key.contains("c2VjcmV0LXZhbHVl") && bad_key.contains("key.pem"), "{bad_key}");
}
