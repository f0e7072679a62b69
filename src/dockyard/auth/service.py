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
from dockyard.auth.passwords import HashingPool, hash_password, verify_secret
from dockyard.auth.permissions import ANONYMOUS, PULL, Principal, principal_actions, project_of
from dockyard.auth.sessions import SESSION_SECONDS
from dockyard.auth.tokens import TokenInvalid, TokenService
from dockyard.diskspace import unless_full
from dockyard.errors import TooManyRequests, Unauthorized
from dockyard.metadata.identity import (
    AuditEvent,
    ProjectRecord,
    ThrottleRule,
    UserRecord,
)
from dockyard.metadata.identity_stores import Identity
from dockyard.oci.names import validate_name

if TYPE_CHECKING:
    from dockyard.auth.audit import AuditLog
    from dockyard.auth.ldap import LdapAuthenticator
    from dockyard.auth.oidc import OidcClient
    from dockyard.auth.sessions import Sessions
    from dockyard.config.auth import AuthSettings

log = logging.getLogger(__name__)

ROBOT_PREFIX = "robot$"
_VERIFIED_TTL = 300.0  # a changed password or secret takes effect at once regardless
_LDAP_TTL = 60.0
_VERIFIED_MAX = 10_000
_HOLDERS_CHECKED = 50  # repositories looked at for a mount without `from`
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
        store: Identity,
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
        self._backoff: OrderedDict[str, float] = OrderedDict()
        self._checking: dict[bytes, asyncio.Future[Principal]] = {}
        limits = settings.login
        self.hashing = HashingPool(limits.hash_concurrency, limits.hash_queue)
        self._pair_rule = ThrottleRule(
            limits.max_failures,
            limits.backoff_seconds,
            limits.max_backoff_seconds,
            limits.window_seconds,
        )
        self._address_rule = ThrottleRule(
            limits.max_failures_per_address,
            limits.backoff_seconds,
            limits.max_backoff_seconds,
            limits.window_seconds,
        )

    def close(self) -> None:
        self.hashing.close()

    # -- credentials ------------------------------------------------------------

    def _remember(self, key: bytes, marker: str, ttl: float) -> None:
        self._verified[key] = (marker, time.monotonic() + ttl)
        self._verified.move_to_end(key)
        if len(self._verified) > _VERIFIED_MAX:
            self._verified.popitem(last=False)

    def _recalls(self, key: bytes, marker: str | None) -> bool:
        held = self._verified.get(key)
        return held is not None and held[0] == marker and held[1] > time.monotonic()

    async def _count_attempt(self, username: str, address: str) -> tuple[str, str]:
        """Count this attempt against the account at this address and against the
        address, before any password is checked; 429 while either is backing off.
        Failures are throttled per (account, address), so a stranger's failures never
        lock the account for anyone else."""
        pair, by_address = _pair_key(username, address), f"addr:{address}"
        now = time.time()
        admitted, until = await self._take_attempt(pair, now, self._pair_rule)
        self._note_backoff(pair, until, now)
        if admitted:
            admitted, until = await self._take_attempt(by_address, now, self._address_rule)
            if not admitted:
                await self.store.audit.forgive_login_attempt(pair, self._pair_rule, reset=False)
        if not admitted:
            raise _throttled(username, until - now)
        return pair, by_address

    async def _take_attempt(self, key: str, now: float, rule: ThrottleRule) -> tuple[bool, float]:
        """take_login_attempt; on a full disk the attempt goes uncounted (and is logged),
        so a login is still answered 401 or 200, not refused for the disk's sake."""
        taking = self.store.audit.take_login_attempt(key, now, rule)
        taken = await unless_full(taking, "login attempt")
        return (True, 0.0) if taken is None else taken

    def _note_backoff(self, pair: str, until: float, now: float) -> None:
        """Remember locally that `pair` backs off until `until`: a recently verified
        password must not let guesses through the backoff (a cache hit is no proof
        that the one asking is the one who logged in)."""
        if until > now:
            self._backoff[pair] = until
            self._backoff.move_to_end(pair)
            if len(self._backoff) > _VERIFIED_MAX:
                self._backoff.popitem(last=False)
        else:
            self._backoff.pop(pair, None)

    def _check_backoff(self, username: str, address: str) -> None:
        until = self._backoff.get(_pair_key(username, address), 0.0)
        wait = until - time.time()
        if wait > 0:
            raise _throttled(username, wait)

    async def _uncount(self, keys: tuple[str, str], *, succeeded: bool) -> None:
        """Take back an attempt counted by _count_attempt: it was no failure."""
        audit = self.store.audit
        await unless_full(
            audit.forgive_login_attempt(keys[0], self._pair_rule, reset=succeeded), "login attempt"
        )
        await unless_full(
            audit.forgive_login_attempt(keys[1], self._address_rule, reset=False), "login attempt"
        )
        if succeeded:
            self._backoff.pop(keys[0], None)

    async def _failed(self, username: str, address: str, reason: str) -> Unauthorized:
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
        # Single flight: the same credentials being checked
        # already (a client's parallel requests) wait for that check instead of
        # hashing, and counting against the throttle, once more each.
        running = self._checking.get(key)
        if running is not None:
            return await asyncio.shield(running)
        check = asyncio.ensure_future(self._login(username, password, address, key))
        self._checking[key] = check
        try:
            return await asyncio.shield(check)
        finally:
            if check.done():
                self._checking.pop(key, None)
            else:
                check.add_done_callback(lambda _: self._checking.pop(key, None))

    async def _login(self, username: str, password: str, address: str, key: bytes) -> Principal:
        if username.startswith(ROBOT_PREFIX):
            return await self._robot_login(username, password, address, key)
        return await self._user_login(username, password, address, key)

    async def _robot_login(self, name: str, secret: str, address: str, key: bytes) -> Principal:
        """Robot secrets carry 256 random bits and are checked in microseconds, so they
        are checked first: the right secret is never throttled, whoever else fails."""
        robot = await self.store.robots.cached_robot(name)
        marker = None if robot is None else robot.secret_hash
        cached = self._recalls(key, marker)
        if robot is None or not (cached or verify_secret(robot.secret_hash, secret)):
            await self._count_attempt(name, address)  # only guesses count
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
        user = await self.store.users.cached_user(username)
        marker = _marker(user)
        if self._recalls(key, marker):
            assert user is not None
            self._check_backoff(username, address)
            if user.disabled:
                raise Unauthorized("invalid username or password")
            return _user_principal(user)
        counted = await self._count_attempt(username, address)
        via = "password"
        try:
            if user is not None and user.source == "local":
                ok = await self.hashing.verify_password(user.password_hash or "", password)
            elif user is not None and user.source == "oidc":
                via = "cli secret"
                ok = user.cli_secret_hash is not None and verify_secret(
                    user.cli_secret_hash, password
                )
            elif self.ldap is not None and (user is None or user.source == "ldap"):
                via = "ldap"
                user = await self._ldap_login(username, password)
                ok = user is not None
            else:
                await self.hashing.verify_password(_DUMMY_HASH, password)
                ok = False
        except TooManyRequests:
            await self._uncount(counted, succeeded=False)
            raise
        if not ok or user is None:
            raise await self._failed(username, address, "bad credentials")
        if user.disabled:
            raise await self._failed(username, address, "user disabled")
        await self._uncount(counted, succeeded=True)
        await unless_full(self.store.users.record_login(user.username, _now()), "login time")
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
        user = await self.store.users.get_user(identity.username)
        changes: dict[str, Any] = {"groups": list(identity.groups), "subject": identity.subject}
        if identity.email:
            changes["email"] = identity.email
        if admin_group:
            changes["is_admin"] = identity.is_admin
        if user is None:
            await self.store.users.create_user(
                identity.username,
                source=source,  # type: ignore[arg-type]
                email=identity.email,
                is_admin=bool(admin_group) and identity.is_admin,
                groups=identity.groups,
            )
            changes.pop("is_admin", None)
        elif user.source != source:
            raise Unauthorized(f"user {identity.username!r} exists with another login source")
        updated = await self.store.users.update_user(identity.username, **changes)
        assert updated is not None
        return updated

    # -- web UI sessions --------------------------------------------------------

    async def start_session(self, username: str) -> str:
        """A new session of the user, recorded; the cookie that carries it."""
        session_id = self.sessions.new_id()
        expires = _now() + dt.timedelta(seconds=SESSION_SECONDS)
        if not await self.store.users.create_session(
            username, self.sessions.id_hash(session_id), expires
        ):
            raise Unauthorized(f"user {username!r} is gone")
        return self.sessions.issue(username, session_id)

    def _session_hash(self, cookie: str) -> tuple[str, str] | None:
        data = self.sessions.read(cookie)
        if data is None or not isinstance(data.get("s"), str) or not isinstance(data.get("u"), str):
            return None  # forged, expired, or from before sessions were kept
        return data["u"], self.sessions.id_hash(data["s"])

    async def from_session(self, cookie: str) -> Principal | None:
        """The user a browser session cookie names, if the cookie is genuine, its
        session has not ended and the user is active."""
        named = self._session_hash(cookie)
        if named is None:
            return None
        held = await self.store.users.cached_session_user(named[1])
        if held is None or held[0].lower() != named[0].lower():
            return None
        user = await self.store.users.cached_user(held[0])
        if user is None or user.disabled:
            return None
        return _user_principal(user)

    async def end_session(self, cookie: str) -> bool:
        """Sign out: the session the cookie carries ends, on every replica."""
        named = self._session_hash(cookie)
        return named is not None and await self.store.users.end_session(named[1])

    async def end_sessions(self, username: str) -> int:
        """End every web UI session of the user (how many there were)."""
        return await self.store.users.end_sessions(username)

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
            robot = await self.store.robots.get_robot(name)
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
        user = await self.store.users.get_user(name)
        if user is None or user.disabled:
            return None
        return _user_principal(user), _marker(user)

    # -- authorization ----------------------------------------------------------

    async def project(self, name: str) -> ProjectRecord | None:
        return await self.store.projects.get_project(name)

    async def actions_on(self, principal: Principal, repository: str) -> frozenset[str]:
        """Registry and project actions `principal` may take on `repository`."""
        if principal.token_access is not None:
            return principal.token_access.get(("repository", repository), frozenset())
        return await self._actions(principal, project_of(repository), repository)

    async def live(self, principal: Principal) -> Principal | None:
        """The principal with the rights it has now: a bearer token's subject looked up
        afresh (None when disabled or gone); anyone else as they are."""
        if principal.token_access is None:
            return principal
        if principal.anonymous:
            return ANONYMOUS
        found = await self.principal_named(principal.kind, principal.name)
        return None if found is None else found[0]

    async def repositories_holding(self, digest: str, project: str) -> list[str]:
        """Repositories that link blob `digest`, those of `project` first (bounded)."""
        return await self.store.catalog.repositories_with_blob(digest, project, _HOLDERS_CHECKED)

    async def why_not(self, principal: Principal, action: str, repository: str | None) -> str:
        """Why `principal` may not take registry `action` on `repository`, in words a
        person can act on. A project the caller cannot see reads the same whether it
        exists or not, so refusals never reveal private project names."""
        who = principal.name or "anonymous"
        if repository is None:
            return f"{who} may not list the catalog: it needs a system administrator"
        live = await self.live(principal)
        if live is None:
            return f"{who} is disabled or no longer exists"
        if principal.token_access is not None and action in await self.actions_on(live, repository):
            return (
                f"the token does not grant {action} on {repository}: "
                f"ask the token endpoint for scope repository:{repository}:{action}"
            )
        verb = {PULL: "pull from", perm.PUSH: "push to", perm.DELETE: "delete from"}
        doing = f"{who} may not {verb.get(action, action)} {repository}"
        name = project_of(repository)
        project = await self.store.projects.cached_project(name)
        visible = project is not None and await self._actions(live, name, None)
        if not visible:
            if project is None and action == perm.PUSH and live.spans_all_projects:
                return f"{doing}: project {name!r} does not exist and auto-creation is off"
            return (
                f"{doing}: project {name!r} does not exist or {who} is not a member of it; "
                f"an administrator can create it (dockyard project create {name}) and add "
                f"{who} as a member"
            )
        if live.kind == "robot":
            return f"{doing}: the robot's permissions do not include {action} there"
        needed = [role for role in perm.ROLES if role in perm.MATRIX.get(action, set())]
        return f"{doing}: that needs the role {needed[-1]} or higher in project {name!r}"

    async def pullable_globs(self, principal: Principal, project: str) -> tuple[str, ...] | None:
        """Globs of the repositories of `project` that `principal` may pull; None when
        it may pull all of them (listings show a member limited to globs only those)."""
        live = await self.live(principal)
        record = await self.store.projects.cached_project(project)
        if live is None or record is None:
            return ()
        if live.is_admin or (
            record.public and (not live.anonymous or self.settings.anonymous_pull)
        ):
            return None
        sets: list[tuple[str, ...]]
        if live.kind == "robot":
            if live.robot_project not in (None, project):
                return ()
            sets = [
                g.repositories
                for g in live.grants
                if g.project in ("*", project) and PULL in g.actions
            ]
        elif live.kind == "user":
            memberships = await self.store.projects.cached_memberships(
                live.name, live.groups, project
            )
            sets = [
                tuple(m.repositories or ())
                for m in memberships
                if PULL in perm.role_actions(m.role)
            ]
        else:
            return ()
        if any(not globs for globs in sets):
            return None
        return tuple(g for globs in sets for g in globs)

    async def project_actions(self, principal: Principal, project: str) -> frozenset[str]:
        return await self._actions(principal, project, None)

    async def _actions(
        self, principal: Principal, project_name: str, repository: str | None
    ) -> frozenset[str]:
        project = await self.store.projects.cached_project(project_name)
        memberships = []
        if principal.kind == "user" and project is not None and not principal.is_admin:
            memberships = await self.store.projects.cached_memberships(
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


def _throttled(username: str, wait: float) -> TooManyRequests:
    seconds = max(1, round(wait))
    return TooManyRequests(
        f"too many failed logins for {username[:64]!r} from this address: try again in {seconds} s",
        detail={"retry_after_seconds": seconds},
        retry_after=seconds,
    )


def _pair_key(username: str, address: str) -> str:
    return f"acct:{username.lower()} {address}"


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
