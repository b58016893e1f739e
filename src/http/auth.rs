//! The access check in front of every routed request (issue 21): the route's scope from
//! [`crate::auth::routes`], the key (or signed token, [`crate::auth::token`]) from
//! `Authorization: Bearer …` or `X-API-Key`, checked against the keys in memory
//! ([`crate::auth::cache`]). Without a server secret the server runs
//! open (development mode, loopback only: `serve` refuses another address) and says so in
//! `/health`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::routes::{Access, access, allows};
use crate::auth::store::{KeyRecord, Verdict};
use crate::auth::token::{self, TokenClaims};
use crate::auth::{KeyKind, Scope};
use crate::error::{ApiError, ErrorCode};

/// Who a request is from, once its key is checked: in the request's extensions for the
/// handlers (a token's forced filters), and in the extensions of the answer for the layers
/// around the check (metering).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key presented (or the key a token was signed with).
    pub key: Arc<KeyRecord>,
    /// The scope the route needed.
    pub scope: Scope,
    /// The client's address (the TCP peer; unspecified when a test drives the router).
    pub ip: IpAddr,
    /// What a signed token grants (its forced filters), when the request presented one.
    pub token: Option<Arc<TokenClaims>>,
}

/// The TCP peer of a request (set by the connection loop).
pub fn client_ip(request: &Request) -> IpAddr {
    request.extensions().get::<super::serve::Peer>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.0.ip())
}

/// The key a request presents: `Authorization: Bearer <key>`, else `X-API-Key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110).
        .and_then(|v| v.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("bearer ")).map(|_| &v[7..]))
        .map(str::trim);
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)).filter(|k| !k.is_empty())
}

/// Lets a request through when its key may call its route; 401 or 403 otherwise.
pub async fn check(
    State(state): State<Arc<AppState>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let Some(keys) = &state.keys else { return next.run(request).await };
    // Unrouted requests go on to their 404 or 405.
    let Some(path) = matched else { return next.run(request).await };
    // HEAD is GET without the body.
    let method = if request.method() == axum::http::Method::HEAD { "GET" } else { request.method().as_str() };
    let needed = match access(method, path.as_str()) {
        Some(Access::Open) => return next.run(request).await,
        Some(needed) => needed,
        None => {
            return ApiError::new(ErrorCode::Forbidden, format!("{method} {} is not open to any key", path.as_str()))
                .into_response();
        }
    };
    let Some(key) = presented_key(request.headers()) else {
        return ApiError::new(
            ErrorCode::MissingApiKey,
            "this route needs an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        )
        .into_response();
    };
    if let Err(err) = keys.refresh_if_due() {
        return ApiError::internal(&err).into_response();
    }
    let now = jiff::Timestamp::now().as_second();
    let (record, token) = if token::is_token(key) {
        match token::verify(key, now, |id| keys.signer(id)) {
            Ok((record, claims)) => (record, Some(Arc::new(claims))),
            Err(rejection) => {
                return ApiError::new(ErrorCode::InvalidApiKey, rejection.message())
                    .with_details(serde_json::json!({ "reason": rejection.reason() }))
                    .into_response();
            }
        }
    } else {
        match keys.verify(key, now) {
            Verdict::Valid(record) => (record, None),
            Verdict::Unknown | Verdict::Revoked | Verdict::Expired => {
                return ApiError::new(ErrorCode::InvalidApiKey, "the API key is unknown, revoked or expired")
                    .into_response();
            }
        }
    };
    let scope = match needed {
        Access::Needs(scope) => scope,
        Access::Metrics | Access::Open => Scope::Metrics,
    };
    if !allows(needed, token.as_ref().map_or(&record.scopes, |claims| &claims.scopes)) {
        return ApiError::new(ErrorCode::Forbidden, format!("this route needs the {scope} scope"))
            .with_details(serde_json::json!({ "scope": scope }))
            .into_response();
    }
    // An Origin that is not text matches no allowed origin (and is not taken for none).
    let origin = request.headers().get(axum::http::header::ORIGIN).map(|v| v.to_str().unwrap_or(""));
    if token.is_some() && !token::origin_allowed(&record, origin) {
        return ApiError::new(
            ErrorCode::OriginNotAllowed,
            "a token is only accepted from the origins its key lists (the request's Origin header)",
        )
        .into_response();
    }
    if record.kind == KeyKind::Publishable
        && !origin.is_some_and(|origin| record.origins.iter().any(|allowed| allowed == origin))
    {
        return ApiError::new(
            ErrorCode::OriginNotAllowed,
            "a publishable key is only accepted from its allowed origins (the request's Origin header)",
        )
        .into_response();
    }
    let caller = Caller { key: record, scope, ip: client_ip(&request), token };
    let mut request = request;
    request.extensions_mut().insert(caller.clone());
    let mut response = next.run(request).await;
    // Every answer to a known caller carries it out too, for the layers around this one
    // (metering).
    response.extensions_mut().insert(caller);
    response
}
