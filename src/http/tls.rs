//! Native TLS (issue 21): `serve --tls-cert FILE --tls-key FILE`. The certificate chain and key
//! are PEM files; SIGHUP reads them again (a renewed certificate) without dropping a
//! connection: connections already open keep the session they negotiated, new ones get the new
//! certificate. A reload that fails (a half-written file, a key that does not match) is logged
//! and the certificate in use stays. Answers over TLS carry `Strict-Transport-Security`.
//!
//! rustls with the ring provider: TLS 1.3 and 1.2 with rustls' safe defaults, HTTP/1.1 by ALPN.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The certificate and key files, and the configuration read from them.
#[derive(Debug)]
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    config: ArcSwap<ServerConfig>,
}

impl Tls {
    /// Reads the certificate chain and key; an error names the file and what is wrong.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let config = server_config(cert, key)?;
        Ok(Tls { cert: cert.to_owned(), key: key.to_owned(), config: ArcSwap::from(config) })
    }

    /// Reads the files again; on error the configuration in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        self.config.store(server_config(&self.cert, &self.key)?);
        Ok(())
    }

    /// The acceptor for the next connection (with the configuration in use now).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// Reloads on every SIGHUP, for as long as the server runs.
    pub fn reload_on_sighup(self: &Arc<Tls>) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        let tls = Arc::clone(self);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!(cert = %tls.cert.display(), "SIGHUP: TLS certificate reloaded"),
                    Err(error) => tracing::error!(
                        error = format!("{error:#}"),
                        "SIGHUP: the TLS certificate could not be reloaded; the one in use stays"
                    ),
                }
            }
        });
        Ok(())
    }
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("the TLS certificate {} is not PEM", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "the TLS certificate {} holds no certificate", cert.display());
    // The error never quotes the file: it is a private key.
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| anyhow::anyhow!("the TLS key {} has no usable PEM private key ({err})", key.display()))?;
    // ring rather than aws-lc-rs: no C/CMake build of aws-lc in every clean build. rustls marks
    // ring's provider deprecated because it has no post-quantum key exchange; a TLS proxy in
    // front offers that where it is wanted.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .with_context(|| {
            format!("the TLS key {} does not go with the certificate {}", key.display(), cert.display())
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
