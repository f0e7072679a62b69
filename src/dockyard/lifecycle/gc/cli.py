"""`dockyard gc [--dry-run] [--grace 0s] [--delete-untagged]`: one pass against the
configured store while the server keeps serving; prints what it freed."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

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
    help="Garbage collection: delete what nothing references (online: the server keeps serving).",
    add_completion=False,
)


@app.callback(invoke_without_command=True)
def gc(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; delete nothing.")
    ] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            help="Keep what was pushed or touched more recently than this (0s, 30m, 24h). "
            "\\[default: the gc.grace_seconds setting, 24h]",
        ),
    ] = None,
    delete_untagged: Annotated[
        bool | None,
        typer.Option(
            "--delete-untagged/--keep-untagged",
            help="Also delete manifests no tag reaches. "
            "\\[default: the gc.delete_untagged setting]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run one garbage-collection pass now."""
    settings = load("gc", config, data_dir)
    payload: dict[str, object] = {"dry_run": dry_run}
    if grace is not None:
        payload["grace_seconds"] = parse_duration(grace)
    if delete_untagged is not None:
        payload["delete_untagged"] = delete_untagged
    report = asyncio.run(_run(settings, payload, show_progress=not as_json))
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"{verb} {report['blobs']} blobs ({report['bytes_freed']} bytes), "
        f"{report['links']} repository links, {report['manifests']} manifests, "
        f"{report['uploads']} stale uploads in {report['seconds']}s"
    )
    for kind, digests in sorted(report["samples"].items()):
        for digest in digests:
            typer.echo(f"  {kind}: {digest}")
    if report["failed_deletes"]:
        typer.echo(f"{report['failed_deletes']} blobs could not be deleted; the next pass retries")


async def _run(settings: object, payload: dict[str, object], *, show_progress: bool) -> dict:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    from dockyard.jobs import PermanentFailure
    from dockyard.lifecycle.gc.service import options_from, run_pass
    from dockyard.storage.base import StorageError

    async with open_services("gc", settings) as services:
        try:
            options = options_from(services, payload)
        except PermanentFailure as exc:
            fail("gc", str(exc))
        console = Console(stderr=True)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not show_progress or not console.is_terminal,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(phase: str, done: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=None)
                bar.update(tasks[phase], completed=done)
                if not console.is_terminal and show_progress and done == 0:
                    console.print(f"gc: {phase} …")

            try:
                report = await run_pass(services, options, "cli", progress=progress)
            except StorageError as exc:
                fail("gc", f"storage: {exc}")
            except OSError as exc:
                fail("gc", str(exc))
        return report.as_dict()
