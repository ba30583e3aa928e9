"""Issue 21 item 4: nobody can lock the owner out. Wrong passwords lock a user name for the source address they come
from only, each further lock of it twice as long; the owner logs in from another address meanwhile, tokens and AK/SK
signatures are never affected, and ``openbcs user unlock`` lifts the locks of every source. The client address is
what uvicorn's proxy-headers rule (``--forwarded-allow-ips``) leaves in the ASGI scope."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from sqlalchemy import update
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from openbcs.app import create_app
from openbcs.iam.lockout import MAX_LOCK, LoginPolicy
from openbcs.iam.login_gate import client_source
from openbcs.iam.models import LoginFailure
from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from tests.iam.helpers import KEYSTONE_WRONG_PASSWORD, assert_empty_records, held_token, records_path, signed_request
from tests.support.accounts import JSON, TestAccount, token_body
from tests.support.snapshots import row_count

LOCKED = {"error": {"code": 401, "title": "Unauthorized", "message": "The account is locked."}}
MAX_FAILURES = 3
ATTACKER, OWNER = "203.0.113.7", "198.51.100.20"


def _app(settings: Settings, trusted: str) -> ProxyHeadersMiddleware:
    """The app behind uvicorn's proxy-headers middleware trusting ``trusted`` (what ``--forwarded-allow-ips``
    configures in ``openbcs serve``); the test client connects as ``testclient``. The account's login rate is
    raised so that these tests meet the lock-out, not the rate (test_login_rate.py)."""
    strict = settings.model_copy(
        update={"login_max_failures": MAX_FAILURES, "login_lockout_minutes": 15.0, "login_account_burst": 100}
    )
    return ProxyHeadersMiddleware(create_app(strict), trusted_hosts=trusted)  # type: ignore[arg-type]


@pytest.fixture
def proxied(settings: Settings) -> Iterator[TestClient]:
    """Requests through a trusted proxy: ``X-Forwarded-For`` names the client address."""
    with TestClient(_app(settings, "*"), raise_server_exceptions=False) as test_client:
        yield test_client


def _login(http: TestClient, account: TestAccount, password: str, source: str | None) -> httpx.Response:
    headers = {**JSON, **({"X-Forwarded-For": source} if source else {})}
    return http.post("/v3/auth/tokens", content=token_body(account.name, password, account.name), headers=headers)


def _lock(http: TestClient, account: TestAccount, source: str | None) -> None:
    for _ in range(MAX_FAILURES):
        answer = _login(http, account, "wrong-password-1", source)
        assert (answer.status_code, answer.json()) == (401, KEYSTONE_WRONG_PASSWORD)
    answer = _login(http, account, account.password, source)
    assert (answer.status_code, answer.json()) == (401, LOCKED)


def _rows(db: Database, account: TestAccount) -> dict[str, LoginFailure]:
    def get(session: object) -> dict[str, LoginFailure]:
        rows = session.query(LoginFailure).filter_by(domain_name=account.name).all()  # type: ignore[attr-defined]
        session.expunge_all()  # type: ignore[attr-defined]
        return {row.source: row for row in rows}

    return db.run_read(get)


def test_wrong_passwords_lock_only_their_source(
    proxied: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    held = held_token(proxied, db, account)
    _lock(proxied, account, ATTACKER)

    # The owner, from its own address, logs in with its password: the attacker's failures do not touch it.
    owner = _login(proxied, account, account.password, OWNER)
    assert owner.status_code == 201, owner.text
    assert_empty_records(
        proxied.get(records_path(account.project_id), headers={"X-Auth-Token": owner.headers["X-Subject-Token"]})
    )
    # A token from before the lock and an AK/SK signature work all along.
    assert_empty_records(held.records(proxied))
    url, headers = signed_request("http://testserver", "GET", records_path(account.project_id), account=account)
    assert_empty_records(proxied.get(url, headers=headers))
    # The attacker's address stays locked, right password or not.
    again = _login(proxied, account, account.password, ATTACKER)
    assert (again.status_code, again.json()) == (401, LOCKED)
    rows = _rows(db, account)
    assert set(rows) == {ATTACKER}  # the owner's success left nothing behind
    assert (rows[ATTACKER].failures, rows[ATTACKER].lockouts, rows[ATTACKER].in_flight) == (MAX_FAILURES, 1, 0)


def test_each_further_lock_of_a_source_lasts_twice_as_long(
    proxied: TestClient, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    lengths = []
    for expected_lockouts in (1, 2, 3):
        before = datetime.now(UTC)
        _lock(proxied, account, ATTACKER)
        row = _rows(db, account)[ATTACKER]
        assert row.lockouts == expected_lockouts
        assert row.locked_until is not None
        until = datetime.fromtimestamp(row.locked_until / 1e9, UTC)
        lengths.append(until - before)
        # The lock runs out (as if its time had passed); counting starts again, the backoff is remembered.
        with db.engine.begin() as conn:
            past = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp() * 1e9)
            conn.execute(update(LoginFailure).where(LoginFailure.source == ATTACKER).values(locked_until=past))
    minutes = [round(length.total_seconds() / 60) for length in lengths]
    assert minutes == [15, 30, 60]
    # A success from that source ends the backoff: its row goes, the next lock is 15 minutes again.
    assert _login(proxied, account, account.password, ATTACKER).status_code == 201
    assert _rows(db, account) == {}


def test_lock_length_doubles_up_to_a_day() -> None:
    policy = LoginPolicy(max_failures=5, lockout=timedelta(minutes=15))
    assert [policy.lock_length(n) for n in (1, 2, 3, 7)] == [timedelta(minutes=m) for m in (15, 30, 60, 960)]
    assert policy.lock_length(8) == policy.lock_length(500) == MAX_LOCK


def test_unlock_lifts_the_locks_of_every_source(
    proxied: TestClient, make_account: Callable[..., TestAccount], db: Database, cli: Callable[..., Result]
) -> None:
    account = make_account()
    _lock(proxied, account, ATTACKER)
    _lock(proxied, account, OWNER)
    assert set(_rows(db, account)) == {ATTACKER, OWNER}

    result = cli("user", "unlock", account.name, "--json")
    assert result.exit_code == 0, result.output
    assert '"was_locked": true' in result.stdout
    assert row_count(db, LoginFailure) == 0
    for source in (OWNER, ATTACKER):
        answer = _login(proxied, account, account.password, source)
        assert answer.status_code == 201, answer.text


def test_forwarded_addresses_count_only_from_trusted_proxies(
    settings: Settings, make_account: Callable[..., TestAccount], db: Database
) -> None:
    account = make_account()
    # The test client's address (testclient) is not a trusted proxy here: X-Forwarded-For is ignored, so rotating
    # it does not escape the lock of the address the requests really come from.
    with TestClient(_app(settings, "127.0.0.1"), raise_server_exceptions=False) as direct:
        for n in range(MAX_FAILURES):
            answer = _login(direct, account, "wrong-password-1", f"192.0.2.{n}")
            assert (answer.status_code, answer.json()) == (401, KEYSTONE_WRONG_PASSWORD)
        answer = _login(direct, account, account.password, "192.0.2.200")
        assert (answer.status_code, answer.json()) == (401, LOCKED)
    assert set(_rows(db, account)) == {"testclient"}


@pytest.mark.parametrize(
    ("client", "source"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("::ffff:203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2:3:4:5:6", 5000), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff::1", 5000), "2001:db8:1:2::/64"),
        (("testclient", 50000), "testclient"),
        (None, "unknown"),
    ],
)
def test_source_of_a_client_address(client: tuple[str, int] | None, source: str) -> None:
    # An IPv6 host holds a whole /64: its addresses count as one source.
    assert client_source({"client": client}) == source
