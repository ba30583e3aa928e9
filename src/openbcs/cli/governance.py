"""``openbcs signature-request`` and ``openbcs org admin-custody``: an operator acting for an account on the
governance extensions (docs/governance.md), through the same service functions the API routes call, on the database
directly. An operation started here (the custody switch) is carried out by the server, whose worker picks it up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from openbcs.cli.common import AsJson, DatabaseUrl, DataDir, emit, fail, make_settings, open_database, read_or_fail
from openbcs.governance import custody, service
from openbcs.governance.schemas import SignatureRequestView
from openbcs.iam import service as iam
from openbcs.kernel import errors
from openbcs.kernel.keys import load_server_key

T = TypeVar("T")

signature_request_app = typer.Typer(help="Signature requests of channel changes (external admin custody).")
org_app = typer.Typer(help="Peer organisations.", no_args_is_help=True)
signature_request_app.info.no_args_is_help = True

Account = Annotated[str, typer.Option("--account", help="The account (its project in the server's region) to act for.")]


def _project_of(session: Session, account: str, region: str) -> str:
    tenant = iam.tenant_named(session, name=account, region=region)
    if tenant is None or tenant.project_id is None:
        raise errors.invalid_parameter("account", f"no account {account} with a project in {region}")
    return tenant.project_id


def _read_for(account: str, data_dir: Path | None, database_url: str | None, read: Callable[[Session, str], T]) -> T:
    """``read(session, project_id)`` for the account's project in the server's region, in one read transaction; an
    unknown account or a refusal of the read ends the command with its message (exit 1)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    return read_or_fail(settings, lambda s: read(s, _project_of(s, account, settings.region)))


def _line(r: SignatureRequestView) -> str:
    missing = ",".join(r.missing) or "-"
    where = f"{r.blockchain_id}/{r.channel_name}"
    return f"{r.id}\t{r.status}\t{where}\tmissing {missing}\texpires {r.expires_at}\t{r.summary}"


@signature_request_app.command("list")
def request_list(
    account: Account,
    status: Annotated[str | None, typer.Option(help="Only those with this status (pending, submitted, ...).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """The account's signature requests, newest first (ListSignatureRequests)."""
    found = _read_for(
        account, data_dir, database_url, lambda s, project: service.list_requests(s, project_id=project, status=status)
    )
    lines = "\n".join(_line(r) for r in found.signature_requests)
    emit(found.model_dump(), as_json, lines or "no signature requests")


@signature_request_app.command("show")
def request_show(
    account: Account,
    request_id: str,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """One signature request (ShowSignatureRequest)."""
    shown = _read_for(
        account, data_dir, database_url, lambda s, project: service.show(s, project_id=project, request_id=request_id)
    )
    text = "\n".join(f"{k}: {', '.join(v) if isinstance(v, list) else v}" for k, v in shown.model_dump().items())
    emit(shown.model_dump(), as_json, text)


@signature_request_app.command("envelope")
def request_envelope(
    account: Account,
    request_id: str,
    output: Annotated[Path, typer.Option("--output", help="The file to write (for peer channel signconfigtx -f).")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Write the request's CONFIG_UPDATE envelope with the signatures so far (ShowSignatureRequestEnvelope)."""
    content = _read_for(
        account,
        data_dir,
        database_url,
        lambda s, project: service.envelope(s, project_id=project, request_id=request_id),
    )
    output.write_bytes(content)
    emit({"file": str(output), "bytes": len(content)}, as_json, str(output))


@org_app.command("admin-custody")
def org_admin_custody(
    account: Account,
    blockchain_id: Annotated[str, typer.Option("--blockchain-id", help="The instance.")],
    org: Annotated[str, typer.Option("--org", help="The peer organisation's name.")],
    csr: Annotated[Path, typer.Option("--csr", help="PEM CSR of the tenant's own P-256 key.", exists=True)],
    cert_out: Annotated[
        Path | None, typer.Option("--cert-out", help="Also write the issued admin certificate (PEM) here.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Switch the organisation to external admin custody (SwitchAdminCustody): issue the admin certificate for the
    CSR's key, start the operation that makes it the only admin in every channel and deletes the hosted admin key
    (the server carries it out); print the certificate."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    pem = csr.read_text(encoding="utf-8", errors="replace")
    with open_database(settings) as db:
        server_key = load_server_key(settings)
        try:
            admin_cert, operation_id = db.run_write(
                lambda s: custody.start_switch(
                    s,
                    project_id=_project_of(s, account, settings.region),
                    blockchain_id=blockchain_id,
                    org_name=org,
                    csr=pem,
                    server_key=server_key,
                )
            )
        except errors.BCSError as exc:
            fail(exc.message)
        if cert_out is not None:
            cert_out.write_text(admin_cert)
        emit({"admin_cert": admin_cert, "operation_id": operation_id}, as_json, f"{admin_cert}operation {operation_id}")
