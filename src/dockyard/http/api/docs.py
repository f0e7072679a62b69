"""OpenAPI fragments the routes share: documented error responses and security."""

from __future__ import annotations

from typing import Any

from dockyard.http.api.deps import NEXT_HEADERS, PAGE_HEADERS
from dockyard.http.api.models import ErrorBody

_WHY = {
    400: "The request could not be read (INVALID_REQUEST)",
    401: "Authentication required or failed (UNAUTHORIZED), with a Basic challenge",
    403: "Authenticated but not allowed (DENIED)",
    404: "No such resource, or one the caller may not see (NOT_FOUND)",
    409: "Conflicts with the current state (CONFLICT)",
    422: "The request does not match the schema (INVALID_REQUEST)",
    429: "Too many failed logins from this client or for this user (TOOMANYREQUESTS)",
}
# every operation may meet these: a body that is not even JSON (400), credentials are
# checked (401, 429), a session change without its CSRF header is refused (403), input
# is validated (422)
_ALWAYS = (400, 401, 403, 404, 422, 429)

BASIC, BEARER = "basic", "bearer"
SECURITY_SCHEMES = {
    BASIC: {
        "type": "http",
        "scheme": "basic",
        "description": "username and password, or a robot's name and secret",
    },
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a token from `GET /auth/token?service=dockyard` issued without scope",
    },
}
REQUIRED: list[dict[str, list[str]]] = [{BASIC: []}, {BEARER: []}]
OPTIONAL: dict[str, Any] = {"security": [{}, *REQUIRED]}
"""openapi_extra of operations anonymous callers may use (public projects)"""


def errors(*extra: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"model": ErrorBody, "description": _WHY[code]} for code in sorted({*_ALWAYS, *extra})
    }


def listing(*extra: int) -> dict[int | str, dict[str, Any]]:
    """Error responses plus the paging headers of a 200 list."""
    return {200: {"headers": PAGE_HEADERS}, **errors(*extra)}


def keyset(*extra: int) -> dict[int | str, dict[str, Any]]:
    """Error responses plus the `Link: rel="next"` of a 200 list paged by id."""
    return {200: {"headers": NEXT_HEADERS}, **errors(*extra)}
