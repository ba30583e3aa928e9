"""Applying a seed file: accounts (optionally with fixed AK/SK), quotas, instances with their channels, invitations
and memberships, created through the same service functions the API calls, each in its own transaction.

Applying is additive and idempotent: what the file names is created if it is missing and left alone if it is there
(a second apply of the same file changes nothing); nothing is ever deleted. Operations the file starts (creating an
instance, a channel, joining a consortium) are driven to their end here, so the state is complete on return."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs import catalog
from openbcs.admin.seedfile import AccountSpec, InstanceSpec, InvitationSpec, Located, Path, SeedError, parse
from openbcs.channels import service as channels
from openbcs.channels.schemas import BatchAddPeersToChannelRequestBody, BatchCreateChannelsRequestBody
from openbcs.consortium import service as consortium
from openbcs.consortium.models import Invitation
from openbcs.consortium.schemas import BatchInviteMembersToChannelRequestBody, HandleNotificationRequestBody
from openbcs.engine import engine
from openbcs.engine.models import ACTIVE, Operation
from openbcs.iam import service as iam
from openbcs.iam.models import User
from openbcs.iam.passwords import verify_password
from openbcs.instances import creation, quotas
from openbcs.instances import service as instances
from openbcs.instances.schemas import CreateRequestBody
from openbcs.kernel import errors
from openbcs.kernel.caller import Caller
from openbcs.kernel.clock import now_ns
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey
from openbcs.kernel.validation import to_bcs_error
from openbcs.network import lookups

__all__ = ["SeedError", "SeedReport", "apply_file", "apply_text"]

# What an instance of a seed file is unless it says otherwise: a private etcdraft chain with 3 orderers on an
# existing CCE cluster (an invitee instance takes its type and consensus from its inviter and has no orderers).
INSTANCE_DEFAULTS: dict[str, Any] = {
    "version_type": 4,
    "blockchain_type": "private",
    "consensus": "etcdraft",
    "sign_algorithm": "ECDSA",
    "enterprise_project_id": "0",
    "volume_type": "evs",
    "evs_disk_type": "SSD",
    "org_disk_size": 100,
    "database_type": "goleveldb",
    "orderer_node_number": 3,
    "cluster_type": "cce",
    "create_new_cluster": False,
}


@dataclass
class SeedReport:
    """What an apply created or changed (``changed``) and how many named things were already as the file says."""

    changed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        """One line for a person."""
        done = ", ".join(self.changed) if self.changed else "nothing to do"
        return f"{len(self.changed)} change(s) ({done}); {self.unchanged} already as the file says"


def _operation_state(session: Session, *, operation_id: str) -> Any:
    """The operation's version, status and messages."""
    query = select(Operation.version, Operation.status, Operation.messages).where(Operation.id == operation_id)
    return session.execute(query).one()


def _password_hash(session: Session, *, domain_id: str, user_name: str) -> str:
    """The stored password hash of the account's own user."""
    query = select(User.password_hash).where(User.domain_id == domain_id, User.name == user_name)
    return session.scalars(query).one()


class _Applier:
    def __init__(self, db: Database, located: Located, *, region: str, server_key: ServerKey) -> None:
        self.db = db
        self.located = located
        self.region = region
        self.server_key = server_key
        self.registry = catalog.registry()
        self.report = SeedReport()

    def run(self, path: Path, fn: Any, /, **kwargs: Any) -> Any:
        """``fn(session, **kwargs)`` in one write transaction; any refusal becomes a SeedError at ``path``."""
        try:
            return self.db.run_write(fn, **kwargs)
        except errors.BCSError as exc:
            raise self.located.error(path, f"{exc.error.code} {exc.message}") from exc
        except iam.IAMRuleError as exc:
            raise self.located.error(path, str(exc)) from exc

    def finish(self, path: Path, operation_id: str) -> None:
        """Drive ``operation_id`` to its end (step time 0); a failed operation is a SeedError at ``path``."""
        for _ in range(10_000):
            row = self.db.run_read(_operation_state, operation_id=operation_id)
            if row.status not in ACTIVE:
                if row.status != "finished":
                    raise self.located.error(path, f"operation {operation_id} {row.status}: {'; '.join(row.messages)}")
                return
            self.db.run_write(
                engine.advance,
                registry=self.registry,
                operation_id=operation_id,
                version=row.version,
                now=now_ns(),
                step_seconds=0,
                server_key=self.server_key,
            )
        raise self.located.error(path, f"operation {operation_id} did not end")  # pragma: no cover

    # --- accounts -----------------------------------------------------------------------------------------------

    def caller(self, name: str, path: Path) -> Caller:
        """The account ``name`` as the API would see its own user."""
        found = [a for a in self.db.run_read(iam.list_accounts, region=self.region) if a.domain_name == name]
        project_id = found[0].project_id if found else None
        if project_id is None:
            raise self.located.error(path, f"no account {name!r} (in this file or the database)")
        return Caller(found[0].user_id, name, found[0].domain_id, name, project_id, self.region, "seed")

    def account(self, index: int, spec: AccountSpec) -> None:
        path: Path = ("accounts", index)
        known = {a.domain_name for a in self.db.run_read(iam.list_accounts, region=self.region)}
        if spec.name not in known:
            created = self.run(
                path,
                iam.create_account,
                name=spec.name,
                password=spec.password,
                region=self.region,
                server_key=self.server_key,
            )
            if spec.access_keys:  # the file's keys replace the random first one
                self.run(path, iam.delete_access_key, access_key=created.access_key)
            self.report.changed.append(f"account {spec.name}")
        else:
            domain_id = self.caller(spec.name, path).domain_id
            stored = self.db.run_read(_password_hash, domain_id=domain_id, user_name=spec.name)
            if verify_password(spec.password, stored):
                self.report.unchanged += 1
            else:
                self.run(path, iam.change_password, account_name=spec.name, user_name=None, password=spec.password)
                self.report.changed.append(f"password of {spec.name}")
        for k, key in enumerate(spec.access_keys):
            self.access_key(("accounts", index, "access_keys", k), spec.name, key.access_key, key.secret_key)
        if spec.quota is not None:
            self.quota(("accounts", index, "quota"), spec.name, spec.quota)

    def access_key(self, path: Path, account: str, access_key: str, secret_key: str) -> None:
        kw = {"account_name": account, "access_key": access_key, "server_key": self.server_key}
        stored = self.run(path, iam.access_key_secret, **kw)
        if stored == secret_key:
            self.report.unchanged += 1
        elif stored is not None:
            raise self.located.error(path, f"access key {access_key} exists with another secret key")
        else:
            self.run(path, iam.add_access_key, secret_key=secret_key, **kw)
            self.report.changed.append(f"access key {access_key}")

    def quota(self, path: Path, account: str, instances_allowed: int) -> None:
        domain_id = self.caller(account, path).domain_id
        if self.db.run_read(quotas.instance_quota, domain_id=domain_id) == instances_allowed:
            self.report.unchanged += 1
            return
        self.run(path, quotas.set_instance_quota, domain_id=domain_id, instances=instances_allowed)
        self.report.changed.append(f"quota of {account}")

    # --- instances and channels -----------------------------------------------------------------------------------

    def find_instance(self, caller: Caller, name: str) -> str | None:
        found = self.db.run_read(instances.list_instances, project_id=caller.project_id)
        return next((i.id for i in found if i.name == name), None)

    def instance(self, path: Path, account: str, spec: InstanceSpec) -> None:
        caller = self.caller(account, path)
        fields = dict(spec.model_extra or {})
        blockchain_id = self.find_instance(caller, spec.name)
        if blockchain_id is None:
            body: dict[str, Any] = {**INSTANCE_DEFAULTS, "resource_password": "Seed-" + secrets.token_urlsafe(12)}
            body["cce_cluster_info"] = {
                "cluster_id": f"cce-{spec.name}",
                "cluster_name": f"cce-{spec.name}",
                "cluster_platform_type": "VirtualMachine",
            }
            if spec.invitee_of is not None:
                inviter = self.caller(spec.invitee_of.account, (*path, "invitee_of"))
                inviter_id = self.find_instance(inviter, spec.invitee_of.instance)
                if inviter_id is None:
                    raise self.located.error((*path, "invitee_of"), f"no instance {spec.invitee_of.instance!r}")
                body.update(blockchain_type="union", is_invitee=True, orderer_node_number=None)
                body["invitor_infos"] = {
                    "tenant_id": inviter.domain_id,
                    "project_id": inviter.project_id,
                    "blockchain_id": inviter_id,
                }
            body.update(fields, name=spec.name)
            body = {k: v for k, v in body.items() if v is not None}
            try:
                parsed = CreateRequestBody.model_validate(body, strict=True)
            except ValidationError as exc:
                loc = tuple(exc.errors()[0]["loc"])
                raise self.located.error((*path, *loc), to_bcs_error(exc).message) from exc
            # A seed file states the invitee instance before the invitation it answers (operators' own state).
            created = self.run(
                path,
                instances.create,
                project_id=caller.project_id,
                domain_id=caller.domain_id,
                body=parsed,
                invited=creation.any_invitation,
            )
            self.finish(path, created.operation_id)
            self.report.changed.append(f"instance {account}/{spec.name}")
            return
        self.report.unchanged += 1
        for c, channel in enumerate(fields.get("channels") or []):
            self.channel((*path, "channels", c), caller, blockchain_id, channel)

    def channel(self, path: Path, caller: Caller, blockchain_id: str, channel: Any) -> None:
        """A channel the file gives an instance that exists already: created with its organisations' peers."""
        if not isinstance(channel, dict) or not isinstance(channel.get("name"), str):
            raise self.located.error(path, "a channel is {name, org_names[, description]}")
        name = channel["name"]
        if self.db.run_read(lookups.find_channel, blockchain_id=blockchain_id, name=name) is not None:
            self.report.unchanged += 1
            return
        entry = {
            "channel_name": name,
            **({"channel_description": channel["description"]} if "description" in channel else {}),
        }
        common = {"project_id": caller.project_id, "blockchain_id": blockchain_id}
        try:
            create = BatchCreateChannelsRequestBody.model_validate({"channels": [entry]}, strict=True)
        except ValidationError as exc:
            raise self.located.error(path, to_bcs_error(exc).message) from exc
        self.finish(path, self.run(path, channels.batch_create, body=create, **common))

        def peers_of(session: Session) -> dict[str, int]:
            return {
                org: len(lookups.nodes_of(session, lookups.org_named(session, blockchain_id, org).id))
                for org in channel.get("org_names") or []
            }

        peers = self.run(path, peers_of)
        if peers:
            add = BatchAddPeersToChannelRequestBody.model_validate(
                {"channel_peers": [{"channel_name": name, "peers": peers}]}, strict=True
            )
            self.finish(path, self.run(path, channels.add_peers, body=add, **common))
        self.report.changed.append(f"channel {name}")

    # --- invitations ----------------------------------------------------------------------------------------------

    def invitation(self, index: int, spec: InvitationSpec) -> None:
        path: Path = ("invitations", index)
        inviter = self.caller(spec.inviter, (*path, "inviter"))
        invitee = self.caller(spec.invitee, (*path, "invitee"))
        bcs_id = self.find_instance(inviter, spec.instance)
        if bcs_id is None:
            raise self.located.error((*path, "instance"), f"{spec.inviter} has no instance {spec.instance!r}")

        def latest(session: Session) -> tuple[str, str] | None:
            row = session.execute(
                select(Invitation.status, Invitation.inviter_blockchain_name)
                .where(
                    Invitation.inviter_blockchain_id == bcs_id,
                    Invitation.channel_name == spec.channel,
                    Invitation.invitee_domain_id == invitee.domain_id,
                )
                .order_by(Invitation.id.desc())
            ).first()
            return None if row is None else (row.status, row.inviter_blockchain_name)

        current = self.db.run_read(latest)
        if current is not None and current[0] == spec.status:
            self.report.unchanged += 1
            return
        if current is not None and current[0] != "waiting":
            raise self.located.error(path, f"the invitation is {current[0]}; applying never undoes a membership")
        if current is None:
            invite = BatchInviteMembersToChannelRequestBody.model_validate(
                {"bcs_id": bcs_id, "channel_name": spec.channel, "invited_userinfo": [{"invited_user": spec.invitee}]},
                strict=True,
            )
            self.run(path, consortium.invite, caller=inviter, body=invite)
            self.report.changed.append(f"invitation {spec.inviter}/{spec.channel} → {spec.invitee}")
        if spec.status != "waiting":
            self.answer(path, spec, inviter, invitee, bcs_id)

    def answer(self, path: Path, spec: InvitationSpec, inviter: Caller, invitee: Caller, bcs_id: str) -> None:
        body: dict[str, Any] = {
            "channel_name": spec.channel,
            "status": "reject" if spec.status == "reject" else "agreed",
            "invitor_info": {
                "invitor_bcs_id": bcs_id,
                "invitor_bcs_name": spec.instance,
                "invitor_project_id": inviter.project_id,
                "invitor_user_id": inviter.domain_id,
            },
        }
        if spec.status == "joined":
            if spec.invitee_instance is None:
                raise self.located.error(path, "a joined invitation names the invitee_instance that joins")
            own = self.find_instance(invitee, spec.invitee_instance)
            if own is None:
                raise self.located.error((*path, "invitee_instance"), f"{spec.invitee} has no such instance")
            orgs = spec.orgs or [o.name for o in self.db.run_read(lookups.orgs_of, own, role="peer")]
            body["invitee_info"] = {
                "invitee_bcs_id": own,
                "invitee_bcs_name": spec.invitee_instance,
                "invitee_project_id": invitee.project_id,
                "invitee_user_id": invitee.domain_id,
            }
            body["invited_orgs"] = [{"name": o} for o in orgs]
        handle = HandleNotificationRequestBody.model_validate(body, strict=True)
        operation_id = self.run(path, consortium.handle, caller=invitee, body=handle)
        if operation_id is not None:
            self.finish(path, operation_id)
        self.report.changed.append(f"invitation of {spec.invitee} {spec.status}")


def apply_text(db: Database, text: str, *, source: str, region: str, server_key: ServerKey) -> SeedReport:
    """Apply a seed document; :class:`SeedError` (``source:line: message``) at the first problem. What was applied
    before the problem stays (each thing is its own transaction); fix the file and apply it again."""
    located = parse(text, source)
    applier = _Applier(db, located, region=region, server_key=server_key)
    for index, account in enumerate(located.spec.accounts):
        applier.account(index, account)
    for index, account in enumerate(located.spec.accounts):
        for i, instance in enumerate(account.instances):
            applier.instance(("accounts", index, "instances", i), account.name, instance)
    for index, invitation in enumerate(located.spec.invitations):
        applier.invitation(index, invitation)
    return applier.report


def apply_file(db: Database, path: FilePath, *, region: str, server_key: ServerKey) -> SeedReport:
    """:func:`apply_text` of a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"{path}: cannot read: {exc}") from exc
    return apply_text(db, text, source=str(path), region=region, server_key=server_key)
