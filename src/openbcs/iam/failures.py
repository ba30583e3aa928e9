"""How proving an identity fails: no proof at all (401), or a proof of someone acting outside its project (403)."""

from __future__ import annotations

from openbcs.kernel import errors


class AuthenticationError(Exception):
    """The request proves no identity. The reason is for logs only; clients get ``BCS.4010401``."""


def forbidden_project(project_id: str) -> errors.BCSError:
    """The 403 for a caller acting outside its own project."""
    return errors.BCSError(errors.FORBIDDEN, f"forbidden to project [{project_id}]")
