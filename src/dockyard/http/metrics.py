"""GET /metrics: the Prometheus scrape endpoint, on the API port."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.http.context import app_of


async def metrics(request: Request) -> Response:
    body, content_type = await app_of(request).metrics.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
