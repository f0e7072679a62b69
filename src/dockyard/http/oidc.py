"""OpenID Connect login for people (the web UI): /auth/oidc/login sends the browser to
the provider, /auth/oidc/callback brings it back with a code, which becomes a user
record (groups from claims) and a session cookie. /auth/logout (http/login.py)
ends the session."""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from dockyard import errors as e
from dockyard.auth.identity import IdentityProviderUnavailable
from dockyard.auth.oidc import OidcLoginError
from dockyard.auth.sessions import PENDING_COOKIE, PENDING_SECONDS
from dockyard.errors import Unauthorized
from dockyard.http.context import services
from dockyard.http.errors import error_response
from dockyard.http.gate import client_address
from dockyard.http.login import secure_cookies, set_session
from dockyard.metadata.identity import AuditEvent

log = logging.getLogger(__name__)
CALLBACK_PATH = "/auth/oidc/callback"
# Where the UI asked to land after signing in: a page of the UI (`#/…`), nothing else —
# the callback would otherwise redirect to wherever a crafted login link said.
_UI_PAGE = re.compile(r"^#/[A-Za-z0-9._~!$&'()*+,;=:@/?%-]{0,500}$")


def _redirect_uri(request: Request) -> str:
    settings = services(request).settings
    if settings.auth.oidc.redirect_url:
        return settings.auth.oidc.redirect_url
    base = settings.server.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + CALLBACK_PATH


async def login(request: Request) -> Response:
    auth = services(request).auth
    if auth.oidc is None:
        return error_response(e.NO_SUCH_ENDPOINT, "OpenID Connect login is not enabled")
    try:
        url, pending = await auth.oidc.begin(_redirect_uri(request))
    except IdentityProviderUnavailable as exc:
        log.error("OIDC provider unavailable: %s", exc)
        return error_response(e.UNAVAILABLE, "the identity provider is unavailable")
    landing = request.query_params.get("next", "")
    if _UI_PAGE.match(landing):
        pending = {**pending, "next": landing}
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        PENDING_COOKIE,
        auth.sessions.pending(pending),
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level cross-site GET
        secure=secure_cookies(request),
        path="/auth/oidc",
    )
    return response


async def callback(request: Request) -> Response:
    svc = services(request)
    auth = svc.auth
    if auth.oidc is None:
        return error_response(e.NO_SUCH_ENDPOINT, "OpenID Connect login is not enabled")
    address = client_address(request)
    pending = auth.sessions.read_pending(request.cookies.get(PENDING_COOKIE, ""))
    if pending is None:
        return error_response(e.UNAUTHORIZED, "no login in progress (or it expired)")
    try:
        identity = await auth.oidc.finish(pending, request.query_params)
        user = await auth.sync_external_user(
            identity, "oidc", admin_group=svc.settings.auth.oidc.admin_group
        )
    except IdentityProviderUnavailable as exc:
        log.error("OIDC provider unavailable: %s", exc)
        return error_response(e.UNAVAILABLE, "the identity provider is unavailable")
    except (OidcLoginError, Unauthorized) as exc:
        await auth.audit.write(
            AuditEvent(
                actor="unknown",
                actor_kind="user",
                address=address,
                action="login",
                resource="oidc",
                outcome="failed",
                detail={"reason": str(exc)[:200]},
            )
        )
        return error_response(e.UNAUTHORIZED, f"login failed: {exc}")
    if user.disabled:
        return error_response(e.UNAUTHORIZED, "login failed: the account is disabled")
    await auth.audit.write(
        AuditEvent(
            actor=user.username,
            actor_kind="user",
            address=address,
            action="login",
            resource=f"user/{user.username}",
            detail={"via": "oidc"},
        )
    )
    who = {
        "username": user.username,
        "email": user.email,
        "groups": list(user.groups),
        "is_admin": user.is_admin,
    }
    # a browser's navigation lands in the web UI; an API client gets who signed in
    browser = "text/html" in request.headers.get("accept", "")
    landing = pending.get("next", "")
    target = "/" + landing if _UI_PAGE.match(landing) else "/"
    response: Response = RedirectResponse(target, 303) if browser else JSONResponse(who)
    await set_session(request, response, user.username)
    response.delete_cookie(PENDING_COOKIE, path="/auth/oidc")
    return response
