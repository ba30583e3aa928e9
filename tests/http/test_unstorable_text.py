"""Issue 12 item 1: a NUL byte anywhere in a request (path, query, JSON body, IAM body) is a 400 naming the field, in
the BCS shape (IAM's under ``/v3``), before any database work: it never reaches PostgreSQL (where it was a 500) and
nothing is stored. Each example is one the outside probe sent."""

from __future__ import annotations

from typing import Any

import pytest

from openbcs.kernel.db import Database
from tests.support.accounts import JSON, token_body
from tests.support.consortia import setup_consortium
from tests.support.errors import assert_error, request_id_of
from tests.support.snapshots import Statements, snapshot
from tests.support.tenants import Tenant

NUL_RULE = "must not contain NUL (\\u0000) characters"


def nul(field: str) -> tuple[int, str, str]:
    """The 400 for a NUL in ``field``."""
    return 400, "BCS.4006014", f"Invalid Parameter {field} : {NUL_RULE}"


def test_a_nul_in_the_login_name_is_an_iam_400(client, db, make_account) -> None:
    account = make_account()
    before = snapshot(db)
    response = client.post("/v3/auth/tokens", content=token_body("al\u0000ice", "x", account.name), headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": {
            "code": 400,
            "title": "Bad Request",
            "message": f"Invalid request body: auth.identity.password.user.name: Value error, {NUL_RULE}",
        }
    }
    request_id_of(response)
    assert snapshot(db) == before


def test_a_nul_in_the_project_query_of_iam_is_an_iam_400(tenant: Tenant, client, db) -> None:
    response = client.get("/v3/projects?name=%00", headers=tenant.headers)
    assert (response.status_code, response.json()) == (
        400,
        {"error": {"code": 400, "title": "Bad Request", "message": f"Invalid request: name {NUL_RULE}"}},
    )


def test_a_nul_in_a_path_or_query_never_reaches_the_database(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance()
    cases = [
        ("GET", "/blockchains/%00", "blockchain_id"),
        ("GET", "/blockchains/a%00b/nodes", "blockchain_id"),
        ("GET", "/operation/record?operation_id=a%00b", "operation_id"),
        ("GET", f"/blockchains/{bid}/cert?org_name=org%00&cert_type=admin", "org_name"),
        ("GET", f"/blockchains/{bid}/cert?org_name=organization&cert_type=%00", "cert_type"),
        ("POST", f"/blockchains/{bid}/orgs/org%00x/usercert/alice001", "org_name"),
        ("POST", f"/blockchains/{bid}/orgs/organization/usercert/al%00ce/freeze", "user_name"),
        ("DELETE", f"/blockchains/{bid}/channel/ch%00", "channel_id"),
        ("GET", f"/blockchains/{bid}/channels/channel/blocks/0?x%00=1", "query parameter name"),
    ]
    before = snapshot(db)
    for method, path, field in cases:
        with Statements(db) as statements:
            response = tenant.http.request(method, f"{tenant.base}{path}", headers=tenant.headers)
        assert_error(response, *nul(field))
        assert statements.sent == [], path
    # The project id of the path too, whoever asks.
    with Statements(db) as statements:
        anonymous = tenant.http.get("/v2/%00/blockchains")
    assert_error(anonymous, *nul("project_id"))
    assert statements.sent == []
    assert snapshot(db) == before


def test_a_nul_in_a_json_body_is_a_400_naming_the_field(client, make_account, db: Database) -> None:
    c = setup_consortium(client, make_account)
    bid = c.inviter_bcs_id
    before = snapshot(db)
    cases: list[tuple[Tenant, str, str, Any, str]] = [
        # The probe's BatchCreateChannels: 200, then an internal error in its operation. Now refused at once.
        (
            c.inviter,
            "POST",
            f"/blockchains/{bid}/channels",
            {"channels": [{"channel_name": "second", "channel_description": "a\u0000b"}]},
            "channels[0].channel_description",
        ),
        (c.inviter, "POST", "/members/invitations", {**_invite(c), "channel_name": "chan\u0000"}, "channel_name"),
        (
            c.inviter,
            "POST",
            "/members/invitations",
            {**_invite(c), "invited_userinfo": [{"invited_user": "x\u0000"}]},
            "invited_userinfo[0].invited_user",
        ),
        (c.invitee, "POST", "/notification/handle", c.reject_body(channel_name="\u0000"), "channel_name"),
        (
            c.invitee,
            "POST",
            "/notification/handle",
            c.reject_body(invitor_info={**c.invitor_info(), "invitor_bcs_id": "b\u0000"}),
            "invitor_info.invitor_bcs_id",
        ),
        (c.invitee, "PUT", "/members/quit", c.quit_body(inviter_username="u\u0000"), "inviter_username"),
        (
            c.inviter,
            "DELETE",
            "/members/invitations",
            {"bcs_id": bid, "channel_name": "channel", "invited_userinfo": [{"invited_user": "a\u0000"}]},
            "invited_userinfo[0].invited_user",
        ),
        # A dict key: the organisation names of BatchAddPeersToChannel.
        (
            c.inviter,
            "POST",
            f"/blockchains/{bid}/channels/peers",
            {"channel_peers": [{"channel_name": "channel", "peers": {"org\u0000": 1}}]},
            "channel_peers[0].peers",
        ),
        (c.inviter, "PUT", f"/blockchains/{bid}/channel/orgs/quit", {"org_names": ["\u0000"]}, "org_names[0]"),
    ]
    for caller, method, path, body, field in cases:
        with Statements(db) as statements:
            response = caller.call(method, path, body)
        assert_error(response, *nul(field))
        # Authentication reads the caller; nothing else is asked of the database.
        assert [s for s in statements.sent if "blockchains" in s or "consortium" in s or "channel" in s] == [], path
    assert snapshot(db) == before


def _invite(c: Any) -> dict[str, Any]:
    return {"bcs_id": c.inviter_bcs_id, "channel_name": "channel", "invited_userinfo": [{"invited_user": "nobody"}]}


@pytest.mark.parametrize("text", ["ok", "中文", "emoji \U0001f600", "tab\tand newline\n"])
def test_other_text_is_stored_as_given(tenant: Tenant, text: str) -> None:
    bid = tenant.create_instance(channels=[])
    tenant.run(tenant.create_channels(bid, "described", description=text))
    assert [(c["name"], c["description"]) for c in tenant.channels(bid)] == [("described", text)]
