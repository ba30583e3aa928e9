"""Fixtures of the channel tests (the shared ones are in ``tests/conftest.py``), and the configuration history that
tests/channels/test_config_history*.py read, page through and tamper with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from openbcs.kernel.db import Database
from tests.support.accounts import TestAccount
from tests.support.tenants import Tenant, new_tenant

# The fields of each block in a config-history answer.
BLOCK_FIELDS = {
    "number",
    "previous_hash",
    "hash",
    "tx_id",
    "config_sequence",
    "signers",
    "event",
    "orgs",
    "cause",
    "time",
}


@pytest.fixture
def frozen_tenant(frozen_client: TestClient, make_account: Callable[..., TestAccount], db: Database) -> Tenant:
    """An account on the ``frozen_client`` app: operations hold still until the test drives them (``wait`` does)."""
    return new_tenant(frozen_client, make_account, drive=db)


class FourBlocks(NamedTuple):
    """An instance whose channel ``trade`` has config blocks 0-3, and the operations that made them."""

    blockchain_id: str
    causes: list[str]


@pytest.fixture
def four_blocks(tenant: Tenant) -> FourBlocks:
    """``tenant``'s channel ``trade``: created empty, orga joins, orgb joins, orga leaves; taking a peer out of orga
    before it leaves makes no block. Channel ``keep`` (orga) stays untouched, so a check of ``trade`` can be seen to
    leave other channels alone."""
    bid = tenant.create_instance("chan-history", peer_orgs=[("orga", 2), ("orgb", 1)], channels=[("keep", ["orga"])])
    calls: list[Callable[[], httpx.Response]] = [
        lambda: tenant.create_channels(bid, "trade"),
        lambda: tenant.add_peers(bid, "trade", {"orga": 2}),
        lambda: tenant.add_peers(bid, "trade", {"orgb": 1}),
        lambda: tenant.remove_peers(bid, "trade", "orga", 1),  # no block
        lambda: tenant.remove_orgs(bid, "trade", ["orga"]),
    ]
    causes = []
    for call in calls:
        response = call()
        tenant.run(response)
        causes.append(response.json()["operation_id"])
    del causes[3]
    return FourBlocks(bid, causes)


def tamper(db: Database, statement: Executable, **params: Any) -> None:
    """Change stored rows behind the API's back (``params`` for the statement's bind parameters)."""

    def execute(session: Session) -> None:
        session.execute(statement, params)

    db.run_write(execute)
