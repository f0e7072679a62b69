"""Authentication and authorization: who is asking (password, robot secret, LDAP,
OIDC CLI secret, bearer token) and what they may do on a repository or project."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from dockyard.auth import permissions as perm
from dockyard.auth.identity import ExternalIdentity, IdentityProviderUnavailable
from dockyard.auth.passwords import hash_password, verify_password, verify_secret
from dockyard.auth.permissions import Principal, principal_actions, project_of
from dockyard.auth.tokens import TokenInvalid, TokenService
from dockyard.errors import TooManyRequests, Unauthorized
from dockyard.metadata.identity import AuditEvent, IdentityStore, ProjectRecord, UserRecord
from dockyard.oci.names import validate_name

if TYPE_CHECKING:
    from dockyard.auth.audit import AuditLog
    from dockyard.auth.ldap import LdapAuthenticator
    from dockyard.auth.oidc import OidcClient
    from dockyard.auth.sessions import Sessions
    from dockyard.config_auth import AuthSettings

log = logging.getLogger(__name__)

ROBOT_PREFIX = "robot$"
_VERIFIED_TTL = 300.0  # a changed password or secret takes effect at once regardless
_LDAP_TTL = 60.0
_VERIFIED_MAX = 10_000
# compared against when the user is unknown, so both paths cost one Argon2 verification
_DUMMY_HASH = hash_password("dockyard-timing-equalizer")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def expand(actions: set[str] | frozenset[str]) -> frozenset[str]:
    out = set(actions)
    if "*" in out:
        out.discard("*")
        out |= perm.REGISTRY_ACTIONS
    return frozenset(out)


class AuthService:
    def __init__(
        self,
        settings: AuthSettings,
        store: IdentityStore,
        tokens: TokenService,
        audit: AuditLog,
        sessions: Sessions,
        ldap: LdapAuthenticator | None = None,
        oidc: OidcClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.tokens = tokens
        self.audit = audit
        self.sessions = sessions
        self.ldap = ldap
        self.oidc = oidc
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()
        self._token_principals: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    # -- credentials ------------------------------------------------------------

    def _remember(self, key: bytes, marker: str, ttl: float) -> None:
        self._verified[key] = (marker, time.monotonic() + ttl)
        self._verified.move_to_end(key)
        if len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)

    def _recalls(self, key: bytes, marker: str | None) -> bool:
        held = self._verified.get(key)
        return held is not None and held[0] == marker and held[1] > time.monotonic()

    async def _throttle(self, username: str, address: str) -> None:
        limits = self.settings.login
        since = _now() - dt.timedelta(seconds=limits.window_seconds)
        by_user = await self.store.login_failures([f"user:{username}"], since)
        by_address = await self.store.login_failures([f"addr:{address}"], since)
        if by_user >= limits.max_failures or by_address >= limits.max_failures_per_address:
            raise TooManyRequests(
                "too many failed logins: try again later",
                detail={"retry_after_seconds": int(limits.window_seconds)},
            )

    async def _failed(self, username: str, address: str, reason: str) -> Unauthorized:
        await self.store.add_login_failure([f"user:{username}", f"addr:{address}"])
        kind = "robot" if username.startswith(ROBOT_PREFIX) else "user"
        await self.audit.write(
            AuditEvent(
                actor=username[:255],
                actor_kind=kind,
                address=address,
                action="login",
                resource=f"{kind}/{username[:200]}",
                outcome="failed",
                detail={"reason": reason},
            )
        )
        return Unauthorized("invalid username or password")

    async def _succeeded(self, principal: Principal, address: str, via: str) -> None:
        await self.audit.write(
            AuditEvent(
                actor=principal.name,
                actor_kind=principal.kind,
                address=address,
                action="login",
                resource=f"{principal.kind}/{principal.name}",
                detail={"via": via},
            )
        )

    async def login(self, username: str, password: str, address: str) -> Principal:
        """The principal these credentials name; Unauthorized or TooManyRequests otherwise."""
        if not username or not password or len(username) > 255 or len(password) > 4096:
            raise Unauthorized("invalid username or password")
        key = hashlib.sha256(f"{username}\0{password}".encode()).digest()
        if username.startswith(ROBOT_PREFIX):
            return await self._robot_login(username, password, address, key)
        return await self._user_login(username, password, address, key)

    async def _robot_login(self, name: str, secret: str, address: str, key: bytes) -> Principal:
        robot = await self.store.cached_robot(name)
        marker = None if robot is None else robot.secret_hash
        cached = self._recalls(key, marker)
        if not cached:
            await self._throttle(name, address)
        if robot is None or not (cached or verify_secret(robot.secret_hash, secret)):
            raise await self._failed(name, address, "bad credentials")
        if robot.disabled:
            raise await self._failed(name, address, "robot disabled")
        if robot.expires_at is not None and robot.expires_at <= _now():
            raise await self._failed(name, address, "robot expired")
        principal = Principal(
            "robot", robot.name, grants=robot.permissions, robot_project=robot.project
        )
        if not cached:
            self._remember(key, robot.secret_hash, _VERIFIED_TTL)
            await self._succeeded(principal, address, "secret")
        return principal

    async def _user_login(
        self, username: str, password: str, address: str, key: bytes
    ) -> Principal:
        user = await self.store.cached_user(username)
        marker = _marker(user)
        if self._recalls(key, marker):
            assert user is not None
            if user.disabled:
                raise Unauthorized("invalid username or password")
            return _user_principal(user)
        await self._throttle(username, address)
        via = "password"
        if user is not None and user.source == "local":
            ok = await asyncio.to_thread(verify_password, user.password_hash or "", password)
        elif user is not None and user.source == "oidc":
            via = "cli secret"
            ok = user.cli_secret_hash is not None and verify_secret(user.cli_secret_hash, password)
        elif self.ldap is not None and (user is None or user.source == "ldap"):
            via = "ldap"
            user = await self._ldap_login(username, password)
            ok = user is not None
        else:
            await asyncio.to_thread(verify_password, _DUMMY_HASH, password)
            ok = False
        if not ok or user is None:
            raise await self._failed(username, address, "bad credentials")
        if user.disabled:
            raise await self._failed(username, address, "user disabled")
        await self.store.update_user(username, last_login_at=_now())
        principal = _user_principal(user)
        self._remember(key, _marker(user) or "", _LDAP_TTL if via == "ldap" else _VERIFIED_TTL)
        await self._succeeded(principal, address, via)
        return principal

    async def _ldap_login(self, username: str, password: str) -> UserRecord | None:
        assert self.ldap is not None
        try:
            identity = await self.ldap.authenticate(username, password)
        except IdentityProviderUnavailable as exc:
            log.error("LDAP login unavailable: %s", exc)
            return None
        if identity is None:
            return None
        return await self.sync_external_user(
            identity, "ldap", admin_group=self.settings.ldap.admin_group
        )

    async def sync_external_user(
        self, identity: ExternalIdentity, source: str, *, admin_group: str | None
    ) -> UserRecord:
        """Create or refresh the local record of an LDAP or OIDC user."""
        user = await self.store.get_user(identity.username)
        changes: dict[str, Any] = {"groups": list(identity.groups), "subject": identity.subject}
        if identity.email:
            changes["email"] = identity.email
        if admin_group:
            changes["is_admin"] = identity.is_admin
        if user is None:
            await self.store.create_user(
                identity.username,
                source=source,  # type: ignore[arg-type]
                email=identity.email,
                is_admin=bool(admin_group) and identity.is_admin,
                groups=identity.groups,
            )
            changes.pop("is_admin", None)
        elif user.source != source:
            raise Unauthorized(f"user {identity.username!r} exists with another login source")
        updated = await self.store.update_user(identity.username, **changes)
        assert updated is not None
        return updated

    async def from_session(self, cookie: str) -> Principal | None:
        """The user a browser session cookie names, if it is valid and the user active."""
        data = self.sessions.read(cookie)
        if data is None:
            return None
        user = await self.store.get_user(str(data.get("u", "")))
        if user is None or user.disabled:
            return None
        return _user_principal(user)

    # -- tokens -----------------------------------------------------------------

    def from_token(self, token: str) -> Principal:
        held = self._token_principals.get(token)
        if held is not None and held[1] > time.time():
            return held[0]
        claims = self.tokens.verify(token)
        principal = self._principal_from_claims(claims)
        self._token_principals[token] = (principal, float(claims["exp"]))
        if len(self._token_principals) > _VERIFIED_MAX:
            self._token_principals.popitem(last=False)
        return principal

    def _principal_from_claims(self, claims: dict[str, Any]) -> Principal:
        access: dict[tuple[str, str], frozenset[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict):
                kind, name = str(entry.get("type", "")), str(entry.get("name", ""))
                actions = entry.get("actions") or []
                if isinstance(actions, list):
                    access[(kind, name)] = expand(frozenset(str(a) for a in actions))
        kind = claims.get("dky_kind", "user")
        if kind not in ("user", "robot", "anonymous"):
            raise TokenInvalid("invalid token: unknown subject kind")
        return Principal(kind, str(claims.get("sub", "")), token_access=access)

    async def principal_named(self, kind: str, name: str) -> tuple[Principal, str | None] | None:
        """A live principal and the hash its refresh tokens are tied to (for refresh)."""
        if kind == "robot":
            robot = await self.store.get_robot(name)
            if robot is None or robot.disabled:
                return None
            if robot.expires_at is not None and robot.expires_at <= _now():
                return None
            return (
                Principal(
                    "robot", robot.name, grants=robot.permissions, robot_project=robot.project
                ),
                robot.secret_hash,
            )
        user = await self.store.get_user(name)
        if user is None or user.disabled:
            return None
        return _user_principal(user), _marker(user)

    # -- authorization ----------------------------------------------------------

    async def project(self, name: str) -> ProjectRecord | None:
        return await self.store.get_project(name)

    async def actions_on(self, principal: Principal, repository: str) -> frozenset[str]:
        """Registry and project actions `principal` may take on `repository`."""
        if principal.token_access is not None:
            return principal.token_access.get(("repository", repository), frozenset())
        return await self._actions(principal, project_of(repository), repository)

    async def project_actions(self, principal: Principal, project: str) -> frozenset[str]:
        return await self._actions(principal, project, None)

    async def _actions(
        self, principal: Principal, project_name: str, repository: str | None
    ) -> frozenset[str]:
        project = await self.store.cached_project(project_name)
        memberships = []
        if principal.kind == "user" and project is not None and not principal.is_admin:
            memberships = await self.store.cached_memberships(
                principal.name, principal.groups, project.name
            )
        return principal_actions(
            principal,
            project,
            memberships,
            repository,
            anonymous_pull=self.settings.anonymous_pull,
            auto_create=self.settings.auto_create_projects,
        )

    def may_list_catalog(self, principal: Principal) -> bool:
        if principal.token_access is not None:
            return "*" in principal.token_access.get(("registry", "catalog"), frozenset()) or (
                perm.PULL in principal.token_access.get(("registry", "catalog"), frozenset())
            )
        return principal.is_admin or any(
            g.project == "*" and not g.repositories and perm.PULL in g.actions
            for g in principal.grants
        )

    async def narrow(self, principal: Principal, scopes: list[str]) -> list[dict[str, Any]]:
        """The access to put in a token: each requested scope cut down to what the
        principal may do (possibly nothing), never more."""
        granted: dict[tuple[str, str], set[str]] = {}
        for raw in scopes:
            for scope in raw.split():
                parsed = parse_scope(scope)
                if parsed is None:
                    continue
                kind, name, wanted = parsed
                if kind == "registry":
                    ok = name == "catalog" and self.may_list_catalog(principal)
                    allowed = {"*"} & wanted if ok else set()
                else:
                    have = await self.actions_on(principal, name) & perm.REGISTRY_ACTIONS
                    allowed = set(expand(wanted) & have)
                granted.setdefault((kind, name), set()).update(allowed)
        return [
            {"type": kind, "name": name, "actions": sorted(actions)}
            for (kind, name), actions in granted.items()
        ]


def parse_scope(scope: str) -> tuple[str, str, set[str]] | None:
    """`repository:team-a/app:pull,push` -> ("repository", "team-a/app", {"pull", "push"});
    None when malformed or for a resource type Dockyard does not know."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    kind = kind.split("(", 1)[0]  # `repository(plugin)` resource classes
    wanted = {a for a in actions.split(",") if a}
    if kind == "registry":
        return kind, name, wanted
    if kind != "repository":
        return None
    try:
        validate_name(name)
    except Exception:
        return None
    return kind, name, wanted & (perm.REGISTRY_ACTIONS | {"*"})


def _marker(user: UserRecord | None) -> str | None:
    if user is None:
        return None
    if user.source == "local":
        return user.password_hash
    if user.source == "oidc":
        return user.cli_secret_hash
    return "ldap"  # the directory decides; a verified bind is trusted for _LDAP_TTL


def _user_principal(user: UserRecord) -> Principal:
    return Principal("user", user.username, is_admin=user.is_admin, groups=user.groups)
