"""The one route table of the distribution API: for each path, the methods with the
handler, the access the request needs, and the audit action a success records; the
path template is the route's metrics label.

Repository names contain slashes, so each pattern is anchored on the fixed
suffix and takes the name greedily; order matters only for uploads vs blobs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

from dockyard.http.v2 import blobs, manifests, uploads

Handler = Callable[..., Awaitable[ASGIApp]]

BASE = "base"
"""access: any authenticated client"""
CATALOG = "catalog"
"""access: listing every repository"""
PULL, PUSH, DELETE = "pull", "push", "delete"
"""access: that registry action on the named repository"""


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    access: str
    audit: str | None = None
    """the audit action a successful answer records (pull, push, delete)"""


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    template: str
    """the path template: the metrics label and what the gate keys on"""
    methods: dict[str, Endpoint]

    @property
    def allow(self) -> str:
        return ", ".join(sorted(self.methods))


_NAME = r"(?P<name>.+?)"
UPLOADS = "/v2/{name}/blobs/uploads/"

ROUTES: list[Route] = [
    Route(
        re.compile(r"/v2/?"),
        "/v2/",
        {"GET": Endpoint(manifests.base, BASE), "HEAD": Endpoint(manifests.base, BASE)},
    ),
    Route(
        re.compile(r"/v2/_catalog"), "/v2/_catalog", {"GET": Endpoint(manifests.catalog, CATALOG)}
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)"),
        "/v2/{name}/manifests/{reference}",
        {
            "GET": Endpoint(manifests.get_manifest, PULL, audit="pull"),
            "HEAD": Endpoint(manifests.head_manifest, PULL),
            "PUT": Endpoint(manifests.put_manifest, PUSH, audit="push"),
            "DELETE": Endpoint(manifests.delete_manifest, DELETE, audit="delete"),
        },
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/blobs/uploads/?"),
        UPLOADS,
        {"POST": Endpoint(uploads.start_upload, PUSH)},
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/blobs/uploads/(?P<upload_id>[^/]+)"),
        "/v2/{name}/blobs/uploads/{upload_id}",
        {
            "GET": Endpoint(uploads.upload_status, PUSH),
            "PATCH": Endpoint(uploads.patch_upload, PUSH),
            "PUT": Endpoint(uploads.finish_upload, PUSH),
            "DELETE": Endpoint(uploads.cancel_upload, PUSH),
        },
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)"),
        "/v2/{name}/blobs/{digest}",
        {
            "GET": Endpoint(blobs.get_blob, PULL),
            "HEAD": Endpoint(blobs.head_blob, PULL),
            "DELETE": Endpoint(blobs.delete_blob, DELETE, audit="delete"),
        },
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/tags/list"),
        "/v2/{name}/tags/list",
        {"GET": Endpoint(manifests.list_tags, PULL)},
    ),
    Route(
        re.compile(rf"/v2/{_NAME}/referrers/(?P<digest>[^/]+)"),
        "/v2/{name}/referrers/{digest}",
        {"GET": Endpoint(manifests.referrers, PULL)},
    ),
]


def match(path: str) -> tuple[Route, dict[str, Any]] | None:
    """The route `path` is on, with its path parameters."""
    for route in ROUTES:
        m = route.pattern.fullmatch(path)
        if m is not None:
            return route, m.groupdict()
    return None
