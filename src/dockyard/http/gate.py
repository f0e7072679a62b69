"""Who is calling, and may they: credentials from the Authorization header, the
route table's access, and the Docker token-auth challenge when the answer is no."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request

from dockyard.auth.permissions import ANONYMOUS, PULL, Principal, project_of
from dockyard.auth.service import AuthService
from dockyard.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from dockyard.auth.tokens import TokenInvalid
from dockyard.errors import Denied, Unauthorized
from dockyard.http.v2.common import services
from dockyard.http.v2.routes import ACCESS

TOKEN_PATH = "/auth/token"


class Challenge(Unauthorized):
    """authentication required"""

    def __init__(self, message: str, headers: dict[str, str], detail: Any = None) -> None:
        super().__init__(message, detail)
        self.headers = headers


class DeniedChallenge(Denied):
    """requested access to the resource is denied"""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def realm(request: Request) -> str:
    settings = services(request).settings
    if settings.auth.token.realm:
        return settings.auth.token.realm
    if settings.server.public_url:
        return settings.server.public_url.rstrip("/") + TOKEN_PATH
    return f"{request.url.scheme}://{request.url.netloc}{TOKEN_PATH}"


def challenge(
    request: Request, message: str, scope: str | None = None, error: str | None = None
) -> Challenge:
    service = services(request).settings.auth.token.service
    parts = [f'realm="{realm(request)}"', f'service="{service}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    detail = None
    if scope:
        kind, _, rest = scope.partition(":")
        name, _, action = rest.rpartition(":")
        detail = [{"Type": kind, "Name": name, "Action": action}]
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


async def authorize_v2(request: Request, template: str, params: dict[str, str]) -> Principal:
    """Let the request through (returning who made it) or raise 401/403."""
    auth = services(request).auth
    access = ACCESS[template][request.method]
    principal, how = await principal_of(request, auth)
    request.state.principal = principal
    if access == "base":
        if principal.anonymous:
            raise challenge(request, "authentication required")
        return principal
    if access == "catalog":
        if auth.may_list_catalog(principal):
            return principal
        scope = "registry:catalog:*"
    else:
        name = params["name"]
        allowed = await auth.actions_on(principal, name)
        if access in allowed:
            if template == "/v2/{name}/blobs/uploads/" and "mount" in request.query_params:
                await _mount_policy(request, auth, principal, name)
            return principal
        scope = f"repository:{name}:{access}"
    if how == "basic":
        raise Denied(f"{principal.name} may not {scope.rsplit(':', 1)[1]} {scope.split(':')[1]}")
    if how == "bearer":
        # RFC 6750 section 3.1: a valid token without the scope gets 403, with the
        # challenge naming the scope needed (oras asks for a new token on this).
        raise DeniedChallenge(
            f"the token does not grant {scope}",
            challenge(request, "insufficient scope", scope, "insufficient_scope").headers,
        )
    raise challenge(request, "authentication required", scope)


async def _mount_policy(
    request: Request, auth: AuthService, principal: Principal, name: str
) -> None:
    """A cross-repository mount must not reveal a blob the caller cannot read: `from`
    needs pull there; without `from`, only blobs already in the caller's project (or
    anywhere, for principals spanning every project) may be linked."""
    source = request.query_params.get("from")
    if source:
        request.state.mount_allowed = PULL in await auth.actions_on(principal, source)
        request.state.mount_within = None
    elif principal.spans_all_projects and principal.token_access is None:
        request.state.mount_allowed = True
        request.state.mount_within = None
    else:
        request.state.mount_allowed = True
        request.state.mount_within = project_of(name)
