"""The task that prunes events and cleared alarms past their retention (`OPENBCS_EVENT_RETENTION_DAYS`)."""

from __future__ import annotations

import asyncio
import logging

from openbcs import events
from openbcs.kernel.db import Database

log = logging.getLogger("openbcs.monitoring")


async def prune_forever(db: Database, *, retention_days: float, interval_seconds: float = 3600) -> None:
    """Prune once now, then every ``interval_seconds``, until cancelled."""
    retention = retention_days * 86400
    while True:
        try:
            gone = await db.write(events.prune, retention_seconds=retention)
            if gone:
                log.info("pruned %d monitoring records older than %s days", gone, retention_days)
        except Exception:
            log.exception("pruning monitoring records failed; trying again later")
        await asyncio.sleep(interval_seconds)
