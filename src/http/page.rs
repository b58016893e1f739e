//! The demo page (`ui/index.html`, compiled in) and the Content-Security-Policy it is served
//! with. The page's script and style are inline; the policy allows exactly those blocks by
//! their SHA-256 (computed once from the compiled-in page, so an edit of the page can never
//! leave a stale hash) and nothing else: no other script, style, frame, form target or
//! connection than this server.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The page, as compiled in.
pub const PAGE: &str = include_str!("../../ui/index.html");

/// `GET /`: the page with its policy.
pub async fn ui() -> Response {
    let mut response = Html(PAGE).into_response();
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, policy().clone());
    response
}

/// The policy for [`PAGE`].
fn policy() -> &'static HeaderValue {
    static POLICY: OnceLock<HeaderValue> = OnceLock::new();
    POLICY.get_or_init(|| {
        let text = policy_for(PAGE);
        HeaderValue::from_str(&text).expect("a policy is ASCII: hashes are base64")
    })
}

/// The text of every inline `<tag>…</tag>` block of `page` (as a browser hashes it: the
/// element's text exactly, whitespace included).
fn inline_blocks<'a>(page: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut blocks = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        blocks.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    blocks
}

/// `'sha256-…'` sources for each block.
fn hash_sources(blocks: &[&str]) -> String {
    blocks
        .iter()
        .map(|block| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(block))))
        .collect::<Vec<_>>()
        .join(" ")
}

fn policy_for(page: &str) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hash_sources(&inline_blocks(page, "script")),
        hash_sources(&inline_blocks(page, "style")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every inline script and style of the page is allowed by its hash, and the page has no
    /// script the policy would block: no `<script src>`, no inline event handler attribute, no
    /// `style=` attribute, no `javascript:` URL.
    #[test]
    fn the_policy_allows_exactly_the_pages_inline_blocks() {
        let policy = policy().to_str().unwrap();
        let scripts = inline_blocks(PAGE, "script");
        let styles = inline_blocks(PAGE, "style");
        assert_eq!((scripts.len(), styles.len()), (1, 1), "the page's inline blocks were not found");
        assert_eq!(PAGE.matches("<script").count(), scripts.len(), "a <script> with attributes is not hashed");
        assert_eq!(PAGE.matches("<style").count(), styles.len(), "a <style> with attributes is not hashed");
        for block in scripts.iter().chain(&styles) {
            let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(block));
            assert!(policy.contains(&format!("'sha256-{digest}'")), "{policy}");
        }
        let markup = PAGE.replace(scripts[0], "");
        for forbidden in [" onclick=", " onload=", " oninput=", " onkeydown=", " style=", "javascript:"] {
            assert!(!markup.contains(forbidden), "the page has {forbidden}, which the policy blocks");
        }
        assert!(policy.starts_with("default-src 'none'; ") && policy.ends_with("frame-ancestors 'none'"));
        // The hashes follow the text: a changed script gets another.
        assert_ne!(policy_for("<script>a</script>"), policy_for("<script>b</script>"));
        assert_eq!(inline_blocks("<script>x</script><p><script>y</script>", "script"), ["x", "y"]);
        assert!(inline_blocks("<script>never closed", "script").is_empty());
    }
}
