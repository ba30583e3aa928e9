"""CreateNewBlockchain's rules beyond shape: conditional fields, consensus and orderers, organisations, planned
channels, an invitee's match with its inviter, the name and the quota."""

from __future__ import annotations

import re
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.instances import quotas
from openbcs.instances.schemas import CreateRequestBody
from openbcs.instances.topology import ORDERER_ORG_NAME
from openbcs.kernel import errors
from openbcs.network import lookups
from openbcs.network.models import Instance
from openbcs.network.naming import check_channel_name

DEFAULT_ORG_NAME = "organization"
DEFAULT_PEER_COUNT = 2
DEFAULT_CHANNEL_NAME = "channel"
ORDERERS_FOR = {"etcdraft": 3, "SFLIC": 4}
SECRET_FIELDS = ("resource_password",)
_SPECIAL = re.compile(r"[^A-Za-z0-9]")
# One answer for every invitee instance that may not be created, whether or not the named instance exists, so that
# an account never invited learns nothing about other tenants' instances (issue 21 item 6).
NOT_INVITED = "no invitation for this account waits from a consortium instance with these tenant, project and ids"


class InvitationCheck(Protocol):
    """Whether an invitation of the instance ``inviter_blockchain_id`` waits for the account ``invitee_domain_id``.

    The consortium domain, above this one, answers it (``consortium.states.invitation_waiting``); the app hands it
    to the routes that create instances."""

    def __call__(self, session: Session, *, invitee_domain_id: str, inviter_blockchain_id: str) -> bool: ...


def no_invitation(session: Session, *, invitee_domain_id: str, inviter_blockchain_id: str) -> bool:
    """Where nothing answers for the consortium, nobody has been invited: no invitee instance can be created."""
    return False


def any_invitation(session: Session, *, invitee_domain_id: str, inviter_blockchain_id: str) -> bool:
    """For operators' seed files, which state invitee instances before the invitations that they answer."""
    return True


def _check_password(password: str) -> None:
    kinds_present = sum(
        bool(test)
        for test in (
            re.search(r"[a-z]", password),
            re.search(r"[A-Z]", password),
            re.search(r"\d", password),
            _SPECIAL.search(password),
        )
    )
    if not 8 <= len(password) <= 32 or kinds_present < 3:
        raise errors.invalid_parameter(
            "resource_password", "8 to 32 characters with at least three of: lower case, upper case, digits, specials"
        )


def _check_platform(body: CreateRequestBody) -> str:
    """Cluster, storage, database, algorithm and version rules; returns the consensus to use."""
    if body.cluster_type == "ief" or body.ief_deploy_mode is not None or body.ief_nodes_info is not None:
        raise errors.invalid_parameter("cluster_type", "IEF edge clusters are not modelled by OpenBCS, use cce")
    if body.create_new_cluster and body.cce_create_info is None:
        raise errors.missing_parameter("cce_create_info")
    if not body.create_new_cluster and body.cce_cluster_info is None:
        raise errors.missing_parameter("cce_cluster_info")
    if body.volume_type == "evs" and body.evs_disk_type is None:
        raise errors.missing_parameter("evs_disk_type")
    if body.database_type == "couchdb" and body.couchdb_info is None:
        raise errors.missing_parameter("couchdb_info")
    if body.sign_algorithm == "sm2":
        raise errors.invalid_parameter(
            "sign_algorithm", "sm2 is not supported by OpenBCS: no maintained library issues SM2 X.509 certificates"
        )
    if body.fabric_version != "2.2":
        raise errors.invalid_parameter("fabric_version", "inviters and private chains may only use Fabric 2.2")
    consensus = body.consensus or "etcdraft"
    if consensus not in ORDERERS_FOR:
        raise errors.invalid_parameter("consensus", f"{consensus} is not available with Fabric 2.2 (etcdraft, SFLIC)")
    if body.org_disk_size is not None:
        minimum = 100 if body.version_type == 4 else 500
        if body.org_disk_size < minimum:
            raise errors.invalid_parameter(
                "org_disk_size", f"at least {minimum} GB for version_type {body.version_type}"
            )
    return consensus


def _check_orderers(body: CreateRequestBody, consensus: str) -> None:
    """An inviter or private chain has exactly the orderers its consensus needs (that an invitee has none is checked
    with its organisations, see :func:`_check_orgs`)."""
    if body.is_invitee:
        return
    if body.invitor_infos is not None:
        raise errors.invalid_parameter("invitor_infos", "only for an invitee instance (is_invitee=true)")
    if body.orderer_node_number is None:
        raise errors.missing_parameter("orderer_node_number")
    if body.orderer_node_number != ORDERERS_FOR[consensus]:
        raise errors.invalid_parameter(
            "orderer_node_number", f"{ORDERERS_FOR[consensus]} for {consensus} consensus on Fabric 2.2"
        )


def _check_orgs(body: CreateRequestBody) -> set[str]:
    """The peer organisations' names and sizes (and an invitee's lack of orderers); returns the names the planned
    channels may use."""
    if body.peer_orgs is not None and not body.peer_orgs:
        raise errors.invalid_parameter("peer_orgs", "at least one organisation, or leave it out for the default one")
    # Here, after the empty list, so that a body breaking both rules is refused as it always was.
    if body.is_invitee and body.orderer_node_number is not None:
        raise errors.invalid_parameter("orderer_node_number", "an invitee instance has no orderers: leave it out")
    org_names = [org.name for org in body.peer_orgs or []]
    if len(org_names) != len(set(org_names)):
        raise errors.invalid_parameter("peer_orgs", "organisation names must be unique")
    if ORDERER_ORG_NAME in org_names:
        raise errors.invalid_parameter("peer_orgs", f"{ORDERER_ORG_NAME} is the orderer organisation's name")
    return set(org_names) if body.peer_orgs else {DEFAULT_ORG_NAME}


def _check_channels(body: CreateRequestBody, known_orgs: set[str]) -> None:
    """Planned channels: valid unique names, organisations of this instance each at most once."""
    if body.channels is None:
        return
    if body.is_invitee:
        raise errors.invalid_parameter("channels", "an invitee instance joins its inviter's channels")
    names = [channel.name for channel in body.channels]
    for index, channel in enumerate(body.channels):
        check_channel_name(channel.name)
        for org_name in channel.org_names:
            if org_name not in known_orgs:
                raise errors.BCSError(errors.ORG_NOT_FOUND, f"Input org {org_name} is not exist")
        if len(channel.org_names) != len(set(channel.org_names)):
            raise errors.invalid_parameter(f"channels[{index}].org_names", "each organisation at most once")
    if len(names) != len(set(names)):
        raise errors.invalid_parameter("channels", "channel names must be unique")


def validate(
    session: Session,
    *,
    project_id: str,
    domain_id: str,
    body: CreateRequestBody,
    invited: InvitationCheck = no_invitation,
) -> str:
    """Every rule of CreateNewBlockchain beyond shape, in the order a client meets them; returns the consensus.
    ``invited`` tells whether an invitation waits for the caller (an invitee instance needs one)."""
    consensus = _check_platform(body)
    _check_password(body.resource_password)
    if body.is_invitee:
        _validate_invitee(session, domain_id=domain_id, body=body, consensus=consensus, invited=invited)
    _check_orderers(body, consensus)
    _check_channels(body, _check_orgs(body))
    # Everything above reads only the body (and the inviter): the project's own counts come after its lock.
    quotas.lock_project(session, project_id=project_id)
    if session.scalar(select(Instance.id).where(Instance.project_id == project_id, Instance.name == body.name)):
        raise errors.BCSError(errors.DUPLICATE_NAME)
    used = quotas.count_instances(session, project_id=project_id)
    if used >= quotas.instance_quota(session, domain_id=domain_id):
        raise errors.BCSError(errors.QUOTA_EXCEEDED)
    return consensus


def _validate_invitee(
    session: Session, *, domain_id: str, body: CreateRequestBody, consensus: str, invited: InvitationCheck
) -> None:
    """An invitee instance needs an invitation of the named inviter instance waiting for the caller's account; only
    then is the inviter's instance compared with it (its settings are the inviter's, shown to invitees only)."""
    if body.invitor_infos is None:
        raise errors.missing_parameter("invitor_infos")
    if body.blockchain_type != "union":
        raise errors.invalid_parameter("blockchain_type", "an invitee instance is a consortium (union) instance")
    info = body.invitor_infos
    inviter = lookups.find(session, blockchain_id=info.blockchain_id)
    if inviter is not None and inviter.domain_id == domain_id:  # the caller's own instance: nothing to hide
        raise errors.invalid_parameter("invitor_infos", "an instance cannot be invited by its own tenant")
    # Asked whether or not the instance exists: the refusal costs the same either way.
    waiting = invited(session, invitee_domain_id=domain_id, inviter_blockchain_id=info.blockchain_id)
    if (
        not waiting
        or inviter is None
        or inviter.project_id != info.project_id
        or inviter.domain_id != info.tenant_id
        or inviter.blockchain_type != "union"
        or inviter.is_invitee
    ):
        raise errors.invalid_parameter("invitor_infos", NOT_INVITED)
    for field, mine, theirs in (
        ("consensus", consensus, inviter.consensus),
        ("sign_algorithm", body.sign_algorithm, inviter.sign_algorithm),
        ("fabric_version", body.fabric_version, inviter.fabric_version),
        ("version_type", body.version_type, inviter.version_type),
        ("database_type", body.database_type, inviter.database_type),
    ):
        if mine != theirs:
            raise errors.invalid_parameter(field, f"must match the inviter's instance ({theirs})")
