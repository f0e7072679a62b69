"""Users: administrators manage them; everyone may read and change their own record
(a password change needs the current password) and see who they are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from dockyard.accounts.users import UNCHANGED, UserChanges
from dockyard.http.api.deps import Ctx, Paging, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import (
    NO_CONTROL,
    CliSecret,
    CurrentUser,
    Membership,
    SessionsEnded,
    UserCreate,
    UserOut,
    UserUpdate,
)
from dockyard.http.api.robots import grant_out
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import UserRecord, UserSort


class UsernameConvertor(Convertor[str]):
    """`{username:username}`: one path segment, but never `current` (its own route)."""

    regex = "(?!current$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("username", UsernameConvertor())

router = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])

Username = Annotated[
    str,
    Path(
        min_length=1, max_length=255, pattern=NO_CONTROL, examples=["alice"], description="a user"
    ),
]


def user_out(user: UserRecord) -> UserOut:
    return UserOut(
        username=user.username,
        email=user.email,
        source=user.source,
        is_admin=user.is_admin,
        disabled=user.disabled,
        groups=list(user.groups),
        created_at=user.created_at,
        updated_at=user.updated_at,
        last_login_at=user.last_login_at,
    )


@router.get("", responses=listing(), summary="List users (system administrators)")
async def list_users(
    c: Ctx,
    request: Request,
    response: Response,
    page: Paging,
    q: Annotated[
        str | None, Query(max_length=255, pattern=NO_CONTROL, description="part of the name")
    ] = None,
    sort: Annotated[
        UserSort,
        Query(
            description="`name`, `created`, `login` (the last sign-in), ascending; `-name`, "
            "`-created`, `-login` descending; users never signed in last either way; "
            "ties by name, the same way"
        ),
    ] = "name",
) -> list[UserOut]:
    users, total = await c.services.users.list_users(c.actor, q or None, page, sort)
    paged(request, response, page, total)
    return [user_out(u) for u in users]


@router.post("", status_code=201, responses=errors(409), summary="Create a local user")
async def create_user(c: Ctx, body: UserCreate) -> UserOut:
    user = await c.services.users.create(
        c.actor, body.username, body.password, email=body.email, is_admin=body.is_admin
    )
    return user_out(user)


@router.get("/current", responses=errors(), summary="Who am I: user or robot, with access")
async def current_user(c: Ctx) -> CurrentUser:
    c.require_login()
    p = c.principal
    if p.kind == "robot":
        return CurrentUser(
            username=p.name,
            kind="robot",
            is_admin=False,
            permissions=[grant_out(g) for g in p.grants],
        )
    user, memberships = await c.services.users.current(c.actor)
    return CurrentUser(
        username=user.username,
        kind="user",
        is_admin=user.is_admin,
        email=user.email,
        source=user.source,
        groups=list(user.groups),
        memberships=[
            Membership(
                project=m.project,
                role=m.role,
                repositories=None if m.repositories is None else list(m.repositories),
                via="user" if m.kind == "user" else f"group:{m.name}",
            )
            for m in sorted(memberships, key=lambda m: (m.project, m.kind, m.name))
        ],
    )


@router.post(
    "/current/cli-secret",
    responses=errors(409),
    summary="Generate a CLI secret (OpenID Connect users); shown once",
)
async def cli_secret(c: Ctx) -> CliSecret:
    """OpenID Connect users have no password a registry client could send: this secret
    stands in for it (`docker login -u <username> -p <secret>`). A new one replaces
    the old one at once."""
    user, secret = await c.services.users.new_cli_secret(c.actor)
    return CliSecret(username=user.username, secret=secret)


@router.get(
    "/{username:username}", responses=errors(), summary="A user (administrators, or oneself)"
)
async def get_user(c: Ctx, username: Username) -> UserOut:
    return user_out(await c.services.users.get(c.actor, username))


@router.patch(
    "/{username:username}",
    responses=errors(409),
    summary="Change email or password (oneself), admin rights or disabled (administrators)",
)
async def update_user(c: Ctx, username: Username, body: UserUpdate) -> UserOut:
    given = body.model_fields_set
    changes = UserChanges(
        email=body.email if "email" in given else UNCHANGED,
        password=body.password,
        current_password=body.current_password,
        is_admin=body.is_admin,
        disabled=body.disabled,
    )
    return user_out(await c.services.users.update(c.actor, username, changes))


@router.delete(
    "/{username:username}/sessions",
    responses=errors(),
    summary="Sign a user out of the web UI everywhere (oneself, or administrators)",
)
async def end_sessions(c: Ctx, username: Username) -> SessionsEnded:
    """Every web UI session of the user ends at once, on every replica: their cookies
    are refused from the next request. Registry tokens already issued run out as
    usual (minutes)."""
    return SessionsEnded(ended=await c.services.users.end_sessions(c.actor, username))


@router.delete(
    "/{username:username}",
    status_code=204,
    responses=errors(409),
    summary="Delete a user (administrators)",
)
async def delete_user(c: Ctx, username: Username) -> Response:
    await c.services.users.delete(c.actor, username)
    return Response(status_code=204)
