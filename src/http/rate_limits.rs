//! The decisions of [`crate::auth::limits`] as HTTP: 429 answers (`rate_limited`,
//! `quota_exceeded`) with `Retry-After`, and, on every answer to a request that went through a
//! limit, the fields of draft-ietf-httpapi-ratelimit-headers-09 and the de facto `X-RateLimit-*`:
//!
//! - `RateLimit-Policy: "key";q=50;w=1, "month";q=100000;w=2678400`: each limit the request went
//!   through (`ip`, `key`, `month`; `failed-auth` on its refusals), `q` requests per `w` seconds.
//!   A structured-field list (RFC 8941) of strings with integer parameters.
//! - `RateLimit: "key";r=49;t=1, "month";r=99990;t=2011234`: per limit, the requests that may be
//!   made now (`r`) and the seconds until all of the limit is there again (`t`: a key's burst
//!   refilled, a month's quota renewed); on a 429, the refusing limit's `t` is the `Retry-After`.
//! - `X-RateLimit-Limit`, `-Remaining`, `-Reset`: the refusing limit's, else the one with the
//!   fewest requests left; `-Reset` is a Unix time in seconds (GitHub's convention), not a delay.

use std::net::IpAddr;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use crate::auth::limits::{Admitted, Limit, Limits, Refusal, RefusalDetail, Statuses};
use crate::error::{ApiError, ErrorCode};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The client's address: the TCP peer, or the client a trusted proxy forwarded
/// ([`crate::auth::proxies`]).
pub(super) fn client_address(limits: Option<&Limits>, request: &Request) -> IpAddr {
    let peer = super::auth::client_ip(request);
    match limits {
        Some(limits) => {
            let forwarded = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
            limits.trusted_proxies().client(peer, forwarded)
        }
        None => peer,
    }
}

/// Runs the caller's request through the limits: admitted (with the statuses its answer
/// carries), or the answer that refuses it.
pub(super) async fn admit(limits: &Limits, caller: &Caller) -> Result<Admitted, Response> {
    match limits.admit(&caller.key, caller.ip).await {
        Ok(Ok(admitted)) => Ok(admitted),
        Ok(Err(refusal)) => Err(refusal_response(&refusal)),
        Err(error) => Err(ApiError::internal(&error).into_response()),
    }
}

/// The 429 answer to a refused request.
pub(super) fn refusal_response(refusal: &Refusal) -> Response {
    let retry = refusal.retry_after;
    let policy = refusal.limit.name();
    let error = match refusal.detail {
        RefusalDetail::Rate { rate, burst } => {
            let message = match refusal.limit {
                Limit::Ip => format!(
                    "too many requests with publishable keys from this address: over {rate} requests/s (burst {burst}); retry in {retry} s"
                ),
                Limit::FailedAuth => format!(
                    "too many requests with an unknown, revoked or expired API key from this address; retry in {retry} s"
                ),
                Limit::Key | Limit::Month => {
                    format!("the API key is over its rate of {rate} requests/s (burst {burst}); retry in {retry} s")
                }
            };
            ApiError::new(ErrorCode::RateLimited, message).with_details(serde_json::json!({
                "policy": policy,
                "rate": rate,
                "burst": burst,
                "retry_after_seconds": retry,
            }))
        }
        RefusalDetail::Quota(usage) => {
            let resets_at = usage.month.end().to_string();
            ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the API key's monthly quota of {} requests is used up; it resets on {resets_at} (the first day of next month, UTC)",
                    usage.quota
                ),
            )
            .with_details(serde_json::json!({
                "policy": policy,
                "quota": usage.quota,
                "used": usage.used,
                "resets_at": resets_at,
                "retry_after_seconds": retry,
            }))
        }
    };
    let mut response = error.into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry));
    write_headers(&refusal.statuses, Some(refusal.limit), headers);
    response
}

/// Writes the rate-limit fields of `statuses` (nothing when empty); `binding` is the limit the
/// `X-RateLimit-*` fields describe, else the one with the fewest requests left.
pub fn write_headers(statuses: &Statuses, binding: Option<Limit>, headers: &mut HeaderMap) {
    use std::fmt::Write;
    if statuses.is_empty() {
        return;
    }
    let (mut policies, mut states) = (String::with_capacity(64), String::with_capacity(64));
    for (i, status) in statuses.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let name = status.limit.name();
        let _ = write!(policies, "{separator}\"{name}\";q={};w={}", status.quota, status.window);
        let _ = write!(states, "{separator}\"{name}\";r={};t={}", status.remaining, status.reset);
    }
    let ascii = |text: String| HeaderValue::try_from(text).expect("names and digits are visible ASCII");
    headers.insert(RATELIMIT_POLICY, ascii(policies));
    headers.insert(RATELIMIT, ascii(states));
    let shown = binding
        .and_then(|limit| statuses.iter().find(|status| status.limit == limit))
        .or_else(|| statuses.iter().min_by_key(|status| (status.remaining, std::cmp::Reverse(status.reset))));
    if let Some(status) = shown {
        let now = jiff::Timestamp::now().as_second().max(0) as u64;
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(status.quota));
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(status.remaining));
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(now + status.reset));
    }
}
