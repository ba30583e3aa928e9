"""Signing in (the same check and refusals as ``POST /v3/auth/tokens``), the session cookie, signing out, expiry,
and the setting that turns the console off."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.iam import service as iam
from openbcs.iam import tokens
from openbcs.kernel.clock import utcnow
from tests.console.helpers import ConsoleUser, flashes, text_of
from tests.support.accounts import JSON, token_body
from tests.support.errors import assert_error


def test_sign_in_keeps_an_iam_token_in_a_strict_httponly_cookie(client, tenant, console_of):
    user = console_of(tenant, sign_in=False)
    response = user.sign_in(next_url="/console/operations")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/operations"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("openbcs_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here; see the TLS test
    # The session is an API token: the same one the API accepts.
    token = user.cookie()
    api = client.get(f"/v2/{tenant.project_id}/blockchains", headers={"X-Auth-Token": token})
    assert api.status_code == 200
    assert api.json() == {"blockchains": [], "count": 0}
    page = user.get("/console/")
    assert page.status_code == 200
    assert f'data-testid="account">{tenant.name}</strong>' in page.text


def test_cookie_is_secure_over_tls(client, tenant):
    browser = TestClient(client.app, base_url="https://testserver")
    user = ConsoleUser(browser, tenant.account)
    response = user.sign_in()
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("openbcs_console="))
    assert "secure" in cookie.lower()


def _api_refusal(client, account_name, user_name, password):
    response = client.post("/v3/auth/tokens", content=token_body(user_name, password, account_name), headers=JSON)
    return response.status_code, response.json()["error"]["message"]


REFUSALS = {
    "wrong-password": {"password": "not-the-password"},
    "unknown-account": {"domain": "nobody-here"},
    "unknown-user": {"user": "nobody"},
    "disabled-user": {},
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_the_apis(case, client, make_account, console_of, db):
    account = make_account()
    if case == "disabled-user":
        db.run_write(iam.set_user_enabled, account_name=account.name, user_name=None, enabled=False)
    given = {"domain": account.name, "user": account.name, "password": account.password, **REFUSALS[case]}
    status, message = _api_refusal(client, given["domain"], given["user"], given["password"])
    user = console_of(account, sign_in=False)
    response = user.sign_in(**given)
    assert (response.status_code, status) == (401, 401)
    assert ("error", "", message) in flashes(response.text)
    assert user.cookie() is None
    assert user.get("/console/").status_code == 303  # still signed out


def test_empty_or_oversized_fields_are_refused_before_any_check(console_of, tenant):
    user = console_of(tenant, sign_in=False)
    for overrides in ({"domain": ""}, {"user": "u" * 65}, {"password": ""}):
        response = user.sign_in(**overrides)
        assert response.status_code == 400
        assert flashes(response.text) == [
            ("error", "", "Enter the account name, the user name (at most 64 characters each) and the password.")
        ]
        assert user.cookie() is None


def test_sign_in_form_needs_its_csrf_token(console_of, tenant):
    user = console_of(tenant, sign_in=False)
    user.http.get("/console/sign-in")
    response = user.http.post(
        "/console/sign-in",
        data={"domain": tenant.name, "user": tenant.name, "password": tenant.account.password},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert 'data-testid="csrf-refused"' in response.text
    assert user.cookie() is None


@pytest.mark.parametrize(
    ("target", "landing"),
    [
        ("/console/consortium", "/console/consortium"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/v2/anything", "/console/"),
        ("/console/\\evil", "/console/"),
    ],
)
def test_sign_in_goes_only_to_console_pages(target, landing, console_of, tenant):
    user = console_of(tenant, sign_in=False)
    response = user.sign_in(next_url=target)
    assert response.status_code == 303
    assert response.headers["location"] == landing


def test_pages_send_a_signed_out_browser_to_sign_in_and_back(console_of, tenant):
    user = console_of(tenant, sign_in=False)
    response = user.get("/console/operations?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=%2Fconsole%2Foperations%3Fpage%3D2"
    page = user.get(response.headers["location"])
    assert 'name="next" value="/console/operations?page=2"' in page.text
    assert "Your session has ended" not in page.text


def test_sign_out_forgets_the_session(console):
    response = console.post("/console/sign-out")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?signed_out=1"
    assert console.cookie() is None
    assert 'data-testid="signed-out"' in console.get(response.headers["location"]).text
    assert console.get("/console/").status_code == 303


def test_sign_out_without_csrf_token_is_refused(console):
    response = console.post("/console/sign-out", csrf=False)
    assert response.status_code == 403
    assert console.cookie() is not None
    assert console.get("/console/").status_code == 200


def _expired_token(server_key, account):
    """A token of the account exactly as IAM seals them, whose hour ended a minute ago."""
    ended = utcnow() - timedelta(minutes=1)
    claims = {"u": account.created.user_id, "p": account.project_id, "v": 1, "iat": ended.timestamp() - 3600}
    claims["exp"] = ended.timestamp()
    return server_key.encrypt(tokens.TOKEN_PURPOSE, json.dumps(claims, separators=(",", ":")).encode())


def test_an_expired_session_goes_back_to_sign_in(console, db, server_key):
    console.replace_session(_expired_token(server_key, console.account))
    response = console.get("/console/instances/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=%2Fconsole%2Finstances%2Fnew&expired=1"
    assert console.cookie() is None  # the dead cookie is deleted
    page = console.get(response.headers["location"])
    assert "Your session has ended. Sign in again." in text_of(page.text)
    # Signing in again lands where the browser was going.
    assert console.sign_in(next_url="/console/instances/new").headers["location"] == "/console/instances/new"


def test_a_password_change_ends_console_sessions(console, db):
    db.run_write(iam.change_password, account_name=console.account.name, user_name=None, password="An0ther-pass")
    response = console.get("/console/")
    assert response.status_code == 303
    assert response.headers["location"].endswith("&expired=1")


def test_a_form_posted_after_expiry_changes_nothing_and_asks_to_sign_in(console, db, server_key, tenant):
    console.replace_session(_expired_token(server_key, console.account))
    response = console.post("/console/instances", {"name": "bcs-late"})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=%2Fconsole%2F&expired=1"
    assert tenant.instance_ids() == []


def test_root_opens_the_console(client):
    response = client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/console/")
    response = client.get("/console", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/console/")


def test_unknown_console_urls_get_the_not_found_page(console):
    response = console.get("/console/no/such/page")
    assert response.status_code == 404
    assert 'data-testid="not-found"' in response.text


def test_static_assets_are_served_from_the_package(client):
    css = client.get("/console/static/console.css")
    js = client.get("/console/static/console.js")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200
    assert "data-refresh" in js.text
    # Nothing is fetched from elsewhere: every asset the pages reference is one of ours.
    page = client.get("/console/sign-in").text
    assert "http://" not in page
    assert "https://" not in page


def test_the_console_can_be_turned_off(settings):
    off = settings.model_copy(update={"console_enabled": False})
    with TestClient(create_app(off), raise_server_exceptions=False) as http:
        for path in ("/console/", "/console/sign-in", "/console/static/console.css", "/"):
            assert_error(http.get(path, follow_redirects=False), 404, "BCS.4040404")
        assert http.get("/healthz").status_code == 200
