"""A consortium for membership tests: inviter and invitee accounts around one channel of the inviter's union instance,
with the seed's bodies (agree, reject, quit) built for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from openbcs.kernel.db import Database
from tests.support.bodies import CHANNEL, DEFAULT_ORG, invitee_instance_body, override, union_instance_body
from tests.support.tenants import Tenant, new_tenant

JOIN_OPERATION_ID = r"^BCSSVC01-05-\d{19}$"
QUIT_OPERATION_ID = r"^BCSSVC01-03-\d{19}$"
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


@dataclass
class Consortium:
    """Two tenants around one channel of the inviter's union instance (see :func:`setup_consortium`)."""

    inviter: Tenant
    invitee: Tenant
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
        return override(body, overrides)

    def reject_body(self, **overrides: Any) -> dict[str, Any]:
        body = {"channel_name": self.channel, "status": "reject", "invitor_info": self.invitor_info()}
        return override(body, overrides)

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
        return override(body, overrides)

    def create_invitee_instance(self, invitee_orgs: list[dict[str, Any]] | None = None) -> str:
        """The invitee creates its instance ``bcs-invitee`` for the inviter's (an invitation must wait for it);
        waits until it is ``Normal``; its id."""
        overrides: dict[str, Any] = {"peer_orgs": invitee_orgs} if invitee_orgs is not None else {}
        self.invitee_bcs_id = self.invitee.create_instance(
            invitee_instance_body(
                domain_id=self.inviter.domain_id,
                project_id=self.inviter.project_id,
                inviter_bcs_id=self.inviter_bcs_id,
                **overrides,
            )
        )
        self.invitee_bcs_name = "bcs-invitee"
        return self.invitee_bcs_id

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
    ``invitee_instance=False``. An invitee instance needs a waiting invitation: without ``invite`` there is none
    (invite, then :meth:`Consortium.create_invitee_instance`). ``drive``: the database, for frozen apps (operations
    are driven from the test)."""
    if invitee_instance and not invite:
        raise ValueError("an invitee instance needs a waiting invitation: invite first")
    inviter = new_tenant(http, make_account, inviter_name, drive=drive)
    invitee = new_tenant(http, make_account, invitee_name, drive=drive)
    inviter_bcs = inviter.create_instance(union_instance_body())
    consortium = Consortium(inviter, invitee, inviter_bcs, "bcs-union", None, None)
    if invite:
        response = consortium.invite()
        assert response.status_code == 200, response.text
        assert response.json() == {"result": "success"}
    if invitee_instance:
        consortium.create_invitee_instance(invitee_orgs)
    return consortium
