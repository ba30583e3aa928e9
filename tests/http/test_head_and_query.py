"""HTTP details (issue 21 item 9), over every operation the API reference (``/openapi.json``) lists.

- HEAD on a GET route answers as the GET does (status, Content-Type, Content-Length) without a body; before, every
  HEAD was ``404 BCS.4040404``.
- Unknown query parameters are ignored by every read and list operation, as the cloud does (``docs/api.md``, "Query
  parameters"); before, ListOpRecord, ShowBlockchainFlavors, ShowChannelConfigHistory, ShowBlockchainNodeLogs,
  DownloadBlockchainCert and ListBcsEvents(Statistic) refused them while ListBlockchains and the others ignored them.
  DeleteBlockchain alone refuses them (a misspelt deletion flag must not pass unnoticed); known parameters keep their
  rules.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from tests.support.bodies import CHANNEL, DEFAULT_ORG, create_body
from tests.support.errors import assert_error
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

UNKNOWN = [("colour", "red"), ("colour", "blue"), ("page", "2")]  # unknown, one of them repeated
# A path parameter of an operation this test makes nothing for: its answer (a not-found) must still not change.
UNKNOWN_ID = "no-such-id"
# Operations with a query but no GET, and the body a valid call sends.
POST_LISTS = {"ListBcsEvents": {"time_range": "-1.-1.60", "step": 60_000}}
POST_LISTS["ListBcsEventsStatistic"] = POST_LISTS["ListBcsEvents"]
# Known query parameters a valid call needs or may give.
KNOWN = {
    "DownloadBlockchainCert": [("org_name", DEFAULT_ORG), ("cert_type", "admin")],
    "ShowChannelConfigHistory": [("limit", "5")],
    "ShowBlockchainFlavors": [("limit", "10")],
    "ListOpRecord": [("operation_status", "finished")],
    "ShowBlockchainNodeLogs": [("tail", "5")],
    "ListBcsEvents": [("type", "history_alert")],
    "ListBcsEventsStatistic": [("type", "history_alert")],
    "KeystoneListProjects": [("name", "cn-north-4")],
}


@pytest.fixture
def operations(client: TestClient, tenant: Tenant) -> list[tuple[str, str, str]]:
    """(operationId, method, path with every parameter filled) of each operation of the reference that reads: the
    GETs (the admin API is not mounted) and the POST lists."""
    body = create_body("bcs-http", peer_orgs=[(DEFAULT_ORG, 2), ("second", 1)], channels=[(CHANNEL, [DEFAULT_ORG])])
    bid = tenant.create_instance(body)
    tenant.run(tenant.add_peers(bid, CHANNEL, {"second": 1}))  # config block 1, with an update to show
    peer = sorted(tenant.nodes(bid)[DEFAULT_ORG]["peers"])[0]
    values = {
        "project_id": tenant.project_id,
        "blockchain_id": bid,
        "channel_name": CHANNEL,
        "number": "1",
        "node_name": peer,
    }
    found = []
    for path, item in client.get("/openapi.json").json()["paths"].items():
        for method, op in item.items():
            if method == "get" or op["operationId"] in POST_LISTS:
                names = re.findall(r"{(\w+)}", path)
                filled = path.format(**{name: values.get(name, UNKNOWN_ID) for name in names})
                found.append((op["operationId"], method.upper(), filled))
    assert {"ListBlockchains", "ListOpRecord", "ListMembers", "ListBcsEvents", "ShowBlockchainNodeLogs"} <= {
        name for name, _, _ in found
    }
    return found


def _call(client: TestClient, tenant: Tenant, name: str, method: str, path: str, extra: list[tuple[str, str]]) -> Any:
    params = KNOWN.get(name, []) + extra
    return client.request(method, path, params=params, json=POST_LISTS.get(name), headers=tenant.headers)


def _comparable(response: Any) -> tuple[int, str, Any]:
    kind = response.headers.get("content-type", "")
    # Zips are built when asked (their entries' times differ); JSON and text answers are the same each time.
    body = response.json() if kind.startswith("application/json") else None if "zip" in kind else response.text
    return response.status_code, kind, body


def test_unknown_query_parameters_are_ignored_by_every_read(
    client: TestClient, tenant: Tenant, db: Database, operations: list[tuple[str, str, str]]
) -> None:
    before = snapshot(db)
    for name, method, path in operations:
        if name in ("Metrics", "Health"):  # no parameters, and numbers that change from one call to the next
            continue
        plain = _call(client, tenant, name, method, path, [])
        assert plain.status_code == 200 or UNKNOWN_ID in path, (name, plain.text)
        with_unknown = _call(client, tenant, name, method, path, UNKNOWN)
        assert _comparable(with_unknown) == _comparable(plain), name
    assert snapshot(db) == before


def test_known_query_parameters_keep_their_rules(client: TestClient, tenant: Tenant, db: Database) -> None:
    before = snapshot(db)
    for query, message in (
        ("operation_status=finished&operation_status=waiting&colour=red", "operation_status : given more than once"),
        ("operation_status=done&colour=red", "operation_status : "),
    ):
        response = tenant.call("GET", f"/operation/record?{query}")
        assert_error(response, 400, "BCS.4006014", contains=message)
    assert snapshot(db) == before


def test_delete_blockchain_refuses_an_unknown_flag(tenant: Tenant, db: Database) -> None:
    bid = tenant.create_instance(create_body("bcs-keep"))
    before = snapshot(db)
    response = tenant.call("DELETE", f"/blockchains/{bid}?is_delete_everything=true")
    assert_error(response, 400, "BCS.4006014", "Invalid Parameter is_delete_everything : unknown field")
    assert snapshot(db) == before
    assert tenant.instance_ids() == [bid]


def _head_matches_get(client: TestClient, path: str, **kwargs: Any) -> Any:
    got, head = client.get(path, **kwargs), client.head(path, **kwargs)
    assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
    assert head.content == b"", path
    assert head.headers.get("content-type") == got.headers.get("content-type"), path
    if "zip" in got.headers.get("content-type", ""):  # built when asked: its length may differ by a few bytes
        assert int(head.headers["content-length"]) > 0, path
    else:
        assert head.headers.get("content-length") == str(len(got.content)), path
    assert head.headers.get("x-request-id"), path
    return head


def test_head_answers_every_get_as_the_get_without_a_body(
    client: TestClient, tenant: Tenant, db: Database, operations: list[tuple[str, str, str]]
) -> None:
    before = snapshot(db)
    checked = 0
    for name, method, path in operations:
        if method != "GET" or name in ("Metrics", "Health"):  # their numbers change from one call to the next
            continue
        head = _head_matches_get(client, path, params=KNOWN.get(name, []), headers=tenant.headers)
        assert head.status_code == 200 or UNKNOWN_ID in path, name
        checked += 1
    assert checked >= 15
    for path in ("/openapi.json", "/docs"):
        assert _head_matches_get(client, path).status_code == 200
    # Health and metrics: the status and the type of the GET; an unknown path: the GET's 404.
    for path in ("/healthz", "/metrics"):
        head = client.head(path)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-type"] == client.get(path).headers["content-type"]
    assert _head_matches_get(client, "/v2/no/such/path", headers=tenant.headers).status_code == 404
    # HEAD of a POST-only route is what GET of it is: 404, without a body.
    assert _head_matches_get(client, f"/v2/{tenant.project_id}/members/invitations").status_code == 404
    assert snapshot(db) == before


def test_head_without_credentials_is_the_gets_401(client: TestClient, tenant: Tenant) -> None:
    head = _head_matches_get(client, f"/v2/{tenant.project_id}/blockchains")
    assert head.status_code == 401


def test_a_signed_head_is_verified_as_the_head_it_is(client: TestClient, tenant: Tenant) -> None:
    """The AK/SK signature covers the method the client sent: HEAD, though the route serves it as GET."""
    from tests.support.servers import sdk_signed_headers

    url = f"http://testserver/v2/{tenant.project_id}/blockchains"
    account = tenant.account
    head_signed = sdk_signed_headers(method="HEAD", url=url, ak=account.ak, sk=account.sk, project_id=None)
    head = client.head(url, headers=head_signed)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(client.get(url, headers=tenant.headers).content))
    # A GET's signature does not pass for a HEAD.
    get_signed = sdk_signed_headers(method="GET", url=url, ak=account.ak, sk=account.sk, project_id=None)
    assert client.head(url, headers=get_signed).status_code == 401


def test_head_through_a_real_server_completes_and_is_counted_as_head(
    live_server: Any, make_account: Any, settings: Any
) -> None:
    """Through uvicorn (which knows a HEAD answer has no body): every HEAD completes (before, a server that saw GET
    expected the body its Content-Length announced: each HEAD ended in an internal error), and /metrics counts it
    as HEAD under its operation's name."""
    import httpx

    from tests.support.tenants import new_tenant

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        tenant = new_tenant(http, make_account)
        for path, headers in (
            ("/healthz", {}),
            ("/console/sign-in", {}),
            ("/console/static/console.js", {}),
            (f"/v2/{tenant.project_id}/blockchains", tenant.headers),
            (f"/v2/{tenant.project_id}/blockchains", {}),
            ("/no/such/path", {}),
        ):
            got, head = http.get(path, headers=headers), http.head(path, headers=headers)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.headers["content-length"] == str(len(got.content)), path
        metrics = http.get("/metrics").text
    assert 'status="500"' not in metrics
    assert 'method="HEAD",operation="ListBlockchains",status="200"' in metrics
