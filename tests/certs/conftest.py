"""Fixtures of the certificate tests: tenants over the in-process app and a ready instance with two peer orgs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.instances.helpers import Tenant, create_instance, new_tenant
from tests.certs.helpers import Certs

# orga: 2 peers, orgb: 1 peer; the channel "channel" holds both with all their peers; 3 orderers.
PEER_ORGS = [{"name": "orga", "node_count": 2}, {"name": "orgb", "node_count": 1}]
CHANNELS = [{"name": "channel", "org_names": ["orga", "orgb"]}, {"name": "chantwo", "org_names": ["orga"]}]


@pytest.fixture
def tenant(client: TestClient, make_account: Callable[..., Any]) -> Tenant:
    return new_tenant(client, make_account)


@pytest.fixture
def certs(client: TestClient, tenant: Tenant) -> Certs:
    """The tenant's calls of the certificate operations."""
    return Certs(client, tenant)


@pytest.fixture
def make_instance(client: TestClient, tenant: Tenant) -> Callable[..., str]:
    """``make_instance("name", **overrides)``: a Normal instance of the tenant (orga, orgb, orderer) by default."""

    def make(name: str = "bcs-certs", **overrides: Any) -> str:
        overrides.setdefault("peer_orgs", PEER_ORGS)
        overrides.setdefault("channels", CHANNELS)
        return create_instance(client, tenant.headers, tenant.project_id, name, **overrides)

    return make


@pytest.fixture
def bid(make_instance: Callable[..., str]) -> str:
    """The id of a Normal instance: orga (2 peers), orgb (1 peer), orderer (3); channels channel, chantwo."""
    return make_instance()
