"""``openbcs docs``: the API reference (``/openapi.json``, ``docs/api.md``) without running a server."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

docs_app = typer.Typer(help="The API reference, as the server serves it.", no_args_is_help=True)


def reference_document() -> dict[str, object]:
    """The OpenAPI document of a server with every optional part on (the admin API included)."""
    from openbcs.app import create_app
    from openbcs.kernel.settings import Settings
    from openbcs.openapi.document import build

    with tempfile.TemporaryDirectory() as scratch:  # the app is built, never started: nothing is written there
        settings = Settings(data_dir=Path(scratch), admin_token="x" * 32, secret_key=None)
        return build(create_app(settings))


@docs_app.command("openapi")
def docs_openapi() -> None:
    """Print the OpenAPI 3.1 document (JSON), as /openapi.json serves it with --admin-token."""
    typer.echo(json.dumps(reference_document(), indent=2, ensure_ascii=False))


@docs_app.command("markdown")
def docs_markdown() -> None:
    """Print the Markdown reference kept as docs/api.md."""
    from openbcs.openapi.markdown import render

    typer.echo(render(reference_document()), nl=False)
