"""Manifests, tags, referrers, catalog, and the base endpoint."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import ManifestTooLarge, ManifestUnknown
from dockyard.http.context import services
from dockyard.http.v2.common import (
    accepted_types,
    location,
    next_link,
    pagination,
)
from dockyard.metadata.records import ManifestRecord
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import is_digest
from dockyard.oci.names import is_tag
from dockyard.registry.sources import covering

_JSON = "application/json"


async def base(request: Request) -> Response:
    return Response(b"{}", media_type=_JSON)


def _linux_amd64(index: ManifestRecord) -> str | None:
    for child in json.loads(index.content).get("manifests", []):
        platform = child.get("platform") or {}
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return str(child["digest"])
    return None


async def _negotiate(
    request: Request, name: str, reference: str
) -> tuple[ManifestRecord, list[str]]:
    """Fetch a manifest in a form the client accepts, as the reference registry does.

    Clients list what they understand across one or more Accept lines. With no
    Accept, a wildcard, or the stored type among them, the stored bytes go out as
    they are. Otherwise, as distribution does: a Docker manifest list asked for by
    tag resolves to its linux/amd64 child (for clients older than lists); other
    Docker types go out whatever the list says; an OCI manifest or index goes only
    to a client that names its type, else 404. The resolved child is held to the
    same rule by its stored type, not by what the list claims it is.

    A repository a pull source (the proxy cache) covers is read through it; its
    warning (a stale copy served while the upstream is away) is returned.
    """
    manifests = services(request).manifests
    notes: list[str] = []
    if manifests.sources and covering(manifests.sources, name) is not None:
        record, warning = await manifests.pull_through(name, reference)
        if warning:
            notes.append(warning)
    else:
        record = await manifests.get(name, reference)
    accepted = accepted_types(request)
    if (
        not accepted
        or record.media_type in accepted
        or any(a in ("*/*", "application/*") for a in accepted)
    ):
        return record, notes
    if record.media_type == mt.DOCKER_MANIFEST_LIST and is_tag(reference):
        child = _linux_amd64(record)
        if child is None:
            raise ManifestUnknown(
                f"manifest list {reference} has no linux/amd64 manifest for a client "
                "that does not accept manifest lists"
            )
        if manifests.sources:
            record, _ = await manifests.pull_through(name, child)
        else:
            record = await manifests.get(name, child)
        reference = f"{reference} (its linux/amd64 manifest {child})"
    if record.media_type in accepted or record.media_type in mt.DOCKER_TYPES:
        return record, notes
    raise ManifestUnknown(
        f"manifest {reference} is {record.media_type}, which the Accept header does not include"
    )


def _manifest_headers(record: ManifestRecord) -> dict[str, str]:
    return {
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
        "Content-Length": str(record.size),
    }


async def _check_pull(
    request: Request, name: str, reference: str, record: ManifestRecord
) -> list[str]:
    """The pull-path policies; each audit-mode warning as a `Warning` header value (RFC
    7234's 299 "miscellaneous persistent warning", as distribution-spec allows)."""
    principal = getattr(request.state, "principal", None)
    who = None if principal is None or principal.anonymous else principal.name
    robot = principal is not None and principal.kind == "robot"
    warnings = await services(request).manifests.check_pull(name, reference, record, who, robot)
    return [f'299 - "{_quoted(w)}"' for w in warnings]


def _quoted(text: str) -> str:
    """A warning text as an HTTP quoted-string: printable ASCII, quotes escaped."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text[:512])
    return clean.replace("\\", "\\\\").replace('"', '\\"')


def _with_warnings(response: Response, warnings: list[str]) -> Response:
    for warning in warnings:
        response.headers.append("Warning", warning)
    return response


async def head_manifest(request: Request, name: str, reference: str) -> Response:
    record, notes = await _negotiate(request, name, reference)
    warnings = await _check_pull(request, name, reference, record)
    if notes:
        warnings = [f'299 - "{_quoted(w)}"' for w in notes] + warnings
    response = Response(headers=_manifest_headers(record), media_type=record.media_type)
    return _with_warnings(response, warnings)


async def get_manifest(request: Request, name: str, reference: str) -> Response:
    record, notes = await _negotiate(request, name, reference)
    svc = services(request)
    warnings = await _check_pull(request, name, reference, record)
    if notes:
        warnings = [f'299 - "{_quoted(w)}"' for w in notes] + warnings
    # a pull, for the statistics (a dict update; registry/pulls.py flushes in batches)
    svc.pulls.count(name, record.digest, None if is_digest(reference) else reference)
    response = Response(
        record.content, headers=_manifest_headers(record), media_type=record.media_type
    )
    return _with_warnings(response, warnings)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ManifestTooLarge(f"manifest of {declared} bytes exceeds the {limit}-byte limit")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise ManifestTooLarge(f"manifest exceeds the {limit}-byte limit")
    return bytes(buf)


def _actor(request: Request) -> str | None:
    """Who made the change, for its event (the gate put the principal there)."""
    principal = getattr(request.state, "principal", None)
    return None if principal is None or principal.anonymous else str(principal.name)


async def put_manifest(request: Request, name: str, reference: str) -> Response:
    manifests = services(request).manifests
    content = await _read_limited(request, manifests.max_bytes)
    result = await manifests.put(
        name, reference, request.headers.get("content-type"), content, _actor(request)
    )
    headers = {
        "Location": location(request, f"/v2/{name}/manifests/{result.digest}"),
        "Docker-Content-Digest": result.digest,
        "Content-Length": "0",
    }
    if result.subject:
        headers["OCI-Subject"] = result.subject
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request, name: str, reference: str) -> Response:
    await services(request).manifests.delete(name, reference, _actor(request))
    return Response(status_code=202, headers={"Content-Length": "0"})


async def list_tags(request: Request, name: str) -> Response:
    n, last = pagination(request)
    tags = await services(request).manifests.tags(name, n, last)
    body = json.dumps({"name": name, "tags": tags}).encode()
    return Response(body, media_type=_JSON, headers=next_link(f"/v2/{name}/tags/list", n, tags))


async def catalog(request: Request) -> Response:
    n, last = pagination(request)
    repos = await services(request).manifests.catalog(n, last)
    body = json.dumps({"repositories": repos}).encode()
    return Response(body, media_type=_JSON, headers=next_link("/v2/_catalog", n, repos))


async def referrers(request: Request, name: str, digest: str) -> Response:
    artifact_type = request.query_params.get("artifactType") or None
    body = await services(request).manifests.referrers(name, digest, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(body, media_type=mt.OCI_INDEX, headers=headers)
