"""`dockyard fsck [--verify-digests] [--repair]`: check every metadata reference
against storage; exit 1 on damage (2 when the check itself could not run)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

import typer

from dockyard.lifecycle.cli_support import (
    ConfigOpt,
    DataDirOpt,
    fail,
    load,
    open_services,
    parse_duration,
)

app = typer.Typer(
    help="Check metadata against storage (missing blobs, rows without bytes, bytes without rows).",
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def fsck(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    verify_digests: Annotated[
        bool, typer.Option("--verify-digests", help="Re-hash every blob (streamed).")
    ] = False,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed safely.")] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            help="--repair deletes bytes without a row only when older than this. "
            "\\[default: the gc.grace_seconds setting]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the store the server is configured with (it may keep serving)."""
    settings = load("fsck", config, data_dir)
    seconds = parse_duration(grace) if grace is not None else settings.section("gc").grace_seconds
    report = asyncio.run(_run(settings, verify_digests, repair, seconds, not as_json))
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        typer.echo(
            f"checked {report['blobs']} blob rows, {report['storage_keys']} stored blobs"
            + (f", re-hashed {report['verified']}" if verify_digests else "")
        )
        for title, key in (("damage", "damage"), ("garbage", "garbage")):
            for item in report[key]:
                typer.echo(f"{title}: {item['kind']}: {item['digest']}: {item['detail']}")
        for item in report["repaired"]:
            typer.echo(f"repaired: {item['kind']}: {item['digest']}: {item['detail']}")
        for item in report["unrepaired"]:
            typer.echo(f"not repaired: {item['kind']}: {item['digest']}: {item['detail']}")
        typer.echo("clean" if report["clean"] else f"{len(report['damage'])} damaged")
    unfixed_damage = not report["clean"] and (
        not repair
        or any(u["kind"] not in ("orphan-bytes", "claimed") for u in report["unrepaired"])
        or len(report["repaired"]) < len(report["damage"])
    )
    if unfixed_damage:
        raise typer.Exit(code=1)


async def _run(
    settings: Any, verify: bool, repair: bool, grace_seconds: float, show: bool
) -> dict[str, Any]:
    from rich.console import Console

    from dockyard.lifecycle.fsck.checker import Checker
    from dockyard.storage.base import StorageError

    console = Console(stderr=True)

    def progress(phase: str, done: int) -> None:
        if show and console.is_terminal:
            console.print(f"fsck: {phase}: {done}", end="\r")

    async with open_services("fsck", settings) as services:
        try:
            report = await Checker(services.gc, services.storage, progress=progress).run(
                verify_digests=verify, repair=repair, grace=dt.timedelta(seconds=grace_seconds)
            )
        except StorageError as exc:
            fail("fsck", f"storage: {exc}")
    return report.as_dict()
