//! Usage counts in memory, per key, per hour and per scope, until the next flush. The request
//! path adds one answer under a shard's lock (a hash of the key id picks the shard; the lock is
//! held for a few map lookups and additions, no allocation once the key has an entry this
//! flush period).

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::Serialize;

use crate::auth::Scope;

/// Seconds in an hour: usage is counted per UTC hour.
pub const HOUR: i64 = 3600;

/// The start (unix seconds) of the UTC hour holding `second`.
pub fn hour_of(second: i64) -> i64 {
    second.div_euclid(HOUR) * HOUR
}

/// What the answers of one key, hour and scope added up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Every answer to the key, whatever its status.
    pub requests: u64,
    /// Hits and suggestions returned (`/api/v1/match`, `/api/v1/suggest`).
    pub results: u64,
    /// Answers with a 4xx or 5xx status other than 429.
    pub errors: u64,
    /// 429 answers: over the key's rate or its monthly quota.
    pub rate_limited: u64,
}

impl Counts {
    /// One answer with `status`, which returned `results` results.
    pub fn of_answer(status: u16, results: u32) -> Counts {
        Counts {
            requests: 1,
            results: u64::from(results),
            errors: u64::from(status >= 400 && status != 429),
            rate_limited: u64::from(status == 429),
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.requests += other.requests;
        self.results += other.results;
        self.errors += other.errors;
        self.rate_limited += other.rate_limited;
    }

    /// Answers below 400: what a billing export counts.
    pub fn billable(&self) -> u64 {
        self.requests.saturating_sub(self.errors).saturating_sub(self.rate_limited)
    }
}

/// One row of usage: a key's counts for one hour and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key_id: String,
    /// Unix seconds of the hour's start (UTC).
    pub hour: i64,
    pub scope: Scope,
    pub counts: Counts,
}

/// One key's usage since the last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUsage {
    /// When its last answer was counted (unix seconds): the key's `last_used_at`.
    pub last_seen: i64,
    pub counts: HashMap<(i64, Scope), Counts>,
}

/// What a flush takes: every key's usage since the previous one.
pub type Pending = HashMap<String, KeyUsage>;

/// Shards of the map: requests of different keys rarely wait for one another's lock.
const SHARDS: usize = 8;

/// The counts not flushed yet.
#[derive(Debug, Default)]
pub struct Meter {
    shards: [Mutex<Pending>; SHARDS],
}

impl Meter {
    /// Counts one answer to `key_id` at `now` (unix seconds).
    pub fn record(&self, key_id: &str, scope: Scope, now: i64, counts: &Counts) {
        let mut shard = self.shards[shard_of(key_id)].lock();
        if !shard.contains_key(key_id) {
            shard.insert(key_id.to_owned(), KeyUsage::default());
        }
        let usage = shard.get_mut(key_id).expect("inserted above");
        usage.last_seen = usage.last_seen.max(now);
        usage.counts.entry((hour_of(now), scope)).or_default().add(counts);
    }

    /// Takes every count out (for a flush).
    pub fn take(&self) -> Pending {
        let mut taken = Pending::new();
        for shard in &self.shards {
            merge(&mut taken, std::mem::take(&mut *shard.lock()));
        }
        taken
    }

    /// Puts counts back (a flush that failed: they are written with the next one).
    pub fn restore(&self, pending: Pending) {
        for (key_id, usage) in pending {
            let mut shard = self.shards[shard_of(&key_id)].lock();
            merge(&mut shard, Pending::from([(key_id, usage)]));
        }
    }

    /// The rows not flushed yet whose hour is in `[from, to)`, of `key` (every key: `None`).
    pub fn rows(&self, from: i64, to: i64, key: Option<&str>) -> Vec<UsageRow> {
        let mut rows = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock();
            for (key_id, usage) in shard.iter().filter(|(id, _)| key.is_none_or(|key| key == id.as_str())) {
                for (&(hour, scope), counts) in &usage.counts {
                    if (from..to).contains(&hour) {
                        rows.push(UsageRow { key_id: key_id.clone(), hour, scope, counts: *counts });
                    }
                }
            }
        }
        rows
    }
}

/// Adds `from` into `into`.
fn merge(into: &mut Pending, from: Pending) {
    for (key_id, usage) in from {
        let target = into.entry(key_id).or_default();
        target.last_seen = target.last_seen.max(usage.last_seen);
        for (hour_scope, counts) in usage.counts {
            target.counts.entry(hour_scope).or_default().add(&counts);
        }
    }
}

/// FNV-1a of the key id: cheap, and spreads the random ids evenly.
fn shard_of(key_id: &str) -> usize {
    let hash = key_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    (hash % SHARDS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_780_000_000;

    #[test]
    fn an_answer_counts_by_its_status() {
        assert_eq!(Counts::of_answer(200, 7), Counts { requests: 1, results: 7, errors: 0, rate_limited: 0 });
        assert_eq!(Counts::of_answer(304, 0).errors, 0);
        for status in [400, 401, 403, 404, 413, 500, 503] {
            assert_eq!(Counts::of_answer(status, 0), Counts { requests: 1, results: 0, errors: 1, rate_limited: 0 });
        }
        assert_eq!(Counts::of_answer(429, 0), Counts { requests: 1, results: 0, errors: 0, rate_limited: 1 });
        let mut total = Counts::default();
        for (status, results) in [(200, 5), (429, 0), (500, 0), (200, 3)] {
            total.add(&Counts::of_answer(status, results));
        }
        assert_eq!(total, Counts { requests: 4, results: 8, errors: 1, rate_limited: 1 });
        assert_eq!(total.billable(), 2);
    }

    #[test]
    fn hours_are_utc_hours() {
        assert_eq!(hour_of(T), T - T % 3600);
        assert_eq!(hour_of(7199), 3600);
        assert_eq!(hour_of(-1), -3600);
    }

    /// Counts land under their key, hour and scope; a take empties the meter, a restore puts
    /// everything back, added to what came in meanwhile.
    #[test]
    fn counts_are_kept_by_key_hour_and_scope() {
        let meter = Meter::default();
        meter.record("key_a", Scope::Search, T, &Counts::of_answer(200, 10));
        meter.record("key_a", Scope::Search, T + 1, &Counts::of_answer(429, 0));
        meter.record("key_a", Scope::Suggest, T + 2, &Counts::of_answer(200, 8));
        meter.record("key_a", Scope::Search, T + HOUR, &Counts::of_answer(400, 0));
        meter.record("key_b", Scope::Admin, T + 5, &Counts::of_answer(500, 0));

        let mut rows = meter.rows(i64::MIN, i64::MAX, Some("key_a"));
        rows.sort_by_key(|row| (row.hour, row.scope));
        let got: Vec<(i64, Scope, Counts)> = rows.iter().map(|r| (r.hour, r.scope, r.counts)).collect();
        assert_eq!(
            got,
            [
                (hour_of(T), Scope::Search, Counts { requests: 2, results: 10, errors: 0, rate_limited: 1 }),
                (hour_of(T), Scope::Suggest, Counts { requests: 1, results: 8, errors: 0, rate_limited: 0 }),
                (hour_of(T) + HOUR, Scope::Search, Counts { requests: 1, results: 0, errors: 1, rate_limited: 0 }),
            ]
        );
        assert_eq!(meter.rows(hour_of(T) + HOUR, i64::MAX, None).len(), 1, "the range is of hours");

        let taken = meter.take();
        assert_eq!(taken["key_a"].last_seen, T + HOUR);
        assert_eq!(taken["key_b"].last_seen, T + 5);
        assert!(meter.rows(i64::MIN, i64::MAX, None).is_empty());
        meter.record("key_b", Scope::Admin, T + 6, &Counts::of_answer(200, 0));
        meter.restore(taken);
        let again = meter.take();
        assert_eq!(again["key_b"].counts[&(hour_of(T), Scope::Admin)].requests, 2);
        assert_eq!(again["key_b"].last_seen, T + 6);
        assert_eq!(again["key_a"].counts.len(), 3);
    }

    /// Many threads counting at once lose nothing.
    #[test]
    fn concurrent_counts_add_up() {
        let meter = std::sync::Arc::new(Meter::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let meter = std::sync::Arc::clone(&meter);
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        let key = format!("key_{}", i % 13);
                        let status = if i % 10 == 0 { 429 } else { 200 };
                        meter.record(&key, Scope::Search, T + t, &Counts::of_answer(status, 2));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut total = Counts::default();
        for row in meter.rows(i64::MIN, i64::MAX, None) {
            total.add(&row.counts);
        }
        assert_eq!(total, Counts { requests: 40_000, results: 80_000, errors: 0, rate_limited: 4_000 });
    }
}
