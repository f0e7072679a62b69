"""The token endpoint of Docker token authentication (GET) and its OAuth2 form (POST),
as docker, containerd, podman, skopeo, helm and oras use them."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.auth.passwords import fingerprint
from dockyard.auth.permissions import ANONYMOUS, Principal
from dockyard.auth.service import AuthService
from dockyard.auth.tokens import TokenInvalid
from dockyard.errors import TokenRequestInvalid, Unauthorized
from dockyard.http.context import services
from dockyard.http.gate import TOKEN_PATH, basic_credentials, client_address

_MAX_SCOPES = 64
__all__ = ["TOKEN_PATH", "token_get", "token_post"]


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _check_service(auth: AuthService, service: str | None) -> None:
    if service and service != auth.settings.token.service:
        raise TokenRequestInvalid(f"this server issues tokens for {auth.settings.token.service!r}")


def _scopes(raw: list[str]) -> list[str]:
    """Every scope asked for (a parameter may hold several, space-separated); refused
    past the cap, so a token's size stays bounded however the scopes are packed."""
    scopes = [scope for value in raw for scope in value.split()]
    if len(scopes) > _MAX_SCOPES:
        raise TokenRequestInvalid(
            f"at most {_MAX_SCOPES} scopes per token request ({len(scopes)} given)"
        )
    return scopes


async def _refresh_for(auth: AuthService, principal: Principal, marker: str | None) -> str:
    return auth.tokens.issue_refresh(principal.name, principal.kind, fingerprint(marker))


async def _marker_of(auth: AuthService, principal: Principal) -> str | None:
    found = await auth.principal_named(principal.kind, principal.name)
    return None if found is None else found[1]


async def token_get(request: Request) -> Response:
    auth = services(request).auth
    params = request.query_params
    _check_service(auth, params.get("service"))
    scopes = _scopes(params.getlist("scope"))
    creds = basic_credentials(request)
    if creds is None:
        if request.headers.get("authorization"):
            raise Unauthorized("the token endpoint takes basic credentials")
        principal = ANONYMOUS
    else:
        principal = await auth.login(creds[0], creds[1], client_address(request))
    access = await auth.narrow(principal, scopes)
    issued = auth.tokens.issue(principal.name, access, principal.kind)
    body: dict[str, Any] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    if params.get("offline_token") == "true" and not principal.anonymous:
        body["refresh_token"] = await _refresh_for(
            auth, principal, await _marker_of(auth, principal)
        )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def token_post(request: Request) -> Response:
    auth = services(request).auth
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return _oauth_error("invalid_request", "expected an application/x-www-form-urlencoded body")
    body = await request.body()
    if len(body) > 64 * 1024:
        return _oauth_error("invalid_request", "request body too large")
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    _check_service(auth, fields.get("service"))
    grant = fields.get("grant_type", "")
    scopes = _scopes([fields.get("scope", "")])
    marker: str | None
    if grant == "password":
        try:
            principal = await auth.login(
                fields.get("username", ""), fields.get("password", ""), client_address(request)
            )
        except Unauthorized as exc:
            return _oauth_error("invalid_grant", exc.message, 401)
        marker = await _marker_of(auth, principal)
    elif grant == "refresh_token":
        try:
            claims = auth.tokens.verify_refresh(fields.get("refresh_token", ""))
        except TokenInvalid as exc:
            return _oauth_error("invalid_grant", str(exc), 401)
        found = await auth.principal_named(str(claims.get("dky_kind")), str(claims.get("sub")))
        if found is None or fingerprint(found[1]) != claims.get("dky_fp"):
            return _oauth_error("invalid_grant", "refresh token revoked", 401)
        principal, marker = found
    else:
        return _oauth_error("unsupported_grant_type", f"grant_type {grant[:40]!r} is not supported")
    access = await auth.narrow(principal, scopes)
    issued = auth.tokens.issue(principal.name, access, principal.kind)
    out: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
        "scope": " ".join(
            f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access if a["actions"]
        ),
    }
    if grant == "refresh_token" or fields.get("access_type") == "offline":
        out["refresh_token"] = await _refresh_for(auth, principal, marker)
    return JSONResponse(out, headers={"Cache-Control": "no-store"})
