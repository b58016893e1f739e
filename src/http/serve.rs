//! The socket side of the server: accepting connections up to `limits.max_connections`,
//! serving each with hyper's HTTP/1.1 connection (header-read timeout, idle keep-alive timeout,
//! hyper's own errors answered as JSON), and a graceful shutdown on SIGTERM or Ctrl-C.
//!
//! `axum::serve` does not expose hyper's connection settings nor the bytes hyper answers by
//! itself, hence this loop.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::AppState;
use super::connection_io::{Activity, ConnectionIo, MAX_HEAD_BYTES, MAX_HEADERS, raw_answer};
use super::tls::Tls;
use crate::error::{ApiError, ErrorCode};
use crate::settings::Limits;

/// Connections refused at once (each is answered, then read for a moment so that the client
/// sees the answer rather than a reset); past this, an extra connection is closed unanswered.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is kept to send its answer and read what the client sent.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves the API on `addr` (over TLS when `tls` is given, its certificate reloaded on SIGHUP)
/// until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(state: Arc<AppState>, addr: SocketAddr, tls: Option<Arc<Tls>>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|err| anyhow::anyhow!("cannot listen on {addr}: {err}"))?;
    let local_addr = listener.local_addr()?;
    if let Some(tls) = &tls {
        tls.reload_on_sighup()?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local_addr, scheme, data_dir = %state.data_dir.display(), "listening");
    // Printed on stdout so scripts and tests can find the port when binding to port 0.
    println!("listening on {scheme}://{local_addr}");
    let limits = state.settings.limits.clone();
    serve_on(listener, super::app(state), &limits, tls, shutdown_signal()).await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` completes, then stops
/// accepting, lets every connection finish its request under way (idle ones close at once) and
/// returns.
pub async fn serve_on(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let refusal_log = RateLimitedLog::default();
    let (stop, stopped) = watch::channel(false);
    let settings = ConnectionSettings {
        header_read_timeout: Duration::from_millis(limits.header_read_timeout_ms),
        keep_alive_timeout: Duration::from_millis(limits.keep_alive_timeout_ms),
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers (typeahead) go out at once instead of waiting for the previous
        // segment's acknowledgement (Nagle).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "TCP_NODELAY");
        }
        match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => {
                let (router, stopped) = (router.clone(), stopped.clone());
                let acceptor = tls.as_ref().map(|tls| tls.acceptor());
                tokio::spawn(async move {
                    match acceptor {
                        None => serve_connection(stream, peer, router, settings, stopped, false).await,
                        // The handshake is bounded like a request head: a client that opens a
                        // connection and says nothing holds it no longer.
                        Some(acceptor) => {
                            match tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(stream, peer, router, settings, stopped, true).await,
                                Ok(Err(error)) => tracing::debug!(%error, %peer, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                    }
                    drop(permit);
                });
            }
            Err(_) => {
                if refusal_log.due() {
                    tracing::warn!(
                        %peer,
                        max_connections = limits.max_connections,
                        refused = refusal_log.take(),
                        "refusing connections: limits.max_connections are open"
                    );
                }
                if let Ok(permit) = Arc::clone(&refusals).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit until it is closed: all of them back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = connections.acquire_many(all).await;
}

#[derive(Debug, Clone, Copy)]
struct ConnectionSettings {
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
}

/// One connection, request after request, until the client closes it, it stays idle past the
/// keep-alive timeout, a request head takes longer than the header-read timeout, or the server
/// stops.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    settings: ConnectionSettings,
    mut stopped: watch::Receiver<bool>,
    tls: bool,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(ConnectionIo::new(stream, Arc::clone(&activity)));
    let service = TrackedService {
        router: TowerToHyperService::new(router),
        activity: Arc::clone(&activity),
        peer: Peer(peer),
        tls,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header-read timer starts whenever hyper waits for a request head: on a new connection
    // and after each answer, so it also bounds how long an idle connection stays open.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        // One buffer per write, so that `ConnectionIo` sees hyper's own answers whole.
        .writev(false);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    // A client's fault or its network's (reset, a head too slow or malformed,
                    // already answered): not the server's.
                    tracing::debug!(%error, timeout = error.is_timeout(), "connection closed");
                }
                break;
            }
            () = idle(&activity, settings.keep_alive_timeout), if !closing => {
                // Closes an idle connection at once; lets a request under way finish first.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stopped.changed(), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Completes once the connection has had no request under way and received nothing for
/// `timeout`.
async fn idle(activity: &Activity, timeout: Duration) {
    loop {
        let idle_for = activity.idle_for();
        if idle_for >= timeout {
            return;
        }
        tokio::time::sleep(timeout - idle_for).await;
    }
}

/// The address a request came from (the TCP peer), in every request's extensions. Absent when
/// a test drives the router without a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// The router as hyper calls it, marking each request under way on the connection's
/// [`Activity`] and giving it the connection's [`Peer`].
#[derive(Debug, Clone)]
struct TrackedService {
    router: TowerToHyperService<Router>,
    activity: Arc<Activity>,
    peer: Peer,
    /// Answers go over TLS: they tell the browser to come back only over HTTPS.
    tls: bool,
}

impl hyper::service::Service<hyper::Request<Incoming>> for TrackedService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        let in_flight = self.activity.begin();
        let answer = self.router.call(request);
        let tls = self.tls;
        Box::pin(async move {
            let mut response = answer.await;
            drop(in_flight);
            if tls && let Ok(response) = &mut response {
                response.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                );
            }
            response
        })
    }
}

/// Answers a connection over `limits.max_connections` with 503 `too_many_connections`, then
/// reads what the client sends for a moment (closing a socket with unread data resets it, and
/// the client would see the reset instead of the answer).
async fn refuse(stream: TcpStream) {
    let error = ApiError::new(
        ErrorCode::TooManyConnections,
        "the server holds as many connections as limits.max_connections allows; retry later",
    );
    let answer = raw_answer(error.code.status(), &error, "retry-after: 1\r\n");
    let (reading, writing) = stream.into_split();
    let _ = tokio::time::timeout(REFUSAL_LINGER, async move {
        let mut unsent = &answer[..];
        while !unsent.is_empty() {
            writing.writable().await?;
            match writing.try_write(unsent) {
                Ok(n) => unsent = &unsent[n..],
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        // Dropping the write half sends FIN: the answer is complete.
        drop(writing);
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < MAX_HEAD_BYTES {
            reading.readable().await?;
            match reading.try_read(&mut sink) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Counts events and says when one is due to be logged: at most once a second.
#[derive(Debug, Default)]
struct RateLimitedLog {
    last_second: AtomicU64,
    unlogged: AtomicU64,
}

impl RateLimitedLog {
    fn due(&self) -> bool {
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.last_second.swap(now, Ordering::Relaxed) != now
    }

    fn take(&self) -> u64 {
        self.unlogged.swap(0, Ordering::Relaxed)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
