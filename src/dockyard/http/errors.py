"""The one registry of OCI error codes and the one renderer of `{"errors": [...]}`."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dockyard import errors as e

# code -> HTTP status, as the distribution spec and the reference registry use them
STATUS: dict[str, int] = {
    "BLOB_UNKNOWN": 404,
    "BLOB_UPLOAD_INVALID": 400,
    "BLOB_UPLOAD_UNKNOWN": 404,
    "DIGEST_INVALID": 400,
    "MANIFEST_BLOB_UNKNOWN": 400,
    "MANIFEST_INVALID": 400,
    "MANIFEST_UNKNOWN": 404,
    "NAME_INVALID": 400,
    "NAME_UNKNOWN": 404,
    "SIZE_INVALID": 400,
    "UNAUTHORIZED": 401,
    "DENIED": 403,
    "UNSUPPORTED": 405,
    "TOOMANYREQUESTS": 429,
    "UNAVAILABLE": 503,  # the reference registry's code (errcode.ErrorCodeUnavailable)
    "PAGINATION_NUMBER_INVALID": 400,  # reference registry's code for a bad `n`
    # management API only (never on /v2/)
    "CONFLICT": 409,
    "NOT_FOUND": 404,
    "INVALID_REQUEST": 400,
    "UNKNOWN": 500,
}

# Where one exception class needs a status other than its code's default.
_STATUS_OVERRIDES: dict[type[e.DockyardError], int] = {
    e.ManifestTooLarge: 413,
    e.ManifestChildUnknown: 400,
    e.RangeInvalid: 416,
}


def status_for(exc: e.DockyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in _STATUS_OVERRIDES:
            return _STATUS_OVERRIDES[cls]
    return STATUS.get(exc.code, 500)


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    item: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        item["detail"] = detail
    return json.dumps({"errors": [item]}, separators=(",", ":")).encode()


def error_response(
    code: str,
    message: str,
    status: int | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(code, message, detail),
        status_code=status or STATUS.get(code, 500),
        media_type="application/json",
        headers=headers,
    )


def render(exc: e.DockyardError, headers: dict[str, str] | None = None) -> Response:
    if isinstance(exc, e.TooManyRequests):
        headers = {**(headers or {}), "Retry-After": str(exc.retry_after)}
    return error_response(exc.code, exc.message, status_for(exc), exc.detail, headers)
