"""Fixtures of the monitoring suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openbcs.kernel.db import Database
from tests.monitoring.helpers import wipe_records
from tests.support.node_metrics import Nodes
from tests.support.tenants import Tenant


@pytest.fixture
def bid(tenant: Tenant, db: Database) -> str:
    """A Normal instance of the tenant with no events or alarms (its creation's records deleted)."""
    blockchain_id = tenant.create_instance()
    wipe_records(db, blockchain_id)
    return blockchain_id


@pytest.fixture
def nodes() -> Iterator[Nodes]:
    """Node ``/metrics`` endpoints served on loopback (``nodes.texts[name] = exposition(...)``)."""
    served = Nodes()
    try:
        yield served
    finally:
        served.close()
