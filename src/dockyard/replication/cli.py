"""`dockyard replication …`: policies, executions and their items through the
management API.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

import time
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, chunks, command, emit, parse_size, segment

app = typer.Typer(
    help="Replicate between this registry and stored registry endpoints: push and pull "
    "policies, run by hand, on this registry's events or on a cron.",
    no_args_is_help=True,
)

COLUMNS = ["name", "direction", "endpoint", "trigger", "enabled"]
EXECUTION_COLUMNS = [
    "id", "policy", "trigger", "dry_run", "state", "counts", "retries", "error",
]  # fmt: skip
ITEM_COLUMNS = [
    "id", "action", "source_repository:source", "reference", "destination_repository:destination",
    "state", "bytes", "blobs_copied:copied", "blobs_mounted:mounted", "referrers", "error",
]  # fmt: skip
FINISHED = ("succeeded", "failed", "stopped")

Name = Annotated[str, typer.Argument(help="The policy's name.")]
ExecutionId = Annotated[int, typer.Argument(help="The execution's id.")]
Repos = Annotated[
    list[str] | None,
    typer.Option("--repository", help="Repository glob to take (repeatable, a,b)."),
]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="Tag glob to take (repeatable).")]
Excludes = Annotated[
    list[str] | None, typer.Option("--exclude-tag", help="Tag glob never taken (repeatable).")
]
Types = Annotated[
    list[str] | None,
    typer.Option("--type", help="image, index, artifact or an artifactType (repeatable)."),
]
Labels = Annotated[
    list[str] | None, typer.Option("--label", help="KEY=GLOB the artifact must carry (repeatable).")
]
Trigger = Annotated[str | None, typer.Option(help="manual, event (push only) or cron.")]
Cron = Annotated[str | None, typer.Option(help="Five-field cron (UTC), for --trigger cron.")]
Rewrite = Annotated[
    str | None,
    typer.Option(
        help="Destination names: none, prefix:NS, strip:NS, replace:NS[:LEVELS] (-1 flattens)."
    ),
]
Bandwidth = Annotated[
    str | None, typer.Option(help="Blob bandwidth per second (e.g. 20MiB; 0: unlimited).")
]
Deletes = Annotated[
    bool | None,
    typer.Option("--delete/--no-delete", help="Replay this registry's deletes (event trigger)."),
]
Override = Annotated[
    bool | None,
    typer.Option("--override/--no-override", help="Move destination tags pointing elsewhere."),
]
Enabled = Annotated[bool | None, typer.Option("--enable/--disable", help="Switch it on or off.")]


def _rewrite(text: str) -> dict[str, Any]:
    mode, _, rest = text.partition(":")
    if mode == "none":
        return {"mode": "none"}
    if mode not in ("prefix", "strip", "replace") or not rest:
        raise CliError("--rewrite is none, prefix:NS, strip:NS or replace:NS[:LEVELS]")
    namespace, _, levels = rest.partition(":")
    out: dict[str, Any] = {"mode": mode, "namespace": namespace}
    if levels:
        try:
            out["levels"] = int(levels)
        except ValueError:
            raise CliError(f"--rewrite levels must be a number, not {levels!r}") from None
    return out


def _trigger(kind: str | None, cron: str | None, deletes: bool | None) -> dict[str, Any] | None:
    if kind is None:
        kind = "cron" if cron else "event" if deletes is not None else None
    if kind is None:
        return None
    if kind == "cron":
        if not cron:
            raise CliError("--trigger cron needs --cron 'MIN HOUR DOM MON DOW'")
        return {"kind": "cron", "cron": cron}
    if cron:
        raise CliError("--cron is for --trigger cron")
    if kind == "event":
        return {"kind": "event", "delete_propagation": bool(deletes)}
    if kind == "manual":
        if deletes:
            raise CliError("--delete needs --trigger event")
        return {"kind": "manual"}
    raise CliError(f"--trigger is manual, event or cron, not {kind!r}")


def _filters(
    repository: list[str] | None,
    tag: list[str] | None,
    exclude_tag: list[str] | None,
    types: list[str] | None,
    label: list[str] | None,
) -> dict[str, Any] | None:
    if all(v is None for v in (repository, tag, exclude_tag, types, label)):
        return None
    labels: dict[str, str] = {}
    for pair in label or []:
        key, sep, glob = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--label takes KEY=GLOB, not {pair!r}")
        labels[key] = glob
    return {
        "repositories": list(chunks(repository)),
        "tags": list(chunks(tag)),
        "exclude_tags": list(chunks(exclude_tag)),
        "artifact_types": list(chunks(types)),
        "labels": labels,
    }


def _body(**given: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    filters = _filters(
        given.pop("repository"), given.pop("tag"), given.pop("exclude_tag"),
        given.pop("types"), given.pop("label"),
    )  # fmt: skip
    if filters is not None:
        body["filters"] = filters
    rewrite = given.pop("rewrite")
    if rewrite is not None:
        body["rewrite"] = _rewrite(rewrite)
    bandwidth = given.pop("bandwidth")
    if bandwidth is not None:
        body["bandwidth_bytes"] = parse_size(bandwidth) or 0
    trigger = _trigger(given.pop("trigger"), given.pop("cron"), given.pop("delete_propagation"))
    if trigger is not None:
        body["trigger"] = trigger
    body.update({k: v for k, v in given.items() if v is not None})
    return body


def _policy(name: str | None = None) -> str:
    return "/replication/policies" if name is None else f"/replication/policies/{segment(name)}"


@command(app, "list")
def replication_list(api: Api, as_json: bool) -> None:
    """List the replication policies."""
    emit(api.all(_policy()), COLUMNS, as_json)


@command(app, "show")
def replication_show(api: Api, as_json: bool, name: Name) -> None:
    """Show a policy with its filters and rewrite."""
    emit(
        api.call("GET", _policy(name)),
        [*COLUMNS, "filters", "rewrite", "override", "bandwidth_bytes"],
        as_json,
    )


@command(app, "create")
def replication_create(
    api: Api,
    as_json: bool,
    name: Name,
    direction: Annotated[str, typer.Option(help="push (to the endpoint) or pull (from it).")],
    endpoint: Annotated[str, typer.Option(help="The stored registry endpoint.")],
    repository: Repos = None,
    tag: Tags = None,
    exclude_tag: Excludes = None,
    types: Types = None,
    label: Labels = None,
    trigger: Trigger = None,
    cron: Cron = None,
    rewrite: Rewrite = None,
    bandwidth: Bandwidth = None,
    delete_propagation: Deletes = None,
    override: Override = None,
    enabled: Enabled = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
) -> None:
    """Add a replication policy."""
    body = {"name": name, "direction": direction, "endpoint": endpoint}
    body |= _body(
        repository=repository, tag=tag, exclude_tag=exclude_tag, types=types, label=label,
        trigger=trigger, cron=cron, rewrite=rewrite, bandwidth=bandwidth,
        delete_propagation=delete_propagation, override=override, enabled=enabled,
        description=description,
    )  # fmt: skip
    emit(api.call("POST", _policy(), json=body), COLUMNS, as_json)


@command(app, "update")
def replication_update(
    api: Api,
    as_json: bool,
    name: Name,
    direction: Annotated[str | None, typer.Option(help="push or pull.")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Another endpoint.")] = None,
    repository: Repos = None,
    tag: Tags = None,
    exclude_tag: Excludes = None,
    types: Types = None,
    label: Labels = None,
    trigger: Trigger = None,
    cron: Cron = None,
    rewrite: Rewrite = None,
    bandwidth: Bandwidth = None,
    delete_propagation: Deletes = None,
    override: Override = None,
    enabled: Enabled = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
) -> None:
    """Change a policy (options left out stay; any filter option replaces all filters)."""
    body = _body(
        direction=direction, endpoint=endpoint,
        repository=repository, tag=tag, exclude_tag=exclude_tag, types=types, label=label,
        trigger=trigger, cron=cron, rewrite=rewrite, bandwidth=bandwidth,
        delete_propagation=delete_propagation, override=override, enabled=enabled,
        description=description,
    )  # fmt: skip
    emit(api.call("PATCH", _policy(name), json=body), COLUMNS, as_json)


@command(app, "delete")
def replication_delete(api: Api, as_json: bool, name: Name) -> None:
    """Remove a policy and its executions."""
    api.call("DELETE", _policy(name))
    if not as_json:
        typer.echo(f"replication policy {name} removed")


def _follow(api: Api, execution: dict[str, Any], timeout: float, as_json: bool) -> Any:
    """Poll the execution until it finishes, with a progress bar of its items."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    path = f"/replication/executions/{execution['id']}"
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        disable=as_json, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"execution {execution['id']}", total=None)
        while execution["state"] not in FINISHED:
            if time.monotonic() > deadline:
                raise CliError(
                    f"execution {execution['id']} still {execution['state']} after "
                    f"{timeout:.0f}s (it goes on: `dockyard replication execution "
                    f"{execution['id']}`)"
                )
            counts = execution["counts"]
            total = sum(counts.values())
            done = total - counts.get("pending", 0) - counts.get("running", 0)
            progress.update(
                task,
                total=total or None,
                completed=done,
                description=f"execution {execution['id']}: {execution['state']}",
            )
            time.sleep(1.0)  # polling an execution a worker runs
            execution = api.call("GET", path)
    return execution


@command(app, "run")
def replication_run(
    api: Api,
    as_json: bool,
    name: Name,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be copied.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it to the end.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 3600.0,
) -> None:
    """Start an execution of a policy now."""
    execution = api.call("POST", _policy(name) + "/run", json={"dry_run": dry_run})
    if wait:
        execution = _follow(api, execution, timeout, as_json)
    emit(execution, EXECUTION_COLUMNS, as_json)
    if wait and execution["state"] != "succeeded":
        raise typer.Exit(1)


@command(app, "executions")
def replication_executions(
    api: Api,
    as_json: bool,
    policy: Annotated[str | None, typer.Option(help="Only this policy's.")] = None,
    state: Annotated[str | None, typer.Option(help="Only in this state.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List executions, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if policy:
        params["policy"] = policy
    if state:
        params["state"] = state
    emit(api.call("GET", "/replication/executions", params=params), EXECUTION_COLUMNS, as_json)


@command(app, "execution")
def replication_execution(
    api: Api,
    as_json: bool,
    execution_id: ExecutionId,
    state: Annotated[str | None, typer.Option(help="Only items in this state.")] = None,
) -> None:
    """Show an execution and its items (what was copied, skipped, failed and why)."""
    path = f"/replication/executions/{execution_id}"
    execution = api.call("GET", path)
    items: list[Any] = []
    after = 0
    while True:
        params: dict[str, Any] = {"limit": 1000, "after": after}
        if state:
            params["state"] = state
        page = api.call("GET", path + "/items", params=params)
        items.extend(page)
        if len(page) < 1000:
            break
        after = page[-1]["id"]
    if as_json:
        emit({**execution, "items": items}, [], True)
        return
    emit(execution, [*EXECUTION_COLUMNS, "bytes", "started_at", "finished_at"], False)
    emit(items, ITEM_COLUMNS, False)


@command(app, "stop")
def replication_stop(api: Api, as_json: bool, execution_id: ExecutionId) -> None:
    """Stop an execution (a running one stops after its current item)."""
    emit(
        api.call("POST", f"/replication/executions/{execution_id}/stop"),
        EXECUTION_COLUMNS,
        as_json,
    )


@command(app, "retry")
def replication_retry(api: Api, as_json: bool, execution_id: ExecutionId) -> None:
    """Run a failed or stopped execution's failed and cancelled items again."""
    emit(
        api.call("POST", f"/replication/executions/{execution_id}/retry"),
        EXECUTION_COLUMNS,
        as_json,
    )
