"""Who is calling, and may they: credentials from the Authorization header, the
route table's access, and the Docker token-auth challenge when the answer is no."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request

from dockyard.auth.permissions import ANONYMOUS, PULL, PUSH, Principal, project_of
from dockyard.auth.service import AuthService
from dockyard.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from dockyard.auth.tokens import TokenInvalid
from dockyard.errors import Denied, Unauthorized
from dockyard.http.context import services
from dockyard.http.hosts import forwarded_client, is_own_host
from dockyard.http.v2.routes import BASE, CATALOG, UPLOADS, Endpoint, Route
from dockyard.oci.names import validate_name

TOKEN_PATH = "/auth/token"


LOGIN_FIRST = "authentication required: log in first (docker login, podman login, skopeo login)"


class Challenge(Unauthorized):
    """authentication required"""

    def __init__(self, message: str, headers: dict[str, str], detail: Any = None) -> None:
        super().__init__(message, detail)
        self.headers = headers


def client_address(request: Request) -> str:
    """Who is on the other end: the TCP peer, or the client a trusted proxy names."""
    peer = request.client.host if request.client else ""
    trusted = services(request).settings.server.trusted_proxies
    if not trusted:
        return peer
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), trusted)


def realm(request: Request) -> str:
    """The token endpoint's absolute URL. Without `public_url` it is built from the
    Host header only when that names this server (a loopback or local address, the
    machine's own name, or a configured `server.trusted_hosts` entry); otherwise from
    the address the connection arrived on, so a forged Host never becomes the realm."""
    settings = services(request).settings
    if settings.auth.token.realm:
        return settings.auth.token.realm
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/") + TOKEN_PATH
    return f"{request.url.scheme}://{own_netloc(request)}{TOKEN_PATH}"


def own_netloc(request: Request) -> str:
    """host[:port] of this server as the client reached it: the Host header if it is
    one of our names, else the local address of the connection."""
    netloc = request.url.netloc
    if is_own_host(request.url.hostname or "", services(request).settings.server.trusted_hosts):
        return netloc
    server = request.scope.get("server") or ("127.0.0.1", 5000)
    host, port = str(server[0]), int(server[1])
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def challenge(
    request: Request,
    message: str,
    scopes: list[str] | None = None,
    error: str | None = None,
) -> Challenge:
    """A 401 with the Docker token-auth challenge; several scopes go space-separated in
    one `scope` parameter, as the reference registry writes them."""
    service = services(request).settings.auth.token.service
    parts = [f'realm="{realm(request)}"', f'service="{service}"']
    if scopes:
        parts.append(f'scope="{" ".join(scopes)}"')
    if error:
        parts.append(f'error="{error}"')
    detail = None
    if scopes:
        detail = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, action = rest.rpartition(":")
            detail.append({"Type": kind, "Name": name, "Action": action})
    return Challenge(message, {"WWW-Authenticate": "Bearer " + ",".join(parts)}, detail)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed basic credentials") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed basic credentials")
    return user, password


async def principal_of(request: Request, auth: AuthService) -> tuple[Principal, str]:
    """(principal, how: "anonymous" | "basic" | "bearer" | "session"); a bad credential
    raises. Browser sessions count only on the management API, and changes made with
    one must carry the CSRF header."""
    header = request.headers.get("authorization")
    if not header:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.url.path.startswith("/api/"):
            if request.method not in ("GET", "HEAD") and not request.headers.get(CSRF_HEADER):
                raise Denied(f"a session-authenticated change needs the {CSRF_HEADER} header")
            principal = await auth.from_session(cookie)
            if principal is not None:
                return principal, "session"
        return ANONYMOUS, "anonymous"
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        try:
            return auth.from_token(value.strip()), "bearer"
        except TokenInvalid as exc:
            raise challenge(request, str(exc), error="invalid_token") from None
    creds = basic_credentials(request)
    if creds is None:
        raise challenge(request, "unsupported authorization scheme")
    try:
        return await auth.login(creds[0], creds[1], client_address(request)), "basic"
    except Unauthorized as exc:
        raise challenge(request, exc.message) from None


def _scope_actions(access: str) -> str:
    """The actions a challenge asks for: pushes ask for pull and push, as the reference
    registry's challenges do (a client that pushes also reads what it pushed)."""
    return "pull,push" if access == PUSH else access


async def authorize_v2(
    request: Request, route: Route, endpoint: Endpoint, params: dict[str, str]
) -> Principal:
    """Let the request through (returning who made it) or raise 401/403."""
    auth = services(request).auth
    access = endpoint.access
    principal, how = await principal_of(request, auth)
    request.state.principal = principal
    if access == BASE:
        if principal.anonymous:
            raise challenge(request, LOGIN_FIRST)
        return principal
    mount_from: str | None = None
    if access == CATALOG:
        if auth.may_list_catalog(principal):
            return principal
        scopes = ["registry:catalog:*"]
    else:
        name = params["name"]
        mounting = route.template == UPLOADS and "mount" in request.query_params
        if mounting:
            mount_from = request.query_params.get("from") or None
        allowed = await auth.actions_on(principal, name)
        if access in allowed:
            if mounting:
                await _mount_policy(request, auth, principal, how, name, mount_from)
            return principal
        scopes = [f"repository:{name}:{_scope_actions(access)}"]
        if mount_from:
            # the reference registry asks for pull on the mount's source in the same
            # challenge, so one token covers both and the mount is not a re-upload
            scopes.append(f"repository:{mount_from}:pull")
    if principal.anonymous:
        raise challenge(request, LOGIN_FIRST, scopes)
    reason = await auth.why_not(principal, access, params.get("name"))
    if how == "bearer":
        # As the reference registry does (and containerd, docker and skopeo rely on):
        # 401 with error="insufficient_scope" naming the scope, so the client asks for
        # a token that carries it. They re-authenticate on 401 only.
        raise challenge(request, reason, scopes, "insufficient_scope")
    raise Denied(reason)


async def _mount_policy(
    request: Request,
    auth: AuthService,
    principal: Principal,
    how: str,
    name: str,
    source: str | None,
) -> None:
    """A cross-repository mount must not reveal a blob the caller cannot read. With
    `from`, the caller needs pull there (a token lacking it while its subject has it
    is challenged for both scopes, as the reference registry does). Without `from`,
    the blob is linked only from a repository the caller may pull. Where the mount is
    not allowed the request falls back to an ordinary upload (202), revealing nothing."""
    state = request.state
    state.mount_allowed = False
    state.mount_from = None
    live = await auth.live(principal)
    if live is None:
        return
    if source:
        validate_name(source)
        if PULL in await auth.actions_on(principal, source):
            state.mount_allowed, state.mount_from = True, source
        elif how == "bearer" and PULL in await auth.actions_on(live, source):
            scopes = [f"repository:{name}:pull,push", f"repository:{source}:pull"]
            raise challenge(
                request, f"the token does not grant pull on {source}", scopes, "insufficient_scope"
            )
        return
    if not services(request).settings.registry.mount_without_from:
        return
    if live.spans_all_projects and not live.grants:
        state.mount_allowed = True  # an administrator may link a blob from anywhere
        return
    digest = request.query_params.get("mount", "")
    for holder in await auth.repositories_holding(digest, project_of(name)):
        if PULL in await auth.actions_on(live, holder):
            state.mount_allowed, state.mount_from = True, holder
            return
