"""Helpers of the console tests: a browser-like client of one account (its own cookie jar, signed in through the
console's form), and readers of what a page shows (field errors, flash messages, test ids)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.support.accounts import TestAccount

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def text_of(page: str) -> str:
    """The page's text with tags dropped (inline ones without a space), entities decoded, whitespace squeezed."""
    inline = re.sub(r"</?(?:strong|em|span|a|code|b|i)\b[^>]*>", "", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inline))).strip()


def field_errors(page: str) -> dict[str, str]:
    """``{field: message}`` of the errors shown next to form fields."""
    return {
        html.unescape(name): html.unescape(message)
        for name, message in re.findall(r'<p class="error" id="e-[^"]*" data-field="([^"]*)">([^<]*)</p>', page)
    }


FLASH = re.compile(r'<p class="flash (\w+)" role="\w+"(?: data-form="([^"]*)")?[^>]*>(.*?)</p>', re.S)
OPERATION_LINK = re.compile(r'<a href="/console/operations/([^"]*)">([^<]*)</a>')


def flashes(page: str) -> list[tuple[str, str, str]]:
    """``(kind, form id or "", text)`` of the flash messages on the page (an operation's link as its text)."""
    return [(kind, form, html.unescape(re.sub(r"<[^>]+>", "", text))) for kind, form, text in FLASH.findall(page)]


def flash_links(page: str) -> list[tuple[str, str]]:
    """``(href's operation id, link text)`` of the operation links in the page's flash messages."""
    return [link for _, _, text in FLASH.findall(page) for link in OPERATION_LINK.findall(text)]


def csrf_of(page: str) -> str:
    """The CSRF token the page's forms carry."""
    match = CSRF.search(page)
    assert match, "no form with a CSRF token on the page"
    return match.group(1)


@dataclass
class ConsoleUser:
    """One account in the console, with a cookie jar of its own (a browser)."""

    http: TestClient
    account: TestAccount
    csrf: str = ""
    last: httpx.Response | None = field(default=None, repr=False)

    @classmethod
    def of(cls, client: TestClient, account: TestAccount, *, sign_in: bool = True) -> ConsoleUser:
        """A fresh browser on ``client``'s app; signed in unless ``sign_in=False``."""
        user = cls(TestClient(client.app, raise_server_exceptions=False, base_url=str(client.base_url)), account)
        if sign_in:
            response = user.sign_in()
            assert response.status_code == 303, response.text
            assert response.headers["location"] == "/console/"
            user.csrf = csrf_of(user.get("/console/").text)
        return user

    def sign_in(self, password: str | None = None, *, next_url: str = "/console/", **overrides: str) -> httpx.Response:
        """The sign-in form posted as a browser would (its pre-session CSRF token first)."""
        page = self.http.get("/console/sign-in")
        assert page.status_code == 200, page.text
        form = {
            "csrf_token": csrf_of(page.text),
            "domain": self.account.name,
            "user": self.account.name,
            "password": self.account.password if password is None else password,
            "next": next_url,
        }
        form.update(overrides)
        return self.http.post("/console/sign-in", data=form, follow_redirects=False)

    def get(self, path: str) -> httpx.Response:
        self.last = self.http.get(path, follow_redirects=False)
        return self.last

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> httpx.Response:
        """A form post (with the session's CSRF token unless ``csrf=False``), redirects not followed."""
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        self.last = self.http.post(path, data=form, follow_redirects=False)
        return self.last

    def follow(self, response: httpx.Response) -> httpx.Response:
        """The page a 303 leads to (where its flash message is shown)."""
        assert response.status_code == 303, response.text
        page = self.get(response.headers["location"])
        assert page.status_code in (200, 404), page.text
        return page

    def cookie(self) -> str | None:
        return self.http.cookies.get("openbcs_console")

    def replace_session(self, token: str) -> None:
        """Put ``token`` in the session cookie, as if the browser kept an older one."""
        existing = next(c for c in self.http.cookies.jar if c.name == "openbcs_console")
        self.http.cookies.set("openbcs_console", token, domain=existing.domain, path=existing.path)
