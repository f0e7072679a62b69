"""Kubernetes probes: /healthz says the process serves; /readyz that its backends answer."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import Request
from starlette.responses import Response

from dockyard.http.context import app_of

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 5.0


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def readyz(request: Request) -> Response:
    services = app_of(request).services
    checks: dict[str, str] = {}
    for name, probe in (("database", services.store.ping), ("storage", services.storage.ping)):
        try:
            await asyncio.wait_for(probe(), PROBE_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, exc)
            checks[name] = f"failed: {type(exc).__name__}"
    full = await asyncio.to_thread(services.space.problem)
    if full is not None:
        log.warning("readiness check disk failed: %s", full)
    checks["disk"] = "ok" if full is None else f"failed: no space: {full}"
    ok = all(v == "ok" for v in checks.values())
    redis_ping = getattr(services.cache, "ping", None)
    if redis_ping is not None:  # reported, but a shared cache outage only degrades
        try:
            await asyncio.wait_for(redis_ping(), PROBE_TIMEOUT)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"degraded: {type(exc).__name__}"
    body = json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}).encode()
    return Response(body, status_code=200 if ok else 503, media_type="application/json")
