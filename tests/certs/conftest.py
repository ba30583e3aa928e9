"""Fixtures of the certificate tests: the tenant's certificate calls and a ready instance with two peer orgs (the
tenants themselves come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.certs.helpers import Certs
from tests.support.tenants import Tenant

# orga: 2 peers, orgb: 1 peer; the channel "channel" holds both with all their peers, "chantwo" only orga; 3 orderers.
PEER_ORGS = [("orga", 2), ("orgb", 1)]
CHANNELS = [("channel", ["orga", "orgb"]), ("chantwo", ["orga"])]


@pytest.fixture
def certs(tenant: Tenant) -> Certs:
    """The tenant's calls of the certificate operations."""
    return Certs(tenant)


@pytest.fixture
def make_instance(tenant: Tenant) -> Callable[..., str]:
    """``make_instance("name", **overrides)``: a Normal instance of the tenant (orga, orgb, orderer) by default."""

    def make(name: str = "bcs-certs", **overrides: Any) -> str:
        overrides.setdefault("peer_orgs", PEER_ORGS)
        overrides.setdefault("channels", CHANNELS)
        return tenant.create_instance(name, **overrides)

    return make


@pytest.fixture
def bid(make_instance: Callable[..., str]) -> str:
    """The id of a Normal instance: orga (2 peers), orgb (1 peer), orderer (3); channels channel, chantwo."""
    return make_instance()
