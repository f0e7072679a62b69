"""`dockyard robot …` and `dockyard member …` (see dockyard.cli.admin)."""

from typing import Annotated

import typer

from dockyard.cli.client import Api, CliError, chunks, command, emit, segment

robot_app = typer.Typer(help="Manage robot accounts (system or per project).", no_args_is_help=True)
member_app = typer.Typer(help="Manage who may do what in a project.", no_args_is_help=True)

ROBOT_COLUMNS = ["name", "description", "permissions", "expires_at", "expired", "disabled"]
MEMBER_COLUMNS = ["id", "kind", "name", "role", "repositories"]

Project = Annotated[str, typer.Argument(help="The project name.")]
RobotProject = Annotated[
    str | None, typer.Option("--project", help="A project robot's project (none: system robot).")
]
Role = Annotated[
    str, typer.Option(help="project_admin, maintainer, developer, guest or limited_guest.")
]
Repositories = Annotated[
    list[str] | None,
    typer.Option("--repositories", help="Limit to these repository globs (repeatable, or a,b)."),
]


# -- robots ---------------------------------------------------------------------


def _robots(project: str | None) -> str:
    return "/robots" if project is None else f"/projects/{segment(project)}/robots"


def _grant(text: str) -> dict[str, object]:
    """`project:repo-glob,repo-glob:action,action`, or `project:action,action` (all
    repositories)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise CliError(f"not a permission: {text!r} (try 'team-a:team-a/*:pull,push')")
    repos = list(chunks([parts[1]])) if len(parts) == 3 else []
    return {"project": parts[0], "repositories": repos, "actions": list(chunks([parts[-1]]))}


def _show_secret(robot: dict[str, object], as_json: bool) -> None:
    if as_json:
        emit(robot, [], True)
        return
    emit(robot, ROBOT_COLUMNS, False)
    typer.echo(f"name:   {robot['name']}\nsecret: {robot['secret']}")
    typer.echo("the secret is shown this once: store it now", err=True)


@command(robot_app, "list")
def robot_list(api: Api, as_json: bool, project: RobotProject = None) -> None:
    """List system robots, or a project's."""
    emit(api.all(_robots(project)), ROBOT_COLUMNS, as_json)


@command(robot_app, "get")
def robot_get(api: Api, as_json: bool, name: str, project: RobotProject = None) -> None:
    """Show a robot."""
    emit(api.call("GET", f"{_robots(project)}/{segment(name)}"), ROBOT_COLUMNS, as_json)


@command(robot_app, "create")
def robot_create(
    api: Api,
    as_json: bool,
    name: Annotated[
        str, typer.Argument(help="Short name: robot$<name> or robot$<project>+<name>.")
    ],
    permission: Annotated[
        list[str],
        typer.Option(
            "--permission",
            help="project:repo-globs:actions, e.g. 'team-a:team-a/*:pull,push' (repeatable).",
        ),
    ],
    project: RobotProject = None,
    description: Annotated[str, typer.Option()] = "",
    expires_in_days: Annotated[int | None, typer.Option(help="None: never expires.")] = None,
) -> None:
    """Create a robot; its secret is shown once."""
    body = {
        "name": name,
        "description": description,
        "expires_in_days": expires_in_days,
        "permissions": [_grant(p) for p in permission],
    }
    _show_secret(api.call("POST", _robots(project), json=body), as_json)


@command(robot_app, "rotate")
def robot_rotate(api: Api, as_json: bool, name: str, project: RobotProject = None) -> None:
    """Give a robot a new secret (shown once); the old one stops working."""
    _show_secret(api.call("POST", f"{_robots(project)}/{segment(name)}/secret"), as_json)


def _set_disabled(api: Api, as_json: bool, name: str, project: str | None, disabled: bool) -> None:
    path = f"{_robots(project)}/{segment(name)}"
    emit(api.call("PATCH", path, json={"disabled": disabled}), ROBOT_COLUMNS, as_json)


@command(robot_app, "disable")
def robot_disable(api: Api, as_json: bool, name: str, project: RobotProject = None) -> None:
    """Revoke a robot: its secret is refused until it is enabled again."""
    _set_disabled(api, as_json, name, project, True)


@command(robot_app, "enable")
def robot_enable(api: Api, as_json: bool, name: str, project: RobotProject = None) -> None:
    """Let a disabled robot log in again."""
    _set_disabled(api, as_json, name, project, False)


@command(robot_app, "delete")
def robot_delete(api: Api, as_json: bool, name: str, project: RobotProject = None) -> None:
    """Delete a robot."""
    api.call("DELETE", f"{_robots(project)}/{segment(name)}")
    typer.echo(f"deleted robot {name}", err=True)


# -- members --------------------------------------------------------------------


def _member_id(api: Api, project: str, who: str, group: bool) -> int:
    """A member's id from its id or its user (or group) name."""
    if who.isdigit():
        return int(who)
    kind = "group" if group else "user"
    for m in api.all(f"/projects/{segment(project)}/members"):
        if m["kind"] == kind and m["name"] == who:
            return int(m["id"])
    raise CliError(f"{kind} {who!r} is not a member of {project!r}")


Group = Annotated[bool, typer.Option("--group", help="NAME is a group (LDAP or OIDC).")]


@command(member_app, "list")
def member_list(api: Api, as_json: bool, project: Project) -> None:
    """List a project's members."""
    emit(api.all(f"/projects/{segment(project)}/members"), MEMBER_COLUMNS, as_json)


@command(member_app, "add")
def member_add(
    api: Api,
    as_json: bool,
    project: Project,
    name: str,
    role: Role,
    group: Group = False,
    repositories: Repositories = None,
) -> None:
    """Add a user (or --group) to a project with a role."""
    repos = list(chunks(repositories)) or None
    body = {"kind": "group" if group else "user", "name": name, "role": role, "repositories": repos}
    emit(
        api.call("POST", f"/projects/{segment(project)}/members", json=body),
        MEMBER_COLUMNS,
        as_json,
    )


@command(member_app, "update")
def member_update(
    api: Api,
    as_json: bool,
    project: Project,
    member: Annotated[str, typer.Argument(help="Member id, or user (--group: group) name.")],
    role: Annotated[str | None, typer.Option(help="A new role.")] = None,
    repositories: Repositories = None,
    all_repositories: Annotated[
        bool, typer.Option("--all-repositories", help="Lift the repository limit.")
    ] = False,
    group: Group = False,
) -> None:
    """Change a member's role or repositories."""
    body: dict[str, object] = {} if role is None else {"role": role}
    if repositories or all_repositories:
        body["repositories"] = None if all_repositories else list(chunks(repositories))
    mid = _member_id(api, project, member, group)
    path = f"/projects/{segment(project)}/members/{mid}"
    emit(api.call("PATCH", path, json=body), MEMBER_COLUMNS, as_json)


@command(member_app, "remove")
def member_remove(
    api: Api,
    as_json: bool,
    project: Project,
    member: Annotated[str, typer.Argument(help="Member id, or user (--group: group) name.")],
    group: Group = False,
) -> None:
    """Remove a member from a project."""
    mid = _member_id(api, project, member, group)
    api.call("DELETE", f"/projects/{segment(project)}/members/{mid}")
    typer.echo(f"removed {member} from {project}", err=True)
