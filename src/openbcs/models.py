"""Imports every domain's tables so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from openbcs.blockchains.models import Blockchain, Node, Organization, Quota
from openbcs.certs.models import IssuedCert, OrgPki
from openbcs.channels.models import Channel, ChannelOrg, ChannelPeer, ConfigBlock
from openbcs.consortium.models import Invitation
from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.monitoring.models import Alarm, Event
from openbcs.operations.models import Operation, OperationSubStep

__all__ = [
    "AccessKey",
    "Account",
    "Alarm",
    "Blockchain",
    "Channel",
    "ChannelOrg",
    "ChannelPeer",
    "ConfigBlock",
    "Event",
    "Invitation",
    "IssuedCert",
    "Node",
    "Operation",
    "OperationSubStep",
    "OrgPki",
    "Organization",
    "Project",
    "Quota",
    "User",
]
