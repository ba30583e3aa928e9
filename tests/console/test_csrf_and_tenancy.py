"""Every console form needs its session's CSRF token, and another tenant's pages and actions are not found:
refused, nothing in the database changes."""

from __future__ import annotations

import pytest

from openbcs.console import certs, channels, consortium, governance, health, home, instances
from tests.console.helpers import ConsoleUser, flashes
from tests.support.bodies import CHANNEL, DEFAULT_ORG, union_instance_body
from tests.support.snapshots import snapshot


def _owner_state(tenant):
    bcs_id = tenant.create_instance(union_instance_body())
    response = tenant.call("POST", f"/blockchains/{bcs_id}/orgs/{DEFAULT_ORG}/usercert/alice1", {"security_mode": True})
    assert response.status_code == 200
    operation_id = tenant.records()[0]["operation_id"]
    return bcs_id, operation_id


def _posts(bcs_id: str) -> dict[str, dict[str, str]]:
    """Every console form post with a form that would be accepted (for the owner)."""
    base = f"/console/instances/{bcs_id}"
    return {
        "/console/sign-out": {},
        "/console/instances": {"name": "bcs-other", "resource_password": "Passw0rd!x"},
        f"{base}/peers": {"org": DEFAULT_ORG, "node_count": "1"},
        f"{base}/orgs": {"name": "neworg", "node_count": "1"},
        f"{base}/orgs/delete": {"org": DEFAULT_ORG, "node_count": "2"},
        f"{base}/delete": {},
        f"{base}/channels": {"channel_name": "second"},
        f"{base}/channels/{CHANNEL}/peers": {"org": DEFAULT_ORG, "count": "1"},
        f"{base}/channels/{CHANNEL}/peers/remove": {"org": DEFAULT_ORG, "peers": "1"},
        f"{base}/channels/{CHANNEL}/orgs/remove": {"org": DEFAULT_ORG},
        f"{base}/channels/{CHANNEL}/delete": {},
        "/console/consortium/invite": {"target": f"{bcs_id}/{CHANNEL}", "tenants": "someone-else"},
        "/console/consortium/answer": {"invitor_bcs_id": bcs_id, "channel": CHANNEL, "answer": "reject"},
        "/console/consortium/withdraw": {"bcs_id": bcs_id, "channel": CHANNEL, "invited_user": "x"},
        "/console/consortium/quit": {"inviter_bcs_id": bcs_id, "channel": CHANNEL, "invitee_bcs_id": "x"},
        f"{base}/certificates/sdk-config": {
            "org": f"{DEFAULT_ORG}:2",
            "channel_name": CHANNEL,
            "chaincode_name": "mycode1",
            "cert_path": "/opt/certs",
        },
        f"{base}/certificates/users": {"org": DEFAULT_ORG, "user_name": "bobby1"},
        f"{base}/certificates/users/freeze": {"org": DEFAULT_ORG, "user_name": "alice1"},
        f"{base}/certificates/users/unfreeze": {"org": DEFAULT_ORG, "user_name": "alice1"},
        # Governance (tests/console/test_signature_requests.py has the accepted forms; REQ: a request id).
        f"{base}/orgs/{DEFAULT_ORG}/admin-custody": {"csr": "not a csr"},
        "/console/signature-requests/REQ/signatures": {"signature_header": "AAAA", "signature": "AAAA"},
        "/console/signature-requests/REQ/upload": {},
        "/console/signature-requests/REQ/reject": {"reason": "no"},
    }


def generic(path: str) -> str:
    """A path of :func:`_posts` as the router spells it (its parameters by name)."""
    path = path.replace("BCS", "{blockchain_id}").replace(f"/{CHANNEL}/", "/{channel_name}/")
    path = path.replace("/users/freeze", "/users/{action}").replace("/users/unfreeze", "/users/{action}")
    return path.replace("/REQ/", "/{request_id}/").replace(f"/orgs/{DEFAULT_ORG}/", "/orgs/{org_name}/")


def test_every_form_post_of_the_console_is_covered():
    posted = {
        route.path
        for module in (home, instances, health, channels, consortium, certs, governance)
        for route in module.router.routes
        if "POST" in route.methods  # type: ignore[attr-defined]
    }
    tested = {generic(path) for path in _posts("BCS")}
    assert posted == tested | {"/console/sign-in"}  # the sign-in form's own token is tested in test_session.py


@pytest.mark.parametrize("forged", [False, True], ids=["no-token", "another-sessions-token"])
def test_a_form_post_without_its_csrf_token_is_refused_and_changes_nothing(
    forged, tenant, console, console_of, make_tenant, db
):
    bcs_id, _ = _owner_state(tenant)
    other = console_of(make_tenant())
    before = snapshot(db)
    for path, form in _posts(bcs_id).items():
        if forged:
            form = {**form, "csrf_token": other.csrf}
        response = console.post(path, form, csrf=False)
        assert response.status_code == 403, path
        assert 'data-testid="csrf-refused"' in response.text, path
    assert snapshot(db) == before
    assert console.get("/console/").status_code == 200  # still signed in: nothing was done


def test_another_tenants_pages_are_not_found(tenant, make_tenant, console_of):
    bcs_id, operation_id = _owner_state(tenant)
    intruder = console_of(make_tenant())
    base = f"/console/instances/{bcs_id}"
    for path in (
        base,
        f"{base}/delete",
        f"{base}/channels/{CHANNEL}",
        f"{base}/channels/{CHANNEL}/delete",
        f"{base}/certificates",
        f"{base}/certificates/{DEFAULT_ORG}/admin.zip",
        f"{base}/events",
        f"{base}/health",
        f"/console/operations/{operation_id}",
    ):
        response = intruder.get(path)
        assert response.status_code == 404, path
        assert 'data-testid="not-found"' in response.text, path
        assert bcs_id not in response.text
        assert operation_id not in response.text
    # The owner sees the same pages.
    owner = console_of(tenant)
    assert owner.get(base).status_code == 200
    assert owner.get(f"/console/operations/{operation_id}").status_code == 200


def test_another_tenants_actions_are_refused_and_change_nothing(tenant, make_tenant, console_of, db):
    bcs_id, _ = _owner_state(tenant)
    intruder: ConsoleUser = console_of(make_tenant())
    before = snapshot(db)
    for path, form in _posts(bcs_id).items():
        if path in ("/console/sign-out", "/console/instances"):
            continue
        response = intruder.post(path, form)
        if response.status_code == 303:  # refused next to a form of the intruder's own consortium page
            shown = flashes(intruder.follow(response).text)
            assert shown, (path, intruder.last.text if intruder.last else "")
            kind, _form, text = shown[0]
            assert kind == "error", path
            assert "BCS.4001011" in text or "BCS.4001062" in text or "BCS.4001061" in text, (path, text)
        else:
            assert response.status_code == 404, path
            assert 'data-testid="not-found"' in response.text, path
    assert snapshot(db) == before
