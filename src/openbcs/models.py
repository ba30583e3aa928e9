"""Imports every table so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from openbcs.consortium.models import Invitation
from openbcs.engine.models import Operation, OperationLock, OperationSubStep
from openbcs.events.models import Alarm, Event
from openbcs.governance.models import SignatureRequest, SignatureRequestSigner
from openbcs.http.client_tokens import ClientToken
from openbcs.iam.models import AccessKey, Account, LoginFailure, Project, User
from openbcs.instances.models import Quota
from openbcs.network.models import (
    Channel,
    ChannelOrg,
    ChannelPeer,
    ConfigBlock,
    Instance,
    IssuedCert,
    Node,
    NodePort,
    Organization,
    OrgPki,
)
from openbcs.runtime.models import RuntimeLease, RuntimeNode, RuntimeTask

__all__ = [
    "AccessKey",
    "Account",
    "Alarm",
    "Channel",
    "ChannelOrg",
    "ChannelPeer",
    "ClientToken",
    "ConfigBlock",
    "Event",
    "Instance",
    "Invitation",
    "IssuedCert",
    "LoginFailure",
    "Node",
    "NodePort",
    "Operation",
    "OperationLock",
    "OperationSubStep",
    "OrgPki",
    "Organization",
    "Project",
    "Quota",
    "RuntimeLease",
    "RuntimeNode",
    "RuntimeTask",
    "SignatureRequest",
    "SignatureRequestSigner",
    "User",
]
