"""The fuzzed world and the tally: each fuzz test gets two tenants around a consortium (the inviter's union instance
with its channel, a waiting invitation, the invitee's instance, a hosted user certificate), and the session reports
how many requests were sent and how many were answered 5xx, per database."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.support.consortia import Consortium, setup_consortium
from tests.support.tenants import Tenant

# Examples per route: bounded so that the suite takes about a minute per database on a 2-core machine.
EXAMPLES = int(os.environ.get("OPENBCS_FUZZ_EXAMPLES", "60"))
# The invitee is the natural caller of these; every other route is fuzzed as the inviter.
INVITEE_ROUTES = frozenset({"HandleNotification", "HandleUnionMemberQuitList", "ListNotifications"})
USER = "alice001"
ADMIN_TOKEN = "fuzz-admin-token-0123456789"


@dataclass
class Tally:
    """Requests sent and answers by class, over the session."""

    sent: int = 0
    server_errors: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    routes: set[str] = field(default_factory=set)

    def count(self, route: str, status: int) -> None:
        self.sent += 1
        self.routes.add(route)
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status >= 500:
            self.server_errors += 1


TALLY = Tally()


@pytest.fixture
def tally() -> Tally:
    return TALLY


@dataclass
class World:
    """The fuzzed tenants and what they own, and the path parameters' real values."""

    consortium: Consortium
    known: dict[str, list[str]]

    def caller(self, route: str) -> Tenant:
        return self.consortium.invitee if route in INVITEE_ROUTES else self.consortium.inviter

    def credentials(self, route: str) -> dict[str, str]:
        """What the fuzzed requests of ``route`` authenticate with."""
        if route.startswith("Admin"):
            return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return self.caller(route).headers

    def path_values(self, route: str) -> dict[str, list[str]]:
        return {**self.known, "project_id": [self.caller(route).project_id]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with the admin API on: it is fuzzed too. The login rate limits are lifted: every
    fuzzed login comes from one address, and each refusal past them is held back a second (tests/iam/test_login_rate
    checks them); the fuzz is after 5xx answers, not 429s."""
    lifted = {"login_source_burst": 10**6, "login_account_burst": 10**6}
    return settings.model_copy(update={"admin_token": ADMIN_TOKEN, **lifted})


@pytest.fixture
def world(client: TestClient, make_account: Callable[..., Any], db: Database) -> World:
    consortium = setup_consortium(client, make_account)
    issued = consortium.inviter.call(
        "POST", f"/blockchains/{consortium.inviter_bcs_id}/orgs/organization/usercert/{USER}", {"security_mode": True}
    )
    assert issued.status_code == 200, issued.text
    assert consortium.invitee_bcs_id is not None
    nodes = [
        name
        for tenant, bid in (
            (consortium.inviter, consortium.inviter_bcs_id),
            (consortium.invitee, consortium.invitee_bcs_id),
        )
        for org in tenant.nodes(bid).values()
        for name in org["peers"]
    ]
    known = {
        "blockchain_id": [consortium.inviter_bcs_id, consortium.invitee_bcs_id],
        "channel_id": [consortium.channel],
        "channel_name": [consortium.channel],
        "org_name": ["organization", "orderer"],
        "user_name": [USER],
        "number": ["0", "1"],
        "node_name": nodes,
    }
    return World(consortium, known)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.sent:
        return
    database = "PostgreSQL" if os.environ.get("OPENBCS_TEST_DATABASE_URL") else "SQLite"
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(TALLY.by_status.items()))
    terminalreporter.write_line(
        f"fuzz ({database}): {TALLY.sent} requests over {len(TALLY.routes)} routes, "
        f"{TALLY.server_errors} answered 5xx ({statuses})"
    )
