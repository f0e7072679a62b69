"""GET /metrics: the Prometheus scrape endpoint, on the API port."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


async def metrics(request: Request) -> Response:
    body, content_type = await request.app.metrics.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})
