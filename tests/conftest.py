"""Fixtures every suite uses (helpers live in ``tests/support``). The database is SQLite unless
OPENBCS_TEST_DATABASE_URL names another one (CI runs the whole suite a second time with a throwaway PostgreSQL)."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from openbcs import migrations
from openbcs.app import create_app
from openbcs.iam import passwords
from openbcs.iam import service as iam
from openbcs.kernel.db import Base, Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.settings import Settings
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)
from openbcs.monitoring.telemetry import Telemetry
from tests.runtime.fakes import FakeRuntime
from tests.support.accounts import TestAccount, issue_token
from tests.support.operations import stop_worker
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant, new_tenant

SECRET_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
LOCAL_PORTS = (31000, 31999)  # the local runtime's node ports in tests with the fake runtime
# (operation, error code) of every BCS error any test provoked; pytest_sessionfinish checks each is documented.
_PROVOKED: set[tuple[str, str]] = set()


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Importing the SDK writes $HOME/.huaweicloud/application_id; keep it out of the real home.
    os.environ["HOME"] = str(tmp_path_factory.mktemp("home"))
    os.environ["OPENBCS_SECRET_KEY"] = SECRET_KEY


@pytest.fixture(scope="session", autouse=True)
def _record_error_codes() -> Iterator[None]:
    """Note each BCS error answer with its operation (the apps count every request through ``Telemetry``)."""
    original = Telemetry.observe_request

    def observe(self: Telemetry, *, operation: str | None, error_code: str | None, **rest: Any) -> None:
        # BCS.4040404 under an operation's name is a method its path does not have: it belongs to no operation.
        if operation and error_code and error_code.startswith("BCS.") and error_code != "BCS.4040404":
            _PROVOKED.add((operation, error_code))
        original(self, operation=operation, error_code=error_code, **rest)

    Telemetry.observe_request = observe  # type: ignore[method-assign]
    yield
    Telemetry.observe_request = original  # type: ignore[method-assign]


# Tests that never touch the database: the PostgreSQL pass (OPENBCS_TEST_DATABASE_URL) skips them, saying so, as they
# would only repeat the SQLite pass; CI runs both passes side by side, and the wheel build writes into the source tree.
DATABASE_INDEPENDENT = ("tests/fabric/", "tests/deploy/", "tests/test_packaging.py", "tests/test_architecture.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, skip the database-independent tests (they ran on the SQLite pass)."""
    if not os.environ.get("OPENBCS_TEST_DATABASE_URL"):
        return
    skip = pytest.mark.skip(reason="database-independent: runs on the SQLite pass")
    for item in items:
        where = item.path.relative_to(config.rootpath).as_posix()
        if where.startswith(DATABASE_INDEPENDENT):
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test provoked an error code the API reference does not list for its operation."""
    if not _PROVOKED:
        return
    from openbcs.cli.docs import reference_document

    documented = {
        op["operationId"]: set(op.get("x-error-codes", []))
        for item in reference_document()["paths"].values()  # type: ignore[attr-defined]
        for op in item.values()
    }
    missing = sorted((op, code) for op, code in _PROVOKED if op in documented and code not in documented[op])
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("error codes provoked by tests but not in the API reference (x-error-codes):", red=True)
            for op, code in missing:
                reporter.write_line(f"  {op}: {code}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database for the session, migrated once and emptied after each test."""
    url = os.environ.get("OPENBCS_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    db = Database(url)
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrations.upgrade(db)
    db.dispose()
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    database.dispose()


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    """A database of its own with no tables yet: a file on SQLite, a fresh schema of the test database on PostgreSQL
    (its ``search_path``), dropped afterwards."""
    session_db = Database(database_url)
    if session_db.is_sqlite:
        session_db.dispose()
        database = Database(f"sqlite:///{tmp_path / 'upgraded.db'}")
        yield database
        database.dispose()
        return
    schema = f"upgrade_{secrets.token_hex(4)}"
    with session_db.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    database = Database(url.render_as_string(hide_password=False))
    try:
        yield database
    finally:
        database.dispose()
        with session_db.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        session_db.dispose()


@pytest.fixture
def server_key() -> ServerKey:
    return ServerKey(base64.urlsafe_b64decode(SECRET_KEY))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, db: Database) -> Settings:
    """Settings of a server under test: instant operation steps, quick polling, the diagnostic kind on."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        operation_step_seconds=0,
        worker_poll_seconds=0.05,
        enable_test_kinds=True,
        secret_key=SECRET_KEY,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app in-process (lifespan runs: migrations, worker)."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The app on a loopback port, for the official SDK."""
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def make_account(db: Database, server_key: ServerKey, settings: Settings) -> Callable[..., TestAccount]:
    """Create accounts through the IAM service: ``make_account("tenant-a")``."""

    def make(name: str | None = None, password: str | None = None) -> TestAccount:
        name = name or f"tenant-{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(12)
        created = db.run_write(
            lambda s: iam.create_account(s, name=name, password=password, region=settings.region, server_key=server_key)
        )
        return TestAccount(created, password)

    return make


@pytest.fixture
def token_for(client: TestClient) -> Callable[[TestAccount], str]:
    """A token for an account, obtained through ``POST /v3/auth/tokens``."""

    def issue(account: TestAccount) -> str:
        return issue_token(client, account)

    return issue


@pytest.fixture(autouse=True)
def _cheap_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests create several accounts and log each in: hash their passwords with a small scrypt cost (the
    parameters are stored with each hash, so verification is unchanged). ``tests/iam`` keeps the real cost."""
    if "tests/iam/" not in str(request.path):
        monkeypatch.setattr(passwords, "_N", 2**4)


@pytest.fixture
def frozen_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose operation worker is stopped once the app has started: operations stay where they are until the
    test drives them (``tests.support.operations.drive_operations``, ``Tenant(drive=db)``). Never combine with
    ``client``, ``token_for`` or ``live_server``: their workers (step 0 s) would run the operations."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        stop_worker(test_client)
        yield test_client


@pytest.fixture
def slow_client(settings: Settings) -> Iterator[TestClient]:
    """An app whose worker starts an operation's first sub-step and then waits an hour for the next one, so joining,
    quitting and other in-flight states hold still (``tests.support.operations.wait_started`` waits for that first
    step). Drive operations on from the test; never combine with ``client`` or ``live_server``."""
    slow = settings.model_copy(update={"operation_step_seconds": 3600.0, "worker_poll_seconds": 3600.0})
    with TestClient(create_app(slow), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_tenant(client: TestClient, make_account: Callable[..., TestAccount]) -> Callable[..., Tenant]:
    """``make_tenant()``: a fresh account's API over the ``client`` app (operations run with 0 s steps)."""

    def make(name: str | None = None) -> Tenant:
        return new_tenant(client, make_account, name)

    return make


@pytest.fixture
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    """An account with a token, on the ``client`` app."""
    return make_tenant()


@pytest.fixture
def other_tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    """A second, unrelated account."""
    return make_tenant()


@pytest.fixture
def sdk_client(live_server: LiveServer) -> Callable[..., object]:
    """The official BcsClient pointed at the live server: ``sdk_client(account)`` or with explicit keys."""
    from huaweicloudsdkbcs.v2 import BcsClient
    from huaweicloudsdkcore.auth.credentials import BasicCredentials

    def build(
        account: TestAccount | None = None,
        *,
        ak: str | None = None,
        sk: str | None = None,
        project_id: str | None = None,
    ) -> object:
        credentials = BasicCredentials(
            ak or (account.ak if account else None),
            sk or (account.sk if account else None),
            project_id or (account.project_id if account else None),
        )
        return BcsClient.new_builder().with_credentials(credentials).with_endpoints([live_server.url]).build()

    return build


# --- the local runtime, its nodes run by a fake (tests/runtime/fakes.py): no Fabric binaries needed -------------------


@pytest.fixture
def fake() -> FakeRuntime:
    """The local runtime's nodes: ``fake.unhealthy[node name] = reason`` makes one fail its health check,
    ``fake.metrics_urls[node name]`` serves its /metrics, ``fake.refuse`` makes the orderers refuse updates."""
    return FakeRuntime()


@pytest.fixture
def local_settings(settings: Settings) -> Settings:
    """The suite's settings with the local runtime, its nodes' ports from a range of their own."""
    return settings.model_copy(update={"fabric_runtime": "local", "node_ports": f"{LOCAL_PORTS[0]}-{LOCAL_PORTS[1]}"})


@pytest.fixture
def local(local_settings: Settings, fake: FakeRuntime) -> Iterator[TestClient]:
    """An app whose instances belong to the local runtime, its nodes run by the fake, their health asked often.
    Never combine with ``client`` (``make_tenant``, ``live_server``): one app per test."""
    with TestClient(create_app(local_settings, runtime=fake), raise_server_exceptions=False) as local_client:
        local_client.app.state.supervisor.health_seconds = 0.05
        yield local_client


@pytest.fixture
def local_tenant(local: TestClient, make_account: Callable[..., TestAccount]) -> Tenant:
    """A fresh account's API over the ``local`` app."""
    return new_tenant(local, make_account)
