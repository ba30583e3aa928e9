"""``openbcs org admin-custody`` and ``openbcs signature-request list/show/envelope`` (docs/governance.md): the same
service functions as the API, for an account named on the command line, on the database directly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from openbcs.kernel.db import Database
from tests.governance.helpers import CHANNEL, TenantKey, admin_rows, latest_msp, org_id, setup_external, start_removal
from tests.iam.helpers import run_cli
from tests.support.snapshots import config_blocks
from tests.support.tenants import Tenant


@pytest.fixture
def cli(database_url: str, tmp_path: Path, db: Database) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return run_cli(database_url, tmp_path / "cli-data", *args)

    return run


def test_admin_custody_from_the_cli(tenant: Tenant, db: Database, cli: Callable[..., Result], tmp_path: Path) -> None:
    bid = tenant.create_instance(
        "gov-cli", peer_orgs=[("orga", 1), ("orgb", 1)], channels=[(CHANNEL, ["orga", "orgb"])]
    )
    key = TenantKey.new()
    csr, bad, out = tmp_path / "admin.csr", tmp_path / "bad.csr", tmp_path / "admin-cert.pem"
    csr.write_text(key.csr())
    bad.write_text("not a csr")
    args = ["org", "admin-custody", "--blockchain-id", bid, "--org", "orgb"]

    unknown = cli(*args, "--account", "nosuchaccount", "--csr", str(csr))
    assert unknown.exit_code == 1
    assert "no account nosuchaccount with a project" in unknown.stderr
    refused = cli(*args, "--account", tenant.account.name, "--csr", str(bad))
    assert refused.exit_code == 1
    assert "Invalid Parameter csr : not a PEM certificate signing request" in refused.stderr
    assert [r["has_key"] for r in admin_rows(db, org_id(db, bid, "orgb"))] == [True, True]

    done = cli(*args, "--account", tenant.account.name, "--csr", str(csr), "--cert-out", str(out), "--json")
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    assert sorted(answer) == ["admin_cert", "operation_id"]
    assert out.read_text() == answer["admin_cert"]
    tenant.wait(answer["operation_id"])  # the server's worker carries the operation out
    rows = admin_rows(db, org_id(db, bid, "orgb"))
    assert [(r["role"], r["has_key"]) for r in rows] == [
        ("admin", False),
        ("admin-tls", False),
        ("admin-external", False),
    ]
    msp_id = next(o["msp_id"] for o in config_blocks(db, bid, CHANNEL)[-1]["orgs"] if o["name"] == "orgb")
    assert [bytes(a).decode() for a in latest_msp(db, bid, CHANNEL, msp_id).admins] == [answer["admin_cert"]]
    again = cli(*args, "--account", tenant.account.name, "--csr", str(csr))
    assert again.exit_code == 1
    assert "external already" in again.stderr


def test_signature_requests_from_the_cli(
    tenant: Tenant, other_tenant: Tenant, cli: Callable[..., Result], tmp_path: Path
) -> None:
    bid, key = setup_external(tenant)
    _, request = start_removal(tenant, bid)
    listed = cli("signature-request", "list", "--account", tenant.account.name, "--status", "pending")
    assert listed.exit_code == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{request['id']}\tpending\t{bid}/{CHANNEL}\tmissing {key.msp_id}\t")
    as_json = json.loads(cli("signature-request", "list", "--account", tenant.account.name, "--json").stdout)
    assert as_json == tenant.ok("GET", "/signature-requests")
    assert cli("signature-request", "list", "--account", other_tenant.account.name).stdout == "no signature requests\n"

    shown = cli("signature-request", "show", "--account", tenant.account.name, request["id"], "--json")
    assert json.loads(shown.stdout) == tenant.ok("GET", f"/signature-requests/{request['id']}")
    hidden = cli("signature-request", "show", "--account", other_tenant.account.name, request["id"])
    assert hidden.exit_code == 1
    assert f"signature request {request['id']} not found" in hidden.stderr

    file = tmp_path / "update.pb"
    written = cli(
        "signature-request", "envelope", "--account", tenant.account.name, request["id"], "--output", str(file)
    )
    assert written.exit_code == 0, written.stderr
    assert written.stdout == f"{file}\n"
    assert file.read_bytes() == tenant.call("GET", f"/signature-requests/{request['id']}/envelope").content
