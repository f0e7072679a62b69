"""Users: administrators manage them; everyone may read and change their own record
(a password change needs the current password, checked as a throttled login)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.accounts.guard import Actor, Guard
from dockyard.auth.passwords import hash_secret, new_secret
from dockyard.auth.service import AuthService
from dockyard.errors import Conflict, Denied, NotFound, Unauthorized
from dockyard.metadata.identity import MemberRecord, Page, UserRecord, UserSort
from dockyard.metadata.identity_stores import Identity

RESERVED = frozenset({"current"})
UNCHANGED: Any = object()


@dataclass(frozen=True, slots=True)
class UserChanges:
    email: str | None = UNCHANGED
    password: str | None = None
    current_password: str | None = None
    is_admin: bool | None = None
    disabled: bool | None = None


class UserService:
    def __init__(self, identity: Identity, auth: AuthService, guard: Guard) -> None:
        self._identity = identity
        self._auth = auth
        self._guard = guard

    async def list_users(
        self, actor: Actor, query: str | None, page: Page, sort: UserSort = "name"
    ) -> tuple[list[UserRecord], int]:
        self._guard.admin(actor, "list users")
        return await self._identity.users.list_users(query, page, sort)

    async def create(
        self,
        actor: Actor,
        username: str,
        password: str,
        *,
        email: str | None = None,
        is_admin: bool = False,
    ) -> UserRecord:
        self._guard.admin(actor, "create users")
        if username.lower() in RESERVED or await self._identity.users.get_user(username):
            raise Conflict(f"user {username!r} already exists (user names ignore case)")
        hashed = await self._auth.hashing.hash_password(password)
        user = await self._identity.users.create_user(
            username, source="local", password_hash=hashed, email=email, is_admin=is_admin
        )
        await self._guard.record(
            actor, "user.create", f"user/{user.username}", detail={"is_admin": user.is_admin}
        )
        return user

    def _self_or_admin(self, actor: Actor, username: str) -> bool:
        """True when the actor is that user; raise unless it is they or an administrator."""
        self._guard.login(actor)
        me = actor.principal.kind == "user" and actor.name.lower() == username.lower()
        if not (me or actor.is_admin):
            raise Denied(f"{actor.name} may not read or change other users")
        return me

    async def _user(self, username: str) -> UserRecord:
        user = await self._identity.users.get_user(username)
        if user is None:
            raise NotFound(f"user {username!r} not found")
        return user

    async def get(self, actor: Actor, username: str) -> UserRecord:
        self._self_or_admin(actor, username)
        return await self._user(username)

    async def current(self, actor: Actor) -> tuple[UserRecord, list[MemberRecord]]:
        """The actor's own record and memberships (users only)."""
        self._guard.login(actor)
        user = await self._identity.users.get_user(actor.name)
        if user is None:
            raise Unauthorized("the user is gone")
        return user, await self._identity.projects.memberships(user.username, user.groups)

    async def update(self, actor: Actor, username: str, changes: UserChanges) -> UserRecord:
        me = self._self_or_admin(actor, username)
        user = await self._user(username)
        if not actor.is_admin and (changes.is_admin is not None or changes.disabled is not None):
            raise Denied("only a system administrator may change admin rights or disable users")
        if me and (changes.is_admin is False or changes.disabled is True):
            raise Conflict("you may not remove your own administrator rights or disable yourself")
        fields: dict[str, Any] = {}
        if changes.email is not UNCHANGED:
            fields["email"] = changes.email
        if changes.password is not None:
            if user.source != "local":
                raise Conflict(f"the password of {user.username} is managed by {user.source}")
            if me:
                await self._check_current_password(actor, user.username, changes.current_password)
            fields["password_hash"] = await self._auth.hashing.hash_password(changes.password)
        for field in ("is_admin", "disabled"):
            if getattr(changes, field) is not None:
                fields[field] = getattr(changes, field)
        if not fields:
            return user
        updated = await self._identity.users.update_user(user.username, **fields)
        if updated is None:
            raise NotFound(f"user {username!r} not found")
        if "password_hash" in fields or fields.get("disabled") is True:
            # whoever signed in with the old password, or as a now disabled user, is out
            await self._identity.users.end_sessions(updated.username)
        named = sorted("password" if k == "password_hash" else k for k in fields)
        await self._guard.record(
            actor, "user.update", f"user/{updated.username}", detail={"changed": named}
        )
        return updated

    async def _check_current_password(
        self, actor: Actor, username: str, current: str | None
    ) -> None:
        """As a login (throttled, audited): whoever holds a session or token of the user
        still has to know the password to change it."""
        if not current:
            raise Denied("changing your own password needs current_password")
        try:
            await self._auth.login(username, current, actor.address)
        except Unauthorized:  # TooManyRequests passes through: 429
            raise Denied("the current password is wrong") from None

    async def delete(self, actor: Actor, username: str) -> None:
        self._guard.admin(actor, "delete users")
        if actor.principal.kind == "user" and actor.name.lower() == username.lower():
            raise Conflict("you may not delete yourself")
        if not await self._identity.users.delete_user(username):
            raise NotFound(f"user {username!r} not found")
        await self._guard.record(actor, "user.delete", f"user/{username}")

    async def end_sessions(self, actor: Actor, username: str) -> int:
        """Sign the user out of the web UI everywhere (oneself, or administrators)."""
        self._self_or_admin(actor, username)
        user = await self._user(username)
        ended = await self._identity.users.end_sessions(user.username)
        await self._guard.record(
            actor, "user.sessions_ended", f"user/{user.username}", detail={"ended": ended}
        )
        return ended

    async def new_cli_secret(self, actor: Actor) -> tuple[UserRecord, str]:
        """OpenID Connect users have no password a registry client could send: this
        secret stands in for it. A new one replaces the old one at once."""
        self._guard.user(actor, "have a CLI secret")
        user = await self._identity.users.get_user(actor.name)
        if user is None:
            raise Unauthorized("the user is gone")
        if user.source != "oidc":
            raise Conflict(
                f"only OpenID Connect users have CLI secrets; {user.username} has a password"
            )
        secret = new_secret()
        await self._identity.users.update_user(user.username, cli_secret_hash=hash_secret(secret))
        await self._guard.record(actor, "user.cli_secret", f"user/{user.username}")
        return user, secret
