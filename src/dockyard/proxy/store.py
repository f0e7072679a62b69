"""The proxy cache's SQL (SQLite and PostgreSQL by the same statements), on the
metadata store's engines: the cache configurations and the download leases.

A lease is a row keyed by what is being fetched (`blob:<digest>`): taking it is an
INSERT, or an UPDATE of an expired row, whichever succeeds first; two replicas racing
see exactly one win (PostgreSQL's unique key, SQLite's serialized writer).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.errors import Conflict, NotFound
from dockyard.metadata.engine import HasEngines, utc, utcnow
from dockyard.proxy.tables import proxy_caches, proxy_leases


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    project: str
    endpoint: str
    """the stored endpoint's name (capability "registries")"""
    upstream_prefix: str = ""
    """prepended to the name under the project: `hub/nginx` → `<prefix>/nginx`"""
    mirror_hosts: tuple[str, ...] = ()
    """the hosts containerd's `?ns=` names this project mirrors"""
    tag_ttl_seconds: float = 300.0
    negative_ttl_seconds: float = 30.0
    size_limit_bytes: int = 0
    created_by: str = ""
    created_at: dt.datetime | None = field(default=None, compare=False)
    updated_at: dt.datetime | None = field(default=None, compare=False)

    def upstream_name(self, repository: str) -> str:
        """The upstream's name of local `repository` (`<project>/<rest>`)."""
        rest = repository.split("/", 1)[1]
        return f"{self.upstream_prefix}/{rest}" if self.upstream_prefix else rest

    def public(self) -> dict[str, object]:
        return {
            "project": self.project,
            "endpoint": self.endpoint,
            "upstream_prefix": self.upstream_prefix,
            "mirror_hosts": list(self.mirror_hosts),
            "tag_ttl_seconds": self.tag_ttl_seconds,
            "negative_ttl_seconds": self.negative_ttl_seconds,
            "size_limit_bytes": self.size_limit_bytes,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _config(row: object) -> ProxyConfig:
    m = row._mapping  # type: ignore[attr-defined]
    return ProxyConfig(
        project=m["project"],
        endpoint=m["endpoint"],
        upstream_prefix=m["upstream_prefix"],
        mirror_hosts=tuple(json.loads(m["mirror_hosts"])),
        tag_ttl_seconds=float(m["tag_ttl_seconds"]),
        negative_ttl_seconds=float(m["negative_ttl_seconds"]),
        size_limit_bytes=int(m["size_limit_bytes"]),
        created_by=m["created_by"],
        created_at=utc(m["created_at"]),
        updated_at=utc(m["updated_at"]),
    )


class ProxyStore:
    def __init__(self, engines: HasEngines) -> None:
        self._read = engines.read_engine
        self._write = engines.write_engine

    async def list(self) -> list[ProxyConfig]:
        async with self._read.connect() as conn:
            rows = await conn.execute(select(proxy_caches).order_by(proxy_caches.c.project))
            return [_config(r) for r in rows]

    async def get(self, project: str) -> ProxyConfig:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(select(proxy_caches).where(proxy_caches.c.project == project))
            ).first()
        if row is None:
            raise NotFound(f"project {project} is not a proxy cache")
        return _config(row)

    def _values(self, config: ProxyConfig) -> dict[str, object]:
        return {
            "endpoint": config.endpoint,
            "upstream_prefix": config.upstream_prefix,
            "mirror_hosts": json.dumps(list(config.mirror_hosts)),
            "tag_ttl_seconds": config.tag_ttl_seconds,
            "negative_ttl_seconds": config.negative_ttl_seconds,
            "size_limit_bytes": config.size_limit_bytes,
        }

    async def create(self, config: ProxyConfig) -> ProxyConfig:
        now = utcnow()
        try:
            async with self._write.begin() as conn:
                await conn.execute(
                    proxy_caches.insert().values(
                        project=config.project,
                        created_by=config.created_by,
                        created_at=now,
                        updated_at=now,
                        **self._values(config),
                    )
                )
        except IntegrityError:
            raise Conflict(f"project {config.project} is already a proxy cache") from None
        return await self.get(config.project)

    async def update(self, config: ProxyConfig) -> ProxyConfig:
        async with self._write.begin() as conn:
            done = await conn.execute(
                update(proxy_caches)
                .where(proxy_caches.c.project == config.project)
                .values(updated_at=utcnow(), **self._values(config))
            )
        if not done.rowcount:
            raise NotFound(f"project {config.project} is not a proxy cache")
        return await self.get(config.project)

    async def delete(self, project: str) -> None:
        async with self._write.begin() as conn:
            done = await conn.execute(delete(proxy_caches).where(proxy_caches.c.project == project))
        if not done.rowcount:
            raise NotFound(f"project {project} is not a proxy cache")

    # -- leases -------------------------------------------------------------

    async def take_lease(self, key: str, holder: str, seconds: float) -> bool:
        """True when `holder` now holds `key` (new, expired, or already its own)."""
        now = utcnow()
        until = now + dt.timedelta(seconds=seconds)
        async with self._write.begin() as conn:
            taken = await conn.execute(
                update(proxy_leases)
                .where(proxy_leases.c.key == key)
                .where((proxy_leases.c.until < now) | (proxy_leases.c.holder == holder))
                .values(holder=holder, until=until)
            )
            if taken.rowcount:
                return True
            exists = (
                await conn.execute(select(proxy_leases.c.key).where(proxy_leases.c.key == key))
            ).first()
        if exists is not None:
            return False
        try:
            async with self._write.begin() as conn:
                await conn.execute(
                    proxy_leases.insert().values(key=key, holder=holder, until=until)
                )
        except IntegrityError:
            return False
        return True

    async def renew_lease(self, key: str, holder: str, seconds: float) -> None:
        async with self._write.begin() as conn:
            await conn.execute(
                update(proxy_leases)
                .where(proxy_leases.c.key == key, proxy_leases.c.holder == holder)
                .values(until=utcnow() + dt.timedelta(seconds=seconds))
            )

    async def release_lease(self, key: str, holder: str) -> None:
        async with self._write.begin() as conn:
            await conn.execute(
                delete(proxy_leases).where(
                    proxy_leases.c.key == key, proxy_leases.c.holder == holder
                )
            )

    async def lease_alive(self, key: str) -> bool:
        async with self._read.connect() as conn:
            row = (
                await conn.execute(select(proxy_leases.c.until).where(proxy_leases.c.key == key))
            ).first()
        return row is not None and utc(row[0]) >= utcnow()
