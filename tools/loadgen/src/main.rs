//! `loadgen`: an HTTP load generator for MarketLounge's endpoints (and, for comparisons, any
//! HTTP search API on this machine).
//!
//! Two regimes:
//! - **open loop** (`--rate R`): request i is due at start + i/R whatever happened before; its
//!   latency runs from when it was due, so a slow server's queueing is counted (no coordinated
//!   omission). Requests go out over `--connections` keep-alive connections.
//! - **closed loop** (`--concurrency C`): C connections each send the next request as soon as
//!   the previous answer is in; latency runs from sending.
//!
//! Requests come from a query file (one per line, `#` comments), cycled: `--get '/path?q={q}'`
//! substitutes the URL-encoded query, `--post /path --body '{"query": {q}}'` the JSON-encoded
//! one. Loopback targets only; duration and rate are bounded. Prints one JSON object: sent,
//! completed, errors by kind, achieved rate, and latency p50/p90/p99/p99.9/max (µs, HdrHistogram).
// One `unsafe` block, the timerfd's registration in `Timer::new`, allowed where it stands.
#![deny(unsafe_code)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;

/// Longest run accepted.
const MAX_DURATION_S: f64 = 600.0;
/// Highest open-loop rate accepted (requests per second).
const MAX_RATE: f64 = 100_000.0;
/// Most connections accepted.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Parser)]
#[command(
    about = "HTTP load generator (loopback only): open loop at a fixed rate or closed loop at a fixed concurrency"
)]
pub struct Args {
    /// Base URL of the server: http://127.0.0.1:PORT (loopback addresses only).
    #[arg(long, default_value = "http://127.0.0.1:7700")]
    url: String,
    /// GET path template; `{q}` is replaced by the URL-encoded query.
    #[arg(long, conflicts_with = "post")]
    get: Option<String>,
    /// POST path (with `--body`).
    #[arg(long, requires = "body")]
    post: Option<String>,
    /// POST body template (JSON); `{q}` is replaced by the query as a JSON string.
    #[arg(long)]
    body: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Queries, one per line (`#` starts a comment), cycled.
    #[arg(long)]
    queries: PathBuf,
    /// Open loop: requests per second.
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<f64>,
    /// Closed loop: requests in flight.
    #[arg(long)]
    concurrency: Option<usize>,
    /// Keep-alive connections of the open loop.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (connections open, caches warm).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
}

/// What one run measured.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub regime: &'static str,
    pub url: String,
    pub rate_requested: Option<f64>,
    pub connections: usize,
    pub duration_s: f64,
    pub sent: u64,
    pub completed: u64,
    pub errors: Errors,
    pub achieved_rate: f64,
    pub latency_us: Latency,
    /// The machine's CPU time over the measured window (Linux only): what else ran beside the
    /// server and this load shows up in its latencies.
    pub cpu: Option<CpuShares>,
}

/// Shares of all CPU time (every core) over the measured window, from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CpuShares {
    /// Running anything (user, system, interrupts), this server and this load included.
    pub busy: f64,
    /// Taken by the hypervisor for other machines while this one wanted to run: on a shared
    /// virtual machine, the main source of millisecond stalls.
    pub steal: f64,
}

/// The machine's CPU counters (USER_HZ ticks): busy, steal, total.
fn cpu_ticks() -> Option<[u64; 3]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_ticks(stat.lines().next()?)
}

/// `cpu  user nice system idle iowait irq softirq steal …` (guest time is inside user).
fn parse_cpu_ticks(line: &str) -> Option<[u64; 3]> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let t: Vec<u64> = fields.take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = t.try_into().ok()?;
    Some([user + nice + system + irq + softirq, steal, user + nice + system + idle + iowait + irq + softirq + steal])
}

fn cpu_shares(before: [u64; 3], after: [u64; 3]) -> Option<CpuShares> {
    let [busy, steal, total] = std::array::from_fn(|i| after[i].saturating_sub(before[i]));
    (total > 0).then(|| CpuShares { busy: busy as f64 / total as f64, steal: steal as f64 / total as f64 })
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Errors {
    /// Answers with a status other than 2xx.
    pub status: u64,
    /// Connections refused, reset or closed mid-request.
    pub transport: u64,
    /// Requests due in the window still unanswered 2 s after it ended.
    pub unfinished: u64,
}

#[derive(Debug, serde::Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// A request ready to send.
#[derive(Debug, Clone)]
struct Prepared {
    method: Method,
    path: String,
    body: Bytes,
}

/// The server address, refusing anything but loopback.
fn loopback_address(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url.strip_prefix("http://").context("--url must start with http:// (no TLS here)")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    ensure!(!authority.is_empty(), "--url has no host");
    let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addresses: Vec<SocketAddr> =
        with_port.to_socket_addrs().with_context(|| format!("resolving {authority}"))?.collect();
    let address = addresses.first().copied().with_context(|| format!("{authority} resolves to nothing"))?;
    ensure!(
        addresses.iter().all(|a| a.ip().is_loopback()),
        "{authority} is not a loopback address: this tool only loads 127.0.0.1 / ::1"
    );
    Ok((address, authority.to_owned()))
}

fn prepare(args: &Args, queries: &[String]) -> anyhow::Result<Vec<Prepared>> {
    let requests = match (&args.get, &args.post, &args.body) {
        (Some(template), None, _) => queries
            .iter()
            .map(|q| {
                let encoded: String = url_encode(q);
                Prepared { method: Method::GET, path: template.replace("{q}", &encoded), body: Bytes::new() }
            })
            .collect(),
        (None, Some(path), Some(body)) => queries
            .iter()
            .map(|q| {
                let json = serde_json::to_string(q).expect("a string serialises");
                Prepared { method: Method::POST, path: path.clone(), body: Bytes::from(body.replace("{q}", &json)) }
            })
            .collect(),
        _ => bail!("give --get TEMPLATE, or --post PATH with --body TEMPLATE"),
    };
    Ok(requests)
}

/// Percent-encodes a query for a URL (everything but ASCII letters and digits).
fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn parse_headers(headers: &[String]) -> anyhow::Result<Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>> {
    headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').with_context(|| format!("--header {h:?}: expected `Name: value`"))?;
            Ok((
                hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
                    .with_context(|| format!("--header {h:?}: bad name"))?,
                hyper::header::HeaderValue::from_str(value.trim())
                    .with_context(|| format!("--header {h:?}: bad value"))?,
            ))
        })
        .collect()
}

/// Shared state of a run.
struct Run {
    address: SocketAddr,
    authority: String,
    requests: Vec<Prepared>,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// Measurement starts here; requests due before are warm-up.
    measure_from: Instant,
    end: Instant,
    histogram: Mutex<Histogram<u64>>,
    errors: Mutex<Errors>,
    completed: std::sync::atomic::AtomicU64,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(run: &Run) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(run.address).await.with_context(|| format!("connecting to {}", run.address))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

impl Run {
    /// Sends request `i` on `sender` (reconnecting once if the connection is gone) and records
    /// its latency from `due` when it is in the measured window.
    async fn send(&self, sender: &mut Option<Sender>, i: u64, due: Instant) {
        let prepared = &self.requests[i as usize % self.requests.len()];
        let result = async {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                *sender = Some(connect(self).await?);
            }
            let s = sender.as_mut().expect("connected");
            s.ready().await?;
            let mut request = Request::builder()
                .method(prepared.method.clone())
                .uri(&prepared.path)
                .header(hyper::header::HOST, &self.authority);
            if prepared.method == Method::POST {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            }
            let mut request = request.body(Full::new(prepared.body.clone()))?;
            request.headers_mut().extend(self.headers.iter().cloned());
            let response = s.send_request(request).await?;
            let status = response.status();
            // Read the whole answer: latency is to the last byte.
            response.into_body().collect().await?;
            anyhow::Ok(status)
        }
        .await;
        let finished = Instant::now();
        // Requests due inside the measured window count, however late their answer (within
        // the grace period after it).
        if due < self.measure_from || due >= self.end {
            return;
        }
        match result {
            Ok(status) if status.is_success() => {
                let us = finished.duration_since(due).as_micros().max(1) as u64;
                let _ = self.histogram.lock().record(us);
                self.completed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(_) => self.errors.lock().status += 1,
            Err(_) => {
                *sender = None;
                self.errors.lock().transport += 1;
            }
        }
    }
}

/// Runs the load and reports.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    ensure!(
        args.duration > 0.0 && args.duration <= MAX_DURATION_S,
        "--duration must be within (0, {MAX_DURATION_S}] seconds"
    );
    ensure!(args.warmup >= 0.0 && args.warmup <= 60.0, "--warmup must be within [0, 60] seconds");
    let (address, authority) = loopback_address(&args.url)?;
    let text = std::fs::read_to_string(&args.queries).with_context(|| format!("reading {}", args.queries.display()))?;
    let queries: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect();
    ensure!(!queries.is_empty(), "{} holds no query", args.queries.display());
    let requests = prepare(args, &queries)?;
    let headers = parse_headers(&args.headers)?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let run = Arc::new(Run {
        address,
        authority,
        requests,
        headers,
        measure_from,
        end,
        histogram: Mutex::new(Histogram::new(3)?),
        errors: Mutex::new(Errors::default()),
        completed: Default::default(),
    });
    // The CPU counters when measurement starts (warm-up excluded) and when it ends.
    let cpu_window = std::thread::spawn(move || {
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        let before = cpu_ticks()?;
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        cpu_shares(before, cpu_ticks()?)
    });
    let (regime, connections, sent) = match (args.rate, args.concurrency) {
        (Some(rate), None) => {
            ensure!(rate > 0.0 && rate <= MAX_RATE, "--rate must be within (0, {MAX_RATE}]");
            ensure!(
                (1..=MAX_CONNECTIONS).contains(&args.connections),
                "--connections must be within [1, {MAX_CONNECTIONS}]"
            );
            let sent = open_loop(&run, rate, args.connections, start).await?;
            ("open", args.connections, sent)
        }
        (None, Some(concurrency)) => {
            ensure!(
                (1..=MAX_CONNECTIONS).contains(&concurrency),
                "--concurrency must be within [1, {MAX_CONNECTIONS}]"
            );
            let sent = closed_loop(&run, concurrency).await;
            ("closed", concurrency, sent)
        }
        _ => bail!("give --rate (open loop) or --concurrency (closed loop)"),
    };
    let cpu = cpu_window.join().ok().flatten();
    let histogram = run.histogram.lock().clone();
    let mut errors = std::mem::take(&mut *run.errors.lock());
    let completed = run.completed.load(std::sync::atomic::Ordering::Relaxed);
    errors.unfinished = sent.saturating_sub(completed + errors.status + errors.transport);
    Ok(Report {
        regime,
        url: args.url.clone(),
        rate_requested: args.rate,
        connections,
        duration_s: args.duration,
        sent,
        completed,
        errors,
        achieved_rate: completed as f64 / args.duration,
        latency_us: Latency {
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        },
        cpu,
    })
}

/// Requests due (number, when), then one end mark (`None`) per worker.
type Due = std::collections::VecDeque<Option<(u64, Instant)>>;

/// Request i is due at start + i/rate; `connections` workers take due requests in order from
/// one queue. The schedule waits on a timerfd inside the event loop (Linux): the async timer's
/// millisecond ticks would make requests late, and that lateness would count as latency, while a
/// schedule on its own OS thread costs a thread wake-up per request — on a virtual machine, tens
/// of microseconds and a tail that both servers under test would be charged with. Elsewhere the
/// schedule runs on its own OS thread with the system's precise sleep. Returns how many measured
/// requests were due.
async fn open_loop(run: &Arc<Run>, rate: f64, connections: usize, start: Instant) -> anyhow::Result<u64> {
    let queue: Arc<Mutex<Due>> = Arc::default();
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (run, queue, ready) = (Arc::clone(run), Arc::clone(&queue), Arc::clone(&ready));
        workers.push(tokio::spawn(async move {
            let mut sender = None;
            loop {
                let Ok(permit) = ready.acquire().await else { break };
                permit.forget();
                let Some(Some((i, due))) = queue.lock().pop_front() else { break };
                run.send(&mut sender, i, due).await;
            }
        }));
    }
    let schedule = Schedule { run: Arc::clone(run), queue, ready, rate, start, connections };
    let schedule = tokio::spawn(schedule.run());
    // Answers due before the end are awaited a little past it, then the run is cut.
    let grace = tokio::time::sleep_until((run.end + Duration::from_secs(2)).into());
    tokio::pin!(grace);
    for worker in workers {
        tokio::select! {
            _ = worker => {}
            _ = &mut grace => break,
        }
    }
    schedule.await.context("the request schedule stopped")?
}

/// When each request is due, and the queue the workers take them from.
struct Schedule {
    run: Arc<Run>,
    queue: Arc<Mutex<Due>>,
    ready: Arc<tokio::sync::Semaphore>,
    rate: f64,
    start: Instant,
    connections: usize,
}

impl Schedule {
    async fn run(self) -> anyhow::Result<u64> {
        let mut timer = Timer::new()?;
        let mut measured = 0u64;
        let mut i = 0u64;
        loop {
            let due = self.start + Duration::from_secs_f64(i as f64 / self.rate);
            if due >= self.run.end {
                break;
            }
            timer.wait_until(due).await?;
            if due >= self.run.measure_from {
                measured += 1;
            }
            self.queue.lock().push_back(Some((i, due)));
            self.ready.add_permits(1);
            i += 1;
        }
        // One end mark per worker, after every request.
        self.queue.lock().extend(std::iter::repeat_n(None, self.connections));
        self.ready.add_permits(self.connections);
        Ok(measured)
    }
}

/// A one-shot timer with microsecond precision, awaited in the event loop.
#[cfg(target_os = "linux")]
struct Timer {
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

#[cfg(target_os = "linux")]
impl Timer {
    #[allow(unsafe_code)]
    fn new() -> anyhow::Result<Timer> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)
            .context("creating a timerfd")?;
        let interest = tokio::io::Interest::READABLE;
        // SAFETY: `fd` is an open descriptor owned by the `OwnedFd` the `AsyncFd` takes: it stays
        // open, and the same, until the `AsyncFd` is dropped.
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }
            .map_err(std::io::Error::from)
            .context("registering the timerfd")?;
        Ok(Timer { fd })
    }

    /// Returns at `deadline` (at once if it has passed).
    async fn wait_until(&mut self, deadline: Instant) -> anyhow::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        let it_value = Timespec { tv_sec: wait.as_secs() as _, tv_nsec: wait.subsec_nanos() as _ };
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &Itimerspec { it_interval: zero, it_value })
            .context("arming the timerfd")?;
        loop {
            let mut guard = self.fd.readable().await.context("waiting on the timerfd")?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(guard.get_inner(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(err) => return Err(err).context("reading the timerfd"),
            }
        }
    }
}

/// Elsewhere: the system's precise sleep, on a blocking thread.
#[cfg(not(target_os = "linux"))]
struct Timer;

#[cfg(not(target_os = "linux"))]
impl Timer {
    fn new() -> anyhow::Result<Timer> {
        Ok(Timer)
    }

    async fn wait_until(&mut self, deadline: Instant) -> anyhow::Result<()> {
        let wait = deadline.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::task::spawn_blocking(move || std::thread::sleep(wait)).await?;
        }
        Ok(())
    }
}

/// `concurrency` connections, each sending as soon as its previous answer is in.
async fn closed_loop(run: &Arc<Run>, concurrency: usize) -> u64 {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (run, next, sent) = (Arc::clone(run), Arc::clone(&next), Arc::clone(&sent));
        workers.push(tokio::spawn(async move {
            let mut sender = None;
            loop {
                let now = Instant::now();
                if now >= run.end {
                    break;
                }
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if now >= run.measure_from {
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                run.send(&mut sender, i, now).await;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    sent.load(std::sync::atomic::Ordering::Relaxed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread: the schedule, the connections and their answers share one event loop, so a
    // request crosses no thread on its way out (the server under test gets the other core).
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("loadgen: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report).expect("the report serialises"));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares_from_proc_stat_lines() {
        let before = parse_cpu_ticks("cpu  100 0 50 800 10 0 5 35 0 0").unwrap();
        let after = parse_cpu_ticks("cpu  400 0 150 1300 10 0 10 135 0 0").unwrap();
        // 405 busy, 100 steal of 1005 ticks.
        let shares = cpu_shares(before, after).unwrap();
        assert!((shares.busy - 405.0 / 1005.0).abs() < 1e-9, "{shares:?}");
        assert!((shares.steal - 100.0 / 1005.0).abs() < 1e-9, "{shares:?}");
        assert_eq!(parse_cpu_ticks("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(parse_cpu_ticks("cpu  1 2 3"), None);
        assert_eq!(cpu_shares(before, before), None);
    }

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_address("http://127.0.0.1:7700").is_ok());
        assert!(loopback_address("http://localhost:7700/api").is_ok());
        assert!(loopback_address("http://[::1]:7700").is_ok());
        let err = loopback_address("http://10.1.2.3:80").unwrap_err().to_string();
        assert!(err.contains("not a loopback"), "{err}");
        assert!(loopback_address("https://127.0.0.1:7700").is_err());
        assert!(loopback_address("127.0.0.1:7700").is_err());
    }

    #[test]
    fn templates_encode_the_query() {
        assert_eq!(url_encode("découpe laser/inox&x"), "d%C3%A9coupe%20laser%2Finox%26x");
        let args = Args::parse_from([
            "loadgen",
            "--queries",
            "q.txt",
            "--post",
            "/api/v1/match",
            "--body",
            r#"{"query": {q}, "k": 10}"#,
            "--rate",
            "10",
        ]);
        let prepared = prepare(&args, &["a \"b\"".to_owned()]).unwrap();
        assert_eq!(prepared[0].body, Bytes::from(r#"{"query": "a \"b\"", "k": 10}"#));
        assert!(parse_headers(&["X-Key: abc".to_owned()]).is_ok());
        assert!(parse_headers(&["no colon".to_owned()]).is_err());
    }

    /// A real run against a small HTTP server on 127.0.0.1: every due request answered, counted
    /// and timed, in both regimes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_against_a_loopback_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { break };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|request: Request<hyper::body::Incoming>| async move {
                        let ok = request.uri().query().is_some_and(|q| q.starts_with("q="));
                        let status = if ok { 200 } else { 400 };
                        hyper::Response::builder().status(status).body(Full::new(Bytes::from_static(b"{}")))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let queries = dir.path().join("q.txt");
        std::fs::write(&queries, "# comment\ndécoupe laser\nusinage\n").unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let common = ["--url", &base, "--queries", queries.to_str().unwrap(), "--duration", "1", "--warmup", "0.2"];
        let open = Args::parse_from(
            ["loadgen", "--get", "/s?q={q}", "--rate", "200", "--connections", "4"].iter().chain(&common).copied(),
        );
        let report = run(&open).await.unwrap();
        assert_eq!(report.regime, "open");
        assert!((190..=210).contains(&report.sent), "{report:?}");
        assert_eq!(report.completed, report.sent, "{report:?}");
        assert_eq!(report.errors.status + report.errors.transport + report.errors.unfinished, 0);
        assert!(report.latency_us.p50 > 0 && report.latency_us.p50 <= report.latency_us.max);
        #[cfg(target_os = "linux")]
        assert!(report.cpu.is_some_and(|c| (0.0..=1.0).contains(&c.busy) && (0.0..=1.0).contains(&c.steal)));
        // Closed loop, and a path the server refuses: every answer counted as an error.
        let closed =
            Args::parse_from(["loadgen", "--get", "/s?x={q}", "--concurrency", "2"].iter().chain(&common).copied());
        let report = run(&closed).await.unwrap();
        assert_eq!(report.regime, "closed");
        assert_eq!(report.completed, 0);
        assert!(report.errors.status > 0, "{report:?}");
    }
}
