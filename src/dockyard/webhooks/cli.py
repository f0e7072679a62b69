"""`dockyard webhooks …`: a project's webhooks through the management API.

(No `from __future__ import annotations`: typer reads the options from the
annotations at run time.)"""

from typing import Annotated, Any

import typer

from dockyard.cli.client import Api, CliError, chunks, command, emit, segment

app = typer.Typer(
    help="Manage a project's webhooks: which events are posted where, the delivery log, "
    "test events.",
    no_args_is_help=True,
)

COLUMNS = ["id", "name", "enabled", "format", "event_kinds:events", "url", "auth_header_set:auth"]
DELIVERY_COLUMNS = [
    "id",
    "event_id:event",
    "kind",
    "repository",
    "tag",
    "state",
    "attempts",
    "status_code:status",
    "last_error",
    "updated_at",
]

Project = Annotated[str, typer.Argument(help="The project name.")]
PolicyId = Annotated[int, typer.Argument(help="The webhook's id (see `dockyard webhooks list`).")]
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        help="An event kind: artifact.pushed, artifact.pulled, artifact.deleted, tag.deleted, "
        "repository.deleted, quota.exceeded, scan.completed (repeatable, or a,b).",
    ),
]
Format = Annotated[str | None, typer.Option(help="harbor (Harbor's JSON) or cloudevents.")]
AuthHeader = Annotated[
    str | None,
    typer.Option(
        envvar="DOCKYARD_WEBHOOK_AUTH_HEADER",
        help="Sent as the Authorization header (stored encrypted, never shown).",
    ),
]
Secret = Annotated[
    str | None,
    typer.Option(
        envvar="DOCKYARD_WEBHOOK_SECRET",
        help="The HMAC-SHA256 signing key (at least 16 characters); generated when left out.",
    ),
]


def _path(project: str, policy_id: int | None = None) -> str:
    base = f"/projects/{segment(project)}/webhooks"
    return base if policy_id is None else f"{base}/{policy_id}"


@command(app, "list")
def webhooks_list(api: Api, as_json: bool, project: Project) -> None:
    """List a project's webhooks."""
    emit(api.all(_path(project)), COLUMNS, as_json)


@command(app, "get")
def webhooks_get(api: Api, as_json: bool, project: Project, policy: PolicyId) -> None:
    """Show a webhook."""
    emit(api.call("GET", _path(project, policy)), COLUMNS, as_json)


@command(app, "create")
def webhooks_create(
    api: Api,
    as_json: bool,
    project: Project,
    name: Annotated[str, typer.Argument(help="A name for the webhook.")],
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="The http:// or https:// URL events are posted to.")
    ],
    event: Events = None,
    format: Format = None,
    description: Annotated[str, typer.Option()] = "",
    auth_header: AuthHeader = None,
    secret: Secret = None,
    skip_tls_verify: Annotated[
        bool, typer.Option("--skip-tls-verify", help="Accept any certificate.")
    ] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it paused.")] = False,
) -> None:
    """Create a webhook; its signing secret is shown once."""
    kinds = list(chunks(event))
    if not kinds:
        raise CliError("give at least one --event (e.g. --event artifact.pushed)")
    body: dict[str, Any] = {
        "name": name,
        "url": endpoint,
        "event_kinds": kinds,
        "description": description,
        "enabled": not disabled,
        "skip_tls_verify": skip_tls_verify,
    }
    for key, value in (("format", format), ("auth_header", auth_header), ("secret", secret)):
        if value is not None:
            body[key] = value
    created = api.call("POST", _path(project), json=body)
    if as_json:
        emit(created, [], True)
        return
    emit(created, COLUMNS, False)
    typer.echo(f"signing secret: {created['secret']}")
    typer.echo("the secret is shown this once: store it with the receiver now", err=True)


@command(app, "update")
def webhooks_update(
    api: Api,
    as_json: bool,
    project: Project,
    policy: PolicyId,
    name: Annotated[str | None, typer.Option()] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="A new URL.")] = None,
    event: Events = None,
    format: Format = None,
    description: Annotated[str | None, typer.Option()] = None,
    auth_header: AuthHeader = None,
    no_auth_header: Annotated[
        bool, typer.Option("--no-auth-header", help="Stop sending an Authorization header.")
    ] = False,
    secret: Secret = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Resume or pause it.")
    ] = None,
    skip_tls_verify: Annotated[bool | None, typer.Option("--skip-tls-verify/--verify-tls")] = None,
) -> None:
    """Change a webhook (options left out stay as they are)."""
    body: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("url", endpoint),
        ("format", format),
        ("description", description),
        ("auth_header", auth_header),
        ("secret", secret),
        ("enabled", enable),
        ("skip_tls_verify", skip_tls_verify),
    ):
        if value is not None:
            body[key] = value
    if event:
        body["event_kinds"] = list(chunks(event))
    if no_auth_header:
        body["auth_header"] = None
    if not body:
        raise CliError("nothing to change: give at least one option (see --help)")
    emit(api.call("PATCH", _path(project, policy), json=body), COLUMNS, as_json)


@command(app, "delete")
def webhooks_delete(api: Api, as_json: bool, project: Project, policy: PolicyId) -> None:
    """Delete a webhook and its delivery log."""
    api.call("DELETE", _path(project, policy))
    typer.echo(f"deleted webhook {policy} of {project}", err=True)


@command(app, "deliveries")
def webhooks_deliveries(
    api: Api,
    as_json: bool,
    project: Project,
    policy: PolicyId,
    limit: Annotated[int, typer.Option(min=1, max=100, help="The newest this many.")] = 20,
) -> None:
    """The delivery log, newest first: state, attempts, the receiver's last answer."""
    rows = api.call("GET", f"{_path(project, policy)}/deliveries", params={"page_size": limit})
    emit(rows, DELIVERY_COLUMNS, as_json)


@command(app, "test")
def webhooks_test(api: Api, as_json: bool, project: Project, policy: PolicyId) -> None:
    """Post a test event now and say what the receiver answered."""
    result = api.call("POST", f"{_path(project, policy)}/test")
    if as_json:
        emit(result, [], True)
        return
    if result["delivered"]:
        typer.echo(f"delivered: HTTP {result['status_code']} in {result['seconds']:.3f}s")
        return
    typer.echo(f"dockyard: not delivered: {result['error']}", err=True)
    raise typer.Exit(1)
