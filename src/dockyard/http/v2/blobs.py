"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from dockyard.http.v2.common import services


def _headers(digest: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "max-age=31536000",
    }


async def head_blob(request: Request, name: str, digest: str) -> Response:
    blob = await services(request).blobs.stat(name, digest)
    headers = _headers(blob.digest)
    headers["Content-Length"] = str(blob.size)
    return Response(status_code=200, headers=headers, media_type="application/octet-stream")


async def get_blob(request: Request, name: str, digest: str) -> Response:
    svc = services(request).blobs
    source = await svc.source(name, digest, redirect=True)
    if source.redirect_url is not None:
        return RedirectResponse(source.redirect_url, status_code=307)
    headers = _headers(source.blob.digest)
    if source.local_path is not None:
        # Starlette answers Range with 206 itself, and hands a whole-file GET to the
        # server as ASGI pathsend (zero-copy sendfile in granian).
        return FileResponse(
            source.local_path, headers=headers, media_type="application/octet-stream"
        )
    headers["Content-Length"] = str(source.blob.size)
    return StreamingResponse(
        svc.stream(source.blob.digest), headers=headers, media_type="application/octet-stream"
    )


async def delete_blob(request: Request, name: str, digest: str) -> Response:
    await services(request).blobs.delete(name, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
