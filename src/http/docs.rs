//! The API's reference: `GET /openapi.json` (the document `crate::openapi` builds from the
//! code) and `GET /docs`, the document rendered by Redoc. Redoc's standalone bundle is vendored
//! at a pinned version (`ui/vendor/redoc/`, written and checked by `tools/vendor-docs`) and
//! compiled in, so the pages need no CDN and work with the network unplugged.
//!
//! Redoc injects its styles at run time (styled-components), so a policy of hashes like the
//! demo page's (`page.rs`) cannot allow them: each `/docs` answer carries a fresh nonce, on its
//! two scripts and in its Content-Security-Policy, and the page hands it to Redoc, which puts it
//! on every style element it makes. Nothing else runs: no inline script or style without the
//! nonce, no other origin, no frame, no form target.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;

/// The page, with `{{nonce}}` where each answer's nonce goes.
const PAGE: &str = include_str!("../../ui/docs.html");
/// Redoc's standalone bundle, as pinned in `ui/vendor/redoc/PIN`.
const SCRIPT: &[u8] = include_bytes!("../../ui/vendor/redoc/redoc.standalone.js");

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    let body = BODY.get_or_init(|| serde_json::to_vec(crate::openapi::document()).expect("the document serialises"));
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.as_slice()).into_response()
}

/// `GET /docs`: the page with a new nonce.
pub async fn page() -> Response {
    let nonce = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let mut response = Html(PAGE.replace("{{nonce}}", &nonce)).into_response();
    let policy = HeaderValue::from_str(&policy(&nonce)).expect("a policy is ASCII: the nonce is base64");
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy);
    // A nonce is only worth anything if the page carrying it is never reused.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /docs/redoc.standalone.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The one style element the bundle inserts as it loads, before `Redoc.init` can hand it the
/// nonce (perfect-scrollbar's CSS, through webpack's style loader), allowed by the hash of its
/// text, and of the empty text it is appended with before that text is set. The browser test
/// (`tests/docs_ui.rs`) fails on any policy violation, so another bundle's other styles show
/// there.
const BUNDLE_STYLE_HASHES: [&str; 2] =
    ["'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"];

/// The policy of a `/docs` answer. Redoc's search index runs in a worker it makes from a
/// `blob:` URL (the bundle's own code), hence `worker-src blob:`; its icons are `data:` images.
/// Its menu's "Redocly" logo comes from their CDN: the policy blocks it, and Redoc hides the
/// image when it fails.
fn policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}' {}; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        BUNDLE_STYLE_HASHES.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The compiled-in bundle is the one `ui/vendor/redoc/PIN` names (the file `tools/vendor-docs`
    /// checked against the npm registry's integrity): an edited or truncated bundle fails here,
    /// offline.
    #[test]
    fn the_bundle_is_the_pinned_one() {
        let pin = include_str!("../../ui/vendor/redoc/PIN");
        let pinned = pin.lines().find_map(|line| line.strip_prefix("sha256=")).expect("PIN has a sha256 line");
        let actual: String = Sha256::digest(SCRIPT).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            actual, pinned,
            "ui/vendor/redoc/redoc.standalone.js is not the pinned bundle: run tools/vendor-docs"
        );
        assert!(pin.contains("\nversion=") && pin.contains("\nintegrity=sha512-"), "{pin}");
    }

    /// Every script of the page carries the nonce, the page has no other inline code the policy
    /// would block, and the policy opens nothing beyond this server, `data:` images and the
    /// search worker.
    #[tokio::test]
    async fn each_page_has_its_own_nonce_on_every_script() {
        let first = page().await;
        let second = page().await;
        let policy_of =
            |response: &Response| response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        let (first_policy, second_policy) = (policy_of(&first), policy_of(&second));
        assert_ne!(first_policy, second_policy, "a nonce was reused");
        let nonce = first_policy.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_owned();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&nonce).unwrap().len(), 16);
        let body = axum::body::to_bytes(first.into_body(), usize::MAX).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches(&format!("<script nonce=\"{nonce}\"")).count(), 2, "{html}");
        assert!(!html.contains("{{nonce}}") && !html.contains("<style") && !html.contains(" style="));
        for directive in first_policy.split("; ") {
            let sources = directive.split(' ').skip(1);
            for source in sources {
                assert!(
                    ["'none'", "'self'", "data:", "blob:"].contains(&source)
                        || source == format!("'nonce-{nonce}'")
                        || BUNDLE_STYLE_HASHES.contains(&source),
                    "{directive} in {first_policy}"
                );
            }
        }
        assert!(first_policy.starts_with("default-src 'none'; ") && first_policy.ends_with("frame-ancestors 'none'"));
        assert!(!first_policy.contains("unsafe"));
    }
}
