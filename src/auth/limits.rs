//! Rate limits (issue 21), decided for every request whose key is valid, after its scope and
//! origin: GCRA limiters (the `governor` crate: one timestamp per limiter, a burst and no edge
//! effects of fixed windows) per client address for publishable keys, per key, then the key's
//! monthly quota ([`super::quota`]); and, before any key is checked, per client address for the
//! failed key checks it made.
//!
//! - Per key: `governor` has one quota per limiter, so each key has its own direct limiter, made
//!   when the key is first used and made again when its `rate` or `burst` changes. A key without
//!   a rate: a publishable key gets `auth.publishable_rate`/`auth.publishable_burst`, a secret
//!   key `auth.default_rate` (none by default: a server-side key's owner is trusted with its
//!   traffic unless the key says otherwise). A burst not given is one second's worth. A limiter
//!   unused for longer than it takes to refill (and a minute) is dropped: a new one is the same.
//! - Per client address, for publishable keys only (a browser key is public: one client must not
//!   spend its owner's rate and quota), `auth.per_ip_rate`/`auth.per_ip_burst`.
//! - Per client address, failed key checks (unknown, revoked or expired keys):
//!   `auth.failed_auth_burst` of them, then `auth.failed_auth_rate`; past that, every request from
//!   the address that presents a key is refused before its key is looked at, so a guesser learns
//!   nothing more. Requests with a valid key spend nothing.
//!
//! Client addresses are counted by IPv4 address or IPv6 /64 (one host's usual allocation, so
//! that rotating through it gains nothing). The keyed stores forget addresses whose limiter is
//! full again (`retain_recent`, every ten seconds), so memory follows the active clients. A
//! request without a known address (the router driven in process, without a socket: its
//! `Caller::ip` is unspecified) is not limited per address: there is no address to hold it to.
//!
//! Nothing here knows about HTTP: `src/http/rate_limits.rs` turns a decision into headers.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter, clock::DefaultClock};
use parking_lot::RwLock;
use rustc_hash::FxHashMap;

use super::cache::KeyCache;
use super::proxies::TrustedProxies;
use super::quota::{self, Outcome, Quotas, Take, Usage};
use super::store::KeyRecord;
use super::{AuthError, KeyKind};
use crate::settings::AuthSettings;

/// Which limit a status or a refusal is about (its name is the policy's in the `RateLimit`
/// headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The key's rate.
    Key,
    /// The client address's rate with publishable keys.
    Ip,
    /// The client address's failed key checks.
    FailedAuth,
    /// The key's monthly quota.
    Month,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::Key => "key",
            Limit::Ip => "ip",
            Limit::FailedAuth => "failed-auth",
            Limit::Month => "month",
        }
    }
}

/// Where a request stands against one limit: the policy (`quota` requests per `window`
/// seconds) and what is left of it (`remaining` requests now, all of it again in `reset`
/// seconds; for a refused request, `reset` is when to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub limit: Limit,
    pub quota: u64,
    pub window: u64,
    pub remaining: u64,
    pub reset: u64,
}

/// The statuses of the limits a request went through (at most three: address, key, month).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statuses {
    items: [Option<Status>; 3],
}

impl Statuses {
    fn push(&mut self, status: Status) {
        if let Some(slot) = self.items.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(status);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Status> {
        self.items.iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }
}

/// A request let through, and where it stands against each limit it went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub statuses: Statuses,
}

/// A request refused by `limit`: retry in `retry_after` seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refusal {
    pub limit: Limit,
    pub retry_after: u64,
    /// Every limit the request went through, the refusing one included.
    pub statuses: Statuses,
    pub detail: RefusalDetail,
}

/// What the refusing limit is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefusalDetail {
    Rate { rate: f64, burst: u32 },
    Quota(Usage),
}

/// What [`Limits::admit_now`] decided without SQLite, or the quota work still to do.
#[derive(Debug)]
pub enum Decision {
    Done(Result<Admitted, Box<Refusal>>),
    /// Admitted; the key's quota lease is to be raised in the background (blocking, nobody
    /// waits: [`quota::RaiseAhead::run`]).
    DoneRaiseAhead(Admitted, quota::RaiseAhead),
    Pending(PendingAdmission),
}

/// A request past its rate limits whose quota needs the `quota` table (once per lease block).
#[derive(Debug)]
pub struct PendingAdmission {
    statuses: Statuses,
    pending: quota::Pending,
    now: jiff::Timestamp,
}

impl PendingAdmission {
    /// Blocking: reads or raises the key's lease durably, then decides.
    pub fn complete(self) -> Result<Result<Admitted, Box<Refusal>>, AuthError> {
        let outcome = self.pending.complete()?;
        Ok(quota_decision(self.statuses, outcome, self.now))
    }
}

type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type KeyedLimiter = RateLimiter<IpAddr, DashMapStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// A GCRA limit: `rate` requests per second, `burst` at once; and the policy it is advertised
/// as.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Gcra {
    rate: f64,
    burst: u32,
    /// One request's worth of time.
    period: Duration,
    /// The policy: `quota` requests per `window` seconds, the window at least as long as a full
    /// burst takes to refill (so no status shows more remaining than the quota).
    quota: u64,
    window: u64,
}

impl Gcra {
    fn new(rate: f64, burst: u32) -> Gcra {
        const YEAR: Duration = Duration::from_secs(365 * 86_400);
        let period = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(YEAR).clamp(Duration::from_nanos(1), YEAR);
        let burst = burst.max(1);
        let (quota, window) = policy(rate, burst);
        Gcra { rate, burst, period, quota, window }
    }

    fn governor_quota(&self) -> Quota {
        Quota::with_period(self.period)
            .expect("the period is at least a nanosecond")
            .allow_burst(NonZeroU32::new(self.burst).expect("the burst is at least 1"))
    }

    /// The status after an admitted request, or the refusal of a refused one.
    fn decide(
        &self,
        limit: Limit,
        outcome: Result<StateSnapshot, NotUntil<Instant>>,
        statuses: &mut Statuses,
    ) -> Result<(), Box<Refusal>> {
        match outcome {
            Ok(snapshot) => {
                let remaining = u64::from(snapshot.remaining_burst_capacity());
                // A full bucket again once the spent part has refilled (rounded up: never early).
                let spent = u64::from(self.burst).saturating_sub(remaining) as f64;
                let reset = ceil_seconds(self.period.as_secs_f64() * spent);
                statuses.push(Status { limit, quota: self.quota, window: self.window, remaining, reset });
                Ok(())
            }
            Err(not_until) => {
                let retry_after = ceil_seconds(not_until.wait_time_from(Instant::now()).as_secs_f64()).max(1);
                statuses.push(Status {
                    limit,
                    quota: self.quota,
                    window: self.window,
                    remaining: 0,
                    reset: retry_after,
                });
                Err(Box::new(Refusal {
                    limit,
                    retry_after,
                    statuses: *statuses,
                    detail: RefusalDetail::Rate { rate: self.rate, burst: self.burst },
                }))
            }
        }
    }
}

/// The policy a GCRA limit is advertised as: `q` requests per `w` seconds at its rate, `w` the
/// first whole number of seconds from the burst's refill time at which the rate gives a whole
/// number of requests (within an hour of it; else the rate rounded down).
fn policy(rate: f64, burst: u32) -> (u64, u64) {
    let refill = (f64::from(burst) / rate - 1e-9).ceil().clamp(1.0, 1e12) as u64;
    for window in refill..refill + 3600 {
        let quota = rate * window as f64;
        if (quota - quota.round()).abs() <= 1e-9 * quota.max(1.0) {
            return ((quota.round() as u64).max(u64::from(burst)), window);
        }
    }
    (((rate * refill as f64).floor() as u64).max(u64::from(burst)), refill)
}

fn ceil_seconds(seconds: f64) -> u64 {
    // Float noise (0.1 × 30 = 3.0000000000000004) is not a second more.
    (seconds - 1e-9).ceil().max(0.0) as u64
}

/// A burst of one second's worth of `rate`.
fn one_second(rate: f64) -> u32 {
    rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
}

/// What an address is counted as: an IPv4 address (also when mapped in IPv6), an IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !(u128::from(u64::MAX)))),
        },
    }
}

/// One key's limiter, with the limit it was made for.
#[derive(Debug)]
struct KeyRate {
    gcra: Gcra,
    limiter: DirectLimiter,
    /// Milliseconds since [`Limits::started`] at its last use (for dropping idle limiters).
    last_used_ms: AtomicU64,
}

/// An address-keyed limiter.
#[derive(Debug)]
struct AddressRate {
    gcra: Gcra,
    limiter: KeyedLimiter,
}

impl AddressRate {
    fn new(rate: f64, burst: u32) -> AddressRate {
        let gcra = Gcra::new(rate, burst);
        AddressRate { gcra, limiter: RateLimiter::dashmap(gcra.governor_quota()).with_middleware() }
    }
}

/// Every limiter of a server with keys.
#[derive(Debug)]
pub struct Limits {
    settings: AuthSettings,
    keys: RwLock<FxHashMap<String, KeyRate>>,
    per_ip: AddressRate,
    failed_auth: AddressRate,
    /// Addresses refused before any key check, until when (few: a map behind a lock, looked at
    /// only while `n_blocked` is not 0).
    blocked: RwLock<HashMap<IpAddr, Instant>>,
    n_blocked: AtomicUsize,
    quotas: Arc<Quotas>,
    trusted_proxies: TrustedProxies,
    started: Instant,
}

/// How often idle limiters and addresses are forgotten.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(10);

impl Limits {
    pub fn new(
        settings: &AuthSettings,
        trusted_proxies: TrustedProxies,
        keys: Arc<KeyCache>,
    ) -> Result<Arc<Limits>, AuthError> {
        Ok(Arc::new(Limits {
            settings: settings.clone(),
            keys: RwLock::new(FxHashMap::default()),
            per_ip: AddressRate::new(settings.per_ip_rate, settings.per_ip_burst),
            failed_auth: AddressRate::new(settings.failed_auth_rate, settings.failed_auth_burst),
            blocked: RwLock::new(HashMap::new()),
            n_blocked: AtomicUsize::new(0),
            quotas: Arc::new(Quotas::new(keys)?),
            trusted_proxies,
            started: Instant::now(),
        }))
    }

    /// Starts the thread that forgets idle limiters and addresses every ten seconds; it ends
    /// within a second of the last handle to `limits` going.
    pub fn start_upkeep(limits: &Arc<Limits>) -> std::io::Result<()> {
        let limits: Weak<Limits> = Arc::downgrade(limits);
        std::thread::Builder::new().name("limits-upkeep".into()).spawn(move || {
            let mut last = Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(limits) = limits.upgrade() else { return };
                if last.elapsed() >= UPKEEP_INTERVAL {
                    limits.upkeep();
                    last = Instant::now();
                }
            }
        })?;
        Ok(())
    }

    /// The proxies whose `X-Forwarded-For` names the client (`auth.trusted_proxies`).
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// Whether `ip` is refused before its key is checked, for its failed key checks.
    pub fn auth_blocked(&self, ip: IpAddr) -> Option<Refusal> {
        if self.n_blocked.load(Ordering::Acquire) == 0 || ip.is_unspecified() {
            return None;
        }
        let until = *self.blocked.read().get(&client_key(ip))?;
        let wait = until.checked_duration_since(Instant::now()).filter(|wait| !wait.is_zero())?;
        let retry_after = ceil_seconds(wait.as_secs_f64()).max(1);
        let gcra = &self.failed_auth.gcra;
        let mut statuses = Statuses::default();
        statuses.push(Status {
            limit: Limit::FailedAuth,
            quota: gcra.quota,
            window: gcra.window,
            remaining: 0,
            reset: retry_after,
        });
        Some(Refusal {
            limit: Limit::FailedAuth,
            retry_after,
            statuses,
            detail: RefusalDetail::Rate { rate: gcra.rate, burst: gcra.burst },
        })
    }

    /// Counts a failed key check from `ip`; once its burst is spent, the address is refused
    /// until its next failure would be allowed.
    pub fn auth_failed(&self, ip: IpAddr) {
        if ip.is_unspecified() {
            return;
        }
        let address = client_key(ip);
        let limiter = &self.failed_auth.limiter;
        let until = match limiter.check_key(&address) {
            Ok(snapshot) if snapshot.remaining_burst_capacity() > 0 => return,
            // That was the last one allowed now: ask when the next is (refused, it spends nothing).
            Ok(_) => match limiter.check_key(&address) {
                Ok(_) => return,
                Err(not_until) => not_until.earliest_possible(),
            },
            Err(not_until) => not_until.earliest_possible(),
        };
        let mut blocked = self.blocked.write();
        blocked.insert(address, until);
        self.n_blocked.store(blocked.len(), Ordering::Release);
    }

    /// Decides for a request of `key` from `ip` (its key valid, its scope and origin checked):
    /// the address's limit for a publishable key, the key's rate, then its monthly quota. From
    /// memory, but for a quota whose lease must grow ([`Decision::Pending`]).
    pub fn admit_now(&self, key: &KeyRecord, ip: IpAddr) -> Decision {
        let mut statuses = Statuses::default();
        if key.kind == KeyKind::Publishable && !ip.is_unspecified() {
            let outcome = self.per_ip.limiter.check_key(&client_key(ip));
            if let Err(refusal) = self.per_ip.gcra.decide(Limit::Ip, outcome, &mut statuses) {
                return Decision::Done(Err(refusal));
            }
        }
        if let Some((rate, burst)) = self.rate_of(key)
            && let Err(refusal) = self.check_key_rate(key, rate, burst, &mut statuses)
        {
            return Decision::Done(Err(refusal));
        }
        let Some(quota) = key.quota else { return Decision::Done(Ok(Admitted { statuses })) };
        let now = jiff::Timestamp::now();
        match self.quotas.take(&key.id, quota, now) {
            Take::Done(outcome) => Decision::Done(quota_decision(statuses, outcome, now)),
            Take::DoneRaiseAhead(outcome, ahead) => match quota_decision(statuses, outcome, now) {
                Ok(admitted) => Decision::DoneRaiseAhead(admitted, ahead),
                Err(refusal) => Decision::Done(Err(refusal)),
            },
            Take::Pending(pending) => Decision::Pending(PendingAdmission { statuses, pending, now }),
        }
    }

    /// [`Limits::admit_now`], with the quota's SQLite work, when there is some, on the blocking
    /// pool.
    pub async fn admit(&self, key: &KeyRecord, ip: IpAddr) -> Result<Result<Admitted, Box<Refusal>>, AuthError> {
        match self.admit_now(key, ip) {
            Decision::Done(decision) => Ok(decision),
            Decision::DoneRaiseAhead(admitted, ahead) => {
                tokio::task::spawn_blocking(move || {
                    if let Err(error) = ahead.run() {
                        // The next requests raise the lease themselves (and wait for it).
                        tracing::error!(%error, "raising a quota lease ahead failed");
                    }
                });
                Ok(Ok(admitted))
            }
            Decision::Pending(pending) => tokio::task::spawn_blocking(move || pending.complete())
                .await
                .map_err(|err| AuthError::Store { path: "quota".into(), message: err.to_string() })?,
        }
    }

    /// The key's rate and burst: its own, else the default for its kind.
    fn rate_of(&self, key: &KeyRecord) -> Option<(f64, u32)> {
        let settings = &self.settings;
        match key.rate.filter(|rate| rate.is_finite() && *rate > 0.0) {
            Some(rate) => Some((rate, key.burst.filter(|burst| *burst > 0).unwrap_or_else(|| one_second(rate)))),
            None if key.kind == KeyKind::Publishable => Some((settings.publishable_rate, settings.publishable_burst)),
            None => {
                settings.default_rate.map(|rate| (rate, settings.default_burst.unwrap_or_else(|| one_second(rate))))
            }
        }
    }

    fn check_key_rate(
        &self,
        key: &KeyRecord,
        rate: f64,
        burst: u32,
        statuses: &mut Statuses,
    ) -> Result<(), Box<Refusal>> {
        let now_ms = self.started.elapsed().as_millis() as u64;
        {
            let keys = self.keys.read();
            if let Some(entry) = keys.get(&key.id).filter(|entry| entry.gcra.rate == rate && entry.gcra.burst == burst)
            {
                entry.last_used_ms.store(now_ms, Ordering::Relaxed);
                return entry.gcra.decide(Limit::Key, entry.limiter.check(), statuses);
            }
        }
        // First use, or its limit changed: a new limiter (another request may have made it).
        let mut keys = self.keys.write();
        let entry = keys.entry(key.id.clone()).or_insert_with(|| KeyRate::new(rate, burst, now_ms));
        if entry.gcra.rate != rate || entry.gcra.burst != burst {
            *entry = KeyRate::new(rate, burst, now_ms);
        }
        entry.gcra.decide(Limit::Key, entry.limiter.check(), statuses)
    }

    /// Forgets what a new limiter would know as well: key limiters idle past their refill time,
    /// addresses whose limiter is full again or whose block is over, past months' counts.
    fn upkeep(&self) {
        let now_ms = self.started.elapsed().as_millis() as u64;
        let idle = |entry: &KeyRate| {
            let refill_ms = (entry.gcra.period.as_secs_f64() * f64::from(entry.gcra.burst) * 1e3) as u64;
            now_ms.saturating_sub(entry.last_used_ms.load(Ordering::Relaxed)) > refill_ms.max(60_000)
        };
        if self.keys.read().values().any(idle) {
            self.keys.write().retain(|_, entry| !idle(entry));
        }
        for rate in [&self.per_ip, &self.failed_auth] {
            rate.limiter.retain_recent();
            rate.limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut blocked = self.blocked.write();
        blocked.retain(|_, until| *until > now);
        self.n_blocked.store(blocked.len(), Ordering::Release);
        drop(blocked);
        self.quotas.forget_past_months(jiff::Timestamp::now());
    }
}

impl KeyRate {
    fn new(rate: f64, burst: u32, now_ms: u64) -> KeyRate {
        let gcra = Gcra::new(rate, burst);
        KeyRate {
            gcra,
            limiter: RateLimiter::direct(gcra.governor_quota()).with_middleware(),
            last_used_ms: AtomicU64::new(now_ms),
        }
    }
}

impl Drop for Limits {
    /// A clean stop gives back the unused part of every quota lease.
    fn drop(&mut self) {
        if let Err(error) = self.quotas.give_back() {
            tracing::error!(%error, "giving back the unused quota leases failed; they count as used this month");
        }
    }
}

/// The month's status after a quota outcome, or its refusal.
fn quota_decision(mut statuses: Statuses, outcome: Outcome, now: jiff::Timestamp) -> Result<Admitted, Box<Refusal>> {
    let (Outcome::Admitted(usage) | Outcome::Exhausted(usage)) = outcome;
    let reset = usage.month.seconds_left(now.as_second()).max(1);
    let remaining = usage.quota.saturating_sub(usage.used);
    statuses.push(Status { limit: Limit::Month, quota: usage.quota, window: usage.month.seconds(), remaining, reset });
    match outcome {
        Outcome::Admitted(_) => Ok(Admitted { statuses }),
        Outcome::Exhausted(_) => Err(Box::new(Refusal {
            limit: Limit::Month,
            retry_after: reset,
            statuses,
            detail: RefusalDetail::Quota(usage),
        })),
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
