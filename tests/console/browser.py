"""Playwright in Debian's Chromium (``/usr/bin/chromium``, never a downloaded browser): one browser per test session,
a context (a separate browser profile: cookies of its own) per account."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("OPENBCS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 15_000


@contextmanager
def chromium() -> Iterator[Any]:
    """The browser; without Chromium or Playwright the browser tests are skipped, except in CI, where they fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs playwright
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed")
    if not shutil.which(CHROMIUM):  # pragma: no cover - .ci/run installs Debian's chromium
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Any, url: str, account: Any, *, password: str | None = None) -> None:
    """Sign in through the console's form with the keyboard only: type, Tab, type, Tab, type, Enter; then wait for
    the overview (or, with a ``password`` that is not the account's, for the refusal)."""
    page.goto(f"{url}/console/")
    page.wait_for_url("**/console/sign-in**")
    # The account field takes the focus by itself (autofocus); on a busy machine Chromium may apply it a moment
    # after the load event, and keys typed before then would be lost.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'f-domain'")
    typed = account.password if password is None else password
    page.keyboard.type(account.name)
    page.keyboard.press("Tab")
    page.keyboard.type(account.name)
    page.keyboard.press("Tab")
    page.keyboard.type(typed)
    fields = ("#f-domain", "#f-user", "#f-password")
    assert [page.input_value(f) for f in fields] == [account.name, account.name, typed]
    page.keyboard.press("Enter")
    if password is None:
        page.wait_for_url(f"{url}/console/")
    else:
        page.locator("#sign-in-error").wait_for()


def reload_until(page: Any, selector: str, *, tries: int = 100) -> Any:
    """Reload the page until ``selector`` is on it (an operation finishing in the background); the locator."""
    for _ in range(tries):
        locator = page.locator(selector)
        if locator.count():
            return locator
        page.wait_for_timeout(100)
        page.reload()
    raise AssertionError(f"{selector} never appeared on {page.url}")
