"""The one renderer of `{"errors": [...]}`: a registered error code (dockyard.errors)
with its status, a message and an optional detail."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from dockyard import errors as e


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    item: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        item["detail"] = detail
    return json.dumps({"errors": [item]}, separators=(",", ":")).encode()


def error_response(
    error: e.ErrorCode,
    message: str | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        error_body(error.code, message or error.message, detail),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


def render(exc: e.DockyardError, headers: dict[str, str] | None = None) -> Response:
    """The answer to a domain exception, with the headers it carries (and `headers`)."""
    merged = {**(exc.headers or {}), **(headers or {})} or None
    return error_response(exc.error, exc.message, exc.detail, merged)
