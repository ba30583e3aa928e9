"""``openbcs channel``: re-check and fetch channels' Fabric configuration blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbcs.cli.common import AsJson, DatabaseUrl, DataDir, emit, make_settings, open_database, read_or_fail
from openbcs.network.config_history import history_of, verify_all

channel_app = typer.Typer(help="Channels.", no_args_is_help=True)


@channel_app.command("verify")
def channel_verify(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """Re-check every channel's Fabric config blocks as an orderer would (hashes, each update applied, signatures,
    policies); exit 1 naming the first broken block of each broken channel."""
    with open_database(make_settings(data_dir=data_dir, database_url=database_url)) as db:
        report = db.run_read(verify_all)
        lines = [
            f"{'ok' if not problems else 'BROKEN'}\t{label}" + "".join(f"\n  {p}" for p in problems)
            for label, problems in report.items()
        ]
        emit({"channels": report, "verified": not any(report.values())}, as_json, "\n".join(lines) or "no channels")
        if any(report.values()):
            raise typer.Exit(code=1)


@channel_app.command("fetch")
def channel_fetch(
    blockchain_id: str,
    channel: str,
    output: Annotated[Path, typer.Option("--output", help="Directory for <n>.block and <n>.update.envelope files.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    as_json: AsJson = False,
) -> None:
    """Write a channel's config blocks (serialized common.Block) and the CONFIG_UPDATE envelopes that produced them,
    as Fabric's tools read them (configtxlator proto_decode --type common.Block; osnadmin channel join)."""
    settings = make_settings(data_dir=data_dir, database_url=database_url)
    blocks = read_or_fail(settings, history_of, blockchain_id=blockchain_id, name=channel)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for number, block, update in blocks:
        (output / f"{number}.block").write_bytes(block)
        written.append(f"{number}.block")
        if update is not None:
            (output / f"{number}.update.envelope").write_bytes(update)
            written.append(f"{number}.update.envelope")
    emit({"directory": str(output), "files": written}, as_json, "\n".join(str(output / f) for f in written))
