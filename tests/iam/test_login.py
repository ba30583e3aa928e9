"""Login abuse (issue 12 item 5): scrypt off the event loop, the same work and answer for unknown names, and the
lock-out after consecutive wrong passwords from one source (with ``openbcs user unlock``). SQLite and PostgreSQL
alike. The test client's requests come from the source ``testclient``; other sources: test_login_sources.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import update

from openbcs.app import create_app
from openbcs.iam import login, login_gate
from openbcs.iam.models import LoginFailure
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.console.helpers import ConsoleUser, flashes
from tests.iam.helpers import KEYSTONE_WRONG_PASSWORD, assert_empty_records, records_path
from tests.support.accounts import JSON, TestAccount, issue_token, token_body
from tests.support.snapshots import row_count

LOCKED = {"error": {"code": 401, "title": "Unauthorized", "message": "The account is locked."}}
MAX_FAILURES = 3
SOURCE = "testclient"  # the ASGI client address of Starlette's test client


@pytest.fixture
def lockout_client(settings: Settings) -> Iterator[TestClient]:
    """The app locking a user name for a source for 15 minutes after 3 consecutive wrong passwords from it."""
    strict = settings.model_copy(update={"login_max_failures": MAX_FAILURES, "login_lockout_minutes": 15.0})
    with TestClient(create_app(strict), raise_server_exceptions=False) as test_client:
        yield test_client


def _login(http: TestClient | httpx.Client, user: str, password: str, domain: str | None = None) -> httpx.Response:
    return http.post("/v3/auth/tokens", content=token_body(user, password, domain or user), headers=JSON)


def _failure(db: Database, domain: str, user: str) -> LoginFailure | None:
    def get(session: object) -> LoginFailure | None:
        found = session.get(LoginFailure, (domain, user, SOURCE))  # type: ignore[attr-defined]
        if found is not None:
            session.expunge(found)  # type: ignore[attr-defined]
        return found

    return db.run_read(get)


def _assert_answer(response: httpx.Response, body: dict[str, object]) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == body
    assert "X-Subject-Token" not in response.headers


def test_consecutive_wrong_passwords_lock_the_user_even_with_the_right_one(
    lockout_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    before = datetime.now(UTC)
    for attempt in range(1, MAX_FAILURES + 1):
        _assert_answer(_login(lockout_client, account.name, "wrong-password-1"), KEYSTONE_WRONG_PASSWORD)
        stored = _failure(db, account.name, account.name)
        assert stored is not None
        assert stored.failures == attempt
    assert stored.locked_until is not None
    locked_until = datetime.fromtimestamp(stored.locked_until / 1e9, UTC)
    assert before + timedelta(minutes=15) <= locked_until <= datetime.now(UTC) + timedelta(minutes=15)

    # Locked: the right password is refused too, with IAM's locked answer, and nothing more is counted.
    _assert_answer(_login(lockout_client, account.name, account.password), LOCKED)
    _assert_answer(_login(lockout_client, account.name, "wrong-password-1"), LOCKED)
    stored_after = _failure(db, account.name, account.name)
    assert stored_after is not None
    assert (stored_after.failures, stored_after.in_flight, stored_after.locked_until, stored_after.lockouts) == (
        MAX_FAILURES,
        0,
        stored.locked_until,
        1,
    )
    # Tokens issued before the lock still work (a lock is about logging in, not about tokens).


def test_unknown_names_lock_the_same_way(lockout_client: TestClient, db: Database) -> None:
    for _ in range(MAX_FAILURES):
        _assert_answer(_login(lockout_client, "nobody-here", "any-password-1"), KEYSTONE_WRONG_PASSWORD)
    _assert_answer(_login(lockout_client, "nobody-here", "any-password-1"), LOCKED)
    stored = _failure(db, "nobody-here", "nobody-here")
    assert stored is not None
    assert stored.failures == MAX_FAILURES
    assert stored.locked_until is not None


def test_a_success_resets_the_count(
    lockout_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    for _ in range(MAX_FAILURES - 1):
        _assert_answer(_login(lockout_client, account.name, "wrong-password-1"), KEYSTONE_WRONG_PASSWORD)
    assert issue_token(lockout_client, account)
    assert _failure(db, account.name, account.name) is None
    for _ in range(MAX_FAILURES - 1):
        _assert_answer(_login(lockout_client, account.name, "wrong-password-1"), KEYSTONE_WRONG_PASSWORD)
    assert issue_token(lockout_client, account)


def test_the_lock_ends_when_it_expires(
    lockout_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    for _ in range(MAX_FAILURES):
        _login(lockout_client, account.name, "wrong-password-1")
    _assert_answer(_login(lockout_client, account.name, account.password), LOCKED)
    past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp() * 1e9)
    with db.engine.begin() as conn:
        conn.execute(update(LoginFailure).values(locked_until=past))
    token = issue_token(lockout_client, account)
    assert_empty_records(lockout_client.get(records_path(account.project_id), headers={"X-Auth-Token": token}))
    assert _failure(db, account.name, account.name) is None


def test_operator_unlocks_a_user(
    lockout_client: TestClient, make_account: Callable[..., TestAccount], db: Database, cli: Callable[..., Result]
) -> None:
    account = make_account()
    result = cli("user", "unlock", account.name, "--json")
    assert result.exit_code == 0, result.output
    assert '"was_locked": false' in result.stdout
    for _ in range(MAX_FAILURES):
        _login(lockout_client, account.name, "wrong-password-1")
    _assert_answer(_login(lockout_client, account.name, account.password), LOCKED)

    result = cli("user", "unlock", account.name, "--json")
    assert result.exit_code == 0, result.output
    assert '"was_locked": true' in result.stdout
    assert row_count(db, LoginFailure) == 0
    assert issue_token(lockout_client, account)


@pytest.fixture
def recorded_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """Every password check as (password, hash, thread id), still running the real scrypt."""
    calls: list[tuple[str, str, int]] = []
    real = login.verify_password

    def recording(password: str, stored: str) -> bool:
        calls.append((password, stored, threading.get_ident()))
        return real(password, stored)

    monkeypatch.setattr(login, "verify_password", recording)
    return calls


def test_unknown_names_cost_the_same_check_and_get_the_same_answer(
    client: TestClient, make_account: Callable[..., TestAccount], recorded_checks: list[tuple[str, str, int]]
) -> None:
    account = make_account()
    wrong = _login(client, account.name, "wrong-password-1")
    unknown_user = _login(client, "no-such-user", "wrong-password-1", domain=account.name)
    unknown_account = _login(client, account.name, "wrong-password-1", domain="no-such-account")
    for response in (wrong, unknown_user, unknown_account):
        _assert_answer(response, KEYSTONE_WRONG_PASSWORD)
    hashes = [stored for _, stored, _ in recorded_checks]
    assert len(hashes) == 3
    assert hashes[0].startswith("scrypt$")
    assert hashes[0] != login.UNKNOWN_USER_HASH
    assert hashes[1:] == [login.UNKNOWN_USER_HASH, login.UNKNOWN_USER_HASH]
    # The stand-in hash has the real parameters: the same scrypt work.
    assert hashes[0].split("$")[:4] == login.UNKNOWN_USER_HASH.split("$")[:4]


def test_password_checks_run_off_the_event_loop(
    client: TestClient, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account()
    token = issue_token(client, account)
    entered, release = threading.Event(), threading.Event()

    def slow_check(password: str, stored: str) -> bool:
        entered.set()
        release.wait(10)  # blocks its thread, as scrypt does
        return False

    monkeypatch.setattr(login, "verify_password", slow_check)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_login, client, account.name, "wrong-password-1")
        assert entered.wait(10)
        # While the check blocks, the server still answers another request at once.
        started = time.monotonic()
        assert_empty_records(client.get(records_path(account.project_id), headers={"X-Auth-Token": token}))
        assert time.monotonic() - started < 5  # the check would hold it 10 s
        assert not pending.done()
        release.set()
        _assert_answer(pending.result(10), KEYSTONE_WRONG_PASSWORD)


def test_password_checks_run_one_at_a_time(
    client: TestClient, make_account: Callable[..., TestAccount], monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account()
    running, most = 0, 0
    guard = threading.Lock()

    def counted_check(password: str, stored: str) -> bool:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with guard:
            running -= 1
        return False

    monkeypatch.setattr(login, "verify_password", counted_check)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _login(client, account.name, "wrong-password-1"), range(6)))
    assert [a.status_code for a in answers] == [401] * 6
    # One source's checks one at a time: a flood from one address never takes more than one core.
    assert most == login_gate.CHECKS_PER_SOURCE == 1


def test_the_console_signs_in_through_the_same_rule(
    lockout_client: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    user = ConsoleUser.of(lockout_client, account, sign_in=False)
    for _ in range(MAX_FAILURES):
        response = user.sign_in(password="wrong-password-1")
        assert response.status_code == 401
        assert ("error", "", "The username or password is wrong.") in flashes(response.text)
    stored = _failure(db, account.name, account.name)
    assert stored is not None
    assert stored.failures == MAX_FAILURES
    # Locked for the API and the console alike, whichever was used to fail.
    _assert_answer(_login(lockout_client, account.name, account.password), LOCKED)
    response = user.sign_in()
    assert response.status_code == 401
    assert ("error", "", "The account is locked.") in flashes(response.text)
    assert user.cookie() is None
