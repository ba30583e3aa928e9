"""The console in a real browser (Playwright driving Debian's Chromium against a live server): signing in and out,
invite → accept → members → quit across two accounts in two browser contexts, the create form's errors, a form
without its CSRF token, another tenant's page, and alarms and node health of a local-runtime instance (its nodes run
by the fake runtime) refreshing in place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from openbcs.app import create_app
from openbcs.events.models import Alarm
from openbcs.kernel.settings import Settings
from openbcs.network.models import Node
from tests.console.browser import TIMEOUT_MS, chromium, reload_until, sign_in
from tests.console.conftest import HEALTH_SECONDS
from tests.runtime.fakes import FakeRuntime
from tests.support.bodies import CHANNEL, DEFAULT_ORG, create_body, union_instance_body
from tests.support.consortia import setup_consortium
from tests.support.diagnostic import wait_for
from tests.support.servers import LiveServer, free_port
from tests.support.snapshots import invitation_row, snapshot
from tests.support.tenants import new_tenant


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def api(live_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        yield http


def _is_csp_violation(text: str) -> bool:
    """Chromium's console message for what the console's Content-Security-Policy blocked."""
    return "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """What the pages of a test reported as blocked by the Content-Security-Policy (their console messages)."""
    return []


@pytest.fixture
def new_page(browser, csp_violations):
    """``new_page()``: a page in a browser context of its own (its own cookies), closed after the test. Every page
    of every browser test is watched: a page the console's Content-Security-Policy blocks something on fails it."""
    contexts = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: _is_csp_violation(message.text) and csp_violations.append(message.text))
        return page

    yield make
    for context in contexts:
        context.close()
    assert csp_violations == [], "the console's Content-Security-Policy blocked something"


def test_the_content_security_policy_is_in_force_and_no_page_breaks_it(
    live_server, api, make_account, new_page, csp_violations
):
    """Every page of the console loads its script and style under the policy, and the policy blocks what it must
    (an inline script injected into a page does not run, and the watcher sees the violation)."""
    tenant = new_tenant(api, make_account)
    bcs_id = tenant.create_instance(create_body("bcs-csp"))
    page = new_page()
    sign_in(page, live_server.url, tenant.account)
    base = f"{live_server.url}/console"
    for path in (
        "/",
        "/instances/new",
        "/consortium",
        "/alarms",
        "/operations",
        f"/instances/{bcs_id}",
        f"/instances/{bcs_id}/certificates",
        f"/instances/{bcs_id}/events",
        f"/instances/{bcs_id}/channels/{CHANNEL}",
    ):
        response = page.goto(base + path)
        assert response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
        # The stylesheet applied (the body's font is console.css's), the script ran (its IIFE left no global, so
        # ask the DOM: the page's own script element loaded without a violation, checked at teardown).
        assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily"), path
    assert csp_violations == []
    ran = page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.injected = 1";
                   document.body.appendChild(s); return window.injected === 1; }"""
    )
    assert ran is False
    page.wait_for_timeout(200)  # the console message arrives asynchronously
    (violation,) = csp_violations
    assert "inline script" in violation, violation
    csp_violations.clear()  # the one the test provoked


def test_sign_in_and_sign_out(live_server, make_account, new_page):
    account = make_account()
    page = new_page()
    sign_in(page, live_server.url, account, password="wrong-password")
    assert page.locator("#sign-in-error").inner_text() == "The username or password is wrong."
    assert page.url.startswith(f"{live_server.url}/console/sign-in")
    sign_in(page, live_server.url, account)
    assert page.get_by_test_id("account").inner_text() == account.name
    cookie = next(c for c in page.context.cookies() if c["name"] == "openbcs_console")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/console")
    assert page.evaluate("document.cookie") == ""  # the token is out of the page's reach
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in?signed_out=1")
    assert page.get_by_test_id("signed-out").is_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "openbcs_console"]
    page.goto(f"{live_server.url}/console/operations")
    page.wait_for_url("**/console/sign-in?next=%2Fconsole%2Foperations")


def test_invite_accept_members_quit_in_two_browsers(live_server, api, make_account, new_page, db):
    c = setup_consortium(api, make_account, invite=False, invitee_instance=False)
    inviter, invitee = new_page(), new_page()
    sign_in(inviter, live_server.url, c.inviter.account)
    sign_in(invitee, live_server.url, c.invitee.account)

    inviter.get_by_role("link", name="Consortium").click()
    inviter.get_by_label("Channel").select_option(f"{c.inviter_bcs_id}/{CHANNEL}")
    inviter.get_by_label("Tenants (account names)").fill(c.invitee.name)
    inviter.get_by_role("button", name="Invite").click()
    assert inviter.locator("[data-form=invite]").inner_text() == "Done."
    row = inviter.locator(f'tr[data-invitation="{c.invitee.name}/{CHANNEL}"]')
    assert row.locator(".badge").inner_text() == "waiting"
    c.create_invitee_instance()  # which the invitation allows

    invitee.get_by_role("link", name="Consortium").click()
    notification = invitee.locator(f'[data-notification="{c.inviter_bcs_id}/{CHANNEL}"]')
    assert c.inviter.name in notification.inner_text()
    assert notification.get_by_label(DEFAULT_ORG).is_checked()
    notification.get_by_role("button", name="Accept").click()
    assert invitee.locator("[data-form=inbox]").inner_text().startswith("Started operation BCSSVC01-05-")
    joined = reload_until(invitee, f'tr[data-member="{CHANNEL}"] .s-joined')
    assert joined.inner_text() == "joined"
    assert invitation_row(db)["status"] == "joined"

    inviter.reload()
    assert row.locator(".badge").inner_text() == "joined"
    assert f"{DEFAULT_ORG} (2/2)" in row.inner_text()

    invitee.get_by_role("link", name="Quit…").click()
    effects = invitee.get_by_test_id("quit-effects").inner_text()
    assert f"Your organisation(s) {DEFAULT_ORG} leave the channel with their peers" in effects
    assert invitation_row(db)["status"] == "joined"
    invitee.get_by_role("button", name="Quit the consortium").click()
    assert invitee.locator("[data-form=belonging]").inner_text().startswith("Started operation BCSSVC01-03-")
    reload_until(invitee, "text=Your account is in no other tenant's consortium.")
    assert invitation_row(db)["status"] == "quit"

    inviter.reload()
    assert row.locator(".badge").inner_text() == "quit"
    row.get_by_role("button", name="Clean up").click()
    assert inviter.locator("[data-form=sent]").inner_text() == "Done."
    assert inviter.locator(f'tr[data-invitation="{c.invitee.name}/{CHANNEL}"]').count() == 0
    assert invitation_row(db)["deleted_by_inviter"] is True


def test_create_form_shows_errors_next_to_fields(live_server, api, make_account, new_page, db):
    tenant = new_tenant(api, make_account)
    page = new_page()
    sign_in(page, live_server.url, tenant.account)
    page.get_by_role("link", name="New instance").click()
    page.get_by_label("Name", exact=True).fill("-bad")
    page.get_by_label("Orderers").fill("4")
    page.get_by_label("Resource password").fill("Passw0rd!x")
    page.get_by_label("Existing cluster id").fill("cce-1")
    page.get_by_label("Existing cluster name").fill("cce")
    before = snapshot(db)
    page.get_by_role("button", name="Create").click()
    name = page.get_by_label("Name", exact=True)
    assert name.get_attribute("aria-invalid") == "true"
    assert page.locator("#e-name").inner_text().startswith("Invalid Parameter name : 4-24 characters")
    assert name.get_attribute("aria-describedby").split() == ["h-name", "e-name"]
    assert page.get_by_role("alert").first.is_visible()
    assert snapshot(db) == before
    name.fill("bcs-browser")
    page.get_by_label("Resource password").fill("Passw0rd!x")  # never sent back to the browser
    page.get_by_role("button", name="Create").click()
    assert page.locator("[data-field=orderer_node_number]").inner_text() == (
        "Invalid Parameter orderer_node_number : 3 for etcdraft consensus on Fabric 2.2 (BCS.4006014)"
    )
    page.get_by_label("Orderers").fill("3")
    page.get_by_label("Resource password").fill("Passw0rd!x")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(f"{live_server.url}/console/instances/*")
    (bcs_id,) = tenant.instance_ids()
    assert page.get_by_test_id("instance-id").inner_text() == bcs_id


def test_a_form_without_its_csrf_token_is_refused(live_server, api, make_account, new_page, db):
    tenant = new_tenant(api, make_account)
    bcs_id = tenant.create_instance(create_body("bcs-csrf"))
    page = new_page()
    sign_in(page, live_server.url, tenant.account)
    page.goto(f"{live_server.url}/console/instances/{bcs_id}")
    form = page.get_by_role("form", name="Add an organisation")
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    form.get_by_label("New organisation").fill("sneaky")
    form.get_by_label("Storage volume (PVC)").fill("pvc-sneaky")
    before = snapshot(db)
    with page.expect_response(f"**/console/instances/{bcs_id}/orgs") as answer:
        form.get_by_role("button", name="Add organisation").click()
    assert answer.value.status == 403
    assert page.get_by_test_id("csrf-refused").is_visible()
    assert snapshot(db) == before
    assert sorted(tenant.nodes(bcs_id)) == [DEFAULT_ORG]


def test_another_tenants_page_is_not_found(live_server, api, make_account, new_page):
    owner, intruder = new_tenant(api, make_account), new_tenant(api, make_account)
    bcs_id = owner.create_instance(create_body("bcs-private"))
    page = new_page()
    sign_in(page, live_server.url, intruder.account)
    answer = page.goto(f"{live_server.url}/console/instances/{bcs_id}")
    assert answer.status == 404
    assert page.get_by_test_id("not-found").is_visible()
    assert "bcs-private" not in page.content()


class FakeRuntimeServer(LiveServer):
    """A live server of the local runtime whose nodes the fake runs."""

    def __init__(self, settings: Settings, runtime: FakeRuntime) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, runtime=runtime)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


def test_alarms_page_and_node_health_refreshing_without_a_reload(local_settings, fake, make_account, new_page, db):
    with FakeRuntimeServer(local_settings, fake) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        server.app.state.supervisor.health_seconds = HEALTH_SECONDS
        tenant = new_tenant(http, make_account)
        bcs_id = tenant.create_instance(union_instance_body("bcs-live"))
        peer = sorted(tenant.nodes(bcs_id)[DEFAULT_ORG]["peers"])[0]
        fake.unhealthy[peer] = "health check failing: ledger: failed to open"
        wait_for(lambda: _node_state(db, peer) == ("AbNormal", True), what="the node's alarm")

        page = new_page()
        sign_in(page, server.url, tenant.account)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Alarms").click()
        page.wait_for_url(f"{server.url}/console/alarms")
        row = page.locator(f'tr[data-alarm="NodeAbnormal"][data-instance="{bcs_id}"]')
        assert peer in row.inner_text()
        row.get_by_role("link", name="bcs-live").click()
        page.wait_for_url(f"{server.url}/console/instances/{bcs_id}")
        badge = page.locator(f'tr[data-node="{peer}"] .badge')
        assert badge.inner_text() == "AbNormal"

        page.evaluate("window.sameDocument = true")  # gone if the page reloads
        del fake.unhealthy[peer]
        page.wait_for_function(
            "node => document.querySelector(`tr[data-node='${node}'] .badge`).textContent === 'Normal'",
            arg=peer,
            timeout=60_000,
        )
        assert page.evaluate("window.sameDocument") is True
        assert _node_state(db, peer) == ("Normal", False)


def _node_state(db, node: str) -> tuple[str, bool]:
    """The node's stored status, and whether an alarm names it as active."""

    def read(session):
        status = session.scalar(select(Node.status).where(Node.name == node))
        active = [a for a in session.scalars(select(Alarm).where(Alarm.cleared_time.is_(None)))]
        return status, any(a.metadata_.get("resource") == node for a in active)

    return db.run_read(read)
