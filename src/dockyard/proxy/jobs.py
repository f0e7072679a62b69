"""The proxy cache's job: `proxy.evict` (every cache over its size limit, or the one
in the payload), scheduled every 15 minutes and run after each fill in process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from dockyard.jobs import PermanentFailure

if TYPE_CHECKING:
    from dockyard.jobs import JobContext

EVICT = "proxy.evict"
EVICT_CRON = "*/15 * * * *"


async def evict_job(ctx: JobContext, payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    from dockyard.errors import NotFound
    from dockyard.metadata.engine import HasEngines
    from dockyard.proxy.eviction import evict
    from dockyard.proxy.store import ProxyStore

    store = ProxyStore(cast(HasEngines, ctx.services.store))
    project = payload.get("project")
    if project is not None and not isinstance(project, str):
        raise PermanentFailure("project must be a string")
    try:
        configs = [await store.get(project)] if project else await store.list()
    except NotFound as exc:
        raise PermanentFailure(exc.message) from None
    evicted: dict[str, int] = {}
    for config in configs:
        if config.size_limit_bytes:
            done = await evict(ctx.services, config)
            evicted[config.project] = len(done.manifests)
            if done.manifests:
                await ctx.log(
                    f"{config.project}: evicted {len(done.manifests)} manifests, "
                    f"{done.before_bytes} → {done.after_bytes} bytes"
                )
    return {"evicted": evicted}
