"""Channel calls while another operation runs on the instance, and on another tenant's instance."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from openbcs.network.models import Instance
from openbcs.kernel.db import Database
from openbcs.engine.models import Operation
from openbcs.kernel.settings import Settings
from tests.channels.helpers import Bcs, error, issue_token, peer_names, snapshot
from tests.support import LiveServer, TestAccount

AppWithSteps = Callable[[float], AbstractContextManager[TestClient]]
# Long enough that an operation started meanwhile never leaves its first sub-step during the test.
PARKED = 3600


def _channel_calls(api: Bcs, bid: str) -> dict[str, Callable[[], httpx.Response]]:
    """Every mutating channel call, each one valid on the idle instance ``_setup`` builds."""
    return {
        "BatchCreateChannels": lambda: api.create_channels(bid, "newchan"),
        "BatchAddPeersToChannel": lambda: api.add_peers(bid, "trade", {"orgb": 1}),
        "BatchRemovePeersFromChannel": lambda: api.remove_peers(bid, "trade", "orga", 1),
        "BatchRemoveOrgsFromChannel": lambda: api.remove_orgs(bid, "trade", ["orga"]),
        "DeleteChannel": lambda: api.delete_channel(bid, "spare"),
    }


def _setup(app_with_steps: AppWithSteps, account: TestAccount) -> str:
    """An idle instance: orga (2 peers) wholly in ``trade``, orgb (1 peer) in ``side``, an empty ``spare``."""
    with app_with_steps(0) as fast:
        api = Bcs(fast, account, issue_token(fast, account))
        bid = api.create_instance(
            "chan-busy", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"]), ("side", ["orgb"])]
        )
        api.run(api.create_channels(bid, "spare"))
    return bid


def _started(api: Bcs, operation_id: str) -> str:
    """The operation once its first sub-step started (it stays there: steps take an hour)."""
    for _ in range(3000):
        if api.record(operation_id)["operation_status"] == "processing":
            return operation_id
        time.sleep(0.01)
    raise AssertionError(f"operation {operation_id} never started")


def _parked(api: Bcs, response: httpx.Response) -> str:
    """The operation a call started, parked in its first sub-step."""
    assert response.status_code == 200, response.text
    return _started(api, str(response.json()["operation_id"]))


def _due_now(db: Database, operation_id: str) -> None:
    """Make a parked operation's next transition due, for the next fast app to finish it."""
    db.run_write(lambda s: s.execute(update(Operation).where(Operation.id == operation_id).values(due_at=0)))


RUNNING = {
    "channel change": lambda api, bid: api.remove_orgs(bid, "side", ["orgb"]),
    "channel creation": lambda api, bid: api.create_channels(bid, "running"),
    "peer scaling": lambda api, bid: api.update(bid, {"node_orgs": [{"name": "orgb", "node_count": 2}]}),
    "organisation addition": lambda api, bid: api.update(
        bid, {"node_orgs": [{"name": "orgc", "node_count": 1, "pvc_name": "pvc-orgc"}]}
    ),
}


@pytest.mark.parametrize("running", list(RUNNING))
def test_channel_calls_are_refused_while_an_operation_runs(
    app_with_steps: AppWithSteps, make_account: Callable[..., TestAccount], db: Database, running: str
) -> None:
    account = make_account()
    bid = _setup(app_with_steps, account)
    with app_with_steps(PARKED) as slow:
        api = Bcs(slow, account, issue_token(slow, account))
        operation_id = _parked(api, RUNNING[running](api, bid))
        before = snapshot(db)
        for name, call in _channel_calls(api, bid).items():
            response = call()
            assert error(response) == (400, "BCS.4001020"), name
            assert response.json()["error_msg"].startswith("Operation failed. The service status is abnormal")
        # Reads go on meanwhile.
        assert [c["name"] for c in api.channels(bid)] == ["trade", "side", "spare"]
        assert snapshot(db) == before
        assert [r["operation_id"] for r in api.records(blockchain_id=bid, operation_status="processing")] == [
            operation_id
        ]

    _due_now(db, operation_id)
    with app_with_steps(0) as fast:
        api = Bcs(fast, account, issue_token(fast, account))
        api.wait(operation_id)
        # Once it is over the instance takes the same calls again, one after the other.
        for call in _channel_calls(api, bid).values():
            api.run(call())
        created = ["running"] if running == "channel creation" else []
        assert [c["name"] for c in api.channels(bid)] == ["trade", "side", *created, "newchan"]
        assert api.channel(bid, "trade")["peers"] == {"orgb": peer_names(bid, "orgb", 1)}


def test_channel_calls_are_refused_while_the_instance_is_being_created(
    app_with_steps: AppWithSteps, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    with app_with_steps(PARKED) as slow:
        api = Bcs(slow, account, issue_token(slow, account))
        bid = api.create_instance(
            "chan-creating", wait=False, peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"])]
        )
        (creation,) = api.records(blockchain_id=bid)
        operation_id = _started(api, creation["operation_id"])
        before = snapshot(db)
        for name, call in _channel_calls(api, bid).items():
            response = call()
            assert error(response) == (400, "BCS.4001001"), name
            assert response.json()["error_msg"] == "Operation failed. The BCS service is being created."
        assert api.channels(bid) == []  # the planned channel comes with the last steps
        assert snapshot(db) == before

    _due_now(db, operation_id)
    with app_with_steps(0) as fast:
        api = Bcs(fast, account, issue_token(fast, account))
        api.wait(operation_id)
        api.run(api.add_peers(bid, "trade", {"orgb": 1}))
        assert api.channel(bid, "trade")["peers"] == {
            "orga": peer_names(bid, "orga", 2),
            "orgb": peer_names(bid, "orgb", 1),
        }


def test_channel_calls_are_refused_while_the_instance_is_being_deleted(
    app_with_steps: AppWithSteps, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    bid = _setup(app_with_steps, account)
    with app_with_steps(PARKED) as slow:
        api = Bcs(slow, account, issue_token(slow, account))
        operation_id = _parked(api, api.delete_instance(bid))
        before = snapshot(db)
        for name, call in _channel_calls(api, bid).items():
            response = call()
            assert error(response) == (400, "BCS.4001003"), name
            assert response.json()["error_msg"] == "Operation failed. The BCS service is being deleted."
        assert snapshot(db) == before
        assert api.record(operation_id)["operation_status"] == "processing"


# --- tenant isolation --------------------------------------------------------------------------------------------


def test_another_tenants_instance_is_unknown_to_every_channel_call(make_bcs: Callable[..., Bcs], db: Database) -> None:
    owner, intruder = make_bcs(), make_bcs()
    bid = owner.create_instance("chan-owned", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"])])
    owner.run(owner.create_channels(bid, "spare"))
    intruder_own = intruder.create_instance("chan-mine", channels=[])
    before = snapshot(db)

    calls = {
        **_channel_calls(intruder, bid),
        "ListBlockchainChannels": lambda: intruder.call("GET", f"/blockchains/{bid}/channels"),
        "ShowChannelConfigHistory": lambda: intruder.call("GET", f"/blockchains/{bid}/channels/trade/config-history"),
    }
    for name, call in calls.items():
        response = call()
        assert error(response) == (400, "BCS.4001011"), name
        assert response.json()["error_msg"] == (
            "Operation failed. The service does not exist or has been deleted. Refresh the page."
        )
        assert bid not in response.text

    assert snapshot(db) == before
    assert intruder.records(blockchain_id=bid) == []
    assert intruder.instances() == [intruder_own]
    assert [c["name"] for c in owner.channels(bid)] == ["trade", "spare"]


def test_the_owners_project_in_the_path_is_forbidden_to_another_tenant(
    make_bcs: Callable[..., Bcs], db: Database
) -> None:
    owner, intruder = make_bcs(), make_bcs()
    bid = owner.create_instance("chan-owned2", channels=[("trade", ["organization"])])
    before = snapshot(db)
    response = intruder.client.post(
        f"/v2/{owner.project_id}/blockchains/{bid}/channels",
        json={"channels": [{"channel_name": "stolen"}]},
        headers={"X-Auth-Token": intruder.token},
    )
    assert error(response) == (403, "BCS.4030403")
    response = intruder.client.get(
        f"/v2/{owner.project_id}/blockchains/{bid}/channels", headers={"X-Auth-Token": intruder.token}
    )
    assert error(response) == (403, "BCS.4030403")
    assert snapshot(db) == before


def test_concurrent_channel_calls_start_exactly_one_operation(
    app_with_steps: AppWithSteps, make_account: Callable[..., TestAccount], db: Database, settings: Settings
) -> None:
    account = make_account()
    bid = _setup(app_with_steps, account)
    names = [f"race{n}" for n in range(6)]
    with (
        LiveServer(settings.model_copy(update={"operation_step_seconds": PARKED})) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        api = Bcs(http, account, issue_token(http, account))

        def create(name: str) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                return Bcs(own, account, api.token).create_channels(bid, name)

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            answers = dict(zip(names, pool.map(create, names), strict=True))
        accepted = [name for name, response in answers.items() if response.status_code == 200]
        assert len(accepted) == 1, {n: r.text for n, r in answers.items()}
        for name, response in answers.items():
            if name not in accepted:
                assert error(response) == (400, "BCS.4001020"), response.text
        operation_id = answers[accepted[0]].json()["operation_id"]
        running = api.records(blockchain_id=bid, operation_type="04")
        assert [r["operation_id"] for r in running if r["operation_status"] != "finished"] == [operation_id]

    _due_now(db, operation_id)
    with app_with_steps(0) as fast:
        api = Bcs(fast, account, issue_token(fast, account))
        api.wait(operation_id)
        assert [c["name"] for c in api.channels(bid)] == ["trade", "side", "spare", accepted[0]]


def test_channel_calls_on_an_abnormal_instance_are_refused(make_bcs: Callable[..., Bcs], db: Database) -> None:
    api = make_bcs()
    bid = api.create_instance(
        "chan-abnormal", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"]), ("side", ["orgb"])]
    )
    api.run(api.create_channels(bid, "spare"))
    db.run_write(lambda s: s.execute(update(Instance).where(Instance.id == bid).values(status="Abnormal")))
    before = snapshot(db)
    for name, call in _channel_calls(api, bid).items():
        assert error(call()) == (400, "BCS.4001020"), name
    assert [c["name"] for c in api.channels(bid)] == ["trade", "side", "spare"]
    assert snapshot(db) == before
