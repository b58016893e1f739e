//! Usage rows turned into what people and billing jobs read: buckets of an hour, a day or a
//! month per key (`GET /admin/usage`), and metered events (`marketlounge usage export`).
//!
//! Metered events, one per key, closed hour and scope with billable answers:
//! `{"identifier", "event_name", "timestamp", "customer", "value"}`. `event_name` is
//! `<scope>_requests` (`search_requests`, `suggest_requests`…); `value` counts the answers below
//! 400 (errors and 429s are not billed); `timestamp` is the hour's start (RFC 3339, UTC);
//! `customer` is the key's `owner`, else its `name`; `identifier` is
//! `<key id>:<YYYYMMDDHH>:<event_name>`, unique per line and the same in every export, so a
//! billing provider that deduplicates on it (Stripe's meter events do, over 24 h at least)
//! never counts an hour twice. Only closed hours are exported: an hour's value is final once it
//! is over and flushed, and a value sent under an identifier cannot be corrected later.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;

use super::meter::{Counts, UsageRow};
use crate::auth::Scope;
use crate::auth::store::KeyRecord;

/// The size of a `/admin/usage` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
    Month,
}

impl FromStr for Granularity {
    type Err = String;

    fn from_str(text: &str) -> Result<Granularity, String> {
        match text {
            "hour" => Ok(Granularity::Hour),
            "day" => Ok(Granularity::Day),
            "month" => Ok(Granularity::Month),
            other => Err(format!("{} is not hour, day or month", crate::error::echoed(other))),
        }
    }
}

impl Granularity {
    /// The start (unix seconds) of the UTC bucket holding the hour starting at `hour`.
    pub fn bucket_of(self, hour: i64) -> i64 {
        let date = || jiff::Timestamp::from_second(hour).map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
        let start = |date: jiff::civil::Date| {
            date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_second()).unwrap_or(hour)
        };
        match self {
            Granularity::Hour => hour,
            Granularity::Day => date().map_or(hour, start),
            Granularity::Month => date().map_or(hour, |date| start(date.first_of_month())),
        }
    }
}

/// Which end of a range a time parameter is: a bare date means its day's first second as a
/// start, and the next day's first second as an end (so `to=2026-05-31` takes in the 31st).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// A time parameter: an RFC 3339 timestamp (`2026-05-01T10:00:00Z`, any offset) or a date
/// (`2026-05-01`, UTC). Unix seconds.
pub fn parse_time(text: &str, end: End) -> Result<i64, String> {
    if let Ok(timestamp) = jiff::Timestamp::from_str(text) {
        return Ok(timestamp.as_second());
    }
    let date = jiff::civil::Date::from_str(text).map_err(|_| {
        format!(
            "{} is neither an RFC 3339 time (2026-05-01T10:00:00Z) nor a date (2026-05-01)",
            crate::error::echoed(text)
        )
    })?;
    let date = match end {
        End::From => date,
        End::To => date.tomorrow().map_err(|err| err.to_string())?,
    };
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp().as_second()).map_err(|err| err.to_string())
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(second: i64) -> String {
    jiff::Timestamp::from_second(second).map_or_else(|_| second.to_string(), |t| t.to_string())
}

/// One bucket of a key's usage: totals and the same counts by scope.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Bucket {
    /// The bucket's start, RFC 3339 UTC.
    pub start: String,
    #[serde(flatten)]
    pub totals: Counts,
    pub scopes: BTreeMap<Scope, Counts>,
}

/// A key's usage over the range.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct KeyReport {
    pub key: String,
    /// The key's name and owner (absent for a key the table no longer has).
    pub name: Option<String>,
    pub owner: Option<String>,
    pub totals: Counts,
    pub buckets: Vec<Bucket>,
}

/// `rows` summed per key, bucket and scope; keys in id order, buckets in time order.
pub fn summarize(rows: &[UsageRow], granularity: Granularity, keys: &[KeyRecord]) -> Vec<KeyReport> {
    let mut by_key: BTreeMap<&str, BTreeMap<i64, BTreeMap<Scope, Counts>>> = BTreeMap::new();
    for row in rows {
        let bucket = by_key.entry(&row.key_id).or_default().entry(granularity.bucket_of(row.hour)).or_default();
        bucket.entry(row.scope).or_default().add(&row.counts);
    }
    by_key
        .into_iter()
        .map(|(key_id, buckets)| {
            let record = keys.iter().find(|record| record.id == key_id);
            let mut totals = Counts::default();
            let buckets = buckets
                .into_iter()
                .map(|(start, scopes)| {
                    let mut bucket_totals = Counts::default();
                    for counts in scopes.values() {
                        bucket_totals.add(counts);
                    }
                    totals.add(&bucket_totals);
                    Bucket { start: rfc3339(start), totals: bucket_totals, scopes }
                })
                .collect();
            KeyReport {
                key: key_id.to_owned(),
                name: record.map(|r| r.name.clone()),
                owner: record.and_then(|r| r.owner.clone()),
                totals,
                buckets,
            }
        })
        .collect()
}

/// One metered event of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeteredEvent {
    pub identifier: String,
    pub event_name: String,
    pub timestamp: String,
    pub customer: String,
    pub value: u64,
}

/// The columns of a CSV export, in order.
pub const CSV_HEADER: &str = "identifier,event_name,timestamp,customer,value";

/// The billable events of `rows` (stored rows of closed hours), in key, hour, scope order.
pub fn metered_events(rows: &[UsageRow], keys: &[KeyRecord]) -> Vec<MeteredEvent> {
    rows.iter()
        .filter(|row| row.counts.billable() > 0)
        .map(|row| {
            let record = keys.iter().find(|record| record.id == row.key_id);
            let customer =
                record.map_or_else(|| row.key_id.clone(), |r| r.owner.clone().unwrap_or_else(|| r.name.clone()));
            let event_name = format!("{}_requests", row.scope.as_str());
            let hour = jiff::Timestamp::from_second(row.hour)
                .map_or_else(|_| row.hour.to_string(), |t| t.strftime("%Y%m%d%H").to_string());
            MeteredEvent {
                identifier: format!("{}:{hour}:{event_name}", row.key_id),
                event_name,
                timestamp: rfc3339(row.hour),
                customer,
                value: row.counts.billable(),
            }
        })
        .collect()
}

/// The first hour an export must leave out at `now`: the hour under way, and the one before
/// for [`SETTLE_SECONDS`] after it closed (its last answers may still be in a server's memory).
pub fn first_open_hour(now: i64) -> i64 {
    super::meter::hour_of(now - SETTLE_SECONDS)
}

/// How long after an hour closes its counts are taken as final: a running server flushes
/// every 10 s; this leaves room for a slow flush.
pub const SETTLE_SECONDS: i64 = 60;

/// One event as a CSV line (RFC 4180: a field with a comma, a quote or a line break is quoted).
pub fn csv_line(event: &MeteredEvent) -> String {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    format!(
        "{},{},{},{},{}",
        field(&event.identifier),
        field(&event.event_name),
        field(&event.timestamp),
        field(&event.customer),
        event.value
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::KeyKind;
    use crate::usage::meter::HOUR;

    fn record(id: &str, name: &str, owner: Option<&str>) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            name: name.into(),
            kind: KeyKind::Secret,
            prefix: "AbCdEfGh".into(),
            scopes: vec![Scope::Search],
            origins: Vec::new(),
            rate: None,
            burst: None,
            quota: None,
            expires_at: None,
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
            owner: owner.map(str::to_owned),
        }
    }

    fn row(key_id: &str, hour: &str, scope: Scope, requests: u64, errors: u64) -> UsageRow {
        UsageRow {
            key_id: key_id.into(),
            hour: parse_time(hour, End::From).unwrap(),
            scope,
            counts: Counts { requests, results: 3 * requests, errors, rate_limited: 0 },
        }
    }

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(parse_time("2026-05-01T10:00:00Z", End::From), Ok(1_777_629_600));
        assert_eq!(parse_time("2026-05-01T12:00:00+02:00", End::To), Ok(1_777_629_600));
        assert_eq!(parse_time("2026-05-01", End::From), Ok(1_777_593_600));
        assert_eq!(parse_time("2026-05-01", End::To), Ok(1_777_593_600 + 86_400));
        for bad in ["yesterday", "2026-13-01", "2026-05-01T25:00:00Z", ""] {
            assert!(parse_time(bad, End::From).is_err(), "{bad}");
        }
        assert_eq!(rfc3339(1_777_629_600), "2026-05-01T10:00:00Z");
    }

    #[test]
    fn buckets_are_utc_hours_days_and_months() {
        let hour = parse_time("2026-05-31T23:00:00Z", End::From).unwrap();
        assert_eq!(Granularity::Hour.bucket_of(hour), hour);
        assert_eq!(rfc3339(Granularity::Day.bucket_of(hour)), "2026-05-31T00:00:00Z");
        assert_eq!(rfc3339(Granularity::Month.bucket_of(hour)), "2026-05-01T00:00:00Z");
        assert_eq!("week".parse::<Granularity>().unwrap_err(), "\"week\" is not hour, day or month");
    }

    #[test]
    fn rows_sum_per_key_bucket_and_scope() {
        let rows = [
            row("key_a", "2026-05-01T10:00:00Z", Scope::Search, 4, 1),
            row("key_a", "2026-05-01T11:00:00Z", Scope::Search, 2, 0),
            row("key_a", "2026-05-01T11:00:00Z", Scope::Suggest, 10, 0),
            row("key_a", "2026-05-02T09:00:00Z", Scope::Search, 1, 0),
            row("key_b", "2026-05-01T10:00:00Z", Scope::Admin, 1, 0),
        ];
        let keys = [record("key_a", "Shop A", Some("cus_1"))];
        let report = summarize(&rows, Granularity::Day, &keys);
        assert_eq!(report.len(), 2);
        let a = &report[0];
        assert_eq!((a.name.as_deref(), a.owner.as_deref()), (Some("Shop A"), Some("cus_1")));
        assert_eq!(a.totals, Counts { requests: 17, results: 51, errors: 1, rate_limited: 0 });
        assert_eq!(a.buckets.len(), 2);
        assert_eq!(a.buckets[0].start, "2026-05-01T00:00:00Z");
        assert_eq!(a.buckets[0].totals.requests, 16);
        assert_eq!(a.buckets[0].scopes[&Scope::Search].requests, 6);
        assert_eq!(a.buckets[0].scopes[&Scope::Suggest].results, 30);
        assert_eq!(report[1].name, None, "a key the table does not have");
        assert_eq!(summarize(&rows, Granularity::Hour, &keys)[0].buckets.len(), 3);
        assert_eq!(summarize(&rows, Granularity::Month, &keys)[0].buckets.len(), 1);
    }

    #[test]
    fn events_bill_answers_below_400_under_stable_identifiers() {
        let rows = [
            row("key_a", "2026-05-01T10:00:00Z", Scope::Search, 4, 1),
            row("key_a", "2026-05-01T10:00:00Z", Scope::Suggest, 2, 2),
            row("key_b", "2026-05-01T10:00:00Z", Scope::Search, 5, 0),
        ];
        let keys = [record("key_a", "Shop A", Some("cus_1")), record("key_b", "Shop, \"B\"", None)];
        let events = metered_events(&rows, &keys);
        assert_eq!(
            events[0],
            MeteredEvent {
                identifier: "key_a:2026050110:search_requests".into(),
                event_name: "search_requests".into(),
                timestamp: "2026-05-01T10:00:00Z".into(),
                customer: "cus_1".into(),
                value: 3,
            }
        );
        assert_eq!(events.len(), 2, "a row with nothing billable is left out");
        assert_eq!(events[1].customer, "Shop, \"B\"", "no owner: the name");
        assert_eq!(
            csv_line(&events[1]),
            "key_b:2026050110:search_requests,search_requests,2026-05-01T10:00:00Z,\"Shop, \"\"B\"\"\",5"
        );
        assert_eq!(metered_events(&rows, &keys), events, "the same rows give the same events");
    }

    #[test]
    fn the_hour_under_way_is_open_and_the_last_one_settles() {
        let ten = parse_time("2026-05-01T10:00:00Z", End::From).unwrap();
        assert_eq!(first_open_hour(ten + 30 * 60), ten);
        assert_eq!(first_open_hour(ten + 30), ten - HOUR, "10:00:30: 09:00 may still be in memory");
        assert_eq!(first_open_hour(ten + SETTLE_SECONDS), ten);
    }
}
