"""The management API as one FastAPI application, reached through the dispatcher
(which keeps request ids, metrics and the access log for it).

Errors have the registry's shape, `{"errors": [{"code", "message", "detail"?}]}`:
domain exceptions through the one renderer, schema violations as 422
INVALID_REQUEST, unknown routes 404 NOT_FOUND, wrong methods 405 UNSUPPORTED (with
`Allow`), anything unexpected 500 UNKNOWN (logged once, here). Every 401 carries
`WWW-Authenticate: Basic realm="dockyard"`, except to a script's request (one with the
CSRF header, as the web UI's), which a browser would answer with its password dialog.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard import __version__
from dockyard import errors as e
from dockyard.auth.sessions import CSRF_HEADER
from dockyard.capabilities import Capability
from dockyard.diskspace import is_no_space, unavailable
from dockyard.errors import DockyardError
from dockyard.http.api import audit, jobs, members, projects, repositories, robots, system, users
from dockyard.http.api.docs import REQUIRED, SECURITY_SCHEMES
from dockyard.http.api.models import PATTERN_WORDS
from dockyard.http.api.routing import PREFIX, SCOPE_KEY
from dockyard.http.errors import error_response, render

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Basic realm="dockyard"'}
# what Starlette's own HTTPExceptions (no such route, wrong method, …) answer as
_STATUS_CODES = {404: e.NOT_FOUND, 405: e.UNSUPPORTED, 401: e.UNAUTHORIZED, 403: e.DENIED}

DESCRIPTION = """\
Manage Dockyard: users, projects, members, robot accounts, quotas, repositories and
the audit trail.

Authenticate with HTTP basic (a user's password, an OpenID Connect user's CLI
secret, or a robot's name and secret) or with a bearer token from
`GET /auth/token?service=dockyard` requested without `scope`.

Lists are paged with `page` (from 1) and `page_size` (1 to 100); the answer carries
`X-Total-Count` and an RFC 5988 `Link` header. Errors are
`{"errors": [{"code", "message", "detail"}]}`.

A project the caller cannot see at all answers as if it did not exist (404; 401
without credentials).
"""


class DockyardApi(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document plus the security schemes: operations that do not allow
        anonymous callers require basic or bearer credentials."""
        if self.openapi_schema:
            return self.openapi_schema
        doc = get_openapi(
            title=self.title,
            version=self.version,
            openapi_version=self.openapi_version,
            description=self.description,
            routes=self.routes,
        )
        doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                operation.setdefault("security", REQUIRED)
        self.openapi_schema = doc
        return doc


def _json(
    request: Request, error: e.ErrorCode, message: str, detail: Any = None, headers: Any = None
) -> Response:
    # A script's request (the web UI's carries the CSRF header) gets no challenge: a
    # browser would answer one with its own password dialog instead of letting the
    # page show its sign-in form.
    if error.status == 401 and not request.headers.get(CSRF_HEADER):
        headers = {**(headers or {}), **CHALLENGE}
    return error_response(error, message, detail, headers)


async def _dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    if exc.status == 401:  # the API answers with a Basic challenge, not the registry's
        return _json(request, exc.error, exc.message, exc.detail)
    return render(exc)


def _words(err: Any) -> str:
    """pydantic's message, with a pattern said in words instead of as a regex."""
    if err.get("type") == "string_pattern_mismatch":
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        return f"should be {PATTERN_WORDS.get(pattern, 'in the documented format')}"
    return str(err.get("msg", ""))


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": _words(err),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return _json(request, e.INVALID_REQUEST, message, detail)


class _AllowTable:
    """Every method each path answers to: Starlette's 405 names only the methods of the
    first route whose path matched."""

    def __init__(self, routers: list[APIRouter]) -> None:
        self._routes = [
            (route.path_regex, frozenset(route.methods or ()))
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
        ]

    def allow(self, path: str) -> str:
        methods = {m for regex, ms in self._routes if regex.match(path) for m in ms}
        return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = _STATUS_CODES.get(exc.status_code, e.MALFORMED_REQUEST)
    headers = exc.headers
    if exc.status_code == 404:
        message = f"no such endpoint: {request.url.path[:200]}"
    elif exc.status_code == 405:
        message = f"{request.method} is not supported here"
        table: _AllowTable = request.app.state.allow
        headers = {"Allow": table.allow(request.url.path)}
    else:
        message = str(exc.detail)
    return _json(request, error, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_no_space(exc):  # a full disk is retryable, not a bug (logged in ApiEntry)
        return render(unavailable())
    return error_response(e.UNKNOWN)


def build_api(capabilities: Sequence[Capability] = ()) -> FastAPI:
    api = DockyardApi(
        title="Dockyard",
        version=__version__,
        description=DESCRIPTION,
        docs_url=f"{PREFIX}/docs",
        openapi_url=f"{PREFIX}/openapi.json",
        redoc_url=None,
        redirect_slashes=False,
    )
    routers = [
        users.router,
        projects.router,
        members.router,
        robots.system,
        robots.in_project,
        repositories.router,
        audit.router,
        jobs.router,
        system.router,
    ]
    routers += [c.router() for c in capabilities if c.router is not None]
    for router in routers:
        api.include_router(router)
    api.state.allow = _AllowTable(routers)
    api.add_exception_handler(DockyardError, _dockyard_error)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(Exception, _unexpected)
    return api


class ApiEntry:
    """What the dispatcher calls: the FastAPI app, with unexpected exceptions logged
    here once (Starlette answers 500 through `_unexpected`, then re-raises)."""

    def __init__(self, capabilities: Sequence[Capability] = ()) -> None:
        self.app = build_api(capabilities)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            where = f"{scope['method']} {scope['path'][:200]}"
            dockyard = scope.get(SCOPE_KEY)
            if not is_no_space(exc) or dockyard is None:
                log.exception("unhandled error in %s", where)
            else:
                dockyard.services.space.full(exc, where)
