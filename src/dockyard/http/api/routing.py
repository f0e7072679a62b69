"""The two things the dispatcher needs from the management API, importable without
loading FastAPI (which is built on the first /api/ request)."""

from __future__ import annotations

from starlette.types import Scope

PREFIX = "/api/v1"
SCOPE_KEY = "dockyard"
"""The scope key the dispatcher puts the DockyardApp under (FastAPI owns scope["app"])."""


def route_label(scope: Scope) -> str:
    """The route template the API matched (for metrics), else the API prefix: never
    the raw path, so the label set stays bounded."""
    path = getattr(scope.get("route"), "path_format", None)  # `{name}`, not `{name:conv}`
    return path if isinstance(path, str) else PREFIX
