"""Users: administrators manage them; everyone may read and change their own record
(a password change needs the current password) and see who they are."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from dockyard.auth.passwords import hash_secret, new_secret
from dockyard.errors import Conflict, Denied, NotFound, Unauthorized
from dockyard.http.api.deps import Ctx, Paging, paged
from dockyard.http.api.docs import errors, listing
from dockyard.http.api.models import (
    NO_CONTROL,
    CliSecret,
    CurrentUser,
    Membership,
    UserCreate,
    UserOut,
    UserUpdate,
)
from dockyard.http.api.robots import grant_out
from dockyard.http.api.routing import PREFIX
from dockyard.metadata.identity import UserRecord


class UsernameConvertor(Convertor[str]):
    """`{username:username}`: one path segment, but never `current` (its own route)."""

    regex = "(?!current$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("username", UsernameConvertor())

router = APIRouter(prefix=f"{PREFIX}/users", tags=["users"])
RESERVED = frozenset({"current"})

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
) -> list[UserOut]:
    c.require_admin("list users")
    users, total = await c.services.identity.list_users(q or None, page)
    paged(request, response, page, total)
    return [user_out(u) for u in users]


@router.post("", status_code=201, responses=errors(409), summary="Create a local user")
async def create_user(c: Ctx, body: UserCreate) -> UserOut:
    c.require_admin("create users")
    if body.username.lower() in RESERVED or await c.services.identity.get_user(body.username):
        raise Conflict(f"user {body.username!r} already exists (user names ignore case)")
    hashed = await c.services.auth.hashing.hash_password(body.password)
    user = await c.services.identity.create_user(
        body.username,
        source="local",
        password_hash=hashed,
        email=body.email,
        is_admin=body.is_admin,
    )
    await c.audit("user.create", f"user/{user.username}", detail={"is_admin": user.is_admin})
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
    user = await c.services.identity.get_user(p.name)
    if user is None:
        raise Unauthorized("the user is gone")
    memberships = await c.services.identity.memberships(user.username, user.groups)
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
    c.require_user("have a CLI secret")
    user = await c.services.identity.get_user(c.principal.name)
    if user is None:
        raise Unauthorized("the user is gone")
    if user.source != "oidc":
        raise Conflict(
            f"only OpenID Connect users have CLI secrets; {user.username} has a password"
        )
    secret = new_secret()
    await c.services.identity.update_user(user.username, cli_secret_hash=hash_secret(secret))
    await c.audit("user.cli_secret", f"user/{user.username}")
    return CliSecret(username=user.username, secret=secret)


def _self_or_admin(c: Ctx, username: str) -> bool:
    """True when the caller is that user; raise unless it is they or an administrator."""
    c.require_login()
    me = c.principal.kind == "user" and c.principal.name == username
    if not (me or c.principal.is_admin):
        raise Denied(f"{c.principal.name} may not read or change other users")
    return me


async def _user(c: Ctx, username: str) -> UserRecord:
    user = await c.services.identity.get_user(username)
    if user is None:
        raise NotFound(f"user {username!r} not found")
    return user


@router.get(
    "/{username:username}", responses=errors(), summary="A user (administrators, or oneself)"
)
async def get_user(c: Ctx, username: Username) -> UserOut:
    _self_or_admin(c, username)
    return user_out(await _user(c, username))


@router.patch(
    "/{username:username}",
    responses=errors(409),
    summary="Change email or password (oneself), admin rights or disabled (administrators)",
)
async def update_user(c: Ctx, username: Username, body: UserUpdate) -> UserOut:
    me = _self_or_admin(c, username)
    user = await _user(c, username)
    given = body.model_fields_set
    if not c.principal.is_admin and (body.is_admin is not None or body.disabled is not None):
        raise Denied("only a system administrator may change admin rights or disable users")
    if me and (body.is_admin is False or body.disabled is True):
        raise Conflict("you may not remove your own administrator rights or disable yourself")
    changes: dict[str, Any] = {}
    if "email" in given:
        changes["email"] = body.email
    if body.password is not None:
        if user.source != "local":
            raise Conflict(f"the password of {username} is managed by {user.source}")
        if me:
            await _check_current_password(c, username, body.current_password)
        changes["password_hash"] = await c.services.auth.hashing.hash_password(body.password)
    for field in ("is_admin", "disabled"):
        if getattr(body, field) is not None:
            changes[field] = getattr(body, field)
    if changes:
        updated = await c.services.identity.update_user(username, **changes)
        if updated is None:
            raise NotFound(f"user {username!r} not found")
        user = updated
        named = sorted("password" if k == "password_hash" else k for k in changes)
        await c.audit("user.update", f"user/{username}", detail={"changed": named})
    return user_out(user)


async def _check_current_password(c: Ctx, username: str, current: str | None) -> None:
    """As a login (throttled, audited): whoever holds a session or token of the user
    still has to know the password to change it."""
    if not current:
        raise Denied("changing your own password needs current_password")
    try:
        await c.services.auth.login(username, current, c.address)
    except Unauthorized:  # TooManyRequests passes through: 429
        raise Denied("the current password is wrong") from None


@router.delete(
    "/{username:username}",
    status_code=204,
    responses=errors(409),
    summary="Delete a user (administrators)",
)
async def delete_user(c: Ctx, username: Username) -> Response:
    c.require_admin("delete users")
    if c.principal.kind == "user" and c.principal.name == username:
        raise Conflict("you may not delete yourself")
    if not await c.services.identity.delete_user(username):
        raise NotFound(f"user {username!r} not found")
    await c.audit("user.delete", f"user/{username}")
    return Response(status_code=204)
