"""`dockyard usage …`: the dedup report through the management API.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, command, emit, human_size, segment

app = typer.Typer(
    help="Storage usage: logical bytes (per image) against physical bytes (each blob "
    "once), for the system and per project.",
    no_args_is_help=True,
)

Fresh = Annotated[bool, typer.Option("--fresh", help="Compute now, not from the cache.")]
SIZES = ("logical_bytes", "physical_bytes", "saved_bytes", "stored_bytes", "unreferenced_bytes")


def _human(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in SIZES:
        if key in out:
            out[key] = human_size(out[key])
    out["ratio"] = f"{row['ratio']:.2f}x"
    return out


@command(app, "system")
def usage_system(api: Api, as_json: bool, fresh: Fresh = False) -> None:
    """The whole registry: what deduplication saves, and what GC has to reclaim."""
    found = api.call("GET", "/usage", params={"fresh": str(fresh).lower()})
    columns = [
        "logical_bytes:logical", "physical_bytes:physical", "saved_bytes:saved", "ratio",
        "stored_bytes:stored", "unreferenced_bytes:unreferenced", "manifests", "blobs",
        "projects",
    ]  # fmt: skip
    emit(found if as_json else _human(found), columns, as_json)


@command(app, "projects")
def usage_projects(
    api: Api,
    as_json: bool,
    sort: Annotated[str, typer.Option(help="physical, logical, saved or name.")] = "physical",
    fresh: Fresh = False,
) -> None:
    """Every project's usage, largest first."""
    rows = api.all("/usage/projects", {"sort": sort, "fresh": str(fresh).lower()})
    columns = [
        "project", "logical_bytes:logical", "physical_bytes:physical", "saved_bytes:saved",
        "ratio", "manifests", "blobs",
    ]  # fmt: skip
    emit(rows if as_json else [_human(r) for r in rows], columns, as_json)


@command(app, "project")
def usage_project(
    api: Api,
    as_json: bool,
    name: Annotated[str, typer.Argument(help="The project.")],
    fresh: Fresh = False,
) -> None:
    """One project's usage."""
    found = api.call(
        "GET", f"/usage/projects/{segment(name)}", params={"fresh": str(fresh).lower()}
    )
    columns = [
        "project", "logical_bytes:logical", "physical_bytes:physical", "saved_bytes:saved",
        "ratio", "manifests", "blobs",
    ]  # fmt: skip
    emit(found if as_json else _human(found), columns, as_json)
