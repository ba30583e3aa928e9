"""Fixtures of the monitoring suite."""

from __future__ import annotations

import pytest

from openbcs.kernel.db import Database
from tests.monitoring.helpers import wipe_records
from tests.support.tenants import Tenant


@pytest.fixture
def bid(tenant: Tenant, db: Database) -> str:
    """A Normal instance of the tenant with no events or alarms (its creation's records deleted)."""
    blockchain_id = tenant.create_instance()
    wipe_records(db, blockchain_id)
    return blockchain_id
