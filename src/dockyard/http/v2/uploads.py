"""/v2/<name>/blobs/uploads/: start, mount, PATCH, PUT, status, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import DigestInvalid, RangeInvalid
from dockyard.http.context import services
from dockyard.http.errors import render
from dockyard.http.v2.common import (
    body,
    has_body,
    location,
    parse_chunk,
    range_header,
    upload_location,
)


def _progress(request: Request, name: str, upload_id: str, offset: int, status: int) -> Response:
    return Response(
        status_code=status,
        headers={
            "Location": upload_location(request, name, upload_id),
            "Range": range_header(offset),
            "Content-Length": "0",
            "Docker-Upload-UUID": upload_id,
            "Blob-Upload-Session-ID": upload_id,
        },
    )


def _created(request: Request, name: str, digest: str) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": location(request, f"/v2/{name}/blobs/{digest}"),
            "Docker-Content-Digest": digest,
            "Content-Length": "0",
        },
    )


def _range_error(request: Request, name: str, upload_id: str, exc: RangeInvalid) -> Response:
    return render(
        exc,
        headers={
            "Location": upload_location(request, name, upload_id),
            "Range": range_header(exc.current_offset),
            "Blob-Upload-Session-ID": upload_id,
            "Docker-Upload-UUID": upload_id,
        },
    )


async def start_upload(request: Request, name: str) -> Response:
    uploads = services(request).uploads
    params = request.query_params
    mount = params.get("mount")
    # the gate decided whether the caller may mount, and from which repository
    if mount is not None and getattr(request.state, "mount_allowed", False):
        blob = await uploads.mount(name, mount, getattr(request.state, "mount_from", None))
        if blob is not None:
            return _created(request, name, blob.digest)
    digest = params.get("digest")
    if digest is not None:
        if not digest:
            raise DigestInvalid("empty digest parameter")
        actual = await uploads.monolithic(name, digest, body(request), parse_chunk(request))
        return _created(request, name, actual)
    rec = await uploads.start(name)
    return _progress(request, name, rec.id, 0, 202)


async def upload_status(request: Request, name: str, upload_id: str) -> Response:
    rec = await services(request).uploads.status(name, upload_id)
    return _progress(request, name, rec.id, rec.offset, 204)


async def patch_upload(request: Request, name: str, upload_id: str) -> Response:
    uploads = services(request).uploads
    try:
        chunk = parse_chunk(request)
        offset = await uploads.append(name, upload_id, body(request), chunk)
    except RangeInvalid as exc:
        if exc.current_offset == 0:
            rec = await uploads.status(name, upload_id)
            exc.current_offset = rec.offset
        return _range_error(request, name, upload_id, exc)
    return _progress(request, name, upload_id, offset, 202)


async def finish_upload(request: Request, name: str, upload_id: str) -> Response:
    uploads = services(request).uploads
    digest = request.query_params.get("digest")
    if not digest:
        raise DigestInvalid("the digest query parameter is required to complete an upload")
    try:
        chunk = parse_chunk(request)
        data = body(request) if has_body(request) else None
        actual = await uploads.finish(name, upload_id, digest, data, chunk)
    except RangeInvalid as exc:
        if exc.current_offset == 0:
            rec = await uploads.status(name, upload_id)
            exc.current_offset = rec.offset
        return _range_error(request, name, upload_id, exc)
    return _created(request, name, actual)


async def cancel_upload(request: Request, name: str, upload_id: str) -> Response:
    await services(request).uploads.cancel(name, upload_id)
    return Response(status_code=204, headers={"Content-Length": "0"})
