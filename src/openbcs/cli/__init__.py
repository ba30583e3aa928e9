"""The ``openbcs`` command. One module per command group — :mod:`.serve`, :mod:`.accounts` (account, key, user,
quota), :mod:`.channels`, :mod:`.governance` (signature-request, org), :mod:`.database` (db, reset, apply, state,
errors), :mod:`.backup` (backup, restore), :mod:`.docs` — sharing the options and helpers of :mod:`.common`. A
new command goes into the module of its group, or a new module registered here (:class:`_Openbcs`); the modules are
imported only when their commands run (:mod:`.group`), so a module's imports cost only its own commands."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from openbcs import __version__
from openbcs.cli.group import Commands


class _Openbcs(Commands):
    """The commands, in the order ``--help`` lists them: name -> ``module:attribute`` (a command function or a
    ``typer.Typer`` group). A module is imported only when one of its commands runs or ``--help`` lists it."""

    lazy = {
        "serve": "openbcs.cli.serve:serve",
        "reset": "openbcs.cli.database:reset",
        "apply": "openbcs.cli.database:apply",
        "errors": "openbcs.cli.database:errors_table",
        "backup": "openbcs.cli.backup:backup",
        "restore": "openbcs.cli.backup:restore",
        "db": "openbcs.cli.database:db_app",
        "account": "openbcs.cli.accounts:account_app",
        "key": "openbcs.cli.accounts:key_app",
        "user": "openbcs.cli.accounts:user_app",
        "quota": "openbcs.cli.accounts:quota_app",
        "channel": "openbcs.cli.channels:channel_app",
        "signature-request": "openbcs.cli.governance:signature_request_app",
        "org": "openbcs.cli.governance:org_app",
        "state": "openbcs.cli.database:state_app",
        "docs": "openbcs.cli.docs:docs_app",
        "config": "openbcs.cli.config:config_app",
    }
    own_start_up = frozenset({"serve"})


app = typer.Typer(
    cls=_Openbcs, help="OpenBCS: a self-hosted BCS v2 management API.", no_args_is_help=True, add_completion=False
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"openbcs {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """OpenBCS: a self-hosted BCS v2 management API."""


def main() -> None:
    """Console-script entry point. The collector is off until the command has what it needs built
    (:func:`openbcs.cli.group.start_up_done`)."""
    gc.disable()
    app()
