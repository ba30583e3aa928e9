"""Issue 21 item 1: the lock-out holds under concurrency. A burst of concurrent wrong passwords runs at most
``--login-max-failures`` password checks; the rest, and the right password sent while the burst is still being
checked, are refused as locked, and no token is issued while the names are locked. SQLite and PostgreSQL alike
(``OPENBCS_TEST_DATABASE_URL``): the count and the lock are taken under the row's lock in the check's transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from openbcs.app import create_app
from openbcs.iam import login
from openbcs.iam.models import LoginFailure
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.iam.helpers import KEYSTONE_WRONG_PASSWORD, held_token
from tests.support.accounts import JSON, TestAccount, token_body
from tests.support.snapshots import row_count

LOCKED = {"error": {"code": 401, "title": "Unauthorized", "message": "The account is locked."}}
LIMIT = 5
BURST = 30
SOURCE = "testclient"


@pytest.fixture
def burst_client(settings: Settings) -> Iterator[TestClient]:
    """The app with the default lock-out (5 wrong passwords) and login rates that a burst of 30 stays under."""
    roomy = settings.model_copy(
        update={"login_max_failures": LIMIT, "login_source_burst": 1000, "login_account_burst": 1000}
    )
    with TestClient(create_app(roomy), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], threading.Event]:
    """Every password check that runs (the real scrypt), and an event set when the first one starts."""
    seen: list[str] = []
    started = threading.Event()
    real = login.verify_password

    def counting(password: str, stored: str) -> bool:
        seen.append(password)
        started.set()
        return real(password, stored)

    monkeypatch.setattr(login, "verify_password", counting)
    return seen, started


def _login(http: TestClient, account: TestAccount, password: str) -> httpx.Response:
    return http.post("/v3/auth/tokens", content=token_body(account.name, password, account.name), headers=JSON)


def _row(db: Database, account: TestAccount) -> LoginFailure | None:
    def get(session: object) -> LoginFailure | None:
        found = session.get(LoginFailure, (account.name, account.name, SOURCE))  # type: ignore[attr-defined]
        if found is not None:
            session.expunge(found)  # type: ignore[attr-defined]
        return found

    return db.run_read(get)


def test_a_burst_of_wrong_passwords_checks_at_most_the_limit_and_the_right_one_is_refused(
    burst_client: TestClient,
    make_account: Callable[..., TestAccount],
    db: Database,
    checked: tuple[list[str], threading.Event],
) -> None:
    account = make_account()
    held = held_token(burst_client, db, account)  # a token from before: a lock is about logging in, not tokens
    seen, started = checked
    seen.clear()
    with ThreadPoolExecutor(BURST + 1) as pool:
        wrong = [pool.submit(_login, burst_client, account, f"wrong-password-{n}") for n in range(BURST)]
        assert started.wait(20)
        # Sent while the burst is still being checked (30 checks one at a time take ~2 s): the lock state it meets
        # must already count the checks that are running.
        right = pool.submit(_login, burst_client, account, account.password).result(60)
        answers = [future.result(60) for future in wrong]

    assert right.status_code == 401, right.text
    assert right.json() == LOCKED
    assert "X-Subject-Token" not in right.headers
    assert account.password not in seen  # refused without a check
    assert len(seen) == LIMIT  # at most the limit checked, whatever the concurrency
    bodies = [(a.status_code, a.json()) for a in answers]
    assert bodies.count((401, KEYSTONE_WRONG_PASSWORD)) == LIMIT
    assert bodies.count((401, LOCKED)) == BURST - LIMIT
    assert all("X-Subject-Token" not in a.headers for a in answers)

    row = _row(db, account)
    assert row is not None
    assert (row.failures, row.in_flight, row.lockouts) == (LIMIT, 0, 1)
    assert row.locked_until is not None
    assert row_count(db, LoginFailure) == 1

    # Still locked afterwards, for the right password too; the lock did not move, nothing more was checked.
    again = _login(burst_client, account, account.password)
    assert (again.status_code, again.json()) == (401, LOCKED)
    assert len(seen) == LIMIT
    after = _row(db, account)
    assert after is not None
    assert (after.failures, after.in_flight, after.locked_until) == (LIMIT, 0, row.locked_until)
    assert held.records(burst_client).status_code == 200


def test_concurrent_right_and_wrong_passwords_leave_a_consistent_count(
    burst_client: TestClient,
    make_account: Callable[..., TestAccount],
    db: Database,
    checked: tuple[list[str], threading.Event],
) -> None:
    account = make_account()
    seen, _ = checked
    passwords = [account.password if n % 3 == 0 else f"wrong-password-{n}" for n in range(12)]
    with ThreadPoolExecutor(len(passwords)) as pool:
        answers = list(pool.map(lambda p: _login(burst_client, account, p), passwords))
    # A right password that got a check got a token; every other answer is a plain 401; every reservation ended.
    issued = [a for a in answers if a.status_code == 201]
    assert all(a.headers["X-Subject-Token"] for a in issued)
    assert len(issued) == seen.count(account.password)
    refused = [a for a in answers if a.status_code != 201]
    assert all(a.status_code == 401 and a.json() in (KEYSTONE_WRONG_PASSWORD, LOCKED) for a in refused)
    # Whatever the order of arrival: every reservation ended, and the names are locked exactly when the limit of
    # consecutive failures was reached.
    row = _row(db, account)
    assert row is None or row.in_flight == 0
    if row is not None and row.locked_until is not None:
        assert row.failures == LIMIT
    else:
        assert row is None or row.failures < LIMIT
