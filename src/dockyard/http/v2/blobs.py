"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dockyard.errors import BlobUnknown
from dockyard.http.context import app_of, services
from dockyard.http.v2.blobsend import BlobBody, RangeNotSatisfiable, parse_range


def _headers(digest: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }


async def head_blob(request: Request, name: str, digest: str) -> Response:
    svc = services(request).blobs
    try:
        blob = await svc.stat(name, digest)
        size = blob.size
    except BlobUnknown:
        found = await svc.size_through(name, digest) if svc.sources else None
        if found is None:
            raise
        size = found
    headers = _headers(digest)
    headers["Content-Length"] = str(size)
    return Response(status_code=200, headers=headers, media_type="application/octet-stream")


async def get_blob(request: Request, name: str, digest: str) -> Response | BlobBody:
    svc = services(request).blobs
    try:
        source = await svc.source(name, digest, redirect=True)
    except BlobUnknown:
        sourced = await svc.pull_through(name, digest) if svc.sources else None
        if sourced is None:
            raise
        # streamed as it is fetched (and stored); a Range is answered with the whole
        # blob (200), which clients accept
        headers = _headers(digest)
        headers["Content-Type"] = "application/octet-stream"
        if sourced.size is not None:
            headers["Content-Length"] = str(sourced.size)
        return BlobBody(200, headers, sourced.chunks)
    if source.redirect_url is not None:
        return RedirectResponse(source.redirect_url, status_code=307)
    size = source.blob.size
    headers = _headers(source.blob.digest)
    headers["Content-Type"] = "application/octet-stream"
    try:
        wanted = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if wanted is None:
        headers["Content-Length"] = str(size)
        slots = app_of(request).stream_slots
        if (
            not slots.available()
            and source.local_path is not None
            and "http.response.pathsend" in request.scope.get("extensions", {})
        ):
            return BlobBody(200, headers, None, source.local_path)
        return BlobBody(200, headers, svc.stream(source.blob.digest), slots=slots)
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return BlobBody(206, headers, svc.stream(source.blob.digest, start, end - start + 1))


async def delete_blob(request: Request, name: str, digest: str) -> Response:
    await services(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
