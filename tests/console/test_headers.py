"""The console's security headers (issue 21 item 8) and HEAD on its pages (item 9).

Every console answer — pages, redirects, not-found, downloads, static files — carries a Content-Security-Policy
allowing only the console's own static files (no inline script, style or handler: the templates hold none),
``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``; HEAD answers as GET without a body.
``tests/console/test_browser.py`` checks in Chromium that no page breaks the policy.
"""

from __future__ import annotations

import re
from importlib import resources

from tests.console.helpers import ConsoleUser
from tests.support.bodies import CHANNEL, DEFAULT_ORG, create_body
from tests.support.tenants import Tenant

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _assert_secured(response, path: str) -> None:
    headers = response.headers
    assert headers.get_list("content-security-policy") == [CSP], path
    assert headers.get_list("x-content-type-options") == ["nosniff"], path
    assert headers.get_list("x-frame-options") == ["DENY"], path


def _pages(console: ConsoleUser, tenant: Tenant) -> dict[str, int]:
    """Console URLs and the status their GET answers."""
    bid = tenant.create_instance(create_body("bcs-headers"))
    (record,) = tenant.records()
    base = f"/console/instances/{bid}"
    return {
        "/": 307,
        "/console": 307,
        "/console/": 200,
        "/console/instances/new": 200,
        "/console/consortium": 200,
        "/console/alarms": 200,
        "/console/operations": 200,
        f"/console/operations/{record['operation_id']}": 200,
        base: 200,
        f"{base}/delete": 200,
        f"{base}/certificates": 200,
        f"{base}/certificates/{DEFAULT_ORG}/admin.zip": 200,
        f"{base}/events": 200,
        f"{base}/channels/{CHANNEL}": 200,
        f"{base}/channels/{CHANNEL}/delete": 200,
        "/console/static/console.js": 200,
        "/console/static/console.css": 200,
        "/console/no-such-page": 404,
        "/console/instances/no-such-instance": 404,
    }


def test_every_console_answer_carries_the_security_headers(console: ConsoleUser, tenant: Tenant) -> None:
    for path, status in _pages(console, tenant).items():
        response = console.get(path)
        assert response.status_code == status, (path, response.text[:300])
        _assert_secured(response, path)
    # Signed out: the sign-in page, and the redirect to it.
    anonymous = ConsoleUser.of(console.http, console.account, sign_in=False)
    for path, status in (("/console/sign-in", 200), ("/console/operations", 303)):
        response = anonymous.get(path)
        assert response.status_code == status, path
        _assert_secured(response, path)
    # A refused form post (no CSRF token) too.
    refused = console.post("/console/sign-out", csrf=False)
    assert refused.status_code == 403
    _assert_secured(refused, "/console/sign-out")


def test_head_answers_a_console_page_as_its_get_without_a_body(console: ConsoleUser, tenant: Tenant) -> None:
    for path, status in _pages(console, tenant).items():
        got = console.http.get(path, follow_redirects=False)
        head = console.http.head(path, follow_redirects=False)
        assert (head.status_code, head.content) == (status, b""), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.headers.get("location") == got.headers.get("location"), path
        if not path.endswith(".zip"):  # a zip is built when asked: its length may differ by a few bytes
            assert head.headers["content-length"] == str(len(got.content)), path
        _assert_secured(head, path)


def test_api_answers_are_not_given_the_consoles_policy(tenant: Tenant) -> None:
    response = tenant.call("GET", "/blockchains")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an event handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_the_templates_hold_no_inline_script_or_style() -> None:
    """What the policy would block: the console keeps its script and style in its static files."""
    templates = list((resources.files("openbcs.console") / "templates").iterdir())
    assert len([t for t in templates if t.name.endswith(".html")]) >= 20
    for template in templates:
        text = template.read_text()
        for pattern, what in INLINE:
            assert not pattern.search(text), f"{template.name} has {what}: {pattern.search(text)}"
