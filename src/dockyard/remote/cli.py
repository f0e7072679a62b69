"""`dockyard registry …`: the stored remote registry endpoints, through the management
API (system administrators).

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, command, emit, segment

app = typer.Typer(
    help="Manage remote registry endpoints (URL, credentials, TLS) that replication and "
    "the proxy cache use.",
    no_args_is_help=True,
)

COLUMNS = ["name", "kind", "url", "username", "has_secret:secret", "insecure", "description"]
HEALTH_COLUMNS = ["reachable", "status", "latency_ms", "message"]

Name = Annotated[str, typer.Argument(help="The endpoint's name.")]
Kind = Annotated[
    str | None,
    typer.Option(help="distribution, dockyard, harbor, dockerhub, quay, ghcr or zot."),
]
Username = Annotated[
    str | None,
    typer.Option(
        "--remote-username",
        help="The user to log in to the remote as (--username is Dockyard's own login).",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the endpoint's password or token from stdin (stored encrypted).",
    ),
]
Insecure = Annotated[
    bool | None,
    typer.Option("--insecure/--verify-tls", help="Skip (or do) TLS certificate verification."),
]
CaFile = Annotated[
    Path | None,
    typer.Option("--ca-file", help="A PEM file of certificates to trust for this endpoint."),
]
Description = Annotated[str | None, typer.Option(help="A note on the endpoint.")]


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Endpoint password", hide_input=True))
    value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise CliError("--password-stdin: nothing on stdin")
    return value


def _read_ca(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc.__class__.__name__}") from None


def _path(name: str | None = None) -> str:
    return "/registries" if name is None else f"/registries/{segment(name)}"


@command(app, "add")
def registry_add(
    api: Api,
    as_json: bool,
    name: Name,
    url: Annotated[str, typer.Argument(help="scheme://host[:port] of the registry.")],
    kind: Kind = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    insecure: Insecure = None,
    ca_file: CaFile = None,
    description: Description = None,
) -> None:
    """Add an endpoint."""
    body: dict[str, Any] = {"name": name, "url": url}
    if kind is not None:
        body["kind"] = kind
    if username is not None:
        body["username"] = username
    if password_stdin:
        body["password"] = _read_password()
    if insecure is not None:
        body["insecure"] = insecure
    if ca_file is not None:
        body["ca_certificate"] = _read_ca(ca_file)
    if description is not None:
        body["description"] = description
    emit(api.call("POST", _path(), json=body), COLUMNS, as_json)


@command(app, "list")
def registry_list(api: Api, as_json: bool) -> None:
    """List the endpoints."""
    emit(api.all(_path()), COLUMNS, as_json)


@command(app, "show")
def registry_show(api: Api, as_json: bool, name: Name) -> None:
    """Show an endpoint (its secret is never shown: `has_secret` says whether one is set)."""
    emit(api.call("GET", _path(name)), [*COLUMNS, "created_at", "updated_at"], as_json)


@command(app, "update")
def registry_update(
    api: Api,
    as_json: bool,
    name: Name,
    url: Annotated[str | None, typer.Option(help="A new scheme://host[:port].")] = None,
    kind: Kind = None,
    username: Username = None,
    password_stdin: PasswordStdin = False,
    clear_credentials: Annotated[
        bool, typer.Option("--clear-credentials", help="Remove the username and password.")
    ] = False,
    insecure: Insecure = None,
    ca_file: CaFile = None,
    clear_ca: Annotated[bool, typer.Option("--clear-ca", help="Remove the CA bundle.")] = False,
    description: Description = None,
) -> None:
    """Change an endpoint; options left out stay as they are."""
    body: dict[str, Any] = {}
    for key, value in (("url", url), ("kind", kind), ("username", username)):
        if value is not None:
            body[key] = value
    if insecure is not None:
        body["insecure"] = insecure
    if description is not None:
        body["description"] = description
    if clear_credentials:
        if username is not None or password_stdin:
            raise CliError("--clear-credentials with --remote-username or --password-stdin")
        body["username"] = body["password"] = None
    if password_stdin:
        body["password"] = _read_password()
    if clear_ca and ca_file is not None:
        raise CliError("--clear-ca with --ca-file")
    if clear_ca:
        body["ca_certificate"] = None
    if ca_file is not None:
        body["ca_certificate"] = _read_ca(ca_file)
    if not body:
        raise CliError("nothing to change: give an option (see --help)")
    emit(api.call("PATCH", _path(name), json=body), COLUMNS, as_json)


@command(app, "remove")
def registry_remove(api: Api, as_json: bool, name: Name) -> None:
    """Remove an endpoint."""
    api.call("DELETE", _path(name))
    if as_json:
        emit({"removed": name}, [], True)
    else:
        typer.echo(f"removed {name}")


@command(app, "ping")
def registry_ping(api: Api, as_json: bool, name: Name) -> None:
    """Check the endpoint answers GET /v2/ with its credentials (exit 1 when not)."""
    health = api.call("POST", f"{_path(name)}/ping")
    emit(health, HEALTH_COLUMNS, as_json)
    if not (health["reachable"] and health["status"] == 200):
        raise typer.Exit(1)


@command(app, "rekey")
def registry_rekey(api: Api, as_json: bool) -> None:
    """Re-encrypt every stored secret with the first key of registries.secret_key."""
    emit(api.call("POST", f"{_path()}/-/rekey"), ["reencrypted"], as_json)
