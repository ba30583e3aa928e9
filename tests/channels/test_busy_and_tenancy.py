"""Channel calls while another operation runs on the instance, and on another tenant's instance.

Operations run on a ``frozen_tenant``'s app (worker stopped): one is started and made to begin its first sub-step
from the test, so "while it runs" is a state, not a race. The engine's lock is what makes the instance busy.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.models import Instance
from tests.support.bodies import create_body
from tests.support.errors import (
    INSTANCE_BUSY,
    INSTANCE_CREATING,
    INSTANCE_DELETING,
    INSTANCE_NOT_FOUND,
    assert_error,
    assert_forbidden,
)
from tests.support.expected import peer_names
from tests.support.operations import drive_operations, operation_locks, step_operation
from tests.support.servers import LiveServer
from tests.support.snapshots import snapshot
from tests.support.tenants import Tenant

# Long enough that an operation a live server started never leaves its first sub-step during the test.
PARKED = 3600


def _channel_calls(tenant: Tenant, bid: str) -> dict[str, Callable[[], httpx.Response]]:
    """Every mutating channel call, each one valid on the idle instance ``_idle_instance`` builds."""
    return {
        "BatchCreateChannels": lambda: tenant.create_channels(bid, "newchan"),
        "BatchAddPeersToChannel": lambda: tenant.add_peers(bid, "trade", {"orgb": 1}),
        "BatchRemovePeersFromChannel": lambda: tenant.remove_peers(bid, "trade", "orga", 1),
        "BatchRemoveOrgsFromChannel": lambda: tenant.remove_orgs(bid, "trade", ["orga"]),
        "DeleteChannel": lambda: tenant.delete_channel(bid, "spare"),
    }


def _idle_instance(tenant: Tenant) -> str:
    """orga (2 peers) wholly in ``trade``, orgb (1 peer) in ``side``, an empty ``spare``; no operation runs."""
    bid = tenant.create_instance(
        "chan-busy", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"]), ("side", ["orgb"])]
    )
    tenant.run(tenant.create_channels(bid, "spare"))
    return bid


def _running(db: Database, response: httpx.Response) -> str:
    """The operation a call started, made to begin its first sub-step (``processing``)."""
    assert response.status_code == 200, response.text
    operation_id = str(response.json()["operation_id"])
    step_operation(db, operation_id, 1)
    return operation_id


def _all_refused(tenant: Tenant, db: Database, bid: str, refusal: tuple[int, str, str]) -> None:
    """Every mutating channel call is refused with ``refusal`` and changes nothing."""
    before = snapshot(db)
    for name, call in _channel_calls(tenant, bid).items():
        response = call()
        assert_error(response, *refusal)
        assert snapshot(db) == before, name


RUNNING = {
    "channel change": lambda tenant, bid: tenant.remove_orgs(bid, "side", ["orgb"]),
    "channel creation": lambda tenant, bid: tenant.create_channels(bid, "running"),
    "peer scaling": lambda tenant, bid: tenant.update(bid, {"node_orgs": [{"name": "orgb", "node_count": 2}]}),
    "organisation addition": lambda tenant, bid: tenant.update(
        bid, {"node_orgs": [{"name": "orgc", "node_count": 1, "pvc_name": "pvc-orgc"}]}
    ),
}


@pytest.mark.parametrize("running", list(RUNNING))
def test_channel_calls_are_refused_while_an_operation_runs(frozen_tenant: Tenant, db: Database, running: str) -> None:
    bid = _idle_instance(frozen_tenant)
    operation_id = _running(db, RUNNING[running](frozen_tenant, bid))
    assert [(resource, holder) for resource, holder, _ in operation_locks(db)] == [(bid, operation_id)]
    _all_refused(frozen_tenant, db, bid, INSTANCE_BUSY)
    # Reads go on meanwhile.
    assert [c["name"] for c in frozen_tenant.channels(bid)] == ["trade", "side", "spare"]
    processing = frozen_tenant.records(blockchain_id=bid, operation_status="processing")
    assert [r["operation_id"] for r in processing] == [operation_id]

    frozen_tenant.wait(operation_id)
    assert operation_locks(db) == []
    # Once it is over the instance takes the same calls again, one after the other.
    for call in _channel_calls(frozen_tenant, bid).values():
        frozen_tenant.run(call())
    created = ["running"] if running == "channel creation" else []
    assert [c["name"] for c in frozen_tenant.channels(bid)] == ["trade", "side", *created, "newchan"]
    assert frozen_tenant.channel(bid, "trade")["peers"] == {"orgb": peer_names(bid, "orgb", 1)}


def test_channel_calls_are_refused_while_the_instance_is_being_created(frozen_tenant: Tenant, db: Database) -> None:
    body = create_body("chan-creating", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("trade", ["orga"])])
    created = frozen_tenant.start_creation(body)
    bid = created["blockchain_id"]
    step_operation(db, created["operation_id"], 1)
    assert operation_locks(db) == [(bid, created["operation_id"], "IsCreating")]
    _all_refused(frozen_tenant, db, bid, INSTANCE_CREATING)
    assert frozen_tenant.channels(bid) == []  # the planned channel comes with the last steps

    frozen_tenant.wait(created["operation_id"])
    frozen_tenant.run(frozen_tenant.add_peers(bid, "trade", {"orgb": 1}))
    assert frozen_tenant.channel(bid, "trade")["peers"] == {
        "orga": peer_names(bid, "orga", 2),
        "orgb": peer_names(bid, "orgb", 1),
    }


def test_channel_calls_are_refused_while_the_instance_is_being_deleted(frozen_tenant: Tenant, db: Database) -> None:
    bid = _idle_instance(frozen_tenant)
    operation_id = _running(db, frozen_tenant.delete_instance(bid))
    assert operation_locks(db) == [(bid, operation_id, "IsDeleting")]
    _all_refused(frozen_tenant, db, bid, INSTANCE_DELETING)
    assert frozen_tenant.record(operation_id)["operation_status"] == "processing"


def test_channel_calls_on_an_abnormal_instance_are_refused(tenant: Tenant, db: Database) -> None:
    bid = _idle_instance(tenant)
    db.run_write(Session.execute, update(Instance).where(Instance.id == bid).values(status="Abnormal"))
    _all_refused(tenant, db, bid, INSTANCE_BUSY)
    assert [c["name"] for c in tenant.channels(bid)] == ["trade", "side", "spare"]


def test_concurrent_channel_calls_start_exactly_one_operation(
    frozen_tenant: Tenant, db: Database, settings: Settings
) -> None:
    bid = _idle_instance(frozen_tenant)
    names = [f"race{n}" for n in range(6)]
    with LiveServer(settings.model_copy(update={"operation_step_seconds": PARKED})) as server:

        def create(name: str) -> httpx.Response:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                return Tenant(own, frozen_tenant.account, frozen_tenant.token).create_channels(bid, name)

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            answers = dict(zip(names, pool.map(create, names), strict=True))
    accepted = [name for name, response in answers.items() if response.status_code == 200]
    assert len(accepted) == 1, {n: r.text for n, r in answers.items()}
    for name, response in answers.items():
        if name not in accepted:
            assert_error(response, *INSTANCE_BUSY)
    operation_id = answers[accepted[0]].json()["operation_id"]
    assert [holder for _, holder, _ in operation_locks(db)] == [operation_id]
    running = frozen_tenant.records(blockchain_id=bid, operation_type="04")
    assert [r["operation_id"] for r in running if r["operation_status"] != "finished"] == [operation_id]

    drive_operations(db, operation_id=operation_id)
    assert frozen_tenant.record(operation_id)["operation_status"] == "finished"
    assert [c["name"] for c in frozen_tenant.channels(bid)] == ["trade", "side", "spare", accepted[0]]


# --- tenant isolation --------------------------------------------------------------------------------------------


def test_another_tenants_instance_is_unknown_to_every_channel_call(
    make_tenant: Callable[..., Tenant], db: Database
) -> None:
    owner, intruder = make_tenant(), make_tenant()
    bid = _idle_instance(owner)
    intruder_own = intruder.create_instance("chan-mine", channels=[])
    before = snapshot(db)

    calls = {
        **_channel_calls(intruder, bid),
        "ListBlockchainChannels": lambda: intruder.call("GET", f"/blockchains/{bid}/channels"),
        "ShowChannelConfigHistory": lambda: intruder.call("GET", f"/blockchains/{bid}/channels/trade/config-history"),
    }
    for name, call in calls.items():
        response = call()
        assert_error(response, *INSTANCE_NOT_FOUND)
        assert bid not in response.text, name

    assert snapshot(db) == before
    assert intruder.records(blockchain_id=bid) == []
    assert intruder.instance_ids() == [intruder_own]
    assert [c["name"] for c in owner.channels(bid)] == ["trade", "side", "spare"]


def test_the_owners_project_in_the_path_is_forbidden_to_another_tenant(
    make_tenant: Callable[..., Tenant], db: Database
) -> None:
    owner, intruder = make_tenant(), make_tenant()
    bid = owner.create_instance("chan-owned2", channels=[("trade", ["organization"])])
    before = snapshot(db)
    body = {"channels": [{"channel_name": "stolen"}]}
    response = intruder.call("POST", f"/blockchains/{bid}/channels", body, project_id=owner.project_id)
    assert_forbidden(response, owner.project_id)
    assert_forbidden(
        intruder.call("GET", f"/blockchains/{bid}/channels", project_id=owner.project_id), owner.project_id
    )
    assert snapshot(db) == before
