"""ASGI entry for HTTP requests: request id, routing, the one error boundary."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard import errors as e
from dockyard.diskspace import is_no_space, unavailable
from dockyard.http import health, login, metrics, oidc
from dockyard.http import token as token_endpoint
from dockyard.http.api.routing import SCOPE_KEY as API_SCOPE_KEY
from dockyard.http.api.routing import route_label as api_route_label
from dockyard.http.audit import record_registry_event
from dockyard.http.errors import error_response, render
from dockyard.http.gate import authorize_v2
from dockyard.http.origin import SAFE_METHODS, refuse_cross_site
from dockyard.http.v2.common import API_VERSION_HEADER
from dockyard.http.v2.routes import PULL, PUSH, Route, match
from dockyard.logs import request_id
from dockyard.metrics import DISCONNECTED, UNMATCHED
from dockyard.oci.names import validate_name
from dockyard.registry.sources import PullSource, covering, mirror_name
from dockyard.ui import serve as ui

if TYPE_CHECKING:
    from dockyard.http.context import HttpApp

log = logging.getLogger("dockyard.http")
access_log = logging.getLogger("dockyard.access")

_API_VERSION = [(k.lower().encode(), v.encode()) for k, v in API_VERSION_HEADER.items()]

_NO_BODY = frozenset({"GET", "HEAD"})
# Every surface besides /v2/ (its own table: http/v2/routes.py) and /api/ (FastAPI's):
# exact path -> handler by method; the path is the metrics label.
_FIXED: dict[str, dict[str, Callable[[Request], Awaitable[ASGIApp]]]] = {
    "/healthz": {"GET": health.healthz, "HEAD": health.healthz},
    "/readyz": {"GET": health.readyz, "HEAD": health.readyz},
    "/metrics": {"GET": metrics.metrics, "HEAD": metrics.metrics},
    token_endpoint.TOKEN_PATH: {"GET": token_endpoint.token_get, "POST": token_endpoint.token_post},
    "/auth/oidc/login": {"GET": oidc.login},
    oidc.CALLBACK_PATH: {"GET": oidc.callback},
    "/auth/logout": {"POST": login.logout},
    "/auth/login": {"POST": login.login},
    "/auth/session": {"GET": login.session},
    **ui.routes(),  # the web UI: `/` and its files under /ui/
}
Found = tuple[Route, dict[str, Any]] | None


def route_pull_sources(
    request: Request, sources: list[PullSource], params: dict[str, Any], access: str
) -> None:
    """With a pull source (the proxy cache) configured: a containerd mirror request
    (`?ns=<upstream host>`) names the repository by its upstream name; it becomes the
    local one (`<project>/<name>`) before the gate authorizes, so authorization,
    challenges, storage and statistics all see the local name. An `ns` no source
    mirrors is ignored (the name is served as a local one, as distribution does).
    Pushing into a repository a source covers is refused: it mirrors only."""
    if request.scope.get("query_string") and access == PULL:
        host = request.query_params.get("ns")
        if host:
            local = mirror_name(sources, host.lower(), params["name"])
            if local is not None:
                params["name"] = local
    if access == PUSH and covering(sources, params["name"]):
        raise e.Denied(
            f"{params['name'][:200]} is a proxy cache: it mirrors its upstream and "
            "accepts no pushes"
        )


def _not_allowed(request: Request, allow: str) -> ASGIApp:
    return error_response(
        e.UNSUPPORTED, f"{request.method} is not supported here", headers={"Allow": allow}
    )


async def _route(request: Request, found: Found) -> ASGIApp:
    path: str = request.scope["path"]
    if request.method not in SAFE_METHODS:
        server = request.scope["app"].settings.server
        refuse_cross_site(request, server.public_url, server.trusted_hosts)
    if path.startswith("/api/"):
        # FastAPI takes scope["app"] for itself: the API finds the app here
        dockyard: HttpApp = request.scope["app"]
        request.scope[API_SCOPE_KEY] = dockyard
        return dockyard.api
    if found is not None:
        route, params = found
        endpoint = route.methods.get(request.method)
        if endpoint is None:
            return _not_allowed(request, route.allow)
        if "name" in params:
            sources = request.scope["app"].services.manifests.sources
            if sources:
                route_pull_sources(request, sources, params, endpoint.access)
            validate_name(params["name"])
        await authorize_v2(request, route, endpoint, params)
        return await endpoint.handler(request, **params)
    fixed = _FIXED.get(path)
    if fixed is not None:
        handler = fixed.get(request.method)
        if handler is None:
            return _not_allowed(request, ", ".join(sorted(fixed)))
        return await handler(request)
    return error_response(e.NO_SUCH_ENDPOINT, f"no such endpoint: {path[:200]}")


async def handle_http(app: HttpApp, scope: Scope, receive: Receive, send: Send) -> None:
    rid = ""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            rid = value.decode("latin-1")[:128]
            break
    rid = rid or uuid.uuid4().hex
    token = request_id.set(rid)
    started = False
    status = 0
    bytes_out = 0
    t0 = time.perf_counter()
    rid_header = (b"x-request-id", rid.encode("latin-1"))
    path: str = scope["path"]
    is_v2 = path.startswith("/v2")
    is_api = path.startswith("/api/")
    found = match(path) if is_v2 else None
    if found is not None:
        route = found[0].template
    elif path in _FIXED:
        route = path
    else:
        route = UNMATCHED
    start_headers: list[tuple[bytes, bytes]] | None = None

    async def send_wrapped(message: Message) -> None:
        nonlocal started, status, bytes_out, start_headers
        kind = message["type"]
        if kind == "http.response.body":
            bytes_out += len(message.get("body", b""))
        elif kind == "http.response.start":
            started = True
            status = message["status"]
            start_headers = headers = list(message.get("headers", []))
            headers.append(rid_header)
            if is_v2:
                headers.extend(_API_VERSION)
            message = {**message, "headers": headers}
        elif kind == "http.response.pathsend":
            bytes_out += _content_length(start_headers or [])
        await send(message)

    # GET and HEAD bodies are never read: no counting wrapper for them
    counted = None if scope["method"] in _NO_BODY else _CountedReceive(receive)
    receive_counted = receive if counted is None else counted
    request = Request(scope, receive_counted)
    request.scope["app"] = app
    try:
        response: ASGIApp
        try:
            response = await _route(request, found)
        except e.DockyardError as exc:
            response = render(exc)
        except ClientDisconnect:
            log.info("client disconnected during %s %s", scope["method"], scope["path"][:200])
            return
        except Exception as exc:
            if not is_no_space(exc):
                log.exception("unhandled error in %s %s", scope["method"], scope["path"][:200])
                response = error_response(e.UNKNOWN)
            else:
                app.services.space.full(exc, f"{scope['method']} {scope['path'][:200]}")
                full = unavailable()
                response = render(full)
        try:
            await response(scope, receive_counted, send_wrapped)
        except Exception:
            if started:
                log.exception(
                    "response to %s %s failed midway", scope["method"], scope["path"][:200]
                )
                return
            log.exception("could not send response for %s %s", scope["method"], scope["path"][:200])
            await error_response(e.UNKNOWN)(scope, receive_counted, send_wrapped)
    finally:
        elapsed = time.perf_counter() - t0
        status = status or DISCONNECTED  # no response at all: the client left first
        if is_api:
            route = api_route_label(scope)
        bytes_in = 0 if counted is None else counted.bytes
        app.observe_request((route, scope["method"], status), elapsed, bytes_in, bytes_out)
        if found is not None and status < 400:
            endpoint = found[0].methods.get(scope["method"])
            if endpoint is not None and endpoint.audit is not None:
                record_registry_event(app, request, endpoint.audit, found[1])
        if app.access_log:
            access_log.info(
                "%s %s %d",
                scope["method"],
                path[:200],
                status,
                extra={
                    "method": scope["method"],
                    "path": path[:200],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "bytes_in": bytes_in,
                    "bytes_out": bytes_out,
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )
        request_id.reset(token)


class _CountedReceive:
    """The ASGI receive callable, counting request body bytes as they stream in."""

    __slots__ = ("bytes", "receive")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.bytes = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        body = message.get("body")
        if body:
            self.bytes += len(body)
        return message


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    for key, value in headers:
        if key == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
