"""The whole state of a server as one JSON document, and an empty state.

An export holds every row of every OpenBCS table (binary columns as base64), the schema revision it was taken at and
a fingerprint of the server key: secret keys, tokens and organisations' private keys are sealed with that key, so an
export is only worth importing into a server with the same key (``OPENBCS_SECRET_KEY`` or ``server.key``)."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import LargeBinary, Table, func, select, text
from sqlalchemy.orm import Session

from openbcs import migrations
from openbcs.kernel.db import Base
from openbcs.kernel.keys import ServerKey
from openbcs.models import __all__ as _every_table  # noqa: F401  (every table on the metadata)

FORMAT = "openbcs-state"
VERSION = 1


class StateError(ValueError):
    """A state document that cannot be imported; the message says why."""


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)  # parents before children


def reset(session: Session) -> dict[str, int]:
    """Delete every row of every table (the schema and the server key stay); rows deleted per table."""
    deleted: dict[str, int] = {}
    for table in reversed(_tables()):
        deleted[table.name] = int(session.execute(table.delete()).rowcount)  # type: ignore[attr-defined]
    return deleted


def _encode(value: Any, binary: bool) -> Any:
    if binary and value is not None:
        return base64.b64encode(value).decode("ascii")
    return value


def export_state(session: Session, *, server_key: ServerKey) -> dict[str, Any]:
    """Every row of every table, as a JSON-ready document."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in _tables():
        binary = {c.name for c in table.columns if isinstance(c.type, LargeBinary)}
        order = list(table.primary_key.columns)
        rows = session.execute(select(table).order_by(*order)).mappings()
        tables[table.name] = [{k: _encode(v, k in binary) for k, v in row.items()} for row in rows]
    return {
        "format": FORMAT,
        "version": VERSION,
        "schema_revision": migrations.HEAD,
        "server_key": server_key.fingerprint(),
        "tables": tables,
    }


def import_state(session: Session, document: Any, *, server_key: ServerKey) -> dict[str, int]:
    """Replace the whole state with ``document`` (an :func:`export_state`), in the caller's one transaction; rows
    imported per table. Nothing changes if the document is refused."""
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
        raise StateError(f"not an OpenBCS state document (format {FORMAT!r}, version {VERSION})")
    if document.get("schema_revision") != migrations.HEAD:
        raise StateError(
            f"the state was exported at schema revision {document.get('schema_revision')!r}; this server is at "
            f"{migrations.HEAD!r}"
        )
    if document.get("server_key") != server_key.fingerprint():
        raise StateError("the state was exported by a server with another server key; its secrets would not open")
    given = document.get("tables")
    known = {t.name: t for t in _tables()}
    if not isinstance(given, dict) or set(given) - set(known):
        raise StateError(f"'tables' must map table names to rows; known tables: {', '.join(sorted(known))}")
    reset(session)
    counts: dict[str, int] = {}
    for table in _tables():
        rows = given.get(table.name) or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise StateError(f"table {table.name}: rows must be a list of objects")
        columns = {c.name: c for c in table.columns}
        decoded = []
        for index, row in enumerate(rows):
            unknown = set(row) - set(columns)
            if unknown:
                raise StateError(f"table {table.name} row {index}: unknown columns {sorted(unknown)}")
            try:
                decoded.append(
                    {
                        k: base64.b64decode(v, validate=True)
                        if isinstance(columns[k].type, LargeBinary) and v is not None
                        else v
                        for k, v in row.items()
                    }
                )
            except (ValueError, TypeError) as exc:
                raise StateError(f"table {table.name} row {index}: a binary column is not base64") from exc
        if decoded:
            session.execute(table.insert(), decoded)
        counts[table.name] = len(decoded)
    _continue_sequences(session)
    return counts


def _continue_sequences(session: Session) -> None:
    """On PostgreSQL, move each serial id's sequence past the imported ids (SQLite takes max(id) + 1 itself)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                highest = session.scalar(select(func.max(column)))
                if highest is not None:
                    session.execute(
                        text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
                        {"table": table.name, "column": column.name, "value": highest},
                    )
