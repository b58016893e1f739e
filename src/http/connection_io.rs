//! The socket under each HTTP connection: it records when the client was last active (for the
//! idle keep-alive timeout) and rewrites the answers hyper writes by itself into the API's JSON
//! error shape.
//!
//! hyper answers a request head it cannot parse (a malformed request or header line,
//! `Content-Length` headers that disagree, a head over the size limit) on its own, with an
//! empty body, before any service sees a request, and offers no hook to change that answer.
//! This wrapper recognises such an answer on its way out and writes `{"error": {"code",
//! "message"}}` with the same status instead. It recognises it safely because of three facts:
//! hyper writes it only when no response is under way (everything before it was flushed, and
//! no request reached the router since: [`Activity::calls`] did not move), as one buffer holding
//! a whole head and no body; and every error the router answers carries `content-type`
//! (`json_errors` makes it JSON), which hyper's own answer lacks.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::{ApiError, ErrorCode};

/// Largest request line plus headers the server reads, in bytes (hyper answers 431 past it).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most headers a request may have (hyper's default; 431 past it).
pub const MAX_HEADERS: usize = 100;

/// What a connection is doing, shared by its socket, its service and its idle timer.
#[derive(Debug)]
pub(crate) struct Activity {
    opened: Instant,
    /// When the client last sent a byte or was last answered, in ms since `opened`.
    last_active_ms: AtomicU64,
    /// Requests handed to the router and not answered yet.
    in_flight: AtomicUsize,
    /// Requests handed to the router so far.
    calls: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long the connection has been idle: no request under way, nothing received.
    pub(crate) fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Acquire)
    }

    /// A request goes to the router; the guard marks it answered when dropped.
    pub(crate) fn begin(self: &Arc<Activity>) -> InFlight {
        self.calls.fetch_add(1, Ordering::AcqRel);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }
}

/// A request under way on a connection (see [`Activity::begin`]).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection (TCP, or TLS over TCP) as hyper sees it (through `hyper_util::rt::TokioIo`).
#[derive(Debug)]
pub(crate) struct ConnectionIo<S = TcpStream> {
    stream: S,
    activity: Arc<Activity>,
    /// Everything hyper wrote was flushed and no write started since.
    flushed: bool,
    /// [`Activity::calls`] at the last completed flush.
    calls_at_flush: u64,
    /// A rewritten answer still to send (hyper was told it was written), and how much is sent.
    pending: Vec<u8>,
    pending_sent: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> ConnectionIo<S> {
    pub(crate) fn new(stream: S, activity: Arc<Activity>) -> ConnectionIo<S> {
        ConnectionIo { stream, activity, flushed: true, calls_at_flush: 0, pending: Vec::new(), pending_sent: 0 }
    }

    /// Sends what is left of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.pending[self.pending_sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_sent += n;
        }
        self.pending = Vec::new();
        self.pending_sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ConnectionIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut self.stream).poll_read(cx, buf));
        if buf.filled().len() > before {
            self.activity.touch();
        }
        Poll::Ready(result)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ConnectionIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let this = &mut *self;
        if this.flushed
            && this.activity.calls() == this.calls_at_flush
            && let Some(status) = hyper_error_status(buf)
        {
            this.flushed = false;
            this.pending = json_answer(status);
            // hyper is told its bytes went out; ours follow on the next write, flush or shutdown.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        this.flushed = false;
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
        self.flushed = true;
        self.calls_at_flush = self.activity.calls();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The status of an answer hyper made up by itself: the buffer is exactly one response head,
/// with an error status hyper uses for a bad request head, and without `content-type`.
fn hyper_error_status(buf: &[u8]) -> Option<u16> {
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    if head.windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    let mut lines = head.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let status_line = lines.next()?;
    let rest = status_line.strip_prefix(b"HTTP/1.1 ").or_else(|| status_line.strip_prefix(b"HTTP/1.0 "))?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let has_content_type = lines.any(|line| line.len() >= 13 && line[..13].eq_ignore_ascii_case(b"content-type:"));
    (!has_content_type).then_some(status)
}

/// A whole HTTP/1.1 answer with the API's error body and `status` (the code's own, or a more
/// precise one the table folds into it, e.g. 414 into `bad_request`); the connection closes
/// after it.
pub(crate) fn raw_answer(status: axum::http::StatusCode, error: &ApiError, extra_headers: &str) -> Vec<u8> {
    let body = error.body();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// The JSON answer for a status hyper gave a request head it could not read.
fn json_answer(status: u16) -> Vec<u8> {
    let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let code = ErrorCode::for_status(status);
    let message = match code {
        ErrorCode::HeaderTooLarge => format!(
            "the request line and headers are larger than the server reads ({} KiB) or there are more than {MAX_HEADERS} headers",
            MAX_HEAD_BYTES / 1024
        ),
        _ => "the request head is not valid HTTP/1.1: a malformed request line or header line, or Content-Length headers that disagree or do not parse".to_owned(),
    };
    raw_answer(status, &ApiError::new(code, message), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_hyper_s_own_error_heads() {
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n";
        assert_eq!(hyper_error_status(hyper_431), Some(431));
        assert_eq!(hyper_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"), Some(400));
        // The router's errors are JSON, successes are not errors, and a head with a body is not
        // hyper's.
        assert_eq!(
            hyper_error_status(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n"
            ),
            None
        );
        assert_eq!(hyper_error_status(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"), None);
        assert_eq!(hyper_error_status(b"{\"HTTP/1.1 400 \r\n\r\n"), None);
    }

    #[test]
    fn rewritten_answers_are_json_with_the_status_kept() {
        for (status, code) in [(400, "bad_request"), (431, "header_too_large"), (414, "bad_request")] {
            let answer = String::from_utf8(json_answer(status)).unwrap();
            assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            assert!(head.contains("content-type: application/json"), "{head}");
            assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(body["error"]["code"], code, "{body}");
        }
    }
}
