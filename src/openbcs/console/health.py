"""Alarms and node health: the Alarms page (the active alarms of every instance of the caller's project and those
cleared lately), each node's health on the instance page with the end of its log (local runtime), and the small
fragment ``console.js`` fetches to refresh the health badges and the running operations without reloading the page.

Reads only: alarms follow ListBcsEvents' rules (``views.active_alarms``/``cleared_alarms``), a node's health is its
``Node.status`` as the supervisor keeps it (``runtime/observed.py``), and its log is read by the function the API's
ShowBlockchainNodeLogs calls (``monitoring.logs.node_logs``), with the caller's project as every instance read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.console import views
from openbcs.console.pages import PREFIX, ConsoleRoute, fragment, render
from openbcs.console.session import ConsoleSession
from openbcs.engine.records import OperationRecord
from openbcs.http.context import Context, ServerContext
from openbcs.kernel import errors
from openbcs.monitoring import logs
from openbcs.monitoring.schemas import NodeLogsResponse
from openbcs.network import lookups
from openbcs.network.guards import NODE_ABNORMAL, NODE_NORMAL
from openbcs.network.models import Node, Organization
from openbcs.runtime.config import LOCAL, RuntimeConfig
from openbcs.runtime.models import RuntimeNode

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
LOG_LINES = 20  # of each node's log on the instance page
RECENT_OPERATIONS = 10  # the instance page's latest operations


@dataclass(frozen=True)
class NodeHealth:
    """A peer or an orderer: its ``Node.status`` (Normal, AbNormal, IsCreating, Adding, Isdeleting) and, while it
    is AbNormal, what the supervisor last saw of it (local runtime)."""

    name: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class OrgHealth:
    """An organisation (``role`` peer or orderer), its status and its nodes by ordinal."""

    name: str
    role: str
    status: str
    nodes: list[NodeHealth] = field(default_factory=list)

    @property
    def healthy(self) -> int:
        """How many of its nodes are Normal."""
        return sum(1 for node in self.nodes if node.status == NODE_NORMAL)


@dataclass(frozen=True)
class Health:
    """Every node of an instance with its health: peer organisations first, then the orderers."""

    runtime: str
    orgs: list[OrgHealth]

    @property
    def local(self) -> bool:
        """Whether its nodes are processes of the local runtime (with logs, and health that changes by itself)."""
        return self.runtime == LOCAL

    def node_names(self) -> list[str]:
        return [node.name for org in self.orgs for node in org.nodes]


def node_health(session: Session, *, project_id: str, blockchain_id: str) -> Health:
    """The caller's instance's organisations and nodes with their statuses (one query after the tenancy check)."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    rows = session.execute(
        select(
            Organization.id,
            Organization.name,
            Organization.role,
            Organization.status,
            Node.name,
            Node.status,
            RuntimeNode.message,
        )
        .outerjoin(Node, Node.org_id == Organization.id)
        .outerjoin(RuntimeNode, RuntimeNode.node_id == Node.id)
        .where(Organization.blockchain_id == instance.id)
        .order_by(Organization.id, Node.ordinal)
    ).all()
    orgs: dict[int, OrgHealth] = {}
    for org_id, org, role, org_status, node, status, message in rows:
        entry = orgs.setdefault(org_id, OrgHealth(org, role, org_status))
        if node is not None:
            entry.nodes.append(NodeHealth(node, status, (message or "") if status == NODE_ABNORMAL else ""))
    return Health(instance.runtime, sorted(orgs.values(), key=lambda org: org.role == "orderer"))


@dataclass(frozen=True)
class Live:
    """What the instance page refreshes in place: node health and the instance's operations."""

    health: Health
    running: list[OperationRecord]
    recent: views.OperationPage


def live(session: Session, *, project_id: str, blockchain_id: str) -> Live:
    """Node health, running operations (with steps) and the latest operations of the caller's instance."""
    return Live(
        node_health(session, project_id=project_id, blockchain_id=blockchain_id),
        views.running_operations(session, project_id=project_id, blockchain_id=blockchain_id),
        views.operations(session, project_id=project_id, blockchain_id=blockchain_id, size=RECENT_OPERATIONS),
    )


async def log_tails(
    ctx: ServerContext, *, project_id: str, blockchain_id: str, health: Health
) -> list[NodeLogsResponse]:
    """The last :data:`LOG_LINES` lines of each node's log, as ShowBlockchainNodeLogs reads them; none for a
    modelled instance (its nodes run no process). A node gone since ``health`` was read is left out."""
    if not health.local:
        return []
    nodes_dir = RuntimeConfig.of(ctx.settings).nodes_dir
    found = []
    for name in health.node_names():
        try:
            found.append(
                await logs.node_logs(
                    ctx.db,
                    nodes_dir,
                    project_id=project_id,
                    blockchain_id=blockchain_id,
                    node_name=name,
                    tail=LOG_LINES,
                )
            )
        except errors.BCSError as exc:
            if exc.error.code == errors.INSTANCE_NOT_FOUND.code:
                raise
    return found


@router.get("/instances/{blockchain_id}/health", name="ConsoleInstanceHealth")
async def instance_health(request: Request, ctx: Context, session: ConsoleSession, blockchain_id: str) -> Response:
    """The instance page's node health and operations sections alone (what ``console.js`` swaps in)."""
    found = await ctx.db.read(live, project_id=session.caller.project_id, blockchain_id=blockchain_id)
    return fragment("instance_live.html", live=found, base=f"{PREFIX}/instances/{blockchain_id}")


@router.get("/alarms", name="ConsoleAlarms")
async def alarms(request: Request, ctx: Context, session: ConsoleSession) -> Response:
    """The active alarms of all the caller's instances, newest first, and the alarms cleared lately."""
    found = await ctx.db.read(views.alarms, project_id=session.caller.project_id)
    return render(
        request,
        "alarms.html",
        session,
        title="Alarms",
        found=found,
        shown=views.ALARMS_PAGE_SHOWN,
        cleared_shown=views.CLEARED_SHOWN,
    )
