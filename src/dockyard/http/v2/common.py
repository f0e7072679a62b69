"""Request parsing shared by the v2 handlers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

from starlette.requests import Request

from dockyard.errors import PaginationInvalid, RangeInvalid
from dockyard.http.context import services
from dockyard.registry.uploads import Chunk

MAX_PAGE = 10_000
API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(\d+|\*))?")


def location(request: Request, path: str) -> str:
    base = services(request).settings.server.public_url
    return f"{base.rstrip('/')}{path}" if base else path


def upload_location(request: Request, name: str, upload_id: str) -> str:
    return location(request, f"/v2/{name}/blobs/uploads/{upload_id}")


def range_header(offset: int) -> str:
    """The upload progress header: inclusive end of what has been received."""
    return f"0-{max(offset - 1, 0)}"


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise RangeInvalid(f"invalid Content-Length {raw[:40]!r}")
    return int(raw)


def has_body(request: Request) -> bool:
    length = _content_length(request)
    if length is not None:
        return length > 0
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def parse_chunk(request: Request, current_offset: int | None = None) -> Chunk:
    """Content-Range (`start-end`, also `bytes start-end/total`) and Content-Length."""
    length = _content_length(request)
    raw = request.headers.get("content-range")
    if raw is None:
        return Chunk(None, length)
    m = _CONTENT_RANGE.fullmatch(raw.strip())
    if m is None:
        raise RangeInvalid(
            f"invalid Content-Range {raw[:80]!r}", current_offset=current_offset or 0
        )
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise RangeInvalid(
            f"invalid Content-Range {raw[:80]!r}", current_offset=current_offset or 0
        )
    span = end - start + 1
    if length is not None and length != span:
        raise RangeInvalid(
            f"Content-Range covers {span} bytes but Content-Length is {length}",
            current_offset=current_offset or 0,
        )
    return Chunk(start, span)


def body(request: Request) -> AsyncIterator[bytes]:
    return request.stream()


def pagination(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    n: int | None = None
    if raw_n is not None:
        if not raw_n.isdigit() or len(raw_n) > 9:
            raise PaginationInvalid(f"invalid n {raw_n[:20]!r}")
        n = min(int(raw_n), MAX_PAGE)
    return n, request.query_params.get("last") or None


def next_link(path: str, n: int | None, items: list[str]) -> dict[str, str]:
    """RFC 5988 Link to the next page, when the page came back full."""
    if n is None or n == 0 or len(items) < n:
        return {}
    query = urlencode({"n": n, "last": items[-1]}, quote_via=quote)
    return {"Link": f'<{path}?{query}>; rel="next"'}


def accepted_types(request: Request) -> list[str]:
    """Every media type named across all Accept header lines, parameters dropped."""
    types: list[str] = []
    for line in request.headers.getlist("accept"):
        for part in line.split(","):
            mt = part.split(";", 1)[0].strip().lower()
            if mt:
                types.append(mt)
    return types
