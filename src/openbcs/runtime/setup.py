"""What ``openbcs serve`` checks before it serves with a runtime: the local runtime's binaries, and that the database
holds no instance another runtime created (a database's instances belong to the runtime that made them)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbcs.kernel.db import Database
from openbcs.kernel.settings import Settings
from openbcs.network.models import Instance
from openbcs.runtime.config import RuntimeConfig
from openbcs.runtime.local.binaries import FabricSetupError, find_binaries


def _runtimes(session: Session) -> dict[str, int]:
    rows = session.execute(select(Instance.runtime, func.count()).group_by(Instance.runtime))
    return {runtime: int(count) for runtime, count in rows}


def foreign_instances(db: Database, runtime: str) -> str | None:
    """Why ``runtime`` may not serve this database (it holds other runtimes' instances), or None."""
    others = {name: count for name, count in db.run_read(_runtimes).items() if name != runtime}
    if not others:
        return None
    held = ", ".join(f"{count} instance(s) of the {name} runtime" for name, count in sorted(others.items()))
    return (
        f"the database holds {held}; it cannot be served with --fabric-runtime {runtime} (OPENBCS_FABRIC_RUNTIME): "
        f"serve it with the runtime that created them, or give this runtime its own --data-dir / --database-url"
    )


def problem(settings: Settings, db: Database) -> str | None:
    """Why the server cannot start with its runtime settings (one line naming the setting), or None."""
    config = RuntimeConfig.of(settings)
    if config.local:
        try:
            find_binaries(config.fabric_bin, config.fabric_config)
        except FabricSetupError as exc:
            return f"--fabric-runtime local: {exc}"
    return foreign_instances(db, config.kind)
