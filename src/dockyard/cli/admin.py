"""`dockyard user|project|robot|member …`: administration through the management API
of a running server (--url, default $DOCKYARD_URL), as a user (--username and
--password, or $DOCKYARD_USERNAME and $DOCKYARD_PASSWORD) or with a bearer token
(--token, $DOCKYARD_TOKEN). Output is a table, or JSON with --json."""

import sys
from typing import Annotated

import typer

from dockyard.cli.access import member_app, robot_app
from dockyard.cli.client import Api, CliError, command, emit, human_size, parse_size, segment

__all__ = ["member_app", "project_app", "robot_app", "user_app"]

user_app = typer.Typer(
    help="Manage users (administrators) and your own account.", no_args_is_help=True
)
project_app = typer.Typer(
    help="Manage projects, their visibility and quotas.", no_args_is_help=True
)

USER_COLUMNS = ["username", "email", "source", "is_admin:admin", "disabled", "last_login_at"]

Project = Annotated[str, typer.Argument(help="The project name.")]
# Optional on the command line, asked for (twice, hidden) on a terminal: a click
# `prompt=True` option is listed as required, and prompts even where no one can answer.
NewPassword = Annotated[
    str | None,
    typer.Option(
        "--new-password", help="The new password (asked for on a terminal when not given)."
    ),
]


def _new_password(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        raise CliError("no new password: give --new-password")
    return str(typer.prompt("New password", hide_input=True, confirmation_prompt=True))


# -- users ----------------------------------------------------------------------


@command(user_app, "list")
def user_list(
    api: Api, as_json: bool, query: Annotated[str | None, typer.Option("--query", "-q")] = None
) -> None:
    """List users."""
    emit(api.all("/users", {"q": query} if query else None), USER_COLUMNS, as_json)


@command(user_app, "get")
def user_get(api: Api, as_json: bool, username: str) -> None:
    """Show a user."""
    emit(api.call("GET", f"/users/{segment(username)}"), USER_COLUMNS, as_json)


@command(user_app, "current")
def user_current(api: Api, as_json: bool) -> None:
    """Who you are, and your memberships."""
    me = api.call("GET", "/users/current")
    emit(me, ["username", "kind", "is_admin:admin", "groups", "source"], as_json)
    if not as_json and me.get("memberships"):
        emit(me["memberships"], ["project", "role", "repositories", "via"], as_json)


@command(user_app, "create")
def user_create(
    api: Api,
    as_json: bool,
    username: str,
    new_password: NewPassword = None,
    email: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool, typer.Option("--admin", help="A system administrator.")] = False,
) -> None:
    """Create a local user."""
    body = {
        "username": username,
        "password": _new_password(new_password),
        "email": email,
        "is_admin": admin,
    }
    emit(api.call("POST", "/users", json=body), USER_COLUMNS, as_json)


@command(user_app, "passwd")
def user_passwd(
    api: Api,
    as_json: bool,
    username: str,
    new_password: NewPassword = None,
    current_password: Annotated[
        str | None, typer.Option(help="Needed to change your own password.")
    ] = None,
) -> None:
    """Change a password (your own needs --current-password)."""
    body = {"password": _new_password(new_password)}
    if current_password is not None:
        body["current_password"] = current_password
    user = api.call("PATCH", f"/users/{segment(username)}", json=body)
    emit(user, USER_COLUMNS, as_json)


@command(user_app, "set")
def user_set(
    api: Api,
    as_json: bool,
    username: str,
    email: Annotated[str | None, typer.Option()] = None,
    admin: Annotated[bool | None, typer.Option("--admin/--no-admin")] = None,
    disabled: Annotated[bool | None, typer.Option("--disable/--enable")] = None,
) -> None:
    """Change a user's email, administrator rights, or disable them."""
    body = {
        k: v
        for k, v in (("email", email), ("is_admin", admin), ("disabled", disabled))
        if v is not None
    }
    emit(api.call("PATCH", f"/users/{segment(username)}", json=body), USER_COLUMNS, as_json)


@command(user_app, "delete")
def user_delete(api: Api, as_json: bool, username: str) -> None:
    """Delete a user."""
    api.call("DELETE", f"/users/{segment(username)}")
    typer.echo(f"deleted user {username}", err=True)


# -- projects -------------------------------------------------------------------

PROJECT_COLUMNS = ["name", "public", "quota", "used"]


def _project_rows(data: list[dict[str, object]] | dict[str, object], as_json: bool) -> None:
    rows = data if isinstance(data, list) else [data]
    if not as_json:
        for row in rows:
            row["quota"] = human_size(row.get("quota_bytes"))  # type: ignore[arg-type]
            row["used"] = human_size(row.get("used_bytes"))  # type: ignore[arg-type]
    emit(data, PROJECT_COLUMNS, as_json)


@command(project_app, "list")
def project_list(
    api: Api,
    as_json: bool,
    query: Annotated[str | None, typer.Option("--query", "-q")] = None,
    public: Annotated[
        bool | None, typer.Option("--public/--private", help="Only public or private ones.")
    ] = None,
) -> None:
    """List the projects you can see."""
    params: dict[str, object] = {"q": query} if query else {}
    if public is not None:
        params["public"] = str(public).lower()
    _project_rows(api.all("/projects", params), as_json)


@command(project_app, "get")
def project_get(api: Api, as_json: bool, name: Project) -> None:
    """Show a project with its quota and usage."""
    _project_rows(api.call("GET", f"/projects/{segment(name)}"), as_json)


@command(project_app, "create")
def project_create(
    api: Api,
    as_json: bool,
    name: Project,
    public: Annotated[bool, typer.Option("--public", help="Anyone may pull.")] = False,
    quota: Annotated[str | None, typer.Option(help="e.g. 10GiB (administrators only).")] = None,
) -> None:
    """Create a project; you become its project_admin."""
    body = {"name": name, "public": public, "quota_bytes": parse_size(quota) if quota else None}
    _project_rows(api.call("POST", "/projects", json=body), as_json)


@command(project_app, "update")
def project_update(
    api: Api,
    as_json: bool,
    name: Project,
    public: Annotated[bool | None, typer.Option("--public/--private")] = None,
    quota: Annotated[str | None, typer.Option(help="e.g. 10GiB, or none (administrators).")] = None,
) -> None:
    """Make a project public or private, or change its quota."""
    body: dict[str, object] = {} if public is None else {"public": public}
    if quota is not None:
        body["quota_bytes"] = parse_size(quota)
    _project_rows(api.call("PATCH", f"/projects/{segment(name)}", json=body), as_json)


@command(project_app, "delete")
def project_delete(api: Api, as_json: bool, name: Project) -> None:
    """Delete an empty project."""
    api.call("DELETE", f"/projects/{segment(name)}")
    typer.echo(f"deleted project {name}", err=True)
