"""The ``openbcs`` command. One module per command group — :mod:`.serve`, :mod:`.accounts` (account, key, user,
quota), :mod:`.channels`, :mod:`.database` (db, reset, apply, state, errors), :mod:`.backup` (backup, restore),
:mod:`.docs` — sharing the options and helpers of :mod:`.common`. A new command goes into the module of its group,
or a new module registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from openbcs import __version__
from openbcs.cli import accounts, backup, channels, database
from openbcs.cli.config import Commands, config_app
from openbcs.cli.docs import docs_app
from openbcs.cli.serve import serve

app = typer.Typer(
    cls=Commands, help="OpenBCS: a self-hosted BCS v2 management API.", no_args_is_help=True, add_completion=False
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


app.command()(serve)
app.add_typer(database.db_app, name="db")
app.add_typer(accounts.account_app, name="account")
app.add_typer(accounts.key_app, name="key")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.quota_app, name="quota")
app.add_typer(channels.channel_app, name="channel")
app.command("reset")(database.reset)
app.command("apply")(database.apply)
app.add_typer(database.state_app, name="state")
app.command("errors")(database.errors_table)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.add_typer(docs_app, name="docs")
app.add_typer(config_app, name="config")


def main() -> None:
    """Console-script entry point."""
    app()
