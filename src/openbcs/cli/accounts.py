"""``openbcs account``, ``key``, ``user`` and ``quota``: accounts (IAM domains) and what belongs to them."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from openbcs.cli.common import AsJson, DatabaseUrl, DataDir, emit, fail, make_settings, open_database
from openbcs.iam import login
from openbcs.iam import service as iam
from openbcs.instances import quotas
from openbcs.kernel.keys import load_server_key

account_app = typer.Typer(help="Accounts (IAM domains) with their project, user and access key.", no_args_is_help=True)
key_app = typer.Typer(help="Access keys (AK/SK).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
quota_app = typer.Typer(help="Per-account quotas.", no_args_is_help=True)

Region = Annotated[str | None, typer.Option(help="Region of the account's project.", envvar="OPENBCS_REGION")]


@account_app.command("create")
def account_create(
    name: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    region: Region = None,
    as_json: AsJson = False,
) -> None:
    """Create an account with its project, own user and first access key (the SK is printed only now)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url, region=region)
    with open_database(settings) as db:
        server_key = load_server_key(settings)
        try:
            created = db.run_write(
                iam.create_account, name=name, password=password, region=settings.region, server_key=server_key
            )
        except iam.IAMRuleError as exc:
            fail(str(exc))
        data = dataclasses.asdict(created)
        emit(data, as_json, "\n".join(f"{k}: {v}" for k, v in data.items()))


def _table(rows: list[list[str]]) -> str:
    """Rows as columns padded to their widest cell (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


@account_app.command("list")
def account_list(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, region: Region = None, as_json: AsJson = False
) -> None:
    """List accounts with their ids and access key ids (never secrets)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url, region=region)
    with open_database(settings) as db:
        accounts = db.run_read(iam.list_accounts, region=settings.region)
    data = [{**dataclasses.asdict(a), "access_keys": list(a.access_keys)} for a in accounts]
    header = ["NAME", "DOMAIN_ID", "PROJECT_ID", "USER_ID", "ACCESS_KEYS"]
    rows = [
        [a["domain_name"], a["domain_id"], a["project_id"] or "-", a["user_id"], ",".join(a["access_keys"]) or "-"]
        for a in data
    ]
    emit(data, as_json, _table([header, *rows]) if rows else "no accounts")


@key_app.command("create")
def key_create(
    account: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Create an access key for the account's own user (the SK is printed only now)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    with open_database(settings) as db:
        server_key = load_server_key(settings)
        try:
            ak, sk = db.run_write(iam.create_access_key, account_name=account, server_key=server_key)
        except iam.IAMRuleError as exc:
            fail(str(exc))
        emit({"access_key": ak, "secret_key": sk}, as_json, f"access_key: {ak}\nsecret_key: {sk}")


@key_app.command("delete")
def key_delete(
    access_key: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Delete an access key."""
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            db.run_write(iam.delete_access_key, access_key=access_key)
        except iam.IAMRuleError as exc:
            fail(str(exc))
        emit({"deleted": access_key}, as_json, f"deleted {access_key}")


@user_app.command("passwd")
def user_passwd(
    account: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    user: Annotated[str | None, typer.Option(help="User name; default the account's own user.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Change a user's password; every token issued before stops working."""
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            db.run_write(iam.change_password, account_name=account, user_name=user, password=password)
        except iam.IAMRuleError as exc:
            fail(str(exc))
        emit({"account": account, "user": user or account, "password_changed": True}, as_json, "password changed")


@user_app.command("unlock")
def user_unlock(
    account: str,
    user: Annotated[str | None, typer.Option(help="User name; default the account's own user.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Lift a lock-out after too many wrong passwords (and forget the user's failed logins)."""
    name = user or account
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        was_locked = db.run_write(login.unlock, domain_name=account, user_name=name)
        text = f"user {name} of account {account} unlocked" if was_locked else f"user {name} was not locked"
        emit({"account": account, "user": name, "was_locked": was_locked}, as_json, text)


def _set_quota(session: Session, *, account: str, instances: int) -> str:
    domain_id = iam.account_id(session, name=account)
    quotas.set_instance_quota(session, domain_id=domain_id, instances=instances)
    return domain_id


def _quota_of(session: Session, *, account: str) -> int:
    return quotas.instance_quota(session, domain_id=iam.account_id(session, name=account))


@quota_app.command("set")
def quota_set(
    account: str,
    instances: Annotated[int, typer.Option(help="How many instances the account may hold.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Set an account's instance quota (ListQuotas reports it)."""
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            domain_id = db.run_write(_set_quota, account=account, instances=instances)
        except (iam.IAMRuleError, ValueError) as exc:
            fail(str(exc))
        emit(
            {"account": account, "domain_id": domain_id, "instances": instances}, as_json, f"instance quota {instances}"
        )


@quota_app.command("show")
def quota_show(
    account: str, data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False
) -> None:
    """Show an account's instance quota."""
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        try:
            quota = db.run_read(_quota_of, account=account)
        except iam.IAMRuleError as exc:
            fail(str(exc))
        emit({"account": account, "instances": quota}, as_json, f"instance quota {quota}")
