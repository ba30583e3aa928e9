"""ListOpRecord's answer, with the encoded record of every finished operation kept once it was shown.

A finished (or failed, or stopped) operation does not change: its record is encoded once (``record_answer``, then
orjson) and kept, keyed by its id, status and ``version`` (every transition bumps it, and only the engine's
transitions change an operation's record or its sub-steps), so a later list sends the same bytes without reading
its sub-steps again. A project's list of 1,000 finished operations then costs one statement and the copying of the
bytes, where building them took ~40 ms of CPU; operations still running are read and encoded
every time. The cache is this process's, bounded by entries (oldest used go first); an operation pruned by retention
is no longer listed, so its entry is never used again and ages out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import orjson

from openbcs.engine import records
from openbcs.engine.models import FAILED, FINISHED, STOPPED
from openbcs.kernel.rows import Rows
from openbcs.operations.schemas import record_answer

DONE = (FINISHED, FAILED, STOPPED)
KEPT = 20_000  # encoded records (about 1 KB each): a few projects' worth of the 1,000 each keeps
_STATUS = 8  # the status column of records.operation_rows (the last one is the version)


def _key(row: tuple[Any, ...]) -> tuple[str, str, int]:
    return row[0], row[_STATUS], row[-1]


class EncodedRecords:
    """Encoded records of finished operations, least recently used first."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._entries: OrderedDict[tuple[str, str, int], orjson.Fragment] = OrderedDict()
        self._lock = threading.Lock()  # PostgreSQL's reads run in the thread pool

    def get(self, row: tuple[Any, ...]) -> orjson.Fragment | None:
        """The encoded record of the operation ``row`` (as ``records.operation_rows`` reads it), if kept."""
        key = _key(row)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
        return found

    def put(self, row: tuple[Any, ...], encoded: orjson.Fragment) -> None:
        """Keep the encoded record of the finished operation ``row``."""
        with self._lock:
            self._entries[_key(row)] = encoded
            if len(self._entries) > self.kept:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


ENCODED = EncodedRecords()


def list_answer(rows: Rows, /, *, project_id: str, **filters: str | None) -> dict[str, Any]:
    """``{"count", "operation_records"}`` of ListOpRecord, ready for orjson (records as encoded fragments)."""
    operations = records.operation_rows(rows, project_id=project_id, **filters)
    shown: list[orjson.Fragment | None] = []
    missing = []
    for row in operations:
        found = ENCODED.get(row) if row[_STATUS] in DONE else None
        shown.append(found)
        if found is None:
            missing.append(row)
    if missing:
        sub_steps = records.sub_step_rows(rows, missing, project_id=project_id, **filters)
        made = {}
        for row in missing:
            encoded = orjson.Fragment(orjson.dumps(record_answer(records.record_of(row, sub_steps[row[0]]))))
            made[row[0]] = encoded
            if row[_STATUS] in DONE:
                ENCODED.put(row, encoded)
        shown = [found if found is not None else made[row[0]] for found, row in zip(shown, operations, strict=True)]
    return {"count": len(operations), "operation_records": shown}
