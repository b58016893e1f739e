"""Loads a MarketLounge server's /docs in headless Chromium with every request that does not go
to the server refused, and checks that Redoc renders every operation of /openapi.json, the code
samples of the main calls, and that nothing broke the page: no script error, no request that
left the machine, no Content-Security-Policy violation.

Usage: check_docs.py BASE_URL CHROMIUM_PATH   (run by tests/docs_ui.rs; prints a JSON summary)
"""

import json
import re
import sys
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright


def main() -> int:
    base, chromium = sys.argv[1].rstrip("/"), sys.argv[2]
    server = urllib.parse.urlsplit(base)
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=30) as answer:
        document = json.load(answer)
    operations = [
        (method.upper(), path, operation["operationId"], operation["summary"])
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]

    blocked, blocked_by_policy, problems = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context()

        def route(request_route):
            url = urllib.parse.urlsplit(request_route.request.url)
            # Only the server under test: the page must work with the network unplugged.
            if url.scheme in ("http", "https") and url.netloc != server.netloc:
                blocked.append(request_route.request.url)
                request_route.abort()
            else:
                request_route.continue_()

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))

        def console(message):
            text = message.text
            # An image from another origin refused by the policy is the policy doing its job
            # (Redoc's menu logo, which it hides when it fails): reported, not a problem.
            external = re.search(r"Loading the image '(https?://[^']+)' violates", text)
            if external and urllib.parse.urlsplit(external.group(1)).netloc != server.netloc:
                blocked_by_policy.append(external.group(1))
            elif message.type == "error" or "Content Security Policy" in text:
                problems.append(f"console {message.type}: {text}")

        page.on("console", console)
        page.goto(f"{base}/docs", wait_until="load", timeout=60_000)
        # Redoc gives each operation a section `operation/<operationId>`.
        page.wait_for_function(
            "n => document.querySelectorAll('[data-section-id^=\"operation/\"]').length >= n",
            arg=len(operations),
            timeout=60_000,
        )
        missing = []
        for method, path, operation_id, summary in operations:
            section = page.locator(f'[data-section-id="operation/{operation_id}"]')
            if section.count() == 0 or summary not in section.first.inner_text():
                missing.append(f"{method} {path} ({operation_id})")
        match = page.locator('[data-section-id="operation/match"]').first.inner_text()
        samples = [label for label in ("curl", "Python", "JavaScript") if label not in match]
        # Redoc's injected styles took effect under the page's policy (its nonce reached
        # them): its headings have the theme's font, not the browser's default serif.
        styled = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-section-id^=\"operation/\"] h2')).fontFamily"
        )
        rendered = page.locator('[data-section-id^="operation/"]').count()
        browser.close()

    summary = {
        "operations_documented": len(operations),
        "operations_rendered": rendered,
        "missing": missing,
        "code_samples_missing": samples,
        "blocked_requests": blocked,
        "blocked_by_policy": blocked_by_policy,
        "problems": problems,
    }
    summary["heading_font"] = styled
    ok = not missing and not samples and not problems and "Montserrat" in styled
    if "Montserrat" not in styled:
        print(f"operations are not styled (heading font {styled!r}): Redoc's styles were blocked", file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
