"""Issue 12 item 3: every array of every request has a documented maximum (``docs/limits.md``), checked where the body
is parsed, before any database work; nothing is stored. The probe's two denials of service are here too: 5,000
channels in CreateNewBlockchain and 200,000 ``node_orgs`` in UpdateInstance."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from openbcs.engine.models import Operation
from openbcs.kernel.db import Database
from tests.support.bodies import create_body
from tests.support.consortia import Consortium, setup_consortium
from tests.support.errors import assert_error
from tests.support.servers import LiveServer, race, request
from tests.support.snapshots import Statements, row_count, snapshot
from tests.support.tenants import Tenant, new_tenant

MODEL = ("blockchain", "channel", "consortium", "operation", "cert_", "monitoring")


def _orgs(n: int) -> list[dict[str, Any]]:
    return [{"name": f"org-{i:06d}", "node_count": 1, "pvc_name": "p"} for i in range(n)]


def _names(n: int, key: str) -> list[dict[str, str]]:
    return [{key: f"name{i:05d}"} for i in range(n)]


def _invitations_21(c: Consortium) -> dict[str, Any]:
    return {"bcs_id": c.inviter_bcs_id, "channel_name": "channel", "invited_userinfo": _names(21, "invited_user")}


def _events(**extra: Any) -> dict[str, Any]:
    return {"time_range": "-1.-1.60", "step": 60_000, **extra}


def _sdk(**extra: Any) -> dict[str, Any]:
    return {
        "cert_path": "/opt/certs",
        "peer_orgs": {"organization": ["0"]},
        "chaincode_name": "chaincode1",
        "channel_name": "channel",
        **extra,
    }


def list_rule(maximum: int, given: int) -> str:
    return f"List should have at most {maximum} item{'s' * (maximum > 1)} after validation, not {given}"


def dict_rule(maximum: int) -> str:
    # A dictionary is refused as soon as it has one entry too many.
    return f"Dictionary should have at most {maximum} items after validation, not more"


# (case id, caller, method, path after /v2/{project}, body, field, the rule it breaks)
Case = tuple[str, str, str, str, Callable[[Consortium], Any], str, str]
CASES: list[Case] = [
    (
        "create-peer-orgs",
        "inviter",
        "POST",
        "/blockchains",
        lambda c: create_body("bcs-x", peer_orgs=[(f"org-{i:02d}", 1) for i in range(11)]),
        "peer_orgs",
        list_rule(10, 11),
    ),
    (
        "create-channels",
        "inviter",
        "POST",
        "/blockchains",
        lambda c: create_body("bcs-x", channels=[(f"chan{i:04d}", ["organization"]) for i in range(21)]),
        "channels",
        list_rule(20, 21),
    ),
    (
        "create-5000-channels",
        "inviter",
        "POST",
        "/blockchains",
        lambda c: create_body("bcs-x", channels=[(f"chan{i:04d}", ["organization"]) for i in range(5000)]),
        "channels",
        list_rule(20, 5000),
    ),
    (
        "create-channel-orgs",
        "inviter",
        "POST",
        "/blockchains",
        lambda c: create_body("bcs-x", channels=[("chan", [f"org-{i:02d}" for i in range(11)])]),
        "channels[0].org_names",
        list_rule(10, 11),
    ),
    (
        "create-ief-nodes",
        "inviter",
        "POST",
        "/blockchains",
        lambda c: create_body(
            "bcs-x",
            ief_nodes_info=[{"id": f"n{i}", "status": "ACTIVE", "public_ip_address": "1.1.1.1"} for i in range(11)],
        ),
        "ief_nodes_info",
        list_rule(10, 11),
    ),
    (
        "update-node-orgs",
        "inviter",
        "PUT",
        "/blockchains/{bid}",
        lambda c: {"node_orgs": _orgs(11)},
        "node_orgs",
        list_rule(10, 11),
    ),
    (
        "update-200k-node-orgs",
        "inviter",
        "PUT",
        "/blockchains/{bid}",
        lambda c: {"node_orgs": _orgs(200_000)},
        "node_orgs",
        list_rule(10, 200_000),
    ),
    (
        "update-publicips",
        "inviter",
        "PUT",
        "/blockchains/{bid}",
        lambda c: {
            "node_orgs": _orgs(1),
            "publicips": [{"status": "ACTIVE", "public_ip_address": "1.1.1.1", "id": "n"}] * 11,
        },
        "publicips",
        list_rule(10, 11),
    ),
    (
        "create-channels-21",
        "inviter",
        "POST",
        "/blockchains/{bid}/channels",
        lambda c: {"channels": _names(21, "channel_name")},
        "channels",
        list_rule(20, 21),
    ),
    (
        "add-peers-two-channels",
        "inviter",
        "POST",
        "/blockchains/{bid}/channels/peers",
        lambda c: {"channel_peers": [{"channel_name": "channel", "peers": {"organization": 1}}] * 2},
        "channel_peers",
        list_rule(1, 2),
    ),
    (
        "add-peers-11-orgs",
        "inviter",
        "POST",
        "/blockchains/{bid}/channels/peers",
        lambda c: {"channel_peers": [{"channel_name": "channel", "peers": {f"org-{i:02d}": 1 for i in range(11)}}]},
        "channel_peers[0].peers",
        dict_rule(10),
    ),
    (
        "remove-11-orgs",
        "inviter",
        "PUT",
        "/blockchains/{bid}/channel/orgs/quit",
        lambda c: {"org_names": [f"org-{i:02d}" for i in range(11)]},
        "org_names",
        list_rule(10, 11),
    ),
    (
        "invite-21",
        "inviter",
        "POST",
        "/members/invitations",
        _invitations_21,
        "invited_userinfo",
        list_rule(20, 21),
    ),
    (
        "agree-11-orgs",
        "invitee",
        "POST",
        "/notification/handle",
        lambda c: c.agree_body(invited_orgs=_names(11, "name")),
        "invited_orgs",
        list_rule(10, 11),
    ),
    (
        "delete-21",
        "inviter",
        "DELETE",
        "/members/invitations",
        _invitations_21,
        "invited_userinfo",
        list_rule(20, 21),
    ),
    (
        "sdk-peer-orgs",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(peer_orgs={f"org-{i:02d}": ["0"] for i in range(11)}),
        "peer_orgs",
        dict_rule(10),
    ),
    (
        "sdk-peers",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(peer_orgs={"organization": [str(i) for i in range(6)]}),
        "peer_orgs.organization",
        list_rule(5, 6),
    ),
    (
        "sdk-union-members",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(union_info={f"m{i}": [] for i in range(21)}),
        "union_info",
        dict_rule(20),
    ),
    (
        "sdk-union-orgs",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(union_info={"m": ["a" * 40] * 11}),
        "union_info.m",
        list_rule(10, 11),
    ),
    (
        "sdk-channels",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(is_multi_chan=True, channel_chaincode={f"c{i}": ["chaincode1"] for i in range(21)}),
        "channel_chaincode",
        dict_rule(20),
    ),
    (
        "sdk-chaincodes",
        "inviter",
        "POST",
        "/blockchains/{bid}/sdk-cfg",
        lambda c: _sdk(is_multi_chan=True, channel_chaincode={"channel": [f"chaincode{i:02d}" for i in range(51)]}),
        "channel_chaincode.channel",
        list_rule(50, 51),
    ),
    (
        "events-relations",
        "inviter",
        "POST",
        "/blockchains/{bid}/events",
        lambda c: _events(metadata_relation=[{"key": "k", "value": ["v"], "relation": "AND"}] * 21),
        "metadata_relation",
        list_rule(20, 21),
    ),
    (
        "events-values",
        "inviter",
        "POST",
        "/blockchains/{bid}/events/statistic",
        lambda c: _events(metadata_relation=[{"key": "k", "value": ["v"] * 51, "relation": "OR"}]),
        "metadata_relation[0].value",
        list_rule(50, 51),
    ),
    (
        "events-order-by",
        "inviter",
        "POST",
        "/blockchains/{bid}/events",
        lambda c: _events(sort={"order_by": ["time", "name", "severity", "time"]}),
        "sort.order_by",
        list_rule(3, 4),
    ),
    (
        "metric-names",
        "inviter",
        "POST",
        "/blockchains/{bid}/metric/list",
        lambda c: {"metric_names": ["cpuUsage"] * 21},
        "metric_names",
        list_rule(20, 21),
    ),
]


@pytest.fixture
def consortium(client, make_account) -> Consortium:
    return setup_consortium(client, make_account)


@pytest.mark.parametrize(
    ("caller", "method", "path", "body", "field", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_an_array_over_its_maximum_is_refused_before_any_database_work(
    consortium: Consortium,
    db: Database,
    caller: str,
    method: str,
    path: str,
    body: Callable[[Consortium], Any],
    field: str,
    rule: str,
) -> None:
    tenant: Tenant = getattr(consortium, caller)
    raw = json.dumps(body(consortium)).encode()
    before = snapshot(db)
    with Statements(db) as sql:
        response = tenant.call(method, path.format(bid=consortium.inviter_bcs_id), raw=raw)
    assert_error(response, 400, "BCS.4006014", f"Invalid Parameter {field} : {rule}")
    assert sql.touching(*MODEL) == []
    assert snapshot(db) == before


def test_update_instance_node_count_is_the_documented_one_to_two(consortium: Consortium, db: Database) -> None:
    tenant, bid = consortium.inviter, consortium.inviter_bcs_id
    before = snapshot(db)
    for count, rule in (
        (0, "greater than or equal to 1"),
        (3, "less than or equal to 2"),
        (5, "less than or equal to 2"),
    ):
        with Statements(db) as sql:
            response = tenant.update(bid, {"node_orgs": [{"name": "organization", "node_count": count}]})
        assert_error(
            response, 400, "BCS.4006014", f"Invalid Parameter node_orgs[0].node_count : Input should be {rule}"
        )
        assert sql.touching(*MODEL) == []
    assert snapshot(db) == before
    # Creation still gives an organisation up to the flavor's 5 peers.
    other = tenant.create_instance("bcs-five", peer_orgs=[("organization", 5)], channels=[])
    assert tenant.detail(other)["peer_info"][0]["node_cnt"] == 5


def test_the_largest_allowed_creation_is_accepted(tenant: Tenant, db: Database) -> None:
    """The other side of the bounds: 10 organisations of 5 peers, 20 channels of all 10 organisations."""
    orgs = [(f"org-{i:02d}", 5) for i in range(10)]
    channels = [(f"chan{i:02d}", [name for name, _ in orgs]) for i in range(20)]
    bid = tenant.create_instance(create_body("bcs-largest", peer_orgs=orgs, channels=channels))
    assert len(tenant.channels(bid)) == 20
    assert sum(len(org["peers"]) for org in tenant.nodes(bid).values()) == 50
    assert row_count(db, Operation) == 1


@pytest.mark.slow
def test_concurrent_creations_of_one_name_answer_400_not_500(settings, make_account, db: Database) -> None:
    """On PostgreSQL the unique name was a 500 for the losers (an IntegrityError past the name check)."""
    with LiveServer(settings) as server:
        import httpx

        with httpx.Client(base_url=server.url, timeout=30) as http:
            tenant = new_tenant(http, make_account)
            answers = race(server.url, [request(tenant, "POST", "/blockchains", create_body("bcs-same"))] * 6)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 5, [a.text for a in answers]
    for loser in (a for a in answers if a.status_code == 400):
        assert_error(
            loser,
            400,
            "BCS.4001018",
            "Operation failed. A service with the same name already exists. Enter another name and try again.",
        )
    assert row_count(db, "blockchains") == 1
