"""What the HTTP layer knows of the running app: this protocol, which the app
(dockyard.app.DockyardApp) satisfies. The HTTP layer never imports the app or the
module that picks backends; it reads the services from here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.types import ASGIApp

if TYPE_CHECKING:
    from dockyard.auth.audit import AuditLog
    from dockyard.config import Settings
    from dockyard.context import Services
    from dockyard.http.v2.blobsend import StreamSlots
    from dockyard.metrics import Metrics


class HttpApp(Protocol):
    settings: Settings
    access_log: bool
    stream_slots: StreamSlots
    metrics: Metrics

    @property
    def services(self) -> Services: ...

    @property
    def audit(self) -> AuditLog | None: ...

    def observe_request(
        self, key: tuple[str, str, int], seconds: float, bytes_in: int, bytes_out: int
    ) -> None:
        """Count one request: (route label, method, status), seconds, bytes in and out."""
        ...

    @property
    def api(self) -> ASGIApp: ...


def app_of(request: Request) -> HttpApp:
    app: HttpApp = request.scope["app"]
    return app


def services(request: Request) -> Services:
    return app_of(request).services
