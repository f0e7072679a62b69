"""Registry traffic into the audit log: pulls (manifest GETs), pushes (manifest PUTs)
and deletes, recorded after the response with who made them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from dockyard.auth.permissions import project_of
from dockyard.http.gate import client_address
from dockyard.metadata.identity import AuditEvent

if TYPE_CHECKING:
    from dockyard.http.context import HttpApp


def record_registry_event(
    app: HttpApp, request: Request, action: str | None, params: dict[str, Any]
) -> None:
    """Record `action` (the route table's audit action for this endpoint, if any)."""
    if action is None or app.audit is None:
        return
    if action == "pull" and not app.audit.log_pulls:
        return
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return
    name = params["name"]
    ref = params.get("reference") or params.get("digest") or ""
    sep = "@" if ":" in ref else ":"
    app.audit.buffer(
        AuditEvent(
            actor=principal.name or "anonymous",
            actor_kind=principal.kind,
            address=client_address(request),
            action=action,
            resource=f"{name}{sep}{ref}",
            project=project_of(name),
        )
    )
