"""The ``openbcs`` command. One module per command group — :mod:`.serve`, :mod:`.accounts` (account, key, user,
quota), :mod:`.channels`, :mod:`.database` (db, reset, apply, state, errors), :mod:`.docs` — sharing the options and
helpers of :mod:`.common`. A new command goes into the module of its group, or a new module registered here."""

from __future__ import annotations

from typing import Annotated

import typer

from openbcs import __version__
from openbcs.cli import accounts, channels, database
from openbcs.cli.docs import docs_app
from openbcs.cli.serve import serve

app = typer.Typer(help="OpenBCS: a self-hosted BCS v2 management API.", no_args_is_help=True, add_completion=False)


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
app.add_typer(docs_app, name="docs")


def main() -> None:
    """Console-script entry point."""
    app()
