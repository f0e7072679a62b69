"""`dockyard proxy …`: proxy caches through the management API.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, chunks, command, emit, parse_size, segment

app = typer.Typer(
    help="Manage proxy caches: projects that pull through from a stored registry "
    "endpoint, and the hosts they mirror for containerd (?ns=).",
    no_args_is_help=True,
)

COLUMNS = [
    "project",
    "endpoint",
    "upstream_prefix:prefix",
    "mirror_hosts:mirrors",
    "tag_ttl_seconds:tag_ttl",
    "size_limit_bytes:limit",
]
Project = Annotated[str, typer.Argument(help="The proxy cache's project.")]
Hosts = Annotated[
    list[str] | None,
    typer.Option("--mirror", help="A host this cache mirrors for containerd (repeatable, a,b)."),
]
Ttl = Annotated[float | None, typer.Option(help="Seconds a tag is trusted before a HEAD.")]
NegTtl = Annotated[float | None, typer.Option(help="Seconds an upstream 404 is remembered.")]
Limit = Annotated[str | None, typer.Option(help="Size limit (e.g. 50GiB; 0: none).")]
Prefix = Annotated[str | None, typer.Option(help="Upstream namespace prefix (e.g. library).")]


def _path(project: str | None = None) -> str:
    return "/proxy/caches" if project is None else f"/proxy/caches/{segment(project)}"


def _body(
    mirror: list[str] | None,
    tag_ttl: float | None,
    negative_ttl: float | None,
    size_limit: str | None,
    prefix: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if mirror is not None:
        body["mirror_hosts"] = list(chunks(mirror))
    if tag_ttl is not None:
        body["tag_ttl_seconds"] = tag_ttl
    if negative_ttl is not None:
        body["negative_ttl_seconds"] = negative_ttl
    if size_limit is not None:
        body["size_limit_bytes"] = parse_size(size_limit) or 0
    if prefix is not None:
        body["upstream_prefix"] = prefix
    return body


@command(app, "list")
def proxy_list(api: Api, as_json: bool) -> None:
    """List the proxy caches."""
    emit(api.call("GET", _path()), COLUMNS, as_json)


@command(app, "show")
def proxy_show(api: Api, as_json: bool, project: Project) -> None:
    """Show a proxy cache and this replica's hit/miss/stale counts."""
    emit(api.call("GET", _path(project)), [*COLUMNS, "stats"], as_json)


@command(app, "create")
def proxy_create(
    api: Api,
    as_json: bool,
    project: Project,
    endpoint: Annotated[str, typer.Option("--endpoint", help="The stored registry endpoint.")],
    mirror: Hosts = None,
    tag_ttl: Ttl = None,
    negative_ttl: NegTtl = None,
    size_limit: Limit = None,
    prefix: Prefix = None,
    public: Annotated[bool, typer.Option("--public", help="A new project is public.")] = False,
) -> None:
    """Make a project (new, or an empty one) a proxy cache of an endpoint."""
    body = {"project": project, "endpoint": endpoint, "public": public}
    body.update(_body(mirror, tag_ttl, negative_ttl, size_limit, prefix))
    emit(api.call("POST", _path(), json=body), COLUMNS, as_json)


@command(app, "update")
def proxy_update(
    api: Api,
    as_json: bool,
    project: Project,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Another endpoint.")] = None,
    mirror: Hosts = None,
    tag_ttl: Ttl = None,
    negative_ttl: NegTtl = None,
    size_limit: Limit = None,
    prefix: Prefix = None,
) -> None:
    """Change a proxy cache (options left out stay as they are)."""
    body = _body(mirror, tag_ttl, negative_ttl, size_limit, prefix)
    if endpoint is not None:
        body["endpoint"] = endpoint
    emit(api.call("PATCH", _path(project), json=body), COLUMNS, as_json)


@command(app, "delete")
def proxy_delete(api: Api, as_json: bool, project: Project) -> None:
    """Stop proxying: the project and what it cached stay, as an ordinary project."""
    api.call("DELETE", _path(project))
    if not as_json:
        typer.echo(f"{project} is no longer a proxy cache")


@command(app, "evict")
def proxy_evict(api: Api, as_json: bool, project: Project) -> None:
    """Evict least-recently-pulled images down to the size limit now."""
    emit(
        api.call("POST", _path(project) + "/evict"),
        ["project", "before_bytes", "after_bytes", "evicted"],
        as_json,
    )
