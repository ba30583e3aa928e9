"""ShowBlockchainNodeLogs, an OpenBCS extension: the last lines of one node's log (``docs/runtime.md``, "Node logs").

The node is looked up in one short transaction (tenancy as every instance read: another project's instance is
unknown); the log is read afterwards, off the event loop, from the end of ``node.log`` in the node's home. A
modelled node runs no process and has no log: it answers no lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbcs.kernel import errors
from openbcs.kernel.db import Database
from openbcs.monitoring.schemas import NodeLogsResponse
from openbcs.network import lookups
from openbcs.network.models import Node, Organization
from openbcs.runtime.config import LOCAL
from openbcs.runtime.local.process import tail_file
from openbcs.runtime.local.render import LOG_FILE
from openbcs.runtime.nodespecs import home_of


@dataclass(frozen=True)
class LogSource:
    """Where a node's log is: ``path`` None for a modelled node."""

    node_name: str
    runtime: Literal["modelled", "local"]
    path: Path | None


def log_source(session: Session, *, project_id: str, blockchain_id: str, node_name: str, nodes_dir: Path) -> LogSource:
    """The project's instance's node (a peer or an orderer) by name, and where its log is; ``BCS.4001011`` for an
    unknown (or another project's) instance, ``BCS.4006014`` naming ``node_name`` for a node it does not have."""
    instance = lookups.get_owned(session, project_id=project_id, blockchain_id=blockchain_id)
    name = session.scalar(
        select(Node.name)
        .join(Organization, Organization.id == Node.org_id)
        .where(Organization.blockchain_id == instance.id, Node.name == node_name)
    )
    if name is None:
        raise errors.invalid_parameter("node_name", f"the instance has no node {node_name}")
    if instance.runtime != LOCAL:
        return LogSource(name, "modelled", None)
    return LogSource(name, "local", home_of(nodes_dir, instance.id, name) / LOG_FILE)


def read_tail(path: Path, lines: int) -> tuple[list[str], bool]:
    """The last ``lines`` lines of the file (none if it is absent), and whether it holds earlier ones. Blocking."""
    found = tail_file(path, lines + 1)
    return found[-lines:], len(found) > lines


async def node_logs(
    db: Database, nodes_dir: Path, *, project_id: str, blockchain_id: str, node_name: str, tail: int
) -> NodeLogsResponse:
    """The last ``tail`` lines of the node's log, oldest first."""
    source = await db.read(
        log_source, project_id=project_id, blockchain_id=blockchain_id, node_name=node_name, nodes_dir=nodes_dir
    )
    lines: list[str] = []
    truncated = False
    if source.path is not None:
        lines, truncated = await anyio.to_thread.run_sync(read_tail, source.path, tail)
    return NodeLogsResponse(node_name=source.node_name, runtime=source.runtime, lines=lines, truncated=truncated)
