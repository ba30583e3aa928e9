"""PostgreSQL's own tools (``pg_dump``, ``pg_restore``, ``psql``) run against a SQLAlchemy URL.

The URL's parts go to the tools as libpq environment variables (``PGHOST``, ``PGUSER``, ``PGPASSWORD``, ...): a
password on the command line would be visible to every user of the machine (``ps``), the environment is not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

# URL query parameters libpq also reads from the environment.
_QUERY_VARIABLES = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "host": "PGHOST",
    "port": "PGPORT",
}


class ToolMissing(Exception):
    """A PostgreSQL client tool is not installed; the message names where it was looked for."""


def pg_tool(name: str) -> str:
    """The path of PostgreSQL's ``name`` tool: on ``PATH``, else the newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return str(candidates[-1])
    raise ToolMissing(
        f"{name} not found on PATH nor in /usr/lib/postgresql/*/bin; install PostgreSQL's client tools "
        "(Debian: apt-get install postgresql-client), of the server's major version or newer"
    )


def pg_environment(url: str) -> tuple[dict[str, str], str]:
    """The environment that points libpq at the database of ``url`` (credentials included), and the database's
    name (the one part passed on the command line)."""
    parsed = make_url(url)
    env = dict(os.environ)  # the server's own connections honour PGPASSFILE, PGSSLMODE ...: so do the tools
    for variable, part in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
    ):
        if part is not None:
            env[variable] = str(part)
    for name, value in parsed.query.items():
        query_variable = _QUERY_VARIABLES.get(name)
        if query_variable is not None:
            env[query_variable] = value if isinstance(value, str) else value[-1]
    return env, parsed.database or ""
