//! Cross-origin requests from partners' pages (issue 21). A browser may call the routes a
//! publishable key or a signed token reaches (search, suggest, feedback: [`cross_origin`]) from
//! an origin some live key lists, and nothing else: a write or admin route never answers a
//! foreign origin, and a key outside its own origins is refused by the access check
//! (`origin_not_allowed`).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no key, so it is
//! answered for the origins of all live keys; the request that follows is checked against its
//! own key's. Without a server secret (development mode) nothing is answered cross-origin: the
//! demo page is same-origin.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::routes::{access_of_path, cross_origin};
use crate::error::{ApiError, ErrorCode};

/// The request headers a page may send (lower case, as browsers list them).
const ALLOWED_HEADERS: &[&str] = &["authorization", "content-type", "x-api-key", "x-request-id"];
/// The answer headers a page may read besides the CORS-safelisted ones.
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, ratelimit, ratelimit-policy, x-ratelimit-limit, \
                               x-ratelimit-remaining, x-ratelimit-reset";
/// How long a browser may reuse a preflight's answer, in seconds: short, so an origin removed
/// from a key stops working within minutes.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Answers preflights and marks the answers a page on an allowed origin may read.
pub async fn cors(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(keys) = &state.keys else { return next.run(request).await };
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else { return next.run(request).await };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    // A key list that changed in the last second is seen here as in the access check.
    if let Err(err) = keys.refresh_if_due() {
        return ApiError::internal(&err).into_response();
    }
    let known = origin.to_str().is_ok_and(|origin| keys.origin_known(origin));
    if preflight {
        return answer_preflight(request.headers(), request.uri().path(), known, origin);
    }
    let method = if request.method() == Method::HEAD { "GET" } else { request.method().as_str() };
    let readable = known && access_of_path(method, request.uri().path()).is_some_and(cross_origin);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // The answer depends on the origin: caches must not give one origin's answer to another.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    if readable {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
    }
    response
}

/// 204 with the allowed method and headers, or 403 `origin_not_allowed` (without CORS headers,
/// so the browser stops there) for an unknown origin, a route not open to pages, or headers a
/// page may not send.
fn answer_preflight(headers: &HeaderMap, path: &str, known: bool, origin: HeaderValue) -> Response {
    let method = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|m| m.to_str().ok()).unwrap_or("");
    let method = if method == "HEAD" { "GET" } else { method };
    let open = access_of_path(method, path).is_some_and(cross_origin);
    let requested = headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("\u{0}").split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect::<Vec<_>>();
    let refused_header = requested.iter().find(|name| !ALLOWED_HEADERS.contains(&name.as_str()));
    let refusal = match (known, open, refused_header) {
        (false, _, _) => Some("this origin is not an allowed origin of any API key".to_owned()),
        (true, false, _) => Some(format!(
            "{} {path} is not open to browser pages (only search, suggest and feedback routes are)",
            crate::error::echoed(method)
        )),
        (true, true, Some(name)) => Some(format!(
            "a page may not send the header {} (allowed: {})",
            crate::error::echoed(name),
            ALLOWED_HEADERS.join(", ")
        )),
        (true, true, None) => None,
    };
    if let Some(message) = refusal {
        let mut response = ApiError::new(ErrorCode::OriginNotAllowed, message).into_response();
        response.headers_mut().append(header::VARY, HeaderValue::from_static("origin"));
        return response;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let answer = response.headers_mut();
    answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    answer.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_str(method).expect("a method is a token"));
    // The same list the requested headers were checked against.
    let allowed = HeaderValue::from_str(&ALLOWED_HEADERS.join(", ")).expect("header names are tokens");
    answer.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    answer.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
    answer.append(
        header::VARY,
        HeaderValue::from_static("origin, access-control-request-method, access-control-request-headers"),
    );
    response
}
