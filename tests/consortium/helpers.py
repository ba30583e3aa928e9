"""Helpers of the consortium-membership tests. ``test_concurrency.py`` and ``test_durability.py`` import them too:
keep these names and signatures stable (add, do not rename).

Who calls
- :class:`Party` — one account's BCS API over any httpx client: the ``client`` fixture (a ``TestClient``), a frozen
  app's ``TestClient``, or ``httpx.Client(base_url=live_server.url)``. ``party.call(method, path, body)`` sends
  ``body`` as JSON with the account's token; ``party.drive`` (a ``Database``) makes :meth:`Party.wait` run pending
  operations itself, for apps whose worker is frozen.
- :func:`new_party` — a fresh account (``make_account`` fixture) with a token issued by ``http``.

Setting up a consortium
- :func:`setup_consortium` → :class:`Consortium`: inviter + invitee accounts, the inviter's union instance (``Normal``,
  default org ``organization`` with 2 peers, channel ``channel``), a ``waiting`` invitation of the invitee into
  ``channel`` and (unless ``invitee_instance=False``) the invitee's invitee instance (``Normal``).
- :meth:`Consortium.join` (agree + wait, returns the join operation id), :meth:`Consortium.quit` (the seed's
  ``PUT /members/quit`` + wait, returns the quit operation id), :meth:`Consortium.agree` / :meth:`Consortium.reject`
  (the raw HandleNotification answers), :meth:`Consortium.invite`.
- Bodies: :meth:`Consortium.agree_body`, :meth:`Consortium.reject_body`, :meth:`Consortium.quit_body` (the seed's
  eight fields), :func:`invite_body`, :func:`invitee_instance_body`, :func:`union_instance_body`.

Stored state (read straight from the database, never through the API under test)
- :func:`invitations` / :func:`invitation_row` — rows of ``consortium_invitations`` as dicts.
- :func:`operation_rows` — ``(id, kind, status, project_id, blockchain_id)`` of every operation.
- :func:`wait_started` — on a frozen app, wait until the worker started an operation (its only move for an hour):
  take a :func:`snapshot` only after that.
- :func:`snapshot` — every row of the model's tables (instances, orgs, nodes, channels, channel members, config
  blocks, operations, sub-steps, invitations): ``assert snapshot(db) == before`` proves a refused call changed
  nothing and started no operation.
- :func:`config_blocks` — a channel's stored configuration blocks; :func:`org_entry` / :func:`org_hash` compute
  what a block lists for an organisation (independently of OpenBCS).
- :func:`error` — ``(status, error_code, error_msg)`` of an error answer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from openbcs.consortium.models import Invitation
from openbcs.kernel.db import Base, Database
from openbcs.models import __all__ as _tables  # noqa: F401  (every table on the metadata)
from openbcs.engine.models import Operation
from tests.instances.helpers import create_body, drive_operations
from tests.support import TestAccount, token_body

CHANNEL = "channel"
DEFAULT_ORG = "organization"
JOIN_OPERATION_ID = r"^BCSSVC01-05-\d{19}$"
QUIT_OPERATION_ID = r"^BCSSVC01-03-\d{19}$"
JSON_HEADERS = {"Content-Type": "application/json"}
# The quit body's eight mandatory fields, in the seed's order.
QUIT_FIELDS = (
    "inviter_bcsid",
    "inviter_projectid",
    "inviter_domainid",
    "inviter_username",
    "channel_name",
    "invitee_bcsid",
    "invitee_projectid",
    "invitee_domainid",
)
MODEL_TABLES = (
    "blockchains",
    "blockchain_orgs",
    "blockchain_nodes",
    "channels",
    "channel_orgs",
    "channel_peers",
    "channel_config_blocks",
    "operations",
    "operation_sub_steps",
    "consortium_invitations",
)


def error(response: httpx.Response) -> tuple[int, str, str]:
    """``(status, error_code, error_msg)`` of an error answer."""
    body = response.json()
    return response.status_code, body.get("error_code", ""), body.get("error_msg", "")


def issue_token(http: httpx.Client, account: TestAccount) -> str:
    """A token of ``account`` from ``POST /v3/auth/tokens`` of ``http``."""
    response = http.post(
        "/v3/auth/tokens", content=token_body(account.name, account.password, account.name), headers=JSON_HEADERS
    )
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


# --- bodies ----------------------------------------------------------------------------------------------------------


def union_instance_body(name: str = "bcs-union", **overrides: Any) -> dict[str, Any]:
    """A consortium (union) instance: default org ``organization`` (2 peers), default channel ``channel``."""
    return create_body(name, **{"blockchain_type": "union", **overrides})


def invitee_instance_body(
    inviter: Party, inviter_bcs_id: str, name: str = "bcs-invitee", **overrides: Any
) -> dict[str, Any]:
    """An invitee instance created for ``inviter``'s instance (no orderers, no channel)."""
    fields: dict[str, Any] = {
        "blockchain_type": "union",
        "is_invitee": True,
        "orderer_node_number": None,
        "invitor_infos": {
            "tenant_id": inviter.domain_id,
            "project_id": inviter.project_id,
            "blockchain_id": inviter_bcs_id,
        },
    }
    fields.update(overrides)
    return create_body(name, **fields)


def invite_body(bcs_id: str, channel: str, *names: str, invitor_username: str | None = None) -> dict[str, Any]:
    """A BatchInviteMembersToChannel body."""
    body: dict[str, Any] = {
        "bcs_id": bcs_id,
        "channel_name": channel,
        "invited_userinfo": [{"invited_user": n} for n in names],
    }
    if invitor_username is not None:
        body["invitor_username"] = invitor_username
    return body


def org_hash(blockchain_id: str, org: str) -> str:
    """An organisation's ``name_hash`` as docs/instances.md defines it (computed here, not by OpenBCS)."""
    return hashlib.sha1(f"{blockchain_id}/{org}".encode(), usedforsecurity=False).hexdigest()


def org_entry(blockchain_id: str, org: str) -> dict[str, str]:
    """An organisation as a configuration block lists it."""
    return {"blockchain_id": blockchain_id, "name": org, "msp_id": f"{org_hash(blockchain_id, org)}MSP"}


def block_orgs(*orgs: tuple[str, str]) -> list[dict[str, str]]:
    """A block's org set from ``(blockchain_id, org name)`` pairs, sorted as blocks sort it (by MSP id)."""
    return sorted((org_entry(b, o) for b, o in orgs), key=lambda o: (o["msp_id"], o["name"]))


# --- one account's API ----------------------------------------------------------------------------------------------


@dataclass
class Party:
    """The BCS API of one account over one httpx client (see the module docstring)."""

    http: httpx.Client
    account: TestAccount
    token: str
    drive: Database | None = None

    @property
    def project_id(self) -> str:
        return self.account.project_id

    @property
    def domain_id(self) -> str:
        return self.account.domain_id

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        project_id: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        **params: Any,
    ) -> httpx.Response:
        """``method /v2/<project><path>`` with the token; ``body`` as JSON (``raw`` bytes instead, if given)."""
        sent = {**self.headers, **(headers or {})}
        content = raw
        if body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
        return self.http.request(
            method,
            f"/v2/{project_id or self.project_id}{path}",
            content=content,
            params=params or None,
            headers=sent,
        )

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """``call`` that must answer 200; its JSON."""
        response = self.call(method, path, body, **params)
        assert response.status_code == 200, response.text
        return response.json()

    # --- instances and channels ----------------------------------------------------------------------------------

    def create_instance(self, body: dict[str, Any], *, wait: bool = True) -> str:
        """CreateNewBlockchain (asserts 200; waits until it finished unless ``wait=False``); the instance id."""
        created = self.ok("POST", "/blockchains", body)
        if wait:
            self.wait(created["operation_id"])
        return str(created["blockchain_id"])

    def delete_instance(self, blockchain_id: str) -> httpx.Response:
        return self.call("DELETE", f"/blockchains/{blockchain_id}")

    def detail(self, blockchain_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}"))

    def nodes(self, blockchain_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}/nodes")["node_orgs"])

    def channels(self, blockchain_id: str) -> list[dict[str, Any]]:
        return list(self.ok("GET", f"/blockchains/{blockchain_id}/channels")["channels"])

    def channel(self, blockchain_id: str, name: str = CHANNEL) -> dict[str, Any]:
        (found,) = [c for c in self.channels(blockchain_id) if c["name"] == name]
        return found

    def history(self, blockchain_id: str, channel: str = CHANNEL) -> dict[str, Any]:
        """The channel's configuration history (OpenBCS extension)."""
        return dict(self.ok("GET", f"/blockchains/{blockchain_id}/channels/{channel}/config-history"))

    def create_channel(self, blockchain_id: str, name: str, *, orgs: dict[str, int] | None = None) -> None:
        """BatchCreateChannels of one channel, then (if ``orgs``) BatchAddPeersToChannel; waits for both."""
        created = self.ok("POST", f"/blockchains/{blockchain_id}/channels", {"channels": [{"channel_name": name}]})
        self.wait(created["operation_id"])
        if orgs:
            body = {"channel_peers": [{"channel_name": name, "peers": orgs}]}
            self.wait(self.ok("POST", f"/blockchains/{blockchain_id}/channels/peers", body)["operation_id"])

    # --- operations ------------------------------------------------------------------------------------------------

    def records(self, **filters: Any) -> list[dict[str, Any]]:
        """ListOpRecord (asserts 200 and ``count``)."""
        body = self.ok("GET", "/operation/record", **filters)
        assert body["count"] == len(body["operation_records"])
        return list(body["operation_records"])

    def record(self, operation_id: str) -> dict[str, Any]:
        (found,) = self.records(operation_id=operation_id)
        return found

    def wait(self, operation_id: str, *, timeout: float = 60, expect: str = "finished") -> dict[str, Any]:
        """The operation's record once it ended (driven from here when ``drive`` is set); it must be ``expect``."""
        if self.drive is not None:
            drive_operations(self.drive, operation_id=operation_id)
        deadline = time.monotonic() + timeout
        while True:
            record = self.record(operation_id)
            if record["operation_status"] not in ("waiting", "processing"):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"operation {operation_id} still {record['operation_status']} after {timeout} s")
            time.sleep(0.01)
        assert record["operation_status"] == expect, record
        return record

    # --- membership ------------------------------------------------------------------------------------------------

    def invite(self, bcs_id: str, channel: str, *names: str, invitor_username: str | None = None) -> httpx.Response:
        return self.call(
            "POST", "/members/invitations", invite_body(bcs_id, channel, *names, invitor_username=invitor_username)
        )

    def handle(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("POST", "/notification/handle", body)

    def notifications(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/notifications")["notifications"])

    def members(self) -> list[dict[str, Any]]:
        return list(self.ok("GET", "/members")["members"])

    def delete_invites(self, bcs_id: str, channel: str, entries: list[dict[str, Any]]) -> httpx.Response:
        body = {"bcs_id": bcs_id, "channel_name": channel, "invited_userinfo": entries}
        return self.call("DELETE", "/members/invitations", body)

    def quit(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("PUT", "/members/quit", body)


def new_party(
    http: httpx.Client, make_account: Any, name: str | None = None, *, drive: Database | None = None
) -> Party:
    """A fresh account and a token for it, issued by ``http``."""
    account = make_account(name)
    return Party(http, account, issue_token(http, account), drive)


# --- a consortium -----------------------------------------------------------------------------------------------------


@dataclass
class Consortium:
    """Two tenants around one channel of the inviter's union instance (see :func:`setup_consortium`)."""

    inviter: Party
    invitee: Party
    inviter_bcs_id: str
    inviter_bcs_name: str
    invitee_bcs_id: str | None
    invitee_bcs_name: str | None
    channel: str = CHANNEL

    def invite(self, *names: str) -> httpx.Response:
        """The inviter invites ``names`` (default: the invitee) into the consortium channel."""
        return self.inviter.invite(self.inviter_bcs_id, self.channel, *(names or (self.invitee.name,)))

    def invitor_info(self) -> dict[str, str]:
        return {
            "invitor_bcs_id": self.inviter_bcs_id,
            "invitor_bcs_name": self.inviter_bcs_name,
            "invitor_project_id": self.inviter.project_id,
            "invitor_user_id": self.inviter.domain_id,
        }

    def agree_body(self, orgs: tuple[str, ...] = (DEFAULT_ORG,), **overrides: Any) -> dict[str, Any]:
        """HandleNotification ``agreed`` with the invitee instance and ``orgs``; an override of None drops a field."""
        assert self.invitee_bcs_id is not None
        assert self.invitee_bcs_name is not None
        body: dict[str, Any] = {
            "channel_name": self.channel,
            "status": "agreed",
            "invitor_info": self.invitor_info(),
            "invitee_info": {
                "invitee_bcs_id": self.invitee_bcs_id,
                "invitee_bcs_name": self.invitee_bcs_name,
                "invitee_project_id": self.invitee.project_id,
                "invitee_user_id": self.invitee.domain_id,
            },
            "invited_orgs": [{"name": o} for o in orgs],
        }
        return _override(body, overrides)

    def reject_body(self, **overrides: Any) -> dict[str, Any]:
        body = {"channel_name": self.channel, "status": "reject", "invitor_info": self.invitor_info()}
        return _override(body, overrides)

    def quit_body(self, **overrides: Any) -> dict[str, Any]:
        """The seed's request: all eight fields, for this consortium; an override of None drops a field."""
        assert self.invitee_bcs_id is not None
        body = {
            "inviter_bcsid": self.inviter_bcs_id,
            "inviter_projectid": self.inviter.project_id,
            "inviter_domainid": self.inviter.domain_id,
            "inviter_username": self.inviter.name,
            "channel_name": self.channel,
            "invitee_bcsid": self.invitee_bcs_id,
            "invitee_projectid": self.invitee.project_id,
            "invitee_domainid": self.invitee.domain_id,
        }
        return _override(body, overrides)

    def agree(self, orgs: tuple[str, ...] = (DEFAULT_ORG,)) -> httpx.Response:
        return self.invitee.handle(self.agree_body(orgs))

    def reject(self) -> httpx.Response:
        return self.invitee.handle(self.reject_body())

    def join_operation_id(self) -> str:
        """The newest join operation (``05``) of the invitee instance, from the invitee's ListOpRecord."""
        records = self.invitee.records(operation_type="05", blockchain_id=self.invitee_bcs_id)
        assert records, "no join operation"
        return str(records[0]["operation_id"])

    def join(self, orgs: tuple[str, ...] = (DEFAULT_ORG,)) -> str:
        """Agree with ``orgs`` and wait until the join finished; the join operation id."""
        response = self.agree(orgs)
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success"}
        operation_id = self.join_operation_id()
        self.invitee.wait(operation_id)
        return operation_id

    def quit(self) -> str:
        """The seed's quit call, then wait until it finished; the quit operation id."""
        response = self.invitee.quit(self.quit_body())
        assert response.status_code == 200, response.text
        operation_id = str(response.json()["operation_id"])
        self.invitee.wait(operation_id)
        return operation_id


def _override(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for key, value in overrides.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def setup_consortium(
    http: httpx.Client,
    make_account: Any,
    *,
    invite: bool = True,
    invitee_instance: bool = True,
    invitee_orgs: list[dict[str, Any]] | None = None,
    inviter_name: str | None = None,
    invitee_name: str | None = None,
    drive: Database | None = None,
) -> Consortium:
    """Inviter and invitee accounts, the inviter's union instance ``bcs-union`` (``Normal``, channel ``channel``),
    a waiting invitation of the invitee (unless ``invite=False``) and the invitee's instance ``bcs-invitee``
    (``Normal``; ``invitee_orgs`` as ``peer_orgs``, default one org ``organization`` with 2 peers) unless
    ``invitee_instance=False``. ``drive``: the database, for frozen apps (operations are driven from the test)."""
    inviter = new_party(http, make_account, inviter_name, drive=drive)
    invitee = new_party(http, make_account, invitee_name, drive=drive)
    inviter_bcs = inviter.create_instance(union_instance_body())
    consortium = Consortium(inviter, invitee, inviter_bcs, "bcs-union", None, None)
    if invite:
        response = consortium.invite()
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success"}
    if invitee_instance:
        overrides: dict[str, Any] = {"peer_orgs": invitee_orgs} if invitee_orgs is not None else {}
        consortium.invitee_bcs_id = invitee.create_instance(invitee_instance_body(inviter, inviter_bcs, **overrides))
        consortium.invitee_bcs_name = "bcs-invitee"
    return consortium


# --- stored state -----------------------------------------------------------------------------------------------------


def _row(obj: Any) -> dict[str, Any]:
    return {column.key: getattr(obj, column.key) for column in type(obj).__table__.columns}


def invitations(db: Database) -> list[dict[str, Any]]:
    """Every stored invitation, oldest first, as dicts of its columns."""
    return db.run_read(lambda s: [_row(i) for i in s.scalars(select(Invitation).order_by(Invitation.id))])


def invitation_row(db: Database) -> dict[str, Any]:
    """The only stored invitation."""
    (only,) = invitations(db)
    return only


def operation_rows(db: Database) -> list[tuple[str, str, str, str, str | None]]:
    """``(id, kind, status, project_id, blockchain_id)`` of every operation, oldest first."""
    return db.run_read(
        lambda s: [
            (o.id, o.kind, o.status, o.project_id, o.blockchain_id)
            for o in s.scalars(select(Operation).order_by(Operation.record_time, Operation.id))
        ]
    )


def wait_started(db: Database, operation_id: str, *, timeout: float = 30) -> None:
    """On a frozen app: wait until its worker made the operation's first transition (``waiting`` → ``processing``),
    its only one for an hour, so that a :func:`snapshot` taken now stays still unless a call under test changes it."""
    deadline = time.monotonic() + timeout
    query = select(Operation.status).where(Operation.id == operation_id)
    while db.run_read(lambda s: s.scalar(query)) == "waiting":
        assert time.monotonic() < deadline, f"the worker did not start {operation_id}"
        time.sleep(0.01)


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the model's tables (see ``MODEL_TABLES``), by primary key."""
    tables = Base.metadata.tables
    with db.engine.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(select(tables[name]).order_by(*tables[name].primary_key.columns))]
            for name in MODEL_TABLES
        }


def config_blocks(db: Database, blockchain_id: str, channel: str = CHANNEL) -> list[dict[str, Any]]:
    """The channel's stored configuration blocks, oldest first (``number, previous_hash, event, orgs, cause, hash``)."""
    tables = Base.metadata.tables
    channels, blocks = tables["channels"], tables["channel_config_blocks"]
    with db.engine.connect() as conn:
        channel_id = conn.execute(
            select(channels.c.id).where(channels.c.blockchain_id == blockchain_id, channels.c.name == channel)
        ).scalar_one()
        rows = conn.execute(select(blocks).where(blocks.c.channel_id == channel_id).order_by(blocks.c.number))
        return [
            {
                "number": r.number,
                "previous_hash": r.previous_hash,
                "event": r.event,
                "orgs": r.orgs,
                "cause": r.cause,
                "hash": r.hash,
            }
            for r in rows
        ]
