"""Managing proxy caches (administrators): create (making or adopting the project),
list, show, update, delete, and evict."""

from __future__ import annotations

import dataclasses
from typing import Any

from dockyard.accounts.guard import Actor
from dockyard.errors import Conflict, InvalidRequest
from dockyard.proxy.source import ProxySource, endpoints_of
from dockyard.proxy.store import ProxyConfig

NAME = "proxy"


def _detail(config: ProxyConfig) -> dict[str, object]:
    """What the audit entry records (JSON: no timestamps)."""
    out = config.public()
    out.pop("created_at")
    out.pop("updated_at")
    return out


def source_of(services: Any) -> ProxySource:
    found = services.extensions.get(NAME)
    if not isinstance(found, ProxySource):
        raise RuntimeError("the proxy capability is not set up on these services")
    return found


class ProxyService:
    def __init__(self, services: Any) -> None:
        self._services = services
        self.source = source_of(services)
        self.store = self.source.store

    async def _check_endpoint(self, name: str) -> None:
        try:
            endpoints = endpoints_of(self._services)
        except ImportError:  # the endpoint store is not part of this build
            return
        await endpoints.get(name)

    async def _check_hosts(self, config: ProxyConfig) -> None:
        for other in await self.store.list():
            if other.project == config.project:
                continue
            shared = set(other.mirror_hosts) & set(config.mirror_hosts)
            if shared:
                raise Conflict(
                    f"{', '.join(sorted(shared))} already mirrored by project {other.project}"
                )

    async def create(self, actor: Actor, config: ProxyConfig, public: bool) -> ProxyConfig:
        self._services.guard.admin(actor, "create proxy caches")
        await self._check_endpoint(config.endpoint)
        await self._check_hosts(config)
        projects = self._services.identity.projects
        existing = await projects.get_project(config.project)
        if existing is None:
            await self._services.projects.create(actor, config.project, public=public)
        elif any(
            r.startswith(config.project + "/")
            for r in await self._services.store.list_repositories(1, config.project + "/")
        ):
            raise InvalidRequest(
                f"project {config.project} holds repositories: only an empty project can "
                "become a proxy cache"
            )
        created = await self.store.create(dataclasses.replace(config, created_by=actor.name))
        await self._services.guard.record(
            actor, "proxy.create", config.project, project=config.project, detail=_detail(created)
        )
        await self.source.refresh()
        return created

    async def list(self, actor: Actor) -> list[ProxyConfig]:
        self._services.guard.admin(actor, "list proxy caches")
        return await self.store.list()

    async def get(self, actor: Actor, project: str) -> ProxyConfig:
        self._services.guard.admin(actor, "read proxy caches")
        return await self.store.get(project)

    async def update(self, actor: Actor, project: str, changes: dict[str, Any]) -> ProxyConfig:
        self._services.guard.admin(actor, "change proxy caches")
        current = await self.store.get(project)
        if "mirror_hosts" in changes:
            changes["mirror_hosts"] = tuple(changes["mirror_hosts"])
        updated = dataclasses.replace(current, **changes)
        if "endpoint" in changes:
            await self._check_endpoint(updated.endpoint)
        await self._check_hosts(updated)
        saved = await self.store.update(updated)
        await self._services.guard.record(
            actor, "proxy.update", project, project=project, detail=_detail(saved)
        )
        await self.source.refresh()
        return saved

    async def delete(self, actor: Actor, project: str) -> None:
        """The project stays, with what it cached, as an ordinary project."""
        self._services.guard.admin(actor, "delete proxy caches")
        await self.store.delete(project)
        await self._services.guard.record(actor, "proxy.delete", project, project=project)
        await self.source.refresh()

    def stats(self, project: str) -> dict[str, int]:
        counts = self.source.counts
        return {k: counts[(project, k)] for k in ("hit", "miss", "stale", "upstream_bytes")}
