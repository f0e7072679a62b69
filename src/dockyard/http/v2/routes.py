"""The one route table of the distribution API.

Repository names contain slashes, so each pattern is anchored on the fixed
suffix and takes the name greedily; order matters only for uploads vs blobs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp

from dockyard.http.v2 import blobs, manifests, uploads

Handler = Callable[..., Awaitable[ASGIApp]]

_NAME = r"(?P<name>.+?)"
# (pattern, template, handlers by method); the template is the route's metrics label
ROUTES: list[tuple[re.Pattern[str], str, dict[str, Handler]]] = [
    (re.compile(r"/v2/?"), "/v2/", {"GET": manifests.base, "HEAD": manifests.base}),
    (re.compile(r"/v2/_catalog"), "/v2/_catalog", {"GET": manifests.catalog}),
    (
        re.compile(rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)"),
        "/v2/{name}/manifests/{reference}",
        {
            "GET": manifests.get_manifest,
            "HEAD": manifests.head_manifest,
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (
        re.compile(rf"/v2/{_NAME}/blobs/uploads/?"),
        "/v2/{name}/blobs/uploads/",
        {"POST": uploads.start_upload},
    ),
    (
        re.compile(rf"/v2/{_NAME}/blobs/uploads/(?P<upload_id>[^/]+)"),
        "/v2/{name}/blobs/uploads/{upload_id}",
        {
            "GET": uploads.upload_status,
            "PATCH": uploads.patch_upload,
            "PUT": uploads.finish_upload,
            "DELETE": uploads.cancel_upload,
        },
    ),
    (
        re.compile(rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)"),
        "/v2/{name}/blobs/{digest}",
        {"GET": blobs.get_blob, "HEAD": blobs.head_blob, "DELETE": blobs.delete_blob},
    ),
    (re.compile(rf"/v2/{_NAME}/tags/list"), "/v2/{name}/tags/list", {"GET": manifests.list_tags}),
    (
        re.compile(rf"/v2/{_NAME}/referrers/(?P<digest>[^/]+)"),
        "/v2/{name}/referrers/{digest}",
        {"GET": manifests.referrers},
    ),
]


# The access each route needs, by template and method: "base" (any authenticated
# client), "catalog", or a registry action on the named repository.
ACCESS: dict[str, dict[str, str]] = {
    "/v2/": {"GET": "base", "HEAD": "base"},
    "/v2/_catalog": {"GET": "catalog"},
    "/v2/{name}/manifests/{reference}": {
        "GET": "pull",
        "HEAD": "pull",
        "PUT": "push",
        "DELETE": "delete",
    },
    "/v2/{name}/blobs/uploads/": {"POST": "push"},
    "/v2/{name}/blobs/uploads/{upload_id}": {
        "GET": "push",
        "PATCH": "push",
        "PUT": "push",
        "DELETE": "push",
    },
    "/v2/{name}/blobs/{digest}": {"GET": "pull", "HEAD": "pull", "DELETE": "delete"},
    "/v2/{name}/tags/list": {"GET": "pull"},
    "/v2/{name}/referrers/{digest}": {"GET": "pull"},
}
assert all(set(ACCESS[t]) == set(m) for _, t, m in ROUTES), "every route method needs an access"


def match(path: str) -> tuple[str, dict[str, Handler], dict[str, Any]] | None:
    """(template, handlers by method, path parameters) of the route `path` is on."""
    for pattern, template, methods in ROUTES:
        m = pattern.fullmatch(path)
        if m is not None:
            return template, methods, m.groupdict()
    return None
