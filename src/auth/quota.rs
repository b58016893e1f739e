//! Monthly quotas per key (requests per calendar month, UTC), counted so that no restart, not
//! even a SIGKILL, resets a count or lets a key past its quota.
//!
//! Leases: each (key, month) has a count in memory (an atomic, the hot path) and a durable
//! `reserved` count in the key database's `quota` table, with `used ≤ reserved ≤ quota` at all
//! times. A request whose count would pass `reserved` first raises `reserved` durably by a block
//! ([`lease_target`]), off the async workers, and only then is answered; every other request is
//! one atomic add. A process that starts counts from `reserved`: a crash can cost a key at most
//! one block of unused quota ([`block_size`]: 1 %, at most 10,000 requests), never give it more.
//! A clean stop gives the unused part of the lease back ([`Quotas::give_back`]).
//!
//! So that busy keys do not wait for those writes (an fsync, milliseconds, more on a busy disk:
//! every request arriving meanwhile would wait too), the request that finds less than half a
//! block left raises the lease to a block past the count in the background
//! ([`Take::DoneRaiseAhead`]); requests wait only when they outrun it, or when a block is a
//! single request (quotas under 200 a month).
//!
//! Writes go through the key store's own connection ([`KeyStore::with_connection`]), so they
//! never look like a change of keys to the key cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use rusqlite::{OptionalExtension, params};
use rustc_hash::FxHashMap;

use super::AuthError;
use super::cache::KeyCache;
use super::store::KeyStore;

/// A calendar month, UTC, with its bounds in Unix seconds (computed once: a request compares
/// its time with them, no calendar arithmetic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Month {
    year: i16,
    month: i8,
    start: i64,
    end: i64,
}

impl Month {
    pub fn of(at: jiff::Timestamp) -> Month {
        let date = at.to_zoned(jiff::tz::TimeZone::UTC).date();
        let first = |year: i16, month: i8| {
            jiff::civil::date(year, month, 1)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .expect("the first of a month is a UTC instant")
                .timestamp()
                .as_second()
        };
        let (year, month) = (date.year(), date.month());
        let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
        Month { year, month, start: first(year, month), end: first(next_year, next_month) }
    }

    /// `2026-12`: the month's key in the `quota` table.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Whether the Unix second `second` is in this month.
    pub fn contains(self, second: i64) -> bool {
        (self.start..self.end).contains(&second)
    }

    /// When its quotas reset: the first instant of the next month.
    pub fn end(self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.end).expect("a month's end is a valid instant")
    }

    /// Seconds from `second` to the reset.
    pub fn seconds_left(self, second: i64) -> u64 {
        (self.end - second).max(0) as u64
    }

    /// Its length in seconds (28 to 31 days).
    pub fn seconds(self) -> u64 {
        (self.end - self.start) as u64
    }
}

/// How many requests a lease raise reserves at once: 1 % of the quota, from 1 to 10,000 (the most
/// quota a crash can cost a key, and the number of requests between two durable writes).
pub fn block_size(quota: u64) -> u64 {
    (quota / 100).clamp(1, 10_000)
}

/// The `reserved` count a raise writes so that count `n` may be answered: a block past what is
/// already reserved or counted, never past the quota. Precondition: `1 ≤ n ≤ quota`, so the
/// target is at least `n`.
pub fn lease_target(quota: u64, reserved: u64, n: u64) -> u64 {
    (reserved.max(n - 1) + block_size(quota)).min(quota)
}

/// One key's count this month.
#[derive(Debug)]
struct Counter {
    month: Month,
    /// Requests counted (admitted, or waiting for a raise), never past the quota.
    used: AtomicU64,
    /// What the `quota` table holds for this key and month (after a raise returned).
    reserved: AtomicU64,
    /// Held while a raise writes, so that requests crossing a block together write once.
    raising: Mutex<()>,
    /// A raise ahead is scheduled or running (one at a time).
    ahead: AtomicBool,
}

/// A key's quota and how much of it this month has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub quota: u64,
    pub used: u64,
    pub month: Month,
}

/// A counted request: admitted (`used` now counts it) or refused (`used == quota`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Admitted(Usage),
    Exhausted(Usage),
}

/// What [`Quotas::take`] could decide without SQLite.
#[derive(Debug)]
pub enum Take {
    Done(Outcome),
    /// Admitted, and less than half a block is left: [`RaiseAhead::run`] raises the lease
    /// (blocking; in the background, no request waits for it).
    DoneRaiseAhead(Outcome, RaiseAhead),
    /// The key's count must be read, or its lease raised, first: [`Pending::complete`] does it
    /// (blocking: run it on the blocking pool).
    Pending(Pending),
}

/// A take that needs the `quota` table.
#[derive(Debug)]
pub struct Pending {
    quotas: Arc<Quotas>,
    key_id: String,
    quota: u64,
    month: Month,
    /// The counter and the count taken on it, when there is one.
    raise: Option<(Arc<Counter>, u64)>,
}

/// A lease raise no request waits for.
#[derive(Debug)]
pub struct RaiseAhead {
    quotas: Arc<Quotas>,
    key_id: String,
    quota: u64,
    counter: Arc<Counter>,
}

/// The monthly counts of every key in use.
#[derive(Debug)]
pub struct Quotas {
    keys: Arc<KeyCache>,
    /// Per key id, this month's count (a counter of a past month is replaced when next used).
    counters: RwLock<FxHashMap<String, Arc<Counter>>>,
}

impl Quotas {
    pub fn new(keys: Arc<KeyCache>) -> Result<Quotas, AuthError> {
        ensure_table(keys.store())?;
        Ok(Quotas { keys, counters: RwLock::new(FxHashMap::default()) })
    }

    /// Counts one request of a key with `quota` at `now`: admitted or refused from memory, or
    /// [`Take::Pending`] when the key's lease must grow first (once per block) or its count be
    /// read (once per key and month).
    pub fn take(self: &Arc<Self>, key_id: &str, quota: u64, now: jiff::Timestamp) -> Take {
        let second = now.as_second();
        let month = {
            let counters = self.counters.read();
            match counters.get(key_id).filter(|counter| counter.month.contains(second)) {
                Some(counter) => match take_on(counter, quota) {
                    Ok(outcome @ Outcome::Admitted(usage)) if wants_ahead(counter, usage.used, quota) => {
                        let ahead = RaiseAhead {
                            quotas: Arc::clone(self),
                            key_id: key_id.to_owned(),
                            quota,
                            counter: Arc::clone(counter),
                        };
                        return Take::DoneRaiseAhead(outcome, ahead);
                    }
                    Ok(outcome) => return Take::Done(outcome),
                    Err(n) => {
                        let raise = Some((Arc::clone(counter), n));
                        let (key_id, month) = (key_id.to_owned(), counter.month);
                        return Take::Pending(Pending { quotas: Arc::clone(self), key_id, quota, month, raise });
                    }
                },
                None => Month::of(now),
            }
        };
        Take::Pending(Pending { quotas: Arc::clone(self), key_id: key_id.to_owned(), quota, month, raise: None })
    }

    /// Writes each count back as its key's `reserved` (a clean stop: nothing is admitted after
    /// it, so the unused part of each lease is given back and the next start loses nothing).
    pub fn give_back(&self) -> Result<(), AuthError> {
        let counters: Vec<(String, Arc<Counter>)> =
            self.counters.read().iter().map(|(id, counter)| (id.clone(), Arc::clone(counter))).collect();
        for (key_id, counter) in counters {
            // Hold the raise lock: a raise that is writing finishes first.
            let _raising = counter.raising.lock();
            let used = counter.used.load(Ordering::Acquire);
            self.keys.store().with_connection(|connection| {
                connection.execute(
                    "UPDATE quota SET reserved = ?3 WHERE key_id = ?1 AND month = ?2 AND reserved > ?3",
                    params![key_id, counter.month.label(), used as i64],
                )
            })?;
            counter.reserved.store(used, Ordering::Release);
        }
        Ok(())
    }

    /// Drops the counters of past months (a key's count is read again when next used).
    pub fn forget_past_months(&self, now: jiff::Timestamp) {
        let month = Month::of(now);
        self.counters.write().retain(|_, counter| counter.month == month);
    }
}

/// Takes one request on `counter` (this month's): decided, or `Err(n)` when count `n` needs a
/// lease raise first.
fn take_on(counter: &Counter, quota: u64) -> Result<Outcome, u64> {
    let usage = |used| Usage { quota, used, month: counter.month };
    match counter.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| (used < quota).then_some(used + 1)) {
        Err(used) => Ok(Outcome::Exhausted(usage(used.min(quota)))),
        Ok(before) => {
            let n = before + 1;
            if n <= counter.reserved.load(Ordering::Acquire) { Ok(Outcome::Admitted(usage(n))) } else { Err(n) }
        }
    }
}

/// Whether count `used` leaves less than half a block of the lease and no raise ahead is on:
/// then it takes the job.
fn wants_ahead(counter: &Counter, used: u64, quota: u64) -> bool {
    let (block, reserved) = (block_size(quota), counter.reserved.load(Ordering::Acquire));
    block >= 2
        && reserved < quota
        && reserved.saturating_sub(used) < block / 2
        && !counter.ahead.swap(true, Ordering::AcqRel)
}

impl RaiseAhead {
    /// Raises the lease to a block past the count (never past the quota). Blocking.
    pub fn run(self) -> Result<(), AuthError> {
        let counter = &self.counter;
        let written = {
            let _raising = counter.raising.lock();
            let target = (counter.used.load(Ordering::Acquire) + block_size(self.quota)).min(self.quota);
            if target > counter.reserved.load(Ordering::Acquire) {
                raise_reserved(&self.quotas, &self.key_id, counter, target)
            } else {
                Ok(())
            }
        };
        counter.ahead.store(false, Ordering::Release);
        written
    }
}

/// Writes `reserved = max(reserved, target)` for the counter's key and month, then holds the
/// counter to it. The caller holds `counter.raising`.
fn raise_reserved(quotas: &Quotas, key_id: &str, counter: &Counter, target: u64) -> Result<(), AuthError> {
    let written = quotas.keys.store().with_connection(|connection| {
        connection.query_row(
            "INSERT INTO quota (key_id, month, reserved) VALUES (?1, ?2, ?3)
             ON CONFLICT (key_id, month) DO UPDATE SET reserved = max(reserved, excluded.reserved)
             RETURNING reserved",
            params![key_id, counter.month.label(), target as i64],
            |row| row.get::<_, i64>(0),
        )
    })?;
    counter.reserved.store(written.max(0) as u64, Ordering::Release);
    Ok(())
}

impl Pending {
    /// Reads the key's count or raises its lease, durably, then decides. Blocking (SQLite, an
    /// fsync for a raise).
    pub fn complete(self) -> Result<Outcome, AuthError> {
        let (counter, n) = match &self.raise {
            Some((counter, n)) => (Arc::clone(counter), *n),
            None => {
                let counter = self.load()?;
                match take_on(&counter, self.quota) {
                    Ok(outcome) => return Ok(outcome),
                    Err(n) => (counter, n),
                }
            }
        };
        self.raise(&counter, n)
    }

    /// This month's counter of the key, read from the `quota` table if no request made it yet:
    /// it starts at `reserved` (whatever a stopped process had reserved counts as used).
    fn load(&self) -> Result<Arc<Counter>, AuthError> {
        let quotas = &self.quotas;
        if let Some(counter) = quotas.counters.read().get(&self.key_id).filter(|c| c.month == self.month) {
            return Ok(Arc::clone(counter));
        }
        let reserved = reserved(quotas.keys.store(), &self.key_id, self.month)?;
        let mut counters = quotas.counters.write();
        // Another request may have loaded it meanwhile: its count is the one.
        let counter = counters
            .entry(self.key_id.clone())
            .and_modify(|counter| {
                if counter.month != self.month {
                    *counter = Arc::new(Counter::starting_at(self.month, reserved));
                }
            })
            .or_insert_with(|| Arc::new(Counter::starting_at(self.month, reserved)));
        Ok(Arc::clone(counter))
    }

    /// Makes `reserved ≥ n` durable (one write for every request crossing the block together).
    fn raise(&self, counter: &Counter, n: u64) -> Result<Outcome, AuthError> {
        let usage = Usage { quota: self.quota, used: n, month: self.month };
        let _raising = counter.raising.lock();
        let reserved = counter.reserved.load(Ordering::Acquire);
        if n <= reserved {
            return Ok(Outcome::Admitted(usage));
        }
        raise_reserved(&self.quotas, &self.key_id, counter, lease_target(self.quota, reserved, n))?;
        Ok(Outcome::Admitted(usage))
    }
}

impl Counter {
    fn starting_at(month: Month, reserved: u64) -> Counter {
        Counter {
            month,
            used: AtomicU64::new(reserved),
            reserved: AtomicU64::new(reserved),
            raising: Mutex::new(()),
            ahead: AtomicBool::new(false),
        }
    }
}

/// Creates the `quota` table beside `keys` (a key id and month, and the count reserved).
pub(crate) fn ensure_table(store: &KeyStore) -> Result<(), AuthError> {
    store.with_connection(|connection| {
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS quota (
                key_id TEXT NOT NULL,
                month TEXT NOT NULL,
                reserved INTEGER NOT NULL,
                PRIMARY KEY (key_id, month)
            ) STRICT, WITHOUT ROWID;",
        )
    })
}

/// What the `quota` table reserves for a key in a month: an upper bound of its count, at most a
/// block above it while a server runs, exact after a clean stop (0 if nothing was counted, or no
/// server made the table yet: reading never creates it).
pub fn reserved(store: &KeyStore, key_id: &str, month: Month) -> Result<u64, AuthError> {
    store.with_connection(|connection| {
        let exists: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quota')",
            [],
            |row| row.get(0),
        )?;
        if !exists {
            return Ok(0);
        }
        connection
            .query_row(
                "SELECT reserved FROM quota WHERE key_id = ?1 AND month = ?2",
                params![key_id, month.label()],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map(|reserved| reserved.map_or(0, |r| r.max(0) as u64))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::auth::secret::MasterSecret;

    fn open(dir: &std::path::Path) -> Arc<Quotas> {
        let store = KeyStore::open(dir, MasterSecret::from_bytes(&[5; 32]).unwrap()).unwrap();
        let cache = Arc::new(KeyCache::new(store, Duration::from_secs(3600)).unwrap());
        Arc::new(Quotas::new(cache).unwrap())
    }

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    /// One request, its pending part and its raise ahead done in line.
    fn take(quotas: &Arc<Quotas>, key: &str, quota: u64, now: jiff::Timestamp) -> Outcome {
        match quotas.take(key, quota, now) {
            Take::Done(outcome) => outcome,
            Take::DoneRaiseAhead(outcome, ahead) => {
                ahead.run().unwrap();
                outcome
            }
            Take::Pending(pending) => pending.complete().unwrap(),
        }
    }

    #[test]
    fn months_and_their_reset() {
        let month = Month::of(at("2026-12-31T23:59:59Z"));
        assert_eq!(month.label(), "2026-12");
        assert_eq!(month.end(), at("2027-01-01T00:00:00Z"));
        assert_eq!(month.seconds(), 31 * 86_400);
        assert_eq!(Month::of(at("2028-02-10T00:00:00Z")).seconds(), 29 * 86_400);
        assert_eq!(Month::of(at("2027-01-01T00:00:00Z")).label(), "2027-01");
    }

    #[test]
    fn lease_arithmetic() {
        assert_eq!(block_size(30), 1);
        assert_eq!(block_size(1_000), 10);
        assert_eq!(block_size(u64::MAX), 10_000);
        // A block past what is reserved, capped by the quota, always covering the count.
        assert_eq!(lease_target(1_000, 10, 11), 20);
        assert_eq!(lease_target(1_000, 995, 996), 1_000);
        assert_eq!(lease_target(1_000, 10, 15), 24);
        assert_eq!(lease_target(30, 0, 1), 1);
    }

    /// Counts go on across months separately; only raises touch SQLite.
    #[test]
    fn a_new_month_starts_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = open(dir.path());
        let december = at("2026-12-31T23:00:00Z");
        for n in 1..=3 {
            assert_eq!(
                take(&quotas, "key_a", 3, december),
                Outcome::Admitted(Usage { quota: 3, used: n, month: Month::of(december) })
            );
        }
        assert!(matches!(take(&quotas, "key_a", 3, december), Outcome::Exhausted(Usage { used: 3, .. })));
        let january = at("2027-01-01T00:00:01Z");
        assert!(matches!(take(&quotas, "key_a", 3, january), Outcome::Admitted(Usage { used: 1, .. })));
        quotas.forget_past_months(january);
        assert_eq!(reserved(quotas.keys.store(), "key_a", Month::of(december)).unwrap(), 3);
    }

    /// A busy key's requests never wait for a lease write after the first: the lease is raised
    /// ahead (here in line, in the server in the background) before it runs out.
    #[test]
    fn busy_keys_raise_their_lease_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = open(dir.path());
        let now = at("2026-12-07T12:00:00Z");
        let (mut waited, mut ahead) = (0, 0);
        for _ in 0..500 {
            match quotas.take("key_busy", 1_000, now) {
                Take::Done(_) => {}
                Take::DoneRaiseAhead(_, raise) => {
                    raise.run().unwrap();
                    ahead += 1;
                }
                Take::Pending(pending) => {
                    pending.complete().unwrap();
                    waited += 1;
                }
            }
        }
        assert_eq!(waited, 1, "only the first request reads and raises the lease");
        // Raised to 10 ahead once fewer than 5 are left: a write every 6 requests.
        assert!((80..=85).contains(&ahead), "{ahead} raises ahead");
        let reserved = reserved(quotas.keys.store(), "key_busy", Month::of(now)).unwrap();
        assert!((500..=510).contains(&reserved), "at most a block ahead: {reserved}");
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Requests in a row.
        Take(u64),
        /// The process dies: memory is lost, the table is what it is.
        Crash,
        /// A clean stop: leases given back.
        Stop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![6 => (1u64..400).prop_map(Op::Take), 2 => Just(Op::Crash), 1 => Just(Op::Stop)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

        /// For any sequence of requests, crashes and clean stops, the admitted requests never
        /// exceed the quota; each crash costs at most one block; a clean stop costs nothing; and
        /// a request is refused only once admitted + lost reaches the quota.
        #[test]
        fn leases_never_exceed_the_quota(quota in 1u64..3_000, ops in proptest::collection::vec(op(), 1..12)) {
            // A crash here loses the process's memory, not the disk's: the fsyncs are not under
            // test, and on tmpfs they cost nothing (thousands of them per case otherwise).
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
            let now = at("2026-12-07T12:00:00Z");
            let mut quotas = open(dir.path());
            let (mut admitted, mut lost) = (0u64, 0u64);
            for op in ops {
                match op {
                    Op::Take(n) => for _ in 0..n {
                        match take(&quotas, "key_m", quota, now) {
                            Outcome::Admitted(usage) => {
                                admitted += 1;
                                prop_assert_eq!(usage.used, admitted + lost);
                            }
                            Outcome::Exhausted(_) => prop_assert_eq!(admitted + lost, quota),
                        }
                        prop_assert!(admitted <= quota);
                    },
                    Op::Crash => {
                        drop(quotas);
                        quotas = open(dir.path());
                        let reserved = reserved(quotas.keys.store(), "key_m", Month::of(now)).unwrap();
                        prop_assert!(reserved >= admitted + lost && reserved <= quota);
                        let cost = reserved - admitted - lost;
                        prop_assert!(cost <= block_size(quota), "a crash cost {} of a block of {}", cost, block_size(quota));
                        lost += cost;
                    }
                    Op::Stop => {
                        quotas.give_back().unwrap();
                        drop(quotas);
                        quotas = open(dir.path());
                        prop_assert_eq!(reserved(quotas.keys.store(), "key_m", Month::of(now)).unwrap(), admitted + lost);
                    }
                }
            }
        }
    }
}
