"""Files of the data directory: the SQLite database is created owner-only (0600), like the server key, because it
holds the sealed secret keys, the password hashes and every organisation's sealed private keys."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database (or an in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_private_database(url: str) -> None:
    """Create the SQLite file of ``url`` empty with mode 0600 if it does not exist yet (SQLite would create it with
    the umask, usually 0644; its -wal and -shm files take the database file's mode)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process created it first
    os.close(fd)
