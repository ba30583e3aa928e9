"""The example tour against a live server of its own: two accounts named as in the examples, their tokens, the
admin token, and the made-up ids mapped to the real ones."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from openbcs import migrations
from openbcs.iam import service as iam
from openbcs.kernel.db import Database
from openbcs.kernel.keys import load_server_key
from openbcs.kernel.settings import Settings
from openbcs.openapi.examples import placeholders
from openbcs.openapi.routes import document
from tests.openapi.tour import Tour
from tests.support.accounts import TestAccount, issue_token
from tests.support.servers import LiveServer

INVITEE_PASSWORD = "Beta-Passw0rd"


def run_scenario(database_url: str, data_dir: Path) -> Tour:
    """Run every example of the reference once against a fresh live server on ``database_url``."""
    admin_token = secrets.token_urlsafe(24)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        operation_step_seconds=0,
        worker_poll_seconds=0.05,
        admin_token=admin_token,
    )
    db = Database(database_url)
    migrations.upgrade(db)
    made_up = placeholders()
    key = load_server_key(settings)
    accounts = {}
    for role, password in (("inviter", made_up["inviter.password"]), ("invitee", INVITEE_PASSWORD)):
        name = made_up[f"{role}.name"]
        created = db.run_write(iam.create_account, name=name, password=password, region=settings.region, server_key=key)
        accounts[role] = TestAccount(created, password)
    db.dispose()
    live = {}
    for role, account in accounts.items():
        live[made_up[f"{role}.domain_id"]] = account.domain_id
        live[made_up[f"{role}.project_id"]] = account.project_id
    live[made_up["inviter.user_id"]] = accounts["inviter"].created.user_id
    with LiveServer(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        tokens = {role: issue_token(http, account) for role, account in accounts.items()}
        tour = Tour(http, document(server.app), tokens, admin_token, live)
        tour.run()
    return tour
