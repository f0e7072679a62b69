"""Serving the web UI's files: the page at `/`, its scripts and styles under `/ui/`.

The files are few and small (a single-page app without a build step: ES modules and
one vendored library), so they are read once, at import, and served from memory
with an ETag (a browser revalidates, and gets a 304 until Dockyard is upgraded).
Every answer carries the UI's security headers: a Content-Security-Policy that
allows only this origin's scripts, styles and API (no inline script, no eval, Trusted
Types enforced, no framing), nosniff, no referrer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

STATIC = Path(__file__).with_name("static")
PREFIX = "/ui/"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types lit-html",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load() -> dict[str, Asset]:
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        kind = TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            continue  # licences, the vendoring record's notes: not served
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        found[PREFIX + path.relative_to(STATIC).as_posix()] = Asset(body, kind, etag)
    found["/"] = found[PREFIX + "index.html"]
    return found


ASSETS = _load()


def _serve(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else asset.body
        headers["Content-Length"] = str(len(asset.body))
        return Response(body, headers=headers, media_type=asset.content_type)

    return handler


def routes() -> dict[str, dict[str, Callable[[Request], Awaitable[ASGIApp]]]]:
    """Exact path → handler by method, for the dispatcher's fixed-path table."""
    out: dict[str, dict[str, Callable[[Request], Awaitable[ASGIApp]]]] = {}
    for path, asset in ASSETS.items():
        handler = _serve(asset)
        out[path] = {"GET": handler, "HEAD": handler}
    return out
