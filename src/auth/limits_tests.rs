//! Unit tests of `limits.rs`: policies, addresses, each limiter's decisions and statuses.

use std::net::Ipv4Addr;

use super::*;
use crate::auth::Scope;
use crate::auth::secret::MasterSecret;
use crate::auth::store::KeyStore;

fn limits_with(dir: &std::path::Path, settings: AuthSettings) -> Arc<Limits> {
    let store = KeyStore::open(dir, MasterSecret::from_bytes(&[9; 32]).unwrap()).unwrap();
    let cache = Arc::new(KeyCache::new(store, Duration::from_secs(3600)).unwrap());
    Limits::new(&settings, TrustedProxies::default(), cache).unwrap()
}

fn key(id: &str, kind: KeyKind, rate: Option<f64>, burst: Option<u32>, quota: Option<u64>) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        name: "test".into(),
        owner: None,
        kind,
        prefix: "AbCdEfGh".into(),
        scopes: vec![Scope::Search],
        origins: Vec::new(),
        rate,
        burst,
        quota,
        expires_at: None,
        created_at: 0,
        last_used_at: None,
        revoked_at: None,
    }
}

fn admit(limits: &Limits, key: &KeyRecord, ip: IpAddr) -> Result<Admitted, Box<Refusal>> {
    match limits.admit_now(key, ip) {
        Decision::Done(decision) => decision,
        Decision::DoneRaiseAhead(admitted, ahead) => {
            ahead.run().unwrap();
            Ok(admitted)
        }
        Decision::Pending(pending) => pending.complete().unwrap(),
    }
}

fn status(statuses: &Statuses, limit: Limit) -> Status {
    *statuses.iter().find(|s| s.limit == limit).unwrap_or_else(|| panic!("no {limit:?} status in {statuses:?}"))
}

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const AWAY: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

#[test]
fn policies_advertise_the_rate_over_at_least_a_burst() {
    assert_eq!(policy(50.0, 50), (50, 1));
    assert_eq!(policy(50.0, 5), (50, 1));
    assert_eq!(policy(50.0, 100), (100, 2));
    assert_eq!(policy(0.1, 20), (20, 200));
    assert_eq!(policy(0.5, 1), (1, 2));
    assert_eq!(policy(2.5, 1), (5, 2));
    assert_eq!(policy(3.0, 5), (6, 2));
    let (quota, window) = policy(std::f64::consts::PI, 1);
    assert!(window >= 1 && quota >= 1);
    assert_eq!(ceil_seconds(0.1 * 30.0), 3);
    assert_eq!(ceil_seconds(0.02), 1);
    assert_eq!(ceil_seconds(0.0), 0);
    // Rates from far out of range still make a limiter (the key spec only requires > 0).
    for rate in [1e-300, 1e300] {
        let gcra = Gcra::new(rate, 1);
        let _ = gcra.governor_quota();
    }
}

#[test]
fn addresses_are_counted_by_ipv4_or_ipv6_slash_64() {
    let v6 = |text: &str| client_key(text.parse().unwrap());
    assert_eq!(v6("2001:db8:1:2:aaaa::1"), v6("2001:db8:1:2:bbbb::9"));
    assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
    assert_eq!(v6("::ffff:192.0.2.1"), HOME);
    assert_eq!(client_key(HOME), HOME);
}

/// A key of 10/s with a burst of 3: three answers counting down, then a refusal that says when
/// to retry; another key has its own limiter.
#[test]
fn a_key_rate_admits_its_burst_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_with(dir.path(), AuthSettings::default());
    let limited = key("key_a", KeyKind::Secret, Some(10.0), Some(3), None);
    for remaining in [2, 1, 0] {
        let admitted = admit(&limits, &limited, HOME).unwrap();
        let status = status(&admitted.statuses, Limit::Key);
        assert_eq!((status.quota, status.window, status.remaining), (10, 1, remaining));
        assert!((1..=1).contains(&status.reset), "{status:?}");
    }
    let refusal = admit(&limits, &limited, HOME).unwrap_err();
    assert_eq!((refusal.limit, refusal.retry_after), (Limit::Key, 1));
    assert_eq!(refusal.detail, RefusalDetail::Rate { rate: 10.0, burst: 3 });
    assert_eq!(status(&refusal.statuses, Limit::Key).remaining, 0);
    assert!(admit(&limits, &key("key_b", KeyKind::Secret, Some(10.0), Some(3), None), HOME).is_ok());
    // A new limit makes a new limiter at once.
    assert!(admit(&limits, &key("key_a", KeyKind::Secret, Some(10.0), Some(4), None), HOME).is_ok());
}

/// Secret keys without a rate are unlimited unless `auth.default_rate` says otherwise; a
/// publishable key without one gets the publishable default.
#[test]
fn defaults_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_with(dir.path(), AuthSettings::default());
    let admitted = admit(&limits, &key("key_s", KeyKind::Secret, None, None, None), HOME).unwrap();
    assert!(admitted.statuses.is_empty());
    let admitted = admit(&limits, &key("key_p", KeyKind::Publishable, None, None, None), HOME).unwrap();
    assert_eq!(status(&admitted.statuses, Limit::Key).quota, 200);
    assert_eq!(status(&admitted.statuses, Limit::Ip).remaining, 49);

    let dir = tempfile::tempdir().unwrap();
    let settings = AuthSettings { default_rate: Some(2.0), ..AuthSettings::default() };
    let limits = limits_with(dir.path(), settings);
    let secret = key("key_s", KeyKind::Secret, None, None, None);
    assert!(admit(&limits, &secret, HOME).is_ok() && admit(&limits, &secret, HOME).is_ok());
    assert_eq!(admit(&limits, &secret, HOME).unwrap_err().limit, Limit::Key);
}

/// Publishable keys are limited per address as well, before their key's rate: one address
/// spending its burst leaves the key's rate and other addresses alone.
#[test]
fn publishable_keys_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AuthSettings { per_ip_rate: 1.0, per_ip_burst: 2, ..AuthSettings::default() };
    let limits = limits_with(dir.path(), settings);
    let browser = key("key_pub", KeyKind::Publishable, Some(100.0), Some(100), None);
    assert!(admit(&limits, &browser, HOME).is_ok());
    assert!(admit(&limits, &browser, HOME).is_ok());
    let refusal = admit(&limits, &browser, HOME).unwrap_err();
    assert_eq!(refusal.limit, Limit::Ip);
    assert_eq!(refusal.detail, RefusalDetail::Rate { rate: 1.0, burst: 2 });
    let admitted = admit(&limits, &browser, AWAY).unwrap();
    assert_eq!(
        status(&admitted.statuses, Limit::Key).remaining,
        97,
        "the refused request spent none of the key's rate"
    );
    // A secret key from the spent address is not limited by it.
    assert!(admit(&limits, &key("key_sec", KeyKind::Secret, None, None, None), HOME).is_ok());
}

/// After `failed_auth_burst` failures an address is refused before any check, until its next
/// failure would be allowed; other addresses are not.
#[test]
fn failed_checks_block_their_address() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AuthSettings { failed_auth_rate: 0.01, failed_auth_burst: 3, ..AuthSettings::default() };
    let limits = limits_with(dir.path(), settings);
    for _ in 0..2 {
        limits.auth_failed(HOME);
        assert!(limits.auth_blocked(HOME).is_none());
    }
    limits.auth_failed(HOME);
    let refusal = limits.auth_blocked(HOME).expect("blocked after three failures");
    assert_eq!(refusal.limit, Limit::FailedAuth);
    assert!((99..=100).contains(&refusal.retry_after), "{refusal:?}");
    let status = status(&refusal.statuses, Limit::FailedAuth);
    assert_eq!((status.quota, status.window, status.remaining, status.reset), (3, 300, 0, refusal.retry_after));
    assert!(limits.auth_blocked(AWAY).is_none());
    // A request without a known address (the router driven in process) is not held to one.
    let nowhere = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    for _ in 0..5 {
        limits.auth_failed(nowhere);
    }
    assert!(limits.auth_blocked(nowhere).is_none());
    // The upkeep keeps a block that is not over.
    limits.upkeep();
    assert!(limits.auth_blocked(HOME).is_some());
}

/// A quota's status counts down to the reset at the next month; past it, a refusal naming it.
#[test]
fn quotas_count_down_then_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_with(dir.path(), AuthSettings::default());
    let metered = key("key_q", KeyKind::Secret, None, None, Some(2));
    let first = admit(&limits, &metered, HOME).unwrap();
    let month = status(&first.statuses, Limit::Month);
    assert_eq!((month.quota, month.remaining), (2, 1));
    let now = jiff::Timestamp::now();
    let to_reset = (quota::Month::of(now).end().as_second() - now.as_second()) as u64;
    assert!(month.reset.abs_diff(to_reset) <= 1 && month.window >= 28 * 86_400, "{month:?}");
    assert!(admit(&limits, &metered, HOME).is_ok());
    let refusal = admit(&limits, &metered, HOME).unwrap_err();
    assert_eq!(refusal.limit, Limit::Month);
    assert!(matches!(refusal.detail, RefusalDetail::Quota(Usage { quota: 2, used: 2, .. })));
    assert_eq!(refusal.retry_after, status(&refusal.statuses, Limit::Month).reset);
}

/// Idle key limiters are dropped once a new one would be the same; busy ones stay.
#[test]
fn idle_key_limiters_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let limits = limits_with(dir.path(), AuthSettings::default());
    assert!(admit(&limits, &key("key_idle", KeyKind::Secret, Some(1.0), Some(1), None), HOME).is_ok());
    assert!(admit(&limits, &key("key_busy", KeyKind::Secret, Some(1.0), Some(1), None), HOME).is_ok());
    limits.keys.read()["key_idle"].last_used_ms.store(0, Ordering::Relaxed);
    let now_ms = limits.started.elapsed().as_millis() as u64 + 61_000;
    limits.keys.read()["key_busy"].last_used_ms.store(now_ms, Ordering::Relaxed);
    // Pretend a minute and more went by since the limits started.
    let mut limits = limits;
    let Some(earlier) = limits.started.checked_sub(Duration::from_secs(61)) else { return };
    Arc::get_mut(&mut limits).unwrap().started = earlier;
    limits.upkeep();
    let keys = limits.keys.read();
    assert!(!keys.contains_key("key_idle") && keys.contains_key("key_busy"));
}
