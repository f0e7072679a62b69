"""Password sign-in for the web UI: `POST /auth/login` with `{"username", "password"}`
checks them as every other login does (local users, LDAP; the login throttle) and
answers with a session cookie — HttpOnly, SameSite=Strict, Secure behind TLS — that
the management API accepts (changes made with it must carry the CSRF header). A
robot signs in to the API and /v2/ with its secret, not to the UI. `POST
/auth/logout` ends the session on the server, not only in the browser."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard import errors as e
from dockyard.auth.sessions import CSRF_HEADER, SESSION_COOKIE, SESSION_SECONDS
from dockyard.errors import Unauthorized
from dockyard.http.context import services
from dockyard.http.errors import error_response
from dockyard.http.gate import client_address

MAX_BODY = 8192


def secure_cookies(request: Request) -> bool:
    """Whether cookies must be Secure: the request came over TLS, or the registry's
    public URL is https (TLS ends at a proxy in front)."""
    public = services(request).settings.server.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


async def set_session(request: Request, response: Response, username: str) -> None:
    """Start a session of the user and give the response its cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        await services(request).auth.start_session(username),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )


async def login(request: Request) -> Response:
    if not request.headers.get(CSRF_HEADER):
        return error_response(e.DENIED, f"a sign-in needs the {CSRF_HEADER} header")
    body = await request.body()
    if len(body) > MAX_BODY:
        return error_response(e.INVALID_REQUEST, "the sign-in body is too large")
    try:
        fields = json.loads(body)
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or not all(
        isinstance(fields.get(k), str) for k in ("username", "password")
    ):
        return error_response(
            e.INVALID_REQUEST, 'a sign-in is JSON: {"username": "…", "password": "…"}'
        )
    auth = services(request).auth
    principal = await auth.login(fields["username"], fields["password"], client_address(request))
    if principal.kind != "user":
        raise Unauthorized("robot accounts sign in with their secret, not to the web UI")
    response = JSONResponse({"username": principal.name, "is_admin": principal.is_admin})
    await set_session(request, response, principal.name)
    return response


async def logout(request: Request) -> Response:
    """End the session the cookie carries (on every replica: the cookie is refused
    from now on, even if a copy of it is replayed) and clear the cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await services(request).auth.end_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def session(request: Request) -> Response:
    """`GET /auth/session`: who the session cookie names, or `{"username": null}` —
    always 200, so the UI learns whether to show its sign-in form without a failed
    request — and whether single sign-on (OpenID Connect) is offered."""
    auth = services(request).auth
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await auth.from_session(cookie) if cookie else None
    oidc = auth.oidc is not None
    if principal is None:
        return JSONResponse({"username": None, "is_admin": False, "oidc": oidc})
    return JSONResponse({"username": principal.name, "is_admin": principal.is_admin, "oidc": oidc})
