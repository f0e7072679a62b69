"""`dockyard backup create|list|verify|prune` and `dockyard restore`: against the
store the server is configured with (the same --config / --data-dir / DOCKYARD_*
settings as `dockyard serve`), beside a running server. `dockyard backup DEST` is
`dockyard backup create DEST`.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from dockyard.lifecycle.cli_support import ConfigOpt, DataDirOpt, fail, load, open_services

SUBCOMMANDS = ("create", "list", "verify", "prune")


class _DefaultCreate(TyperGroup):
    """`dockyard backup DEST` runs `create DEST`."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["create", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_DefaultCreate,
    help="Back up the registry (metadata snapshot + blobs, incremental) to a folder or "
    "s3://bucket/prefix, list and verify backups, prune old ones.",
    no_args_is_help=True,
)

Dest = Annotated[str, typer.Argument(help="A folder, or s3://bucket/prefix.")]
SnapshotOpt = Annotated[
    str | None, typer.Option("--snapshot", help="A snapshot id (default: the newest).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[str, int, int], None]]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
        disable=not show, transient=True,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None)
            bar.update(tasks[phase], completed=done, total=total or None)

        yield update


def _destination(command: str, settings: Any, where: str) -> Any:
    from dockyard.backup.destination import open_destination
    from dockyard.errors import DockyardError

    try:
        return open_destination(where, settings.section("backup"))
    except (DockyardError, OSError) as exc:
        fail(command, getattr(exc, "message", None) or str(exc))


async def _close(driver: Any) -> None:
    close = getattr(driver, "close", None)
    if close is not None:
        await close()


def _run(command: str, work: Any) -> Any:
    from dockyard.backup.run import BackupError
    from dockyard.storage.base import StorageError
    from dockyard.storage.transfer import BlobMismatch

    try:
        return asyncio.run(work)
    except (BackupError, BlobMismatch, StorageError, OSError, ValueError) as exc:
        fail(command, str(exc))


@app.command("create")
def backup_create(
    dest: Dest,
    keep: Annotated[
        int | None, typer.Option(help="Then keep only the newest N snapshots (prune).")
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a consistent snapshot while the registry keeps serving."""
    settings = load("backup", config, data_dir)

    async def work() -> dict[str, Any]:
        from dockyard.backup.run import create, prune

        destination = _destination("backup", settings, dest)
        try:
            async with open_services("backup", settings) as services:
                with _progress(not as_json) as progress:
                    done = await create(
                        services, destination,
                        concurrency=settings.section("backup").concurrency, progress=progress,
                    )  # fmt: skip
            if keep is not None:
                done["pruned"] = await prune(destination, keep)
            return done
        finally:
            await _close(destination)

    done = _run("backup", work())
    if as_json:
        typer.echo(json.dumps(done, indent=2))
        return
    typer.echo(
        f"snapshot {done['id']}: {sum(t['rows'] for t in done['tables'])} rows in "
        f"{len(done['tables'])} tables, {done['blobs']['count']} blobs; copied "
        f"{done['copied']['count']} new blobs ({done['copied']['bytes']} bytes)"
    )


@app.command("list")
def backup_list(
    dest: Dest, config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False
) -> None:
    """The complete snapshots in a destination, oldest first."""
    settings = load("backup", config, data_dir)

    async def work() -> list[dict[str, Any]]:
        from dockyard.backup.run import snapshots

        destination = _destination("backup", settings, dest)
        try:
            return await snapshots(destination)
        finally:
            await _close(destination)

    found = _run("backup", work())
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    for snap in found:
        typer.echo(
            f"{snap['id']}  {snap['created_at']}  {snap['dialect']}  "
            f"{snap['blobs']['count']} blobs  {snap['blobs']['bytes']} bytes"
        )


@app.command("verify")
def backup_verify(
    dest: Dest,
    snapshot: SnapshotOpt = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Sizes only: do not re-hash every blob.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a snapshot is whole: tables hash as recorded, every blob there and intact."""
    settings = load("backup", config, data_dir)

    async def work() -> tuple[str, list[str]]:
        from dockyard.backup.run import snapshot as find
        from dockyard.backup.verify import verify

        destination = _destination("backup", settings, dest)
        try:
            snap = await find(destination, snapshot)
            with _progress(not as_json) as progress:
                return snap["id"], await verify(destination, snap, quick=quick, progress=progress)
        finally:
            await _close(destination)

    snap_id, problems = _run("backup", work())
    if as_json:
        typer.echo(json.dumps({"snapshot": snap_id, "problems": problems}, indent=2))
    else:
        for problem in problems:
            typer.echo(f"damaged: {problem}")
        typer.echo(
            f"snapshot {snap_id}: " + ("whole" if not problems else f"{len(problems)} problems")
        )
    if problems:
        raise typer.Exit(code=1)


@app.command("prune")
def backup_prune(
    dest: Dest,
    keep: Annotated[int, typer.Option(min=1, help="Snapshots to keep (the newest).")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete older snapshots, and the blobs only they named."""
    settings = load("backup", config, data_dir)

    async def work() -> dict[str, int]:
        from dockyard.backup.run import prune

        destination = _destination("backup", settings, dest)
        try:
            return await prune(destination, keep)
        finally:
            await _close(destination)

    done = _run("backup", work())
    typer.echo(f"deleted {done['snapshots_deleted']} snapshots, {done['blobs_deleted']} blobs")


def restore_command(
    source: Annotated[str, typer.Argument(help="A backup folder, or s3://bucket/prefix.")],
    snapshot: SnapshotOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild this (empty) instance from a backup: its database, then its blobs."""
    settings = load("restore", config, data_dir)

    async def work() -> dict[str, Any]:
        from dockyard.backup.restore import restore
        from dockyard.backup.run import snapshot as find
        from dockyard.capabilities import REGISTERED, migration_branches
        from dockyard.services import build_storage

        origin = _destination("restore", settings, source)
        storage = build_storage(settings)
        try:
            snap = await find(origin, snapshot)
            with _progress(not as_json) as progress:
                return await restore(
                    settings, origin, storage, snap,
                    branches=migration_branches(REGISTERED),
                    concurrency=settings.section("backup").concurrency, progress=progress,
                )  # fmt: skip
        finally:
            await _close(origin)
            await _close(storage)

    done = _run("restore", work())
    if as_json:
        typer.echo(json.dumps(done, indent=2))
        return
    typer.echo(
        f"restored snapshot {done['snapshot']}: {sum(done['rows'].values())} rows, "
        f"{done['blobs']['copied']} blobs copied ({done['blobs']['present']} already there); "
        "run `dockyard fsck` to check"
    )


def add_restore(root: typer.Typer) -> None:
    root.command("restore")(restore_command)
